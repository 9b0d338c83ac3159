"""`make gradcheck` passes for every reference experiment's model and fails for a wrong gradient."""

import functools

import keras
import numpy as np
import pytest

from harness.config.experiments import resolve
from harness.config.schema import DatasetConfig
from harness.data.datasets import load_dataset
from harness.tools.gradcheck import (
    THRESHOLD,
    analytic_gradients,
    build_float64_model,
    check_gradients,
    gradcheck_experiment,
)
from tests.conftest import EXPERIMENTS, run_harness
from tests.test_experiments import REFERENCE_EXPERIMENTS


@pytest.mark.parametrize("name", REFERENCE_EXPERIMENTS)
def test_every_seed_model_passes_the_gradient_check(name):
    results = gradcheck_experiment(resolve(name, EXPERIMENTS, dataset="digits"))
    assert results and all(result.passed for result in results), results
    assert all(result.checked >= 20 for result in results)  # most sampled parameters are really scored
    assert max(result.max_relative_error for result in results) < THRESHOLD


def _l2_model_and_batch():
    config = resolve("l2", EXPERIMENTS, dataset="digits")
    data = load_dataset(DatasetConfig(name="digits"))
    model = build_float64_model(config, data.input_shape, data.num_classes)
    return model, data.x_train[:16].astype(np.float64), data.y_train[:16]


def test_a_gradient_that_forgets_the_l2_penalty_fails():
    model, x, y = _l2_model_and_batch()

    def loss_without_penalty(model, x, y):  # the test double: the bug is the forgotten model.losses
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False)))

    buggy = functools.partial(analytic_gradients, loss=loss_without_penalty)
    results = check_gradients(model, x, y, gradients=buggy)
    failing = {result.layer for result in results if not result.passed}
    assert failing == {"dense_1", "dense_2", "dense_3", "dense_4"}  # the output layer carries no penalty


def test_a_gradient_off_by_a_tenth_of_a_percent_fails():
    model, x, y = _l2_model_and_batch()
    results = check_gradients(model, x, y, gradients=lambda *args: [g * 1.001 for g in analytic_gradients(*args)])
    assert not any(result.passed for result in results)


def test_make_gradcheck_prints_each_layer_and_exits_zero(reports):
    result = run_harness("gradcheck", "combined", "--dataset", "digits", reports=reports)
    assert result.returncode == 0, result.stderr
    for layer in ("dense_1", "dense_2", "dense_3", "dense_4", "softmax"):
        assert layer in result.stdout
    assert "all layers pass" in result.stdout


def test_the_check_runs_in_float64_even_after_a_global_dtype_policy_was_set():
    keras.config.set_dtype_policy("float32")  # as any earlier code may have left it
    results = gradcheck_experiment(resolve("l2", EXPERIMENTS, dataset="digits"))
    assert all(result.passed for result in results)
    assert keras.config.dtype_policy().name == "float32" and keras.config.floatx() == "float32"  # restored
