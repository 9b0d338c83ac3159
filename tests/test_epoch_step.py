"""A whole epoch per call trains the same batches, in the same order, with the same updates as Keras's own loop."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from harness.config.experiments import resolve
from harness.data.datasets import load_dataset
from harness.training.epoch_step import WholeEpochStep
from harness.training.optimizers import build_optimizer
from harness.training.reuse import build_training_state
from harness.training.train import build_compiled_model, fit, seed_everything
from models.registry import build
from tests.conftest import EXPERIMENTS, ROOT

EPOCHS = 2


def _kerass_own_loop(config, digits, weights, jit_compile: bool) -> keras.Model:
    """The same model and optimizer compiled the plain way: Keras calls its step once per batch."""
    seed_everything(0, deterministic=False)  # as before the harness's model: dropout layers get the same seeds
    model = build(config.model.builder, config.model.parameters, digits.input_shape, digits.num_classes)
    model.set_weights(weights)
    model.compile(
        optimizer=build_optimizer(config.optimizer),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


def _assert_same_training(whole_epoch: keras.Model, batch_by_batch: keras.Model, history, plain_history) -> None:
    assert history["loss"] == pytest.approx(plain_history["loss"], rel=1e-5)
    assert history["accuracy"] == pytest.approx(plain_history["accuracy"], abs=1e-6)
    assert int(whole_epoch.optimizer.iterations) == int(batch_by_batch.optimizer.iterations)
    for ours, theirs in zip(whole_epoch.get_weights(), batch_by_batch.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


# combined: L2 losses and dropout masks too, in two hidden layers (XLA's compile time grows with the layers)
# prepared: as the harness's fit starts it (on JAX, the loop starts from logs of zeros: one trace fewer)
SMALL_COMBINED = "{builder: combined, hidden_units: [64, 32], dropout: [0.3, 0.2]}"


@pytest.mark.parametrize(
    ("model", "jit_compile", "prepared"),
    [("{builder: basic_dnn}", False, False), (SMALL_COMBINED, True, False), (SMALL_COMBINED, True, True)],
    ids=["graph", "xla", "xla-prepared"],
)
def test_a_whole_epoch_per_call_trains_like_kerass_batch_by_batch_loop(model, jit_compile, prepared):
    config = resolve("adam", EXPERIMENTS, [f"model={model}"], dataset="digits", epochs=EPOCHS)
    digits = load_dataset(config.dataset)
    assert len(digits.y_train) % 128  # a last, smaller batch too
    seed_everything(0, deterministic=False)
    whole_epoch = build_compiled_model(config, digits.input_shape, digits.num_classes, jit_compile)
    batch_by_batch = _kerass_own_loop(config, digits, whole_epoch.get_weights(), jit_compile)
    if prepared:
        build_training_state(whole_epoch, digits.x_train, digits.y_train)
        WholeEpochStep.prepare(whole_epoch)

    history = whole_epoch.fit(
        digits.x_train, digits.y_train, batch_size=len(digits.y_train), shuffle=False, epochs=EPOCHS, verbose=0
    ).history
    plain_history = batch_by_batch.fit(
        digits.x_train, digits.y_train, batch_size=128, shuffle=False, epochs=EPOCHS, verbose=0
    ).history

    _assert_same_training(whole_epoch, batch_by_batch, history, plain_history)
    assert int(whole_epoch.optimizer.iterations) == EPOCHS * math.ceil(len(digits.y_train) / 128)


def test_a_deterministic_run_trains_each_epoch_in_its_seeded_order():
    """The harness's fit with `training.deterministic`: the epoch's rows come from a PyDataset, one call each."""
    config = resolve("adam", EXPERIMENTS, ["training.deterministic=true"], dataset="digits", epochs=EPOCHS)
    digits = load_dataset(config.dataset)
    seed_everything(0, deterministic=False)  # op determinism would stay on for the rest of the session
    whole_epoch = build_compiled_model(config, digits.input_shape, digits.num_classes)
    batch_by_batch = _kerass_own_loop(config, digits, whole_epoch.get_weights(), jit_compile=False)

    history = fit(config, whole_epoch, digits.x_train, digits.y_train, verbose=0).history
    plain_history = {"loss": [], "accuracy": []}
    for epoch in range(EPOCHS):
        order = np.random.default_rng([config.training.seed, epoch]).permutation(len(digits.y_train))
        logs = batch_by_batch.fit(
            digits.x_train[order], digits.y_train[order], batch_size=128, shuffle=False, epochs=1, verbose=0
        ).history
        plain_history = {key: values + logs[key] for key, values in plain_history.items()}

    _assert_same_training(whole_epoch, batch_by_batch, history.to_dict("list"), plain_history)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="started from the TensorFlow run of the suite")
def test_the_same_holds_on_the_jax_backend():
    """JAX's train step is a function of the state: the loop carries the state from batch to batch."""
    pytest.importorskip("jax")
    test = f"{__file__}::test_a_whole_epoch_per_call_trains_like_kerass_batch_by_batch_loop"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test, "-k", "xla"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"KERAS_BACKEND": "jax"},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout
