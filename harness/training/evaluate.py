"""Evaluate a trained model on the test set: loss, accuracy, macro F1 and one prediction per example."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from harness.data.datasets import Dataset
from harness.training.inputs import InOrder, in_memory
from harness.training.train import evaluation_batch_size, evaluation_part_rows, outputs_logits


@dataclass
class Evaluation:
    test_loss: float
    test_accuracy: float
    macro_f1: float
    predictions: pd.DataFrame  # index, true_label, predicted_label, confidence


def evaluate(model: keras.Model, dataset: Dataset, mode: str = "memory", budget_gb: float | None = None) -> Evaluation:
    """The test set's scores and predictions: in one forward pass (a conv net's in slices), or in parts when the run
    streams (harness.training.inputs). The loss and accuracy are Keras's own (model.compute_loss: the compiled loss
    plus the regularization terms, as model.evaluate reports it) computed from the outputs, which spares
    model.evaluate's second pass and its compilation."""
    if mode == "stream":
        rows = evaluation_part_rows(model, dataset.x_test, budget_gb)
        outputs = model.predict(InOrder(dataset.x_test, rows=rows), verbose=0)
    else:
        batch = evaluation_batch_size(model, len(dataset.y_test))
        outputs = model.predict(in_memory(dataset.x_test), batch_size=batch, verbose=0)
    test_loss = model.compute_loss(y=dataset.y_test, y_pred=outputs)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(outputs)) if outputs_logits(model) else outputs
    predicted = probabilities.argmax(axis=1)
    test_accuracy = np.mean(predicted == dataset.y_test)
    labels = list(range(dataset.num_classes))
    return Evaluation(
        test_loss=float(keras.ops.convert_to_numpy(test_loss)),
        test_accuracy=float(test_accuracy),
        macro_f1=float(f1_score(dataset.y_test, predicted, labels=labels, average="macro", zero_division=0)),
        predictions=pd.DataFrame(
            {
                "index": np.arange(len(predicted)),
                "true_label": dataset.y_test,
                "predicted_label": predicted,
                "confidence": probabilities.max(axis=1),
            }
        ),
    )
