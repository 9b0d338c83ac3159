"""`make bench` runs end to end, and the harness's fast path computes the same loss as plain Keras."""

import json

import keras
import numpy as np
import pytest

from benchmarks.training import reference_style_model, training_gflop_per_epoch
from harness.config.experiments import resolve
from harness.training.train import build_compiled_model, build_model, fit
from tests.conftest import EXPERIMENTS, run_benchmark

WAY_FIELDS = {
    "epoch_seconds",
    "median_epoch_seconds",
    "images_per_second",
    "training_gflops_per_second",
    "peak_memory_mb",
    "test_accuracy",
}


def test_bench_runs_end_to_end_and_writes_every_field(reports):
    result = run_benchmark("training", "--model", "simple", "--epochs", "1", "--samples", "1024", reports=reports)
    assert result.returncode == 0, result.stderr
    (bench_json,) = reports.glob("bench/*/bench.json")
    results = json.loads(bench_json.read_text())
    assert results["model"] == "simple" and results["samples"] == 1024 and results["timed_epochs"] == 1
    other = {"tensorflow": "jax", "jax": "tensorflow"}[keras.backend.backend()]
    ways = [
        "reference_way",
        "harness_way",
        "harness_bfloat16",
        "keras_loop_with_xla",
        "harness_without_xla",
        f"reference_way_{other}",
        f"harness_on_{other}",
    ]
    assert sorted(results["ways"]) == sorted(ways)
    for way in ways:
        assert set(results[way]) == WAY_FIELDS
        assert len(results[way]["epoch_seconds"]) == 1
        assert results[way]["median_epoch_seconds"] > 0 and results[way]["peak_memory_mb"] > 100
        assert 0 <= results[way]["test_accuracy"] <= 1

    def ratio(way, baseline):
        return results[way]["median_epoch_seconds"] / results[baseline]["median_epoch_seconds"]

    # The seconds are rounded to 0.1 ms, and a 1,024-image epoch takes only tens of milliseconds.
    assert results["ratio_harness_over_seed"] == pytest.approx(ratio("harness_way", "reference_way"), rel=0.01)
    faster = min(("reference_way", f"reference_way_{other}"), key=lambda way: results[way]["median_epoch_seconds"])
    assert results["faster_reference_way"] == faster
    assert results["ratio_harness_over_faster_reference_way"] == pytest.approx(ratio("harness_way", faster), rel=0.01)
    measures = {"xla", "whole_epoch_calls", "harness_without_xla_over_seed", "bfloat16"}
    assert set(results["ratios_by_measure"]) == measures
    (peak,) = results["matmul_peak_gflops_per_round"]  # measured just before the harness's one timed epoch
    assert results["matmul_peak_gflops"] == peak > 0
    harness_rate = results["harness_way"]["training_gflops_per_second"]
    assert results["harness_fraction_of_peak"] == pytest.approx(harness_rate / peak, rel=0.01)
    assert results["harness_fraction_of_batch_matmul"] == pytest.approx(
        harness_rate / results["batch_matmul_gflops"], rel=0.01
    )
    assert results["environment"]["backend"] == keras.backend.backend()
    markdown = (bench_json.parent / "bench.md").read_text()
    assert "ratio harness / the faster reference way" in markdown and "mixed_bfloat16" in markdown
    assert "ratio harness / the faster reference way" in result.stdout


def test_bench_refuses_an_unknown_model(reports):
    result = run_benchmark("training", "--model", "resnet", reports=reports)
    assert result.returncode == 2
    assert "unknown benchmark model 'resnet'" in result.stderr and "Traceback" not in result.stderr


def test_training_work_of_the_basic_dnn_is_about_160_gflop_per_epoch():
    model = build_model(resolve("basic_dnn", EXPERIMENTS), (28, 28, 1), 10)
    assert training_gflop_per_epoch(model, 60_000) == pytest.approx(158.5, abs=0.1)


def test_fast_path_and_plain_keras_give_the_same_first_batch_loss():
    config = resolve("basic_dnn", EXPERIMENTS, epochs=1)
    rng = np.random.default_rng(0)
    x, y = rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)

    fast = build_compiled_model(config, (784,), 10)
    plain = reference_style_model(config.model.parameters, 784, 10)
    plain.set_weights(fast.get_weights())
    plain.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    fast_loss = fit(config, fast, x, y, verbose=0).history["loss"].iloc[0]
    plain_loss = plain.fit(x, keras.utils.to_categorical(y, 10), batch_size=128, epochs=1, verbose=0)
    assert fast_loss == pytest.approx(plain_loss.history["loss"][0], rel=1e-5)
    assert fast_loss > 1.0  # an untrained 10-class model: about ln(10)


def test_bench_index_makes_the_runs_and_times_every_kind_of_refresh(reports):
    result = run_benchmark("index", "--runs", "40", "--repeats", "1", reports=reports)
    assert result.returncode == 0, result.stderr
    (bench_json,) = reports.glob("bench/index-*/bench_index.json")
    results = json.loads(bench_json.read_text())
    assert results["runs"] == 40
    for kind in ("unchanged", "one_new_run", "one_changed_run", "one_vanished_run"):
        assert 0 < results[f"refresh_{kind}_seconds"] < results["report_index_only_command_seconds"]
    assert results["index_data_js_mb"] > 0
    assert not list(reports.glob("adam*")), "the runs are made in a temporary folder, not among the user's"


def test_the_suites_page_states_every_ratio_the_compile_time_saved_and_the_gaps_between_seeds():
    """bench-suite's report from its results (the suite itself takes minutes on the full Fashion-MNIST)."""
    from benchmarks.suite import (
        HARNESS_WAYS,
        REFERENCE_EXPERIMENTS,
        faster_backend,
        first_epoch_overhead,
        suite_markdown,
    )

    assert first_epoch_overhead([2.5, 0.5, 0.6, 0.4]) == pytest.approx(2.0)  # beyond the median of the others

    def side(seconds: float) -> dict:
        accuracies = dict.fromkeys(REFERENCE_EXPERIMENTS, 0.85)
        return {"seconds": seconds, "peak_memory_mb": 900.0, "test_accuracy": accuracies, "epoch_seconds_sum": 37.2}

    round_ = {"reference_tensorflow": side(104.2), "reference_jax": side(54.1), "faster_reference": "reference_jax"}
    assert faster_backend(round_) == "jax"  # what the single run's reference side runs on, as KERAS_BACKEND
    for tag, seconds, overhead in zip(HARNESS_WAYS, (44.2, 38.1, 26.3), (0.86, 2.67, 0.58), strict=True):
        round_[tag] = side(seconds) | {"first_epoch_overhead_mean": overhead, "compile_cache_mb": 1.4}
    round_["ratios"] = {tag: round(round_[tag]["seconds"] / 54.1, 3) for tag in HARNESS_WAYS}
    seeds = [{"backend": "jax", "gaps_seconds": [0.09, 0.1], "first_epoch_overheads": [1.11, 0.11, 0.05]}]
    single = {"reference_backend": "jax", "reference_seconds": [8.85], "reference_median_seconds": 8.85}
    single["harness"] = {"jax": {"first_seconds": 7.06, "seconds": [5.14], "median_seconds": 5.14, "ratio": 0.581}}
    results = {"dataset": "fashion_mnist", "cpu_count": 2, "date": "2026-11-30", "jobs": None, "rounds": [round_]}
    results |= {"experiments": list(REFERENCE_EXPERIMENTS), "seeds_in_one_worker": seeds, "single_run": single}
    results["ratios_to_faster_reference_way"] = round_["ratios"]
    page = suite_markdown(results)
    assert "26.3 s (0.486)" in page and "make_all_jax_warm **0.486**" in page
    assert "**2.09 s saved per run**" in page and "**1.4 MB**" in page
    assert "| jax | 0.09 s, 0.10 s | 1.11 s, 0.11 s, 0.05 s |" in page
    assert "| jax | 7.06 s | [5.14] | **5.14 s** | 8.85 s | **0.581** |" in page
