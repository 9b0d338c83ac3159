"""`make bench-tuning` runs KerasTuner's introduction and the harness's sweep over the same space, and retrains
both choices the same way (here on digits, for a few epochs; the README's table is the full measurement)."""

import json

import pytest

from benchmarks.tuning import space
from tests.conftest import run_benchmark


def test_the_space_is_kerastuners_one_layer_widths_and_three_rates():
    widths, rates = space().split(" ")
    assert widths == "model.hidden_units=" + ",".join(f"[{width}]" for width in range(32, 513, 32))
    assert rates == "optimizer.learning_rate=0.01,0.001,0.0001"


def test_both_searches_run_and_their_choices_are_retrained_alike(reports):
    pytest.importorskip("keras_tuner", reason="make bench-tuning installs requirements-bench.txt; CI does too")
    options = ("--dataset", "digits", "--trials", "2", "--max-epochs", "2", "--jobs", "2")
    result = run_benchmark("tuning", *options, reports=reports)
    assert result.returncode == 0, result.stderr
    (out,) = reports.glob("bench/tuning-*")
    results = json.loads((out / "tuning.json").read_text())
    for side in ("kerastuner", "harness"):
        measured = results["sides"][side]
        assert measured["seconds"] > 0 and measured["epochs_trained"] >= 2 and 0.5 < measured["best_val_accuracy"] <= 1
        assert set(measured["point"]) == {"model.hidden_units", "optimizer.learning_rate"}
        assert len(measured["retrained_test_accuracy"]["values"]) == 3
    assert results["ratio_harness_over_kerastuner"] == pytest.approx(
        results["sides"]["harness"]["seconds"] / results["sides"]["kerastuner"]["seconds"], abs=1e-3
    )
    assert "| KerasTuner, Hyperband |" in (out / "tuning.md").read_text()
