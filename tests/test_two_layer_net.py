"""The textbook's NumPy network: its gradients, its agreement with Keras, and its run through the harness."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from harness.config.schema import DatasetConfig
from harness.data.datasets import load_dataset
from harness.reporting.compare import compare
from harness.tools.gradcheck import float64
from models.registry import build
from models.two_layer_net import DELTA, TwoLayerNet
from tests.conftest import run_dirs, run_harness


@pytest.fixture(scope="module")
def batch():
    data = load_dataset(DatasetConfig(name="digits"))
    return data.x_train[:30].reshape(30, -1).astype(np.float64), data.y_train[:30]  # the NumPy net takes rows


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """The reference notebook's (003) gradient-check measure: ||a - b|| / (||a|| + ||b||)."""
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


def test_backprop_matches_the_numerical_gradient(batch):
    x, t = batch
    net = TwoLayerNet(64, 12, 10, weight_init_std=0.5, rng=np.random.default_rng(3))
    backprop, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
    assert set(backprop) == {"W1", "b1", "W2", "b2"}
    for name in backprop:
        assert relative_error(backprop[name], numerical[name]) < 1e-7, name


def test_a_keras_model_with_the_same_weights_gives_the_same_loss_and_gradients(batch):
    import tensorflow as tf

    x, t = batch
    net = TwoLayerNet(64, 50, 10, weight_init_std=0.3, rng=np.random.default_rng(4))
    with float64():
        model = build("two_layer_net", {"hidden_units": [50], "activation": "sigmoid"}, (64,), 10)
        model.set_weights([net.params[name] for name in ("W1", "b1", "W2", "b2")])
        with tf.GradientTape() as tape:
            probabilities = model(x)
            # The book's cross-entropy, delta inside the log, on the Keras model's outputs.
            true_class = keras.ops.take_along_axis(probabilities, t[:, None], axis=1)
            loss = -keras.ops.mean(keras.ops.log(true_class + DELTA))
        keras_gradients = [np.asarray(g) for g in tape.gradient(loss, model.trainable_variables)]
    assert float(loss) == pytest.approx(net.loss(x, t), rel=1e-12)
    np.testing.assert_allclose(np.asarray(probabilities), net.predict(x), rtol=1e-12)
    for name, keras_gradient in zip(("W1", "b1", "W2", "b2"), keras_gradients, strict=True):
        np.testing.assert_allclose(keras_gradient, net.gradient(x, t)[name], rtol=1e-9, atol=1e-15)


def test_the_scratch_experiment_runs_end_to_end_and_compares_with_keras(reports):
    scratch = run_harness(
        "run", "scratch_two_layer", "--dataset", "digits", "--set", "training.iterations=300", reports=reports
    )
    assert scratch.returncode == 0, scratch.stderr
    assert run_harness("run", "sgd", "--dataset", "digits", "--epochs", "2", reports=reports).returncode == 0
    run_dir = run_dirs(reports)[0]
    assert run_dir.parent.name == "scratch_two_layer"
    files = [
        "history.csv",
        "iteration_loss.csv",
        "metrics.json",
        "predictions.csv",
        "learning_curves.png",
        "loss_per_iteration.png",
        "confusion_matrix.png",
        "classification_report.csv",
        "report.html",
    ]
    for name in files:
        assert (run_dir / name).stat().st_size > 0, name
    assert len(pd.read_csv(run_dir / "iteration_loss.csv")) == 300
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 25  # an epoch of 1,294 images in batches of 100 is 12 iterations
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]  # still on the book's early plateau, but falling
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["parameters"] == 64 * 50 + 50 + 50 * 10 + 10
    comparison = compare(["scratch_two_layer", "sgd"], reports)
    assert (comparison.out / "compare.html").is_file() and len(comparison.table) == 2


def test_numerical_gradients_train_a_tiny_network(reports):
    tiny = ["--set", "model.gradient=numerical", "--set", "model.hidden_units=[3]", "--set", "training.iterations=3"]
    result = run_harness("run", "scratch_two_layer", "--dataset", "digits", *tiny, reports=reports)
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dirs(reports)[0] / "metrics.json").read_text())["status"] == "finished"


def test_numerical_gradients_are_refused_for_a_network_too_large(reports):
    result = run_harness(
        "run", "scratch_two_layer", "--dataset", "digits", "--set", "model.gradient=numerical", reports=reports
    )
    assert result.returncode == 2
    assert "two loss evaluations per parameter per iteration" in result.stderr and "Traceback" not in result.stderr
    assert not reports.exists() or run_dirs(reports) == []
