"""Evaluate a trained model on the test set: loss, accuracy, macro F1 and one prediction per example."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from harness.data import Dataset


@dataclass
class Evaluation:
    test_loss: float
    test_accuracy: float
    macro_f1: float
    predictions: pd.DataFrame  # index, true_label, predicted_label, confidence


def evaluate(model: keras.Model, dataset: Dataset) -> Evaluation:
    # The whole test set in one forward pass: one call into the compiled model instead of one per batch.
    whole_set = len(dataset.y_test)
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test, batch_size=whole_set, verbose=0)
    probabilities = model.predict(dataset.x_test, batch_size=whole_set, verbose=0)
    predicted = probabilities.argmax(axis=1)
    labels = list(range(dataset.num_classes))
    return Evaluation(
        test_loss=float(test_loss),
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
