"""Training records the learning rate it used, stops early when told, and trains the configured model."""

import importlib.util
import json
import os
import subprocess

import keras
import numpy as np
import pandas as pd
import pytest

from harness.config.experiments import resolve
from harness.data.datasets import load_dataset
from harness.records import RunDir
from harness.training.optimizers import learning_rates
from harness.training.runner import run_experiment
from tests.conftest import EXPERIMENTS, ROOT, harness_command, run_dirs, tensorboard_curves


def test_history_records_the_scheduled_learning_rate_of_every_epoch(reports):
    config = resolve("adam_lr", EXPERIMENTS, dataset="digits")
    run_dir = run_experiment(config, reports).run_dir
    history = pd.read_csv(run_dir / "history.csv")
    assert history["learning_rate"].tolist() == pytest.approx(learning_rates(config), rel=1e-6)
    assert history["learning_rate"].iloc[-1] == pytest.approx(0.0001)


def test_early_stopping_stops_and_says_when(reports):
    # Demanding a 50-point gain in validation accuracy per epoch stops at the second epoch.
    stop = "training.early_stopping={monitor: val_accuracy, patience: 0, min_delta: 0.5}"
    config = resolve("adam", EXPERIMENTS, [stop], dataset="digits", epochs=6)
    run_dir = run_experiment(config, reports).run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["epochs_run"], metrics["stopped_early"]) == (2, True)
    assert len(pd.read_csv(run_dir / "history.csv")) == 2


def test_a_run_without_early_stopping_runs_every_epoch(reports):
    run_dir = run_experiment(resolve("sgd", EXPERIMENTS, dataset="digits", epochs=3), reports).run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["epochs_run"], metrics["stopped_early"]) == (3, False)


@pytest.mark.parametrize(
    ("name", "penalty", "rates"), [("l1", "l1", []), ("combined", "l2", [0.3, 0.3, 0.2, 0.2])], ids=["l1", "combined"]
)
def test_regularised_and_dropout_models_train_end_to_end(reports, name, penalty, rates):
    config = resolve(name, EXPERIMENTS, dataset="digits", epochs=3)
    outcome = run_experiment(config, reports)
    run = RunDir(outcome.run_dir)
    metrics = run.metrics()
    assert outcome.status == "finished" and metrics["test_accuracy"] > 0.5  # chance is 0.1
    model = keras.saving.load_model(run.model_path)
    *hidden, output = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.kernel_regularizer.get_config() for layer in hidden] == [{penalty: pytest.approx(0.001)}] * 4
    assert output.kernel_regularizer is None
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == pytest.approx(rates)
    data = load_dataset(config.dataset)
    probabilities = model.predict(data.floats(data.x_test), verbose=0)
    cross_entropy = float(np.mean(keras.losses.sparse_categorical_crossentropy(data.y_test, probabilities)))
    penalties = sum(float(loss) for loss in model.losses)
    assert metrics["test_loss"] == pytest.approx(cross_entropy + penalties, rel=1e-4)  # the penalty is in the loss
    assert penalties > 0.01


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install jax")
def test_the_same_experiment_runs_on_the_jax_backend_without_loading_tensorflow(reports):
    # The command line's main, then whether the process loaded TensorFlow (about 2 s of a JAX command)
    main_then_tell = "import sys; from harness.cli import main; main(sys.argv[1:]); print('tensorflow' in sys.modules)"
    command = harness_command("run adam_lr --dataset digits --epochs 2", reports)
    command[1:3] = ["-c", main_then_tell]  # in place of `-m harness`
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=os.environ | {"KERAS_BACKEND": "jax"}, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"
    (run_dir,) = run_dirs(reports)
    curves = tensorboard_curves(reports / "tensorboard" / "adam_lr" / run_dir.name)  # TensorBoard's logs all the same
    assert len(curves["train", "epoch_loss"]) == len(curves["validation", "epoch_accuracy"]) == 2
    env = json.loads((run_dir / "env.json").read_text())
    assert env["backend"] == "jax" and "jax" in env["versions"]
    assert env["xla"] is True  # JAX's only compiler: without it Keras runs the steps op by op
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] > 0.5


def test_xla_is_used_where_its_compile_time_pays_off():
    from harness.training.train import build_model, use_xla

    def xla(name: str, overrides=(), examples: int = 10_000, **shortcuts) -> bool:
        config = resolve(name, EXPERIMENTS, list(overrides), **shortcuts)
        return use_xla(config, examples, build_model(config, (28, 28, 1), 10))

    assert xla("basic_dnn", ["training.epochs=10"], 55_000, dataset="fashion_mnist")  # 550,000 images in all
    assert not xla("basic_dnn")  # the reference notebook's 10,000 images x 15 epochs
    assert xla("basic_dnn", ["training.jit_compile=true"])
    assert not xla("basic_dnn", ["training.jit_compile=false"], 10**6)
    assert not xla("basic_dnn", ["training.jit_compile=true", "training.deterministic=true"], 10**6)  # Keras's rule
    # dropout's masks are drawn with ThreeFry under XLA (harness.training.threefry)
    assert xla("dropout", ["training.epochs=10"], 55_000, dataset="fashion_mnist")
    assert not xla("adam", ["model={builder: cnn, dropout: 0, translate: 0.1}", "training.epochs=10"], 55_000)
    assert xla("dropout", ["training.jit_compile=true"])  # when asked


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's random-number algorithms")
def test_dropout_under_xla_draws_threefry_masks_that_drop_the_given_share():
    import tensorflow as tf

    from harness.training.threefry import threefry_dropout

    def traced(active: bool):
        """A dropout layer's masks in a step XLA compiles, and the algorithm TensorFlow was asked to draw them with."""
        layer = keras.layers.Dropout(0.3, seed=1)
        step = tf.function(lambda x: layer(x, training=True), jit_compile=True)
        with threefry_dropout(active):
            masked = step(tf.ones((200, 500))).numpy()
        graph = step.get_concrete_function(tf.TensorSpec((200, 500))).graph
        (draw,) = [op for op in graph.get_operations() if op.type == "StatelessRandomUniformV2"]
        return masked, int(draw.inputs[-1].op.get_attr("value").int_val[0])

    masked, algorithm = traced(True)
    assert algorithm == 2  # ThreeFry (1 is Philox, 3 auto_select: Keras's own choice)
    assert traced(False)[1] == 3  # as Keras draws, once the context is closed
    assert set(np.unique(masked)) == {0.0, np.float32(1 / 0.7)}
    assert abs((masked == 0).mean() - 0.3) < 0.01


def test_test_metrics_are_those_model_evaluate_reports_regularization_included():
    from harness.data.datasets import load_dataset
    from harness.training.evaluate import evaluate
    from harness.training.train import build_compiled_model, fit

    config = resolve("combined", EXPERIMENTS, ["model.l2=0.01"], dataset="digits", epochs=2)  # L2 and dropout
    dataset = load_dataset(config.dataset)
    model = build_compiled_model(config, dataset.input_shape, dataset.num_classes)
    fit(config, model, dataset.x_train, dataset.y_train, verbose=0)
    keras_loss, keras_accuracy = model.evaluate(dataset.x_test, dataset.y_test, verbose=0)
    evaluation = evaluate(model, dataset)
    assert sum(float(loss) for loss in model.losses) > 0.01  # the regularization term is part of the loss
    assert evaluation.test_loss == pytest.approx(keras_loss, rel=1e-5)
    assert evaluation.test_accuracy == pytest.approx(keras_accuracy, abs=1e-6)
