"""Run one experiment end to end, or resume one: data, model, training, evaluation, the run's files.

    python -m harness run adam_lr                  python -m harness run adam_lr --resume latest

Everything that can fail because of user input (config, dataset) fails before the run directory
exists. Training checkpoints every epoch; Ctrl-C or SIGTERM stops at once as `interrupted`, a NaN loss
as `diverged`. The report (plots, pages) is made from the run's files afterwards, so a crash there never
touches the training results, and `python -m harness report` makes it again.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import pandas as pd

from harness.config.schema import ExperimentConfig
from harness.data.cache import Damaged
from harness.data.datasets import Dataset, load_dataset
from harness.errors import UserError
from harness.records import (
    EXIT_CODES,
    RunDir,
    create_member_dir,
    environment,
    is_group,
    new_run_dir,
    point_latest,
    reason,
    tensorboard_dir,
)
from harness.shortcuts import Reusables
from harness.surface import option, setting
from harness.training.checkpoint import EpochCheckpoint, completed_epochs, restore
from harness.training.evaluate import evaluate
from harness.training.fingerprint import fingerprint
from harness.training.hparams import write_hparams
from harness.training.inputs import input_mode
from harness.training.reuse import data_spec, model_identity, reuse_compiled
from harness.training.signals import Interrupted, SignalWatch, StopOnSignal, signals_interrupt
from harness.training.system import SystemMetrics
from harness.training.tensorboard_logs import EpochScalars
from harness.training.train import (
    PROBE_ROWS,
    DivergenceGuard,
    EpochLine,
    build_model,
    compile_for_training,
    fit,
    gives_probabilities,
    outputs_logits,
    seed_everything,
    use_xla,
)

# Kept in the status once the run ends, beside `ended`: when its (last) training began, where a resumed run resumed.
KEPT_DETAILS = ("started", "resumed_from_epoch", "extended_from_epochs")
EpochJudge = Callable[[int, dict], dict | None]  # (epoch, logs) -> the reason to stop the run there, or None


class Reporter(Protocol):
    """What makes a run's report: harness.reporting.report.REPORTER (training never imports report code)."""

    def warm_up(self) -> None: ...

    def started(self, run_dir: Path, index: bool) -> None: ...

    def write(self, run_dir: Path, index: bool) -> None: ...


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    reason: dict | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def model_summary(model: keras.Model) -> str:
    """Keras's summary of the model, as text. In a notebook, rich (which draws Keras's summary) shows an empty block in
    the cell even when its text is captured: IPython's own capture keeps that out."""
    lines: list[str] = []
    quiet = contextlib.nullcontext()
    if "IPython" in sys.modules:
        from IPython.utils.capture import capture_output

        quiet = capture_output(stdout=False, stderr=False)
    with quiet:
        model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    return "\n".join(lines) + "\n"


def run_experiment(
    config: ExperimentConfig,
    reports_dir: Path,
    run_dir: Path | None = None,
    reporter: Reporter | None = None,
    on_start: Callable[[Path], None] | None = None,
    command: list[str] | None = None,
    epoch_judge: EpochJudge | None = None,
    note: str | None = None,
    tags: tuple[str, ...] = (),
    reusables: Reusables | None = None,
    experiments_dir: Path | None = None,
) -> RunOutcome:
    """Train and evaluate `config` in a new run directory: `run_dir` when given (a group's member), else
    a fresh one under reports/<name>/ that becomes its `latest`. With a `reporter` (the command line's and
    the API's: harness.reporting.report.REPORTER) the run's report is made once it ends; without, the
    caller makes it (harness.groups.workers does, while its next run trains). on_start(run_dir) is called
    once the run's directory says `running`; `command` is the command line recorded in env.json (default:
    this process's). epoch_judge(epoch, logs), asked after each epoch (a sweep's pruner), stops the run as
    `pruned` when it answers with a reason. `note` and `tags` are the user's words about the run (notes.json).
    `reusables`: what this process's runs may reuse from each other (a worker's); by default, nothing.
    `experiments_dir`: the folder of the experiment's file, whose commit env.json records."""
    reusables = reusables or Reusables()
    dataset = load_dataset(config.dataset, reusables)
    numpy = config.model.framework == "numpy"
    dataset = dataset.in_floats() if numpy else dataset  # the NumPy network computes on floats in memory
    if config.model.gradient == "numerical":
        from harness.training.scratch import build_net, check_numerical_budget

        check_numerical_budget(config, build_net(config, dataset), dataset)  # before any directory exists
    model = None if numpy else compiled_model(config, dataset, reusables)  # a builder that fails leaves no directory
    mode = input_mode(config.training.input, dataset.train_bytes, config.training.memory_budget_gb)
    run = _start(config, dataset, reports_dir, run_dir, command, model, experiments_dir, mode)
    if note is not None or tags:
        run.write_notes(note, tags)
    if on_start is not None:
        on_start(run.path)
    if numpy:
        return train_numpy_in(run, config, dataset, reporter)
    return train_in(run, config, dataset, reporter=reporter, epoch_judge=epoch_judge, model=model, mode=mode)


def compiled_model(config: ExperimentConfig, dataset: Dataset, reusables: Reusables | None = None) -> keras.Model:
    """The run's model, seeded as the run says, built for its data and compiled (XLA where it pays; a loss from
    logits where its outputs are not probabilities); the process's last model with this model's starting state where
    the two are the same computation (the next seed: harness.training.reuse)."""
    seed_everything(config.training.seed, config.training.deterministic)
    model = build_model(config, dataset.input_shape, dataset.num_classes)
    first = dataset.floats(dataset.x_train[:PROBE_ROWS])  # a few examples as the model computes with them
    logits = not gives_probabilities(model, first)
    if logits:
        print(LOGITS_NOTE.format(builder=config.model.builder), file=sys.stderr, flush=True)
    xla = use_xla(config, len(dataset.y_train), model)
    model = compile_for_training(model, config, xla, from_logits=logits, scale=dataset.scale)
    rows = (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test))
    spec = data_spec(dataset.x_train, rows, config.training.batch_size)
    identity = model_identity(model, spec, config.training.deterministic)
    kept = (reusables or Reusables()).model
    return reuse_compiled(model, identity, first, dataset.y_train[:PROBE_ROWS], kept)


LOGITS_NOTE = (
    "note: the outputs of {builder} are not probabilities (no softmax at the end): it trains with a loss from logits, "
    "and its predictions and confidences are their softmax; model.keras outputs the logits"
)


def _start(
    config: ExperimentConfig,
    dataset: Dataset,
    reports_dir: Path,
    run_dir: Path | None,
    command: list[str] | None,
    model: keras.Model | None,
    experiments_dir: Path | None = None,
    mode: str = "memory",
) -> RunDir:
    """The run's directory, saying `running`, with its config, data, environment and fingerprint."""
    if run_dir is not None:
        create_member_dir(run_dir)
    run = RunDir(run_dir or new_run_dir(reports_dir, config.name))
    run.write_config(config)
    run.write_data(dataset.description())
    xla = bool(model.jit_compile) if model is not None else None
    chosen = {"xla": xla, "input": mode if model is not None else "memory"}  # how the examples reached the model
    run.write_environment(environment(config.training.seed, command, experiments_dir) | chosen)
    run.write_fingerprint(fingerprint(config))
    run.write_status("running", started=round(time.time(), 3))
    if run_dir is None:  # a group's `latest` is the group itself
        point_latest(run.path)
    return run


def _guarded(
    run: RunDir,
    reporter: Reporter | None,
    why_interrupted: Callable[[str], dict],
    train: Callable,
    watch: SignalWatch | None = None,
):
    """train() with Ctrl-C and SIGTERM turned into the run's end as `interrupted` (returned as the second
    value), and an exception into `failed` (then raised again). The reporter first writes the page that follows
    the run while it trains."""
    if reporter is not None:
        reporter.started(run.path, index=not is_group(run.path.parent))
    try:
        with signals_interrupt(watch):
            return train(), None
    except Interrupted as stop:
        return None, finish(run, "interrupted", why_interrupted(stop.signal_name), reporter=reporter)
    except Exception as error:
        finish(
            run, "failed", reason("error", error=f"{type(error).__name__}: {error}".splitlines()[0]), reporter=reporter
        )
        raise


def train_numpy_in(run: RunDir, config: ExperimentConfig, dataset: Dataset, reporter: Reporter | None = None):
    """The textbook's NumPy network, through the same statuses, files and report as a Keras run."""
    from harness.training import scratch

    net = scratch.build_net(config, dataset)
    shape = f"{dataset.input_dim}-{config.model.parameters['hidden_units'][0]}-{dataset.num_classes}"
    run.write_text(RunDir.MODEL_SUMMARY, f"TwoLayerNet (NumPy): {shape}, {net.parameter_count:,} parameters\n")
    history, ended = _guarded(
        run,
        reporter,
        lambda signal: reason("signal_numpy", signal=signal),
        lambda: scratch.train_net(config, dataset, net, run),
    )
    if ended is not None:
        return ended
    metrics, predictions = scratch.evaluate_net(net, dataset)
    run.write_predictions(predictions)
    run.write_with(RunDir.WEIGHTS, lambda path: np.savez(path, **net.params))
    metrics |= history_summary(history, dataset) | {"stopped_early": False, "parameters": net.parameter_count}
    return finish(run, "finished", None, metrics, reporter)


def history_summary(history: pd.DataFrame, dataset: Dataset) -> dict:
    """Best validation accuracy and its epoch (counted from 0, as in the history), the last epoch's, the sizes. A run
    without a validation set (val_size 0) has none: its best epoch is its last."""
    sizes = {"examples": {"train": len(dataset.y_train), "val": len(dataset.y_val), "test": len(dataset.y_test)}}
    if "val_accuracy" not in history or history["val_accuracy"].isna().all():
        return {
            "best_val_accuracy": None,
            "best_epoch": int(history["epoch"].iloc[-1]),
            "final_val_accuracy": None,
        } | sizes
    best = history["val_accuracy"].idxmax()
    return {
        "best_val_accuracy": float(history.loc[best, "val_accuracy"]),
        "best_epoch": int(history.loc[best, "epoch"]),
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
    } | sizes


def _resume_point(run: RunDir, config: ExperimentConfig, epochs: int | None) -> tuple[int, Path]:
    """Where a resumed run starts: (epochs completed, the weights to start from), or a UserError saying why it
    cannot resume."""
    record, planned = run.status(), config.training.epochs
    status = record["status"]
    if epochs is not None and epochs < planned:
        raise UserError(f"run {run.path} was set to {planned} epochs; {setting('epochs', epochs)} cannot shorten it")
    if status == "finished" and epochs is not None and epochs > planned:
        return len(run.history()), run.model_path
    if status in ("interrupted", "failed"):
        checkpoint = completed_epochs(run.checkpoint_dir)
        if checkpoint is None:
            raise UserError(
                f"run {run.path} has no checkpoint (it stopped before its first epoch ended); start a new run"
            )
        return checkpoint
    if status == "finished":
        raise UserError(
            f"run {run.path} is finished ({planned} epochs); give {option('epochs')} greater than {planned} "
            "to train it longer in the same run, or start a new run"
        )
    detail = f" (pid {record.get('pid')})" if status == "running" else ""
    raise UserError(f"run {run.path} is {status}{detail}; only interrupted, failed or finished runs resume")


def resume_experiment(
    run_dir: Path, epochs: int | None = None, reporter: Reporter | None = None, reusables: Reusables | None = None
) -> RunOutcome:
    """Continue an interrupted or failed run from its last completed epoch, in the same directory. With
    `epochs` beyond the run's own, also train a finished run on from its saved model, to that many epochs
    in all; the config then says so (training.epochs) and the schedule goes on as configured."""
    run = RunDir(run_dir)
    config = run.config()
    if config.model.framework == "numpy":
        raise UserError(f"run {run.path} is the NumPy network's, which does not resume; start a new run")
    completed, weights = _resume_point(run, config, epochs)
    planned = config.training.epochs
    longer = epochs is not None and epochs > planned
    if longer:
        config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": epochs})})
        run.write_config(config)
        run.write_fingerprint(fingerprint(config))
    reusables = reusables or Reusables()
    dataset = load_dataset(config.dataset, reusables)
    history = run.history()
    run.write_history(history[history["epoch"] < completed])  # epochs logged after the checkpoint train again
    extended = {"extended_from_epochs": planned} if longer else {}
    run.write_status("running", started=round(time.time(), 3), resumed_from_epoch=completed, **extended)
    return train_in(run, config, dataset, completed, reporter, weights, reusables=reusables)


@dataclass
class RunCallbacks:
    """The callbacks every Keras run trains with, and the ones whose findings decide how it ends."""

    run: RunDir
    config: ExperimentConfig
    epoch_judge: EpochJudge | None = None
    guard: DivergenceGuard = field(default_factory=DivergenceGuard)
    watch: SignalWatch = field(default_factory=SignalWatch)

    def __post_init__(self):
        self.pruning = Pruning(self.epoch_judge) if self.epoch_judge is not None else None

    def all(self) -> list[keras.callbacks.Callback]:
        # The CSV row of an epoch is written before its checkpoint: a kill between them repeats the epoch,
        # and resume_experiment drops the repeated row.
        callbacks = [
            self.guard,
            keras.callbacks.CSVLogger(str(self.run.history_path), append=True),
            EpochCheckpoint(self.run.checkpoint_dir),
            EpochScalars(tensorboard_dir(self.run.path)),
            EpochLine(self.config.training.epochs, terminal=sys.stdout.isatty()),
            SystemMetrics(self.run),
        ]
        callbacks += [self.pruning] if self.pruning else []
        return callbacks + [StopOnSignal(self.watch)]  # last: the epoch it ends is recorded and checkpointed


def train_in(
    run: RunDir,
    config: ExperimentConfig,
    dataset: Dataset,
    initial_epoch: int = 0,
    reporter: Reporter | None = None,
    weights: Path | None = None,
    epoch_judge: EpochJudge | None = None,
    model: keras.Model | None = None,
    reusables: Reusables | None = None,
    mode: str | None = None,
) -> RunOutcome:
    """Train `model` (built here when not given; from `weights` when given: a resumed run), evaluate, and write the
    run's results. `mode`: how the examples reach the model (harness.training.inputs; by default as the config
    says)."""
    model = compiled_model(config, dataset, reusables) if model is None else model
    mode = mode or input_mode(config.training.input, dataset.train_bytes, config.training.memory_budget_gb)
    run.write_text(RunDir.MODEL_SUMMARY, model_summary(model))
    if weights is not None:
        restore(model, weights)
    callbacks = RunCallbacks(run, config, epoch_judge)
    if reporter is not None:  # its imports and first figure, while the compiled epochs run without the GIL
        threading.Thread(target=reporter.warm_up, daemon=True).start()
    validation = (dataset.x_val, dataset.y_val) if len(dataset.y_val) else None  # none: val_size 0 (make finalize)
    callbacks_list = callbacks.all()

    def train():
        return fit(
            config, model, dataset.x_train, dataset.y_train, validation, callbacks_list, 0, initial_epoch, mode=mode
        )

    _, ended = _guarded(run, reporter, lambda signal: _signal_reason(run, signal), train, callbacks.watch)
    if ended is not None:
        return ended
    if callbacks.guard.diverged_in_epoch is not None:
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)  # its weights are NaN: nothing to resume
        return finish(run, "diverged", reason("diverged", epoch=callbacks.guard.diverged_in_epoch), reporter=reporter)
    try:
        dataset.confirm()  # a cache the data came from, checked while the run trained
    except Damaged as damaged:
        return finish(run, "failed", reason("error", error=str(damaged)), reporter=reporter)
    metrics = _evaluate(run, config, dataset, model, mode)
    shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
    why_pruned = callbacks.pruning.reason if callbacks.pruning is not None else None
    return finish(run, "pruned" if why_pruned else "finished", why_pruned, metrics, reporter)


def _signal_reason(run: RunDir, signal_name: str) -> dict:
    history = run.history()
    if not len(history):
        return reason("signal_before_first_epoch", signal=signal_name)
    return reason("signal", signal=signal_name, epoch=int(history["epoch"].iloc[-1]))


def _evaluate(run: RunDir, config: ExperimentConfig, dataset: Dataset, model: keras.Model, mode: str) -> dict:
    """The test set's scores; the trained model and its predictions saved."""
    evaluation = evaluate(model, dataset, mode, config.training.memory_budget_gb)
    run.write_with(RunDir.MODEL, lambda path: model.save(path))
    run.write_predictions(evaluation.predictions)
    history = run.history()
    return {
        "test_loss": evaluation.test_loss,
        "test_accuracy": evaluation.test_accuracy,
        "macro_f1": evaluation.macro_f1,
        "stopped_early": len(history) < config.training.epochs,
        "parameters": model.count_params(),
        "outputs": "logits" if outputs_logits(model) else "probabilities",
    } | history_summary(history, dataset)


class Pruning(keras.callbacks.Callback):
    """Ask a judge (a sweep's pruner) after each epoch whether the run should go on; stop it when not."""

    def __init__(self, judge: EpochJudge):
        super().__init__()
        self.judge, self.reason = judge, None

    def on_epoch_end(self, epoch, logs=None):
        why = self.judge(epoch, logs or {})
        if why and epoch + 1 < self.params["epochs"]:  # after the last epoch the run is complete: nothing to stop
            self.reason = why
            self.model.stop_training = True


def finish(
    run: RunDir, status: str, why: dict | None, results: dict | None = None, reporter: Reporter | None = None
) -> RunOutcome:
    """Write the run's metrics and final status, then (given a reporter) the report."""
    history = run.history()
    metrics = {"status": status, "reason": why, "epochs_run": len(history)}
    metrics["train_seconds"] = round(float(history["seconds"].sum()), 3) if len(history) else 0.0
    run.write_metrics(metrics | (results or {}))
    if results:  # a run that trained to its end: its settings and scores for TensorBoard's HParams dashboard
        write_hparams(run, run.config(), metrics | results)
    kept = {key: value for key, value in run.status().items() if key in KEPT_DETAILS}
    run.write_status(status, why, **kept, ended=round(time.time(), 3))
    if reporter is not None:
        reporter.write(run.path, index=not is_group(run.path.parent))  # a group writes its index at the end
    return RunOutcome(run.path, status, why)
