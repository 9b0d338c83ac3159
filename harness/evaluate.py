"""Evaluate a trained model on the test set with scikit-learn's metrics."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from harness.data import Dataset


@dataclass
class Evaluation:
    test_loss: float
    test_accuracy: float
    macro_f1: float
    predictions: pd.DataFrame  # index, true_label, predicted_label, confidence
    confusion: np.ndarray  # rows: true class, columns: predicted class
    report_text: str
    report_table: pd.DataFrame  # per class and averages: precision, recall, f1-score, support


def evaluate(model: keras.Model, dataset: Dataset, batch_size: int) -> Evaluation:
    test_loss, test_accuracy = model.evaluate(dataset.x_test, dataset.y_test, batch_size=batch_size, verbose=0)
    probabilities = model.predict(dataset.x_test, batch_size=batch_size, verbose=0)
    predicted = probabilities.argmax(axis=1)
    labels = list(range(dataset.num_classes))
    names = list(dataset.class_names)
    report = classification_report(
        dataset.y_test, predicted, labels=labels, target_names=names, output_dict=True, zero_division=0
    )
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
        confusion=confusion_matrix(dataset.y_test, predicted, labels=labels),
        report_text=classification_report(
            dataset.y_test, predicted, labels=labels, target_names=names, digits=4, zero_division=0
        ),
        report_table=_report_table(report),
    )


def _report_table(report: dict) -> pd.DataFrame:
    accuracy = report.pop("accuracy")
    table = pd.DataFrame(report).T
    table.loc["accuracy"] = [np.nan, np.nan, accuracy, table.loc["macro avg", "support"]]
    table["support"] = table["support"].astype(int)
    table.index.name = "class"
    return table
