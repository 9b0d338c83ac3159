"""Many runs, one warm process: isolated runs, a dead worker costs one run, a quiet console, a verified data cache."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd

from harness.config.experiments import resolve
from harness.config.schema import DatasetConfig
from harness.data import cache as dataset_cache
from harness.data.datasets import load_dataset
from harness.groups.workers import RunRequest, WorkerPool
from harness.native_logs import FILTER
from harness.records import RunDir, reason_text
from tests.conftest import EXPERIMENTS, ROOT, harness_command, run_dirs, run_harness, wait_for_epochs
from tests.test_study import study_of

DETERMINISTIC = ["--dataset", "digits", "--epochs", "3", "--set", "training.deterministic=true"]


def _results(run_dir):
    history = pd.read_csv(run_dir / "history.csv").drop(columns="seconds")
    return history, (run_dir / "predictions.csv").read_text()


def test_runs_in_one_worker_equal_the_same_runs_made_alone(tmp_path):
    names = ["dropout", "adam"]  # dropout first: its random masks must not leak into the next run's seeds
    configs = [resolve(name, EXPERIMENTS, ["training.deterministic=true"], "digits", 3) for name in names]
    pooled = tmp_path / "pooled"
    requests = [RunRequest(config.name, config.to_dict(), pooled) for config in configs]
    results = WorkerPool(1).run(requests, lambda result, done: None)
    assert [result.status for result in results] == ["finished", "finished"]
    for name, result in zip(names, results, strict=True):
        alone = tmp_path / f"alone-{name}"
        assert run_harness("run", name, *DETERMINISTIC, reports=alone).returncode == 0
        (alone_dir,) = run_dirs(alone)
        history, predictions = _results(result.run_dir)
        alone_history, alone_predictions = _results(alone_dir)
        pd.testing.assert_frame_equal(history, alone_history, check_exact=True)
        assert predictions == alone_predictions
        assert (result.run_dir / "report.html").is_file()  # drawn by the worker's report thread


def test_a_worker_killed_mid_run_costs_only_that_run_which_runs_again(reports):
    command = harness_command("run adam --dataset digits --epochs 15 --seeds 3 --jobs 1", reports)
    group = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = wait_for_epochs(reports, "adam/seeds-*/seed-1", 3, group, timeout=180)  # the second run is training
    worker = json.loads((second / "status.json").read_text())["pid"]
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = group.communicate(timeout=300)
    assert group.returncode == 0, stderr  # every seed finished, the killed one on its second try
    first, third, again = (second.parent / name for name in ("seed-0", "seed-2", "seed-1-retry1"))
    assert RunDir(first).status()["status"] == "finished" and (first / "report.html").is_file()
    assert RunDir(third).status()["status"] == "finished"  # taken by a new worker
    assert RunDir(again).status()["status"] == "finished"
    status = RunDir(second).status()
    assert status["status"] == "interrupted" and "worker process died (signal SIGKILL)" in reason_text(status["reason"])
    assert json.loads((second / "metrics.json").read_text())["status"] == "interrupted"
    assert "its point runs again as seed-1-retry1" in stdout and "adam: 3 of 3 runs finished" in stdout
    states = sorted(trial.state.name for trial in study_of(second.parent).trials)
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]  # the study's ledger says the same


def test_a_damaged_dataset_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HARNESS_CACHE", str(tmp_path))
    first = load_dataset(DatasetConfig(name="digits"))
    pixels = first.x_train[:]  # a copy: the mapping would see the damage too
    (cached,) = (tmp_path / "datasets").glob("digits-*/x_train.npy")
    content = bytearray(cached.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one flipped byte inside the pixels
    cached.write_bytes(bytes(content))
    again = load_dataset(DatasetConfig(name="digits"))  # nothing kept in memory: as in a new process
    assert f"the dataset cache {cached.parent} is damaged; decoding the dataset again" in capsys.readouterr().err
    assert np.array_equal(pixels, again.x_train[:]) and np.array_equal(first.y_test, again.y_test)
    rebuilt = cached.read_bytes()
    assert rebuilt != bytes(content)  # written anew, with a digest that matches it
    meta = json.loads((cached.parent / "meta.json").read_text())
    assert hashlib.sha256(rebuilt).hexdigest() == meta["digests"]["x_train.npy"]


def test_a_large_damaged_cache_is_found_alongside_the_run_which_then_fails_saying_so(tmp_path, monkeypatch, reports):
    """A large entry is checked while the run trains: a damaged one fails the run before any result is written."""
    monkeypatch.setenv("KERAS_HARNESS_CACHE", str(tmp_path))
    load_dataset(DatasetConfig(name="digits"))
    (cached,) = (tmp_path / "datasets").glob("digits-*/x_train.npy")
    content = bytearray(cached.read_bytes())
    content[-1] ^= 0xFF
    cached.write_bytes(bytes(content))
    monkeypatch.setattr(dataset_cache, "VERIFY_AT_ONCE_BYTES", 0)  # as if the entry were large
    result = run_harness("run", "adam", "--dataset", "digits", "--epochs", "1", reports=reports)
    assert result.returncode == 1 and "the dataset cache was damaged" in result.stderr + result.stdout
    (run_dir,) = run_dirs(reports)
    assert RunDir(run_dir).status()["status"] == "failed" and not RunDir(run_dir).has(RunDir.PREDICTIONS)
    assert not cached.parent.exists()  # deleted: the next run decodes anew
    assert run_harness("run", "adam", "--dataset", "digits", "--epochs", "1", reports=reports).returncode == 0


def test_the_console_of_a_run_has_one_line_per_epoch_and_no_tensorflow_start_up_lines(reports):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = harness_command("run adam --dataset digits --epochs 3", reports)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "absl::InitializeLog" not in result.stderr and "oneDNN" not in result.stderr
    assert not re.search(r"^[IW]\d{4} ", result.stderr, re.MULTILINE), result.stderr
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert "val_accuracy" in epochs[0] and epochs[0].endswith(" s")
    assert "1/1" not in result.stdout  # not Keras's bar of one step per epoch


def test_the_filter_passes_errors_and_python_output_and_drops_only_known_notices():
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795506207.439820    4071 cpu_feature_guard.cc:227] This TensorFlow binary is optimized",
        "To enable the following instructions: AVX2 AVX512F, in other operations, rebuild TensorFlow",
        "W0000 00:00:1795506208.767177    4071 port.cc:153] oneDNN custom operations are on.",
        # loading the harness's XLA cache: a text parse before the binary one, two tuning preferences named as features
        "E0000 00:00:1796023667.763321   22510 text_format.cc:378] Error parsing text-format "
        "tensorflow.XlaSerializedCacheEntry: 2:1: Expected identifier, got: 6",
        "E0000 00:00:1796023667.787805   22510 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. Target machine "
        "feature +prefer-no-scatter is not  supported on the host machine. Machine type used ...",
        "E0000 00:00:1796023667.787868   22510 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. Target machine "
        "feature +prefer-no-gather is not  supported on the host machine. Machine type used ...",
        "E0000 00:00:1795506212.915886    4071 op_kernel.cc:1830] OP_REQUIRES failed: out of memory",
        "E0000 00:00:1796023667.787868   22510 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. Target machine "
        "feature +avx512f is not  supported on the host machine.",
        "F0000 00:00:1795506212.915886    4071 logging.cc:12] Check failed: shape",
        "Traceback (most recent call last):",
        "To enable the following instructions: (a Python line that merely looks like a continuation)",
    ]
    filtered = subprocess.run(
        [sys.executable, "-S", "-c", FILTER], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30
    ).stdout.splitlines()
    assert filtered == lines[7:]


def test_a_run_in_a_warm_process_leaves_no_traced_graph_behind(reports):
    """What a worker keeps between runs does not grow: TensorFlow's gradient registry held every traced
    training step of every earlier run (about 10 MB a run) until harness.training.isolation forgot them."""
    import gc

    import keras
    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's gradient registry")
    from tensorflow.python.framework.func_graph import FuncGraph

    from harness.training.isolation import _gradient_registrations, isolated_run
    from harness.training.runner import run_experiment

    def traced_graphs():
        gc.collect()
        return sum(isinstance(thing, FuncGraph) for thing in gc.get_objects())

    def config(rate: float):  # each run another rate: a model of its own, traced (harness.training.reuse)
        return resolve("adam", EXPERIMENTS, [f"optimizer.learning_rate={rate}"], dataset="digits", epochs=1)

    with isolated_run():
        run_experiment(config(0.001), reports)
    registered, graphs = _gradient_registrations(keras), traced_graphs()
    for rate in (0.002, 0.003):
        with isolated_run():
            assert run_experiment(config(rate), reports).status == "finished"
            assert _gradient_registrations(keras) > registered  # the run traced a step that registered one
    assert _gradient_registrations(keras) == registered
    assert traced_graphs() <= graphs
