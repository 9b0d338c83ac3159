"""Train the textbook's NumPy TwoLayerNet as a harness run: the same files as a Keras run, plus the
loss of every iteration (iteration_loss.csv; the report plots it as the book's figure 4-11).

    python -m harness run scratch_two_layer
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from harness.config.schema import ExperimentConfig
from harness.data.datasets import Dataset
from harness.errors import UserError
from harness.records import RunDir
from models.two_layer_net import TwoLayerNet

NUMERICAL_BUDGET_SECONDS = 180  # the numerical gradient is refused when it would take longer than this
WEIGHT_INIT_STD = 0.01  # the book's initial weight scale


def _flat(x: np.ndarray) -> np.ndarray:
    """The network's inputs: one row of numbers per example (images flattened)."""
    return x.reshape(len(x), -1)


def build_net(config: ExperimentConfig, dataset: Dataset) -> TwoLayerNet:
    rng = np.random.default_rng(config.training.seed)
    hidden = config.model.parameters["hidden_units"][0]
    return TwoLayerNet(dataset.input_dim, hidden, dataset.num_classes, WEIGHT_INIT_STD, rng)


def numerical_gradient_seconds(net: TwoLayerNet, batch: np.ndarray, labels: np.ndarray, iterations: int) -> float:
    """Time one loss evaluation on a batch, times two per parameter per iteration."""
    started = time.perf_counter()
    for _ in range(5):
        net.loss(batch, labels)
    return (time.perf_counter() - started) / 5 * 2 * net.parameter_count * iterations


def check_numerical_budget(config: ExperimentConfig, net: TwoLayerNet, dataset: Dataset) -> None:
    batch_size = config.training.batch_size
    estimate = numerical_gradient_seconds(
        net, _flat(dataset.x_train)[:batch_size], dataset.y_train[:batch_size], config.training.iterations
    )
    if estimate > NUMERICAL_BUDGET_SECONDS:
        raise UserError(
            f"the numerical gradient needs two loss evaluations per parameter per iteration: "
            f"{net.parameter_count:,} parameters x {config.training.iterations:,} iterations would take about "
            f"{estimate:,.0f} s; use model.gradient=backprop, or a tiny net (e.g. model.hidden_units=[3] "
            f"training.iterations=20 on digits)"
        )


def _epoch_row(net: TwoLayerNet, dataset: Dataset, epoch: int, learning_rate: float, seconds: float) -> dict:
    return {
        "epoch": epoch,
        "loss": net.loss(_flat(dataset.x_train), dataset.y_train),
        "accuracy": net.accuracy(_flat(dataset.x_train), dataset.y_train),
        "val_loss": net.loss(_flat(dataset.x_val), dataset.y_val),
        "val_accuracy": net.accuracy(_flat(dataset.x_val), dataset.y_val),
        "learning_rate": learning_rate,
        "seconds": round(seconds, 4),
    }


def train_net(config: ExperimentConfig, dataset: Dataset, net: TwoLayerNet, run: RunDir) -> pd.DataFrame:
    """The book's loop: draw a batch with replacement, step down the gradient, record the loss.

    Accuracy and loss on the training and validation sets go to the history after every epoch's worth of iterations.
    """
    training, learning_rate = config.training, config.optimizer.learning_rate
    rng = np.random.default_rng(training.seed)
    train_size = len(dataset.y_train)
    per_epoch = max(train_size // training.batch_size, 1)
    losses, rows, started = [], [], time.perf_counter()
    for iteration in range(training.iterations):
        chosen = rng.choice(train_size, training.batch_size)
        x, t = _flat(dataset.x_train)[chosen].astype(np.float64), dataset.y_train[chosen]
        gradients = net.numerical_gradient(x, t) if config.model.gradient == "numerical" else net.gradient(x, t)
        for name, gradient in gradients.items():
            net.params[name] -= learning_rate * gradient
        losses.append(net.loss(x, t))
        if (iteration + 1) % per_epoch == 0 or iteration + 1 == training.iterations:
            rows.append(_epoch_row(net, dataset, len(rows), learning_rate, time.perf_counter() - started))
            run.write_history(pd.DataFrame(rows))
            started = time.perf_counter()
    run.write_iteration_loss(pd.DataFrame({"iteration": range(len(losses)), "loss": losses}))
    return pd.DataFrame(rows)


def evaluate_net(net: TwoLayerNet, dataset: Dataset) -> tuple[dict, pd.DataFrame]:
    probabilities = net.predict(_flat(dataset.x_test))
    predicted = probabilities.argmax(axis=1)
    predictions = pd.DataFrame(
        {
            "index": np.arange(len(predicted)),
            "true_label": dataset.y_test,
            "predicted_label": predicted,
            "confidence": probabilities.max(axis=1),
        }
    )
    labels = list(range(dataset.num_classes))
    metrics = {
        "test_loss": net.loss(_flat(dataset.x_test), dataset.y_test),
        "test_accuracy": float(np.mean(predicted == dataset.y_test)),
        "macro_f1": float(f1_score(dataset.y_test, predicted, labels=labels, average="macro", zero_division=0)),
    }
    return metrics, predictions
