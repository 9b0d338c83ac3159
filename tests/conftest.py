"""Shared helpers: run the command line as a user would, in temporary report directories."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Decoded datasets go to a cache of the test session's own, not the user's (harness.data.cache), removed
# when the session ends.
if "KERAS_HARNESS_CACHE" not in os.environ:
    _SESSION_CACHE = tempfile.mkdtemp(prefix="harness-test-cache-")
    os.environ["KERAS_HARNESS_CACHE"] = _SESSION_CACHE


def pytest_sessionfinish(session, exitstatus):
    if "_SESSION_CACHE" in globals():
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


def harness_command(words: str | list[str], reports: Path, *extra: str) -> list[str]:
    """The command line `python -m harness WORDS` with this test's folders, as the Makefile would run it."""
    folders = ["--experiments-dir", str(EXPERIMENTS), "--reports-dir", str(reports)]
    return [sys.executable, "-m", "harness", *(words.split() if isinstance(words, str) else words), *folders, *extra]


def run_harness(
    *args: str, reports: Path, experiments: Path = EXPERIMENTS, env: dict | None = None, process: bool = False
):
    """The command line `python -m harness ARGS` with this test's folders: in this process, through the same
    `harness.cli.main` the Makefile's process runs, with its output captured; with `process=True`, in a process of
    its own (for what only a process shows: its signals, its exit, what reaches its file descriptors)."""
    command, *rest = args
    argv = [command, "--experiments-dir", str(experiments), "--reports-dir", str(reports), *rest]
    if process:
        return subprocess.run(
            [sys.executable, "-m", "harness", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"} | (env or {}),
            timeout=600,
        )
    from harness.cli import main

    return in_process(main, argv, env or {})


def run_make(words: list[str]) -> subprocess.CompletedProcess:
    """`make WORDS` as make would run it, in this process: what make would run (`make -n`), its `python -m harness`
    lines through harness.cli.main as run_harness runs them, with the variables make exports (its command line's),
    the rest in a shell, stopping at the first that fails. A process that imports TensorFlow costs about 8 s of CPU."""
    from harness.cli import main

    recipe = subprocess.run(["make", "-n", "--no-print-directory", *words], cwd=ROOT, capture_output=True, text=True)
    assert recipe.returncode == 0, recipe.stderr
    environment = dict(word.split("=", 1) for word in words if "=" in word)
    outputs = []
    for line in recipe.stdout.replace("\\\n", " ").splitlines():
        python_words = shlex.split(line)
        if python_words[1:3] == ["-m", "harness"]:
            with contextlib.chdir(ROOT):
                result = in_process(main, python_words[3:], environment)
        else:
            result = subprocess.run(line, shell=True, cwd=ROOT, capture_output=True, text=True)
        outputs.append(result)
        if result.returncode != 0:
            break
    stdout, stderr = ("".join(getattr(result, part) for result in outputs) for part in ("stdout", "stderr"))
    return subprocess.CompletedProcess(words, outputs[-1].returncode if outputs else 0, stdout, stderr)


def run_benchmark(*args: str, reports: Path, experiments: Path = EXPERIMENTS) -> subprocess.CompletedProcess:
    """`python -m benchmarks ARGS` with this test's folders, in this process (as run_harness runs the harness)."""
    from benchmarks.__main__ import main

    command, *rest = args
    return in_process(main, [command, "--experiments-dir", str(experiments), "--reports-dir", str(reports), *rest], {})


def in_process(main, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """main(argv) (harness.cli's or benchmarks') as its own process would run it: its environment and command line
    set for the call, the run isolated from this process's other runs (harness.training.isolation), stdout and
    stderr captured."""
    import contextlib
    import io
    import traceback
    from unittest import mock

    from harness.training.isolation import isolated_run

    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env),
        mock.patch.object(sys, "argv", ["harness", *argv]),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        isolated_run(),
    ):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's usage errors and --help
            code = exit.code if isinstance(exit.code, int) else 2
        except Exception:  # noqa: BLE001 - as a process would end: a traceback and exit status 1
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


def wait_for_epochs(reports: Path, runs: str, epochs: int, process=None, timeout: float = 120) -> Path:
    """Block until a run directory matching `runs` (a glob under reports: "adam/*", "adam/seeds-*/seed-1") has at
    least `epochs` epochs in its history; return it. `process`: the command making the run, if it is not this process,
    which must not have ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the run ended before it could be stopped"
        for history in reports.glob(f"{runs}/history.csv"):
            if not history.parent.is_symlink() and len(history.read_text().splitlines()) > epochs:
                return history.parent
        time.sleep(0.02)
    raise TimeoutError(f"no run {runs} reached epoch {epochs}")


def forget_modules(monkeypatch, package: str) -> None:
    """Drop another test's modules of a user's package (`mynets`) from this process, so this test imports its own."""
    for name in [name for name in sys.modules if name.split(".")[0] == package]:
        monkeypatch.delitem(sys.modules, name)


def tensorboard_curves(folder: Path) -> dict[tuple[str, str], list[float]]:
    """Every scalar curve in a run's TensorBoard folder, by (part, tag), as TensorBoard reads it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    curves = {}
    for part in ("train", "validation"):
        events = EventAccumulator(str(folder / part))
        events.Reload()
        for tag in events.Tags()["tensors"]:
            curves[part, tag] = [float(make_ndarray(event.tensor_proto)) for event in events.Tensors(tag)]
    return curves


def run_dirs(reports: Path) -> list[Path]:
    """Every run directory under a reports folder."""
    return sorted(path.parent for path in reports.glob("*/*/config.yaml") if not path.parent.is_symlink())


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


@pytest.fixture
def experiments(tmp_path: Path) -> Path:
    """A private copy of experiments/ that a test may add broken files to."""
    copy = tmp_path / "experiments"
    shutil.copytree(EXPERIMENTS, copy)
    return copy


def history_frame(accuracy: list[float], val_accuracy: list[float], learning_rate: float = 0.001):
    """A history as a run records it: every column history.csv has, with chosen accuracies."""
    import pandas as pd

    epochs = len(accuracy)
    return pd.DataFrame(
        {
            "epoch": range(epochs),
            "accuracy": accuracy,
            "loss": [1.0 / (epoch + 1) for epoch in range(epochs)],
            "val_accuracy": val_accuracy,
            "val_loss": [1.1 / (epoch + 1) for epoch in range(epochs)],
            "learning_rate": [learning_rate] * epochs,
            "seconds": [0.1] * epochs,
        }
    )


def write_run(run_dir: Path, config, history, metrics: dict, status: str = "finished", why: dict | None = None):
    """A run directory written with the records' own writers, with chosen results (no training)."""
    from harness.records import RunDir

    run_dir.mkdir(parents=True, exist_ok=True)
    run = RunDir(run_dir)
    run.write_config(config)
    run.write_history(history)
    seconds = round(float(history["seconds"].sum()), 3)
    run.write_metrics({"status": status, "reason": why, "epochs_run": len(history), "train_seconds": seconds} | metrics)
    run.write_status(status, why)
    return run
