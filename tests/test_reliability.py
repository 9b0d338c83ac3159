"""Interrupted runs resume, divergence is reported, and nothing a user does damages earlier runs."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.config.experiments import resolve
from harness.records import RunDir, new_run_dir, reason_text
from harness.reporting import report as report_module
from harness.training.runner import run_experiment
from harness.training.signals import Interrupted, SignalWatch, StopOnSignal, signals_interrupt
from tests.conftest import EXPERIMENTS, ROOT, run_dirs, run_harness, wait_for_epochs

DETERMINISTIC_DROPOUT = [
    "run",
    "dropout",
    "--dataset",
    "digits",
    "--epochs",
    "18",  # enough that the run is caught after its 5th (of about 0.1 s each in memory)
    "--set",
    "training.deterministic=true",
]


def _start(args, reports):
    command = [sys.executable, "-m", "harness", *args, "--reports-dir", str(reports)]
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _results(run_dir):
    return pd.read_csv(run_dir / "history.csv").drop(columns="seconds"), (run_dir / "predictions.csv").read_text()


STREAMED = ["--set", "training.input=stream", "--set", "training.memory_budget_gb=0.0001"]  # a batch a part


@pytest.mark.parametrize("streamed", [False, True], ids=["memory", "stream"])
def test_a_run_killed_mid_run_and_resumed_equals_an_uninterrupted_one(tmp_path, streamed):
    killed_reports, clean_reports = tmp_path / "killed", tmp_path / "clean"
    arguments = DETERMINISTIC_DROPOUT + (STREAMED if streamed else [])
    process = _start(arguments, killed_reports)
    run_dir = wait_for_epochs(killed_reports, "dropout/*", 5, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert RunDir(run_dir).status()["status"] == "interrupted"  # its process is gone

    resumed = run_harness("run", "dropout", "--resume", "latest", reports=killed_reports)
    assert resumed.returncode == 0, resumed.stderr
    assert run_dirs(killed_reports) == [run_dir]  # the same directory was finished
    assert run_harness(*arguments, reports=clean_reports).returncode == 0

    (clean_dir,) = run_dirs(clean_reports)
    history, predictions = _results(run_dir)
    assert history["epoch"].tolist() == list(range(18))  # every epoch once
    clean_history, clean_predictions = _results(clean_dir)
    pd.testing.assert_frame_equal(history, clean_history)
    assert predictions == clean_predictions
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "finished"
    assert not (run_dir / "checkpoint").exists()


def test_ctrl_c_stops_at_once_with_partial_history_and_says_how_to_resume(reports):
    process = _start(["run", "basic_dnn", "--dataset", "digits", "--epochs", "200"], reports)
    run_dir = wait_for_epochs(reports, "basic_dnn/*", 2, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    status = RunDir(run_dir).status()
    assert status["status"] == "interrupted" and "stopped by SIGINT after epoch" in reason_text(status["reason"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 2 <= metrics["epochs_run"] < 200
    assert len(pd.read_csv(run_dir / "history.csv")) == metrics["epochs_run"]
    assert (run_dir / "learning_curves.png").stat().st_size > 0
    assert not (run_dir / "predictions.csv").exists()
    # The folders the command was given are part of the command that resumes it.
    assert f"Resume with: make experiment NAME=basic_dnn RESUME={run_dir.name} REPORTS={reports.resolve()}\n" in stderr
    assert "Traceback" not in stderr


def test_sigterm_also_stops_cleanly(reports):
    """SIGTERM, as a batch system sends it, to this process while it trains (a process's exit: the SIGINT test's)."""
    stopper = threading.Thread(target=_signal_after_an_epoch, args=(reports, "sgd", signal.SIGTERM))
    stopper.start()
    result = run_harness("run", "sgd", "--dataset", "digits", "--epochs", "500", reports=reports)
    stopper.join()
    assert result.returncode == 130, result.stderr
    (run_dir,) = run_dirs(reports)
    assert "stopped by SIGTERM" in reason_text(RunDir(run_dir).status()["reason"])


def _signal_after_an_epoch(reports, experiment, signal_number):
    """Send this process a signal once its run of `experiment` has finished an epoch (its handler is installed)."""
    wait_for_epochs(reports, f"{experiment}/*", 1)
    os.kill(os.getpid(), signal_number)


class _SignalsWhenCollected:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, and Python ignores what a finalizer raises


class _SignalInAFinalizer(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            _SignalsWhenCollected()  # collected at once


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # the lost raise: not printed
def test_a_signal_whose_first_raise_is_lost_still_stops_training_after_that_epoch():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    watch = SignalWatch()
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int32")
    callbacks = [_SignalInAFinalizer(), StopOnSignal(watch)]
    with pytest.raises(Interrupted, match="SIGTERM"), signals_interrupt(watch):
        model.fit(x, y, epochs=50, verbose=0, callbacks=callbacks)
    assert watch.name == "SIGTERM" and model.optimizer.iterations.numpy() == 3  # epochs 0, 1 and 2


def test_a_diverging_run_stops_is_marked_and_still_reported(reports):
    config = resolve("sgd", EXPERIMENTS, ["optimizer.learning_rate=1e5"], dataset="digits", epochs=10)
    outcome = run_experiment(config, reports, reporter=report_module.REPORTER)
    assert (outcome.status, outcome.exit_code) == ("diverged", 3)
    assert outcome.reason == {"code": "diverged", "epoch": 0}
    assert reason_text(outcome.reason) == "the loss became NaN or infinite in epoch 1"
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["epochs_run"] == 1  # stopped at once, not after 10 epochs
    assert RunDir(outcome.run_dir).status()["status"] == "diverged"
    assert (outcome.run_dir / "learning_curves.png").stat().st_size > 0
    assert not (outcome.run_dir / "checkpoint").exists()


def test_the_command_line_exits_with_a_distinct_status_on_divergence(reports):
    args = ["run", "sgd", "--dataset", "digits", "--epochs", "3", "--set", "optimizer.learning_rate=1e5"]
    assert main([*args, "--reports-dir", str(reports)]) == 3


def test_a_crash_in_the_report_step_leaves_results_and_make_report_recovers(reports, monkeypatch, capsys):
    def broken_plot(*args, **kwargs):
        raise RuntimeError("injected crash while plotting")

    monkeypatch.setattr(report_module, "plot_confusion_matrix", broken_plot)
    config = resolve("adam", EXPERIMENTS, dataset="digits", epochs=1)
    outcome = run_experiment(config, reports, reporter=report_module.REPORTER)
    assert outcome.status == "finished"
    assert "injected crash while plotting" in capsys.readouterr().err
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test_accuracy"] > 0
    assert (outcome.run_dir / "predictions.csv").is_file()
    assert not (outcome.run_dir / "confusion_matrix.png").exists()

    monkeypatch.undo()
    made = subprocess.run(
        ["make", "--no-print-directory", "report", f"REPORTS={reports}"], cwd=ROOT, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert (outcome.run_dir / "confusion_matrix.png").stat().st_size > 0
    assert json.loads((outcome.run_dir / "metrics.json").read_text()) == metrics


MAKE_RUN_DIRECTORIES = """
import sys, time
from pathlib import Path
from harness.records import new_run_dir
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
print("\\n".join(str(new_run_dir(Path(sys.argv[2]), "adam")) for _ in range(100)))
"""


def test_runs_started_at_once_get_their_own_directories(tmp_path):
    """Two processes that make run directories in the same instants (one second, one time in their names), as two runs
    started at once do, never share one."""
    start = str(time.time() + 2)
    command = [sys.executable, "-c", MAKE_RUN_DIRECTORIES, start, str(tmp_path)]
    processes = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    made = [line for process in processes for line in process.communicate(timeout=60)[0].split()]
    assert all(process.returncode == 0 for process in processes)
    assert len(made) == len(set(made)) == 200


def test_a_run_directory_whose_name_is_taken_gets_another(tmp_path, monkeypatch):
    names = iter(["abcd", "abcd", "ef01"])
    monkeypatch.setattr("harness.records.folders.secrets.token_hex", lambda _: next(names))
    first, second = new_run_dir(tmp_path, "adam"), new_run_dir(tmp_path, "adam")
    assert first.name.endswith("-abcd") and second.name.endswith("-ef01")


def test_an_unwritable_reports_folder_is_a_clear_error(tmp_path):
    blocked = tmp_path / "reports"
    blocked.write_text("a file where the reports folder should be")
    result = run_harness("run", "adam", "--dataset", "digits", reports=blocked)
    assert result.returncode == 2
    assert "cannot create a run directory under" in result.stderr and "Traceback" not in result.stderr


def test_resume_accepts_the_starting_options_repeated_and_names_each_one_that_differs(reports):
    started = ["run", "adam", "--dataset", "digits", "--epochs", "1", "--set", "optimizer.learning_rate=0.002"]
    assert main([*started, "--reports-dir", str(reports)]) == 0
    again = run_harness(*started, "--resume", "latest", reports=reports)  # the same command, RESUME added
    assert again.returncode == 2 and "is finished (1 epochs); give EPOCHS greater than 1" in again.stderr
    changed = run_harness(
        *started, "--seed", "5", "--set", "optimizer.learning_rate=0.01", "--resume", "latest", reports=reports
    )
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    assert (
        "a resumed run keeps its config, but optimizer.learning_rate is 0.002 in the run, 0.01 in the command; "
        "training.seed is 0 in the run, 5 in the command: drop those options"
    ) in changed.stderr
    shorter = run_harness("run", "adam", "--resume", "latest", "--epochs", "0", reports=reports)
    assert shorter.returncode == 2
    unknown = run_harness("run", "adam", "--resume", "nosuchrun", reports=reports)
    assert unknown.returncode == 2 and "no run 'nosuchrun' of adam" in unknown.stderr


def test_a_finished_run_given_more_epochs_trains_on_in_its_directory_as_one_longer_run_would(tmp_path):
    """adam_lr's schedule steps at epochs 5 and 8: 4 epochs, then on to 10, equal 10 epochs in one go."""
    extended, straight = tmp_path / "extended", tmp_path / "straight"
    options = ["adam_lr", "--dataset", "digits", "--set", "training.deterministic=true"]
    assert run_harness("run", *options, "--epochs", "4", reports=extended).returncode == 0
    (run_dir,) = run_dirs(extended)
    more = run_harness("run", *options, "--epochs", "10", "--resume", "latest", reports=extended)
    assert more.returncode == 0, more.stderr
    assert run_dirs(extended) == [run_dir]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["training"]["epochs"] == 10
    status = RunDir(run_dir).status()
    assert status["status"] == "finished" and status["resumed_from_epoch"] == 4 and status["extended_from_epochs"] == 4
    assert run_harness("run", *options, "--epochs", "10", reports=straight).returncode == 0
    (straight_dir,) = run_dirs(straight)
    history, predictions = _results(run_dir)
    assert history["epoch"].tolist() == list(range(10))
    straight_history, straight_predictions = _results(straight_dir)
    pd.testing.assert_frame_equal(history, straight_history)
    assert predictions == straight_predictions


def test_a_running_status_whose_process_is_gone_reads_as_interrupted(tmp_path):
    finished_process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    RunDir(tmp_path).write_status("running")
    record = json.loads((tmp_path / "status.json").read_text())
    (tmp_path / "status.json").write_text(json.dumps(record | {"pid": int(finished_process.stdout)}))
    assert RunDir(tmp_path).status()["status"] == "interrupted"
    RunDir(tmp_path).write_status("running")  # this very process: alive
    assert RunDir(tmp_path).status()["status"] == "running"


@pytest.mark.parametrize("status", ["unknown", "done"])
def test_only_known_statuses_are_written(tmp_path, status):
    with pytest.raises(ValueError):
        RunDir(tmp_path).write_status(status)


def test_a_kill_between_a_checkpoints_weights_and_its_commit_leaves_the_previous_checkpoint_whole(tmp_path):
    """Weights and epoch count are committed together by progress.json: an epoch's weights written but not yet
    committed (the process killed in between) are never paired with the previous epoch's count."""
    import keras
    import numpy as np

    from harness.training.checkpoint import EpochCheckpoint, completed_epochs

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.arange(32) % 3
    model.fit(x, y, epochs=2, verbose=0, callbacks=[EpochCheckpoint(tmp_path)])
    assert completed_epochs(tmp_path) == (2, tmp_path / "epoch-00002.weights.h5")
    assert sorted(path.name for path in tmp_path.glob("*.weights.h5")) == ["epoch-00002.weights.h5"]
    model.save_weights(tmp_path / "epoch-00003.weights.h5")  # the next epoch's weights, then the kill
    assert completed_epochs(tmp_path) == (2, tmp_path / "epoch-00002.weights.h5")
