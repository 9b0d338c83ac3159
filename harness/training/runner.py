"""Run one experiment end to end, or resume one: data, model, training, evaluation, the run's files.

    python -m harness run adam_lr                  python -m harness run adam_lr --resume latest

Everything that can fail because of user input (config, dataset) fails before the run directory
exists. Training checkpoints every epoch; Ctrl-C or SIGTERM stops at once as `interrupted`, a NaN loss
as `diverged`. The report (plots, pages) is made from the run's files afterwards, so a crash there never
touches the training results, and `python -m harness report` makes it again.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import pandas as pd

from harness.config.schema import ExperimentConfig
from harness.data.datasets import Dataset, load_dataset
from harness.errors import UserError
from harness.records import (
    EXIT_CODES,
    create_member_dir,
    environment,
    is_group,
    new_run_dir,
    point_latest,
    read_config,
    read_status,
    read_table,
    tensorboard_dir,
    write_config,
    write_json,
    write_status,
    write_text,
    write_with,
)
from harness.training.checkpoint import EpochCheckpoint, completed_epochs, restore
from harness.training.evaluate import evaluate
from harness.training.fingerprint import FINGERPRINT_FILE, fingerprint
from harness.training.train import DivergenceGuard, EpochLine, build_compiled_model, fit, seed_everything, use_xla

CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.keras"
RESUME_DETAILS = ("resumed_from_epoch", "extended_from_epochs")  # kept in status.json once the run ends


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class Reporter(Protocol):
    """What makes a run's report: harness.reporting.report.REPORTER (training never imports report code)."""

    def warm_up(self) -> None: ...

    def write(self, run_dir: Path, index: bool) -> None: ...


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    reason: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


@dataclass
class SignalWatch:
    """The signal that asked training to stop, if one did."""

    name: str | None = None

    def check(self) -> None:
        if self.name:
            raise Interrupted(self.name)


class StopOnSignal(keras.callbacks.Callback):
    """Raise Interrupted at the end of an epoch once a signal was received. The handler raises at once, but
    Python drops an exception raised inside a finalizer (TensorFlow's objects have many), so that first
    raise can be lost and the run would train on to the end (seen once in CI as exit status 0 after SIGTERM)."""

    def __init__(self, watch: SignalWatch):
        super().__init__()
        self.watch = watch

    def on_epoch_end(self, epoch, logs=None):
        self.watch.check()


@contextmanager
def signals_interrupt(watch: SignalWatch | None = None):
    """Turn SIGINT and SIGTERM into Interrupted while training runs: from the handler at once, and on
    leaving the block should that raise have been lost."""
    watch = watch or SignalWatch()

    def handler(number, frame):
        watch.name = signal.Signals(number).name
        watch.check()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield watch
        watch.check()
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    return "\n".join(lines) + "\n"


def read_history(run_dir: Path) -> pd.DataFrame:
    return read_table(run_dir / "history.csv")


def run_experiment(
    config: ExperimentConfig,
    reports_dir: Path,
    run_dir: Path | None = None,
    reporter: Reporter | None = None,
    on_start: Callable[[Path], None] | None = None,
    command: list[str] | None = None,
    epoch_judge: Callable[[int, dict], str | None] | None = None,
) -> RunOutcome:
    """Train and evaluate `config` in a new run directory: `run_dir` when given (a group's member), else
    a fresh one under reports/<name>/ that becomes its `latest`. With a `reporter` (the command line's and
    the API's: harness.reporting.report.REPORTER) the run's report is made once it ends; without, the
    caller makes it (harness.groups.workers does, while its next run trains). on_start(run_dir) is called
    once the run's directory says `running`; `command` is the command line recorded in env.json (default:
    this process's). epoch_judge(epoch, logs), asked after each epoch (a sweep's pruner), stops the run as
    `pruned` when it answers with a reason."""
    dataset = load_dataset(config.dataset)
    if config.model.gradient == "numerical":
        from harness.training.scratch import build_net, check_numerical_budget

        check_numerical_budget(config, build_net(config, dataset), dataset)  # before any directory exists
    member = run_dir is not None
    if member:
        create_member_dir(run_dir)
    else:
        run_dir = new_run_dir(reports_dir, config.name)
    write_config(run_dir, config)
    keras_run = config.model.framework != "numpy"
    xla = use_xla(config, len(dataset.y_train)) if keras_run else None
    write_json(run_dir / "env.json", environment(config.training.seed, command) | {"xla": xla})
    write_json(run_dir / FINGERPRINT_FILE, fingerprint(config))
    write_status(run_dir, "running")
    if not member:  # a group's `latest` is the group itself
        point_latest(run_dir)
    if on_start is not None:
        on_start(run_dir)
    if not keras_run:
        return train_numpy_in(run_dir, config, dataset, reporter)
    return train_in(run_dir, config, dataset, reporter=reporter, epoch_judge=epoch_judge)


def train_numpy_in(
    run_dir: Path, config: ExperimentConfig, dataset: Dataset, reporter: Reporter | None = None
) -> RunOutcome:
    """The textbook's NumPy network, through the same statuses, files and report as a Keras run."""
    from harness.training import scratch

    net = scratch.build_net(config, dataset)
    shape = f"{dataset.input_dim}-{config.model.hidden_units[0]}-{dataset.num_classes}"
    write_text(run_dir / "model_summary.txt", f"TwoLayerNet (NumPy): {shape}, {net.parameter_count:,} parameters\n")
    try:
        with signals_interrupt():
            history = scratch.train_net(config, dataset, net, run_dir)
    except Interrupted as stop:
        reason = f"stopped by {stop.signal_name}; the NumPy network does not resume"
        return finish(run_dir, "interrupted", reason, reporter=reporter)
    except Exception as error:
        finish(run_dir, "failed", f"{type(error).__name__}: {error}".splitlines()[0], reporter=reporter)
        raise
    metrics, predictions = scratch.evaluate_net(net, dataset)
    write_text(run_dir / "predictions.csv", predictions.to_csv(index=False))
    write_with(run_dir / "weights.npz", lambda path: np.savez(path, **net.params))
    metrics |= history_summary(history, dataset) | {"stopped_early": False, "parameters": net.parameter_count}
    return finish(run_dir, "finished", None, metrics, reporter)


def history_summary(history: pd.DataFrame, dataset: Dataset) -> dict:
    """Best validation accuracy and its epoch (counted from 0, as in history.csv), the last epoch's, the sizes."""
    best = history["val_accuracy"].idxmax()
    return {
        "best_val_accuracy": float(history.loc[best, "val_accuracy"]),
        "best_epoch": int(history.loc[best, "epoch"]),
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "examples": {"train": len(dataset.y_train), "val": len(dataset.y_val), "test": len(dataset.y_test)},
    }


def resume_experiment(run_dir: Path, epochs: int | None = None, reporter: Reporter | None = None) -> RunOutcome:
    """Continue an interrupted or failed run from its last completed epoch, in the same directory. With
    `epochs` beyond the run's own, also train a finished run on from its saved model, to that many epochs
    in all; the config then says so (training.epochs) and the schedule goes on as configured."""
    config, record = read_config(run_dir), read_status(run_dir)
    status = record["status"]
    if config.model.framework == "numpy":
        raise UserError(f"run {run_dir} is the NumPy network's, which does not resume; start a new run")
    planned = config.training.epochs
    if epochs is not None and epochs < planned:
        raise UserError(f"run {run_dir} was set to {planned} epochs; EPOCHS={epochs} cannot shorten it")
    longer = epochs is not None and epochs > planned
    if status == "finished" and longer:
        completed, weights = len(read_history(run_dir)), run_dir / MODEL_FILE
    elif status in ("interrupted", "failed"):
        checkpoint = completed_epochs(run_dir / CHECKPOINT_DIR)
        if checkpoint is None:
            raise UserError(f"run {run_dir} has no checkpoint (it stopped before its first epoch ended); "
                            "start a new run")  # fmt: skip
        completed, weights = checkpoint
    elif status == "finished":
        raise UserError(f"run {run_dir} is finished ({planned} epochs); give EPOCHS greater than {planned} "
                        "to train it longer in the same run, or start a new run")  # fmt: skip
    else:
        detail = f" (pid {record.get('pid')})" if status == "running" else ""
        raise UserError(f"run {run_dir} is {status}{detail}; only interrupted, failed or finished runs resume")
    if longer:
        config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": epochs})})
        write_config(run_dir, config)
        write_json(run_dir / FINGERPRINT_FILE, fingerprint(config))
    dataset = load_dataset(config.dataset)
    history = read_history(run_dir)
    # Epochs logged after the last checkpoint are trained again; keep each epoch once.
    write_text(run_dir / "history.csv", history[history["epoch"] < completed].to_csv(index=False))
    extended = {"extended_from_epochs": planned} if longer else {}
    write_status(run_dir, "running", resumed_from_epoch=completed, **extended)
    return train_in(run_dir, config, dataset, initial_epoch=completed, reporter=reporter, weights=weights)


def train_in(
    run_dir: Path,
    config: ExperimentConfig,
    dataset: Dataset,
    initial_epoch: int = 0,
    reporter: Reporter | None = None,
    weights: Path | None = None,
    epoch_judge: Callable[[int, dict], str | None] | None = None,
) -> RunOutcome:
    """Train (from `weights` when given: a resumed run), evaluate, and write the run's results."""
    seed_everything(config.training.seed, config.training.deterministic)
    xla = use_xla(config, len(dataset.y_train))
    model = build_compiled_model(config, dataset.input_dim, dataset.num_classes, xla)
    write_text(run_dir / "model_summary.txt", model_summary(model))
    if weights is not None:
        restore(model, weights)
    guard = DivergenceGuard()
    # The CSV row of an epoch is written before its checkpoint: a kill between them repeats the epoch,
    # and resume_experiment drops the repeated row.
    callbacks = [
        guard,
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        EpochCheckpoint(run_dir / CHECKPOINT_DIR),
        # `tensorboard --logdir reports` shows every run, once.
        keras.callbacks.TensorBoard(str(tensorboard_dir(run_dir)), write_graph=False),
        EpochLine(config.training.epochs, terminal=sys.stdout.isatty()),
    ]
    pruning = Pruning(epoch_judge) if epoch_judge is not None else None
    callbacks += [pruning] if pruning else []
    watch = SignalWatch()
    callbacks.append(StopOnSignal(watch))  # last: the epoch it ends is recorded and checkpointed
    if reporter is not None:  # its imports and first figure, while the compiled epochs run without the GIL
        threading.Thread(target=reporter.warm_up, daemon=True).start()
    try:
        with signals_interrupt(watch):
            result = fit(config, model, dataset.x_train, dataset.y_train, (dataset.x_val, dataset.y_val),
                         callbacks, verbose=0, initial_epoch=initial_epoch)  # fmt: skip
    except Interrupted as stop:
        reason = f"stopped by {stop.signal_name} after epoch {_last_epoch(run_dir)}"
        return finish(run_dir, "interrupted", reason, reporter=reporter)
    except Exception as error:
        finish(run_dir, "failed", f"{type(error).__name__}: {error}".splitlines()[0], reporter=reporter)
        raise
    if guard.diverged_in_epoch is not None:
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)  # its weights are NaN: nothing to resume
        reason = f"the loss became NaN or infinite in epoch {guard.diverged_in_epoch}"
        return finish(run_dir, "diverged", reason, reporter=reporter)
    evaluation = evaluate(result.model, dataset)
    write_with(run_dir / MODEL_FILE, lambda path: result.model.save(path))
    write_text(run_dir / "predictions.csv", evaluation.predictions.to_csv(index=False))
    history = read_history(run_dir)
    metrics = {
        "test_loss": evaluation.test_loss,
        "test_accuracy": evaluation.test_accuracy,
        "macro_f1": evaluation.macro_f1,
        "stopped_early": len(history) < config.training.epochs,
        "parameters": result.model.count_params(),
    } | history_summary(history, dataset)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
    if pruning is not None and pruning.reason:
        return finish(run_dir, "pruned", pruning.reason, metrics, reporter)
    return finish(run_dir, "finished", None, metrics, reporter)


class Pruning(keras.callbacks.Callback):
    """Ask a judge (a sweep's pruner) after each epoch whether the run should go on; stop it when not."""

    def __init__(self, judge: Callable[[int, dict], str | None]):
        super().__init__()
        self.judge, self.reason = judge, None

    def on_epoch_end(self, epoch, logs=None):
        reason = self.judge(epoch, logs or {})
        if reason and epoch + 1 < self.params["epochs"]:  # after the last epoch the run is complete: nothing to stop
            self.reason = reason
            self.model.stop_training = True


def _last_epoch(run_dir: Path) -> str:
    history = read_history(run_dir)
    return str(int(history["epoch"].iloc[-1])) if len(history) else "none (no epoch completed)"


def finish(
    run_dir: Path, status: str, reason: str | None, results: dict | None = None, reporter: Reporter | None = None
) -> RunOutcome:
    """Write metrics.json and the final status, then (given a reporter) the report."""
    history = read_history(run_dir)
    metrics = {"status": status, "reason": reason, "epochs_run": len(history)}
    metrics["train_seconds"] = round(float(history["seconds"].sum()), 3) if len(history) else 0.0
    write_json(run_dir / "metrics.json", metrics | (results or {}))
    resumed = {key: value for key, value in read_status(run_dir).items() if key in RESUME_DETAILS}
    write_status(run_dir, status, reason, **resumed)
    if reporter is not None:
        reporter.write(run_dir, index=not is_group(run_dir.parent))  # a group writes its index at the end
    return RunOutcome(run_dir, status, reason)
