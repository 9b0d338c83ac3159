"""Evaluate a trained model on the test set: loss, accuracy, macro F1 and one prediction per example."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from harness.data.datasets import Dataset
from harness.training.train import evaluation_batch_size, outputs_logits


@dataclass
class Evaluation:
    test_loss: float
    test_accuracy: float
    macro_f1: float
    predictions: pd.DataFrame  # index, true_label, predicted_label, confidence


def evaluate(model: keras.Model, dataset: Dataset) -> Evaluation:
    # The whole test set in one forward pass; the loss and accuracy are Keras's own (model.compute_loss: the
    # compiled loss plus the regularization terms, as model.evaluate reports it) computed from those
    # probabilities, which spares model.evaluate's second pass and its compilation.
    outputs = model.predict(dataset.x_test, batch_size=evaluation_batch_size(model, len(dataset.y_test)), verbose=0)
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
