"""The next seed (or learning rate) in a warm process trains the model the last run compiled: the numbers of a fresh
model, without tracing its steps again; any other change of the model gets a model of its own."""

import json
import os
import subprocess
import sys

import pytest

from harness.config.experiments import resolve
from harness.data.datasets import load_dataset
from harness.shortcuts import Reusables
from harness.training.isolation import isolated_run
from harness.training.runner import compiled_model
from harness.training.train import fit
from tests.conftest import EXPERIMENTS, ROOT


def train(name: str, *settings: str, reusables: Reusables):
    """One run's training in this process, as a worker makes it: its history (without times) and its model."""
    config = resolve(name, EXPERIMENTS, list(settings), "digits", 3)
    with isolated_run():
        data = load_dataset(config.dataset, reusables)
        model = compiled_model(config, data, reusables)
        history = fit(config, model, data.x_train, data.y_train, (data.x_val, data.y_val), verbose=0).history
    return history.drop(columns="seconds"), model


def seeds_reused_and_fresh(name: str) -> dict:
    """Seed 1 then seed 2 in one process, and seed 2 again with nothing kept; another learning rate (a variable the
    steps read) and another batch size (other steps) after them."""
    kept = Reusables()
    first, first_model = train(name, "training.seed=1", reusables=kept)
    reused, reused_model = train(name, "training.seed=2", reusables=kept)
    fresh, _ = train(name, "training.seed=2", reusables=Reusables())
    rate = ("training.seed=3", "optimizer.learning_rate=0.002")
    other_rate, other_rate_model = train(name, *rate, reusables=kept)
    fresh_rate, _ = train(name, *rate, reusables=Reusables())
    _, other_batch_model = train(name, "training.seed=3", "training.batch_size=64", reusables=kept)
    return {
        "reused_the_model": reused_model is first_model,
        "reused_equals_fresh": reused.equals(fresh),
        "seeds_differ": not first.equals(fresh),
        "another_rate_reuses_it_to_a_fresh_models_numbers": other_rate_model is first_model
        and other_rate.equals(fresh_rate),
        "another_batch_size_gets_its_own": other_batch_model is not first_model,
    }


EXPECTED = {
    "reused_the_model": True,
    "reused_equals_fresh": True,
    "seeds_differ": True,
    "another_rate_reuses_it_to_a_fresh_models_numbers": True,
    "another_batch_size_gets_its_own": True,
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
