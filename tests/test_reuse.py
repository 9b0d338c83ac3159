"""The next seed in a warm process trains the model the last run compiled: the numbers of a fresh model, without
tracing its steps again; any other change gets a model of its own."""

import json
import os
import subprocess
import sys

import pytest

from harness.config.experiments import resolve
from harness.data.datasets import load_dataset
from harness.training.isolation import isolated_run
from harness.training.reuse import forget_kept
from harness.training.runner import compiled_model
from harness.training.train import fit
from tests.conftest import EXPERIMENTS, ROOT


def train(name: str, *settings: str):
    """One run's training in this process, as a worker makes it: its history (without times) and its model."""
    config = resolve(name, EXPERIMENTS, list(settings), "digits", 3)
    with isolated_run():
        data = load_dataset(config.dataset)
        model = compiled_model(config, data)
        history = fit(config, model, data.x_train, data.y_train, (data.x_val, data.y_val), verbose=0).history
    return history.drop(columns="seconds"), model


def seeds_reused_and_fresh(name: str) -> dict:
    """Seed 1 then seed 2 in one process, and seed 2 again with nothing kept."""
    forget_kept()
    first, first_model = train(name, "training.seed=1")
    reused, reused_model = train(name, "training.seed=2")
    forget_kept()
    fresh, _ = train(name, "training.seed=2")
    _, other_rate = train(name, "training.seed=3", "optimizer.learning_rate=0.002")
    return {
        "reused_the_model": reused_model is first_model,
        "reused_equals_fresh": reused.equals(fresh),
        "seeds_differ": not first.equals(fresh),
        "another_rate_gets_its_own": other_rate is not reused_model,
    }


EXPECTED = {
    "reused_the_model": True,
    "reused_equals_fresh": True,
    "seeds_differ": True,
    "another_rate_gets_its_own": True,
}


@pytest.mark.parametrize("name", ["combined", "adam_lr"])  # dropout's generators and L2; a schedule
def test_the_next_seed_trains_the_kept_model_to_the_numbers_of_a_fresh_one(name):
    assert seeds_reused_and_fresh(name) == EXPECTED


def test_the_same_holds_on_jax():
    pytest.importorskip("jax")
    code = (
        f"import json; from tests.test_reuse import seeds_reused_and_fresh as f; print(json.dumps(f({'combined'!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"KERAS_BACKEND": "jax"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == EXPECTED
