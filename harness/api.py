"""The harness from Python (a notebook): run, load and compare runs and get their results as DataFrames.

    import harness
    run = harness.run("adam_lr", epochs=3, dataset="digits")      # a Run, shown as a card in a notebook
    group = harness.run("adam", epochs=3, dataset="digits", seeds=3)
    harness.compare(group.path, "adam_lr").verdicts
    harness.runs()                                                 # every run, as the index page lists them

Each function does what the command line does, with the same validation, run directories and files;
bad input raises harness.UserError (a ValueError) with the command line's one-line message. Runs made
here run in this process (isolated from each other as a worker's are); groups and sweeps in workers.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
from functools import cached_property
from pathlib import Path

import pandas as pd

from harness.config.experiments import resolve
from harness.config.schema import ExperimentConfig
from harness.data.datasets import classes_of
from harness.errors import UserError
from harness.records import EXIT_CODES, GroupDir, RunDir, is_group, reason_text
from harness.spelling import option, setting

PROJECT = Path(__file__).resolve().parent.parent  # the checkout (installed editable by `make setup`)
REPORTS = Path(os.environ.get("REPORTS", PROJECT / "reports"))  # where `make` writes, from any directory
EXPERIMENTS = PROJECT / "experiments"
KEY_METRICS = ("test_accuracy", "macro_f1", "best_val_accuracy", "epochs_run", "train_seconds")


class _Directory:
    """A run's or group's directory, read through harness.records each time it is asked (nothing is cached)."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, status={self.status!r})"

    @property
    def status(self) -> str:
        raise NotImplementedError


class Run(_Directory):
    """One run directory."""

    def __init__(self, path: Path | str):
        super().__init__(path)
        self._run = RunDir(self.path)

    @cached_property
    def config(self) -> ExperimentConfig:
        return self._run.config()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def status(self) -> str:
        return self._run.status()["status"]

    @property
    def reason(self) -> str | None:
        """Why the run ended as it did, when it did not finish."""
        return reason_text(self._run.status().get("reason"))

    @property
    def exit_code(self) -> int:
        """The command line's exit status for this run: 0 finished, 1 failed, 3 diverged, 130 interrupted."""
        return EXIT_CODES.get(self.status, 1)

    @property
    def metrics(self) -> dict:
        return self._run.metrics()

    @property
    def history(self) -> pd.DataFrame:
        return self._run.history()

    @property
    def predictions(self) -> pd.DataFrame:
        predictions = self._run.predictions()
        return pd.DataFrame() if predictions is None else predictions

    @property
    def class_names(self) -> list[str]:
        return classes_of(self.config.dataset.name)

    @property
    def classification_report(self) -> pd.DataFrame:
        return self._run.classification_table()

    @property
    def confusion_matrix(self) -> pd.DataFrame:
        """Counts of true (rows) against predicted (columns) classes, labelled with the class names."""
        predictions, names = self.predictions, self.class_names
        table = pd.crosstab(predictions["true_label"], predictions["predicted_label"])
        table = table.reindex(index=range(len(names)), columns=range(len(names)), fill_value=0)
        table.index, table.columns = pd.Index(names, name="true"), pd.Index(names, name="predicted")
        return table

    def model(self):
        """The trained Keras model (model.keras)."""
        import keras

        return keras.saving.load_model(self._run.model_path)

    def resume(self, epochs: int | None = None, *, isolated: bool = True) -> Run:
        """Continue this run (interrupted or failed), or train a finished one on to `epochs` in all."""
        from harness.reporting.report import REPORTER
        from harness.training.runner import resume_experiment

        with _isolation(isolated):
            resume_experiment(self.path, epochs=epochs, reporter=REPORTER)
        return self

    def _repr_html_(self) -> str:
        metrics = self.metrics
        cells = "".join(
            f"<td><b>{html.escape(key)}</b><br>{_format(metrics[key])}</td>" for key in KEY_METRICS if key in metrics
        )
        images = "".join(
            _inline_png(self._run.file(name)) for name in (RunDir.LEARNING_CURVES, RunDir.CONFUSION_MATRIX)
        )
        return (
            f"<div><h4>{html.escape(self.name)} · {html.escape(self.path.name)} · {html.escape(self.status)}</h4>"
            f"<table><tr>{cells}</tr></table><div>{images}</div>{_page_link(self._run.file(RunDir.PAGE))}</div>"
        )


class Group(_Directory):
    """A group of seeds or a sweep: its summary and its member runs."""

    def __init__(self, path: Path | str):
        super().__init__(path)
        self._group = GroupDir(self.path)

    @property
    def record(self) -> dict:
        return self._group.record()

    @property
    def status(self) -> str:
        summary = self._group.summary(missing={})
        return f"{summary.get('finished', 0)}/{summary.get('runs', 0)} finished" if summary else "running"

    @property
    def summary(self) -> pd.DataFrame:
        """One row per metric: mean, standard deviation, 95% interval and the members' values."""
        metrics = self._group.summary().get("metrics", {})
        return pd.DataFrame.from_dict(metrics, orient="index").rename_axis("metric")

    @property
    def exit_code(self) -> int:
        """The command line's exit status: 130 when the group was interrupted (Ctrl-C), 0 when every run
        finished, else 1."""
        if self.record.get("interrupted"):
            return EXIT_CODES["interrupted"]
        summary = self._group.summary(missing={})
        return 0 if summary.get("finished", 0) + summary.get("pruned", 0) == summary.get("runs") else 1

    @property
    def runs(self) -> list[Run]:
        return [Run(run.path) for run in self._group.runs()]

    def _repr_html_(self) -> str:
        record = self.record
        table = self.summary.drop(columns=["values"], errors="ignore").to_html(float_format=_four_places)
        return (
            f"<div><h4>{html.escape(record['experiment'])} · {html.escape(self.path.name)} · "
            f"{len(self.runs)} runs</h4>{table}{_inline_png(self.path / GroupDir.CURVES)}"
            f"{_page_link(self.path / GroupDir.PAGE)}</div>"
        )


class Comparison:
    """`make compare`'s result: the verdict sentences, each item's metrics (`summary`), the tests' numbers
    (`statistics`: differences, intervals, p raw and Holm-adjusted) and the page it wrote."""

    def __init__(self, comparison):
        self.path = Path(comparison.out).resolve()
        self.page = self.path / "compare.html"
        self.verdicts: list[str] = comparison.verdicts
        self.summary: pd.DataFrame = comparison.table
        self.statistics: pd.DataFrame = comparison.statistics

    def _repr_html_(self) -> str:
        verdicts = "".join(f"<li>{html.escape(verdict)}</li>" for verdict in self.verdicts)
        curves = "".join(_inline_png(path) for path in sorted(self.path.glob("*curves*.png")))
        return (
            f"<div><ul>{verdicts}</ul>{self.summary.to_html(float_format=_four_places)}{curves}"
            f"{_page_link(self.page)}</div>"
        )


def run(
    name: str,
    *,
    epochs: int | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    overrides: dict | list[str] | None = None,
    seeds: int | str | None = None,
    jobs: int = 1,
    reports_dir: Path | str = REPORTS,
    experiments_dir: Path | str = EXPERIMENTS,
    run_dir: Path | str | None = None,
    command: list[str] | None = None,
    isolated: bool = True,
) -> Run | Group:
    """Run an experiment as `make experiment` does; with `seeds` (a count or "3 7 11"), a group of them.
    `overrides` are {key: value} or the command line's "key=value" strings; `run_dir`, a new directory to make
    the run in; `command`, what env.json records as the command (default: harness.run(NAME)); `isolated=False`
    skips clearing up after the run for the next one in this process (the command line's process ends instead)."""
    check_run_options(seed, seeds, jobs, run_dir)
    settings = _settings(overrides)
    if seeds is not None:
        from harness.groups.groups import GroupPlan, RunArguments

        plan = GroupPlan.of_seeds(name, str(seeds), RunArguments(settings, dataset, epochs))
        return _run_group(plan, jobs, reports_dir, experiments_dir)
    config = resolve(name, Path(experiments_dir), settings, dataset, epochs, seed)
    from harness.reporting.report import REPORTER
    from harness.training.runner import run_experiment

    with _isolation(isolated):
        outcome = run_experiment(
            config,
            Path(reports_dir),
            run_dir=Path(run_dir) if run_dir else None,
            reporter=REPORTER,
            command=command or ["harness.run", name],
        )
    return Run(outcome.run_dir)


def check_run_options(seed, seeds, jobs: int, run_dir) -> None:
    """One run or a group of seeds, not both; several jobs only for a group."""
    if seeds is not None and (seed is not None or run_dir is not None):
        raise UserError(f"give either {option('seed')} (one run) or {option('seeds')} (a group of runs), not both")
    if jobs != 1 and seeds is None:
        raise UserError(
            f"{option('jobs')} runs the runs of a group side by side: add {setting('seeds', 'N', example=True)}"
        )


def sweep(
    name: str,
    grid: str,
    *,
    random: int | None = None,
    sample_seed: int = 0,
    search: str | None = None,
    trials: int | None = None,
    prune: str | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    overrides: dict | list[str] | None = None,
    seeds: int | str | None = None,
    jobs: int = 1,
    reports_dir: Path | str = REPORTS,
    experiments_dir: Path | str = EXPERIMENTS,
    storage: str | None = None,
) -> Group:
    """`make sweep`: every point of GRID (or `random` points of its LOW:HIGH ranges), times `seeds`; or `trials`
    points chosen by TPE (search="tpe"). prune="hyperband" or "median" stops runs that fall behind. With
    `storage` (postgresql://...) the study lives in that database, and other machines can join it."""
    from harness.groups.groups import GroupPlan, RunArguments

    arguments = RunArguments(_settings(overrides), dataset, epochs)
    plan = GroupPlan.of_sweep(
        name, grid, random, sample_seed, str(seeds) if seeds is not None else None, arguments, search, trials, prune
    )
    return _run_group(plan, jobs, reports_dir, experiments_dir, storage)


def join_sweep(
    sweep: str,
    storage: str,
    *,
    jobs: int = 1,
    reports_dir: Path | str = REPORTS,
    experiments_dir: Path | str = EXPERIMENTS,
) -> Group:
    """`make sweep-worker`: take runs of the sweep `sweep` (its group id) whose study is in the database at
    `storage`, until none is left; they are written under this machine's reports folder."""
    from harness.groups.groups import join_group

    return Group(join_group(sweep, storage, Path(experiments_dir), Path(reports_dir), jobs))


def load(name_or_path: str | Path, reports_dir: Path | str = REPORTS) -> Run | Group:
    """An experiment's latest run or group, a run id, or a path to a run or group directory."""
    from harness.records import find_target

    path = find_target(Path(reports_dir), str(name_or_path))
    return Group(path) if is_group(path) else Run(path)


def runs(reports_dir: Path | str = REPORTS) -> pd.DataFrame:
    """Every run under reports_dir, one row each, with the index page's columns."""
    from harness.reporting.index import runs_table

    return runs_table(Path(reports_dir))


def compare(*names: str, reports_dir: Path | str = REPORTS) -> Comparison:
    """`make compare NAMES="..."`: runs or groups of seeds, each against the first; writes the same page."""
    from harness.reporting.compare import compare as compare_targets

    return Comparison(compare_targets([str(name) for name in names], Path(reports_dir)))


def _run_group(plan, jobs: int, reports_dir: Path | str, experiments_dir: Path | str, storage: str | None = None):
    from harness.groups.groups import run_group

    return Group(run_group(plan, Path(experiments_dir), Path(reports_dir), jobs, storage))


def _isolation(isolated: bool):
    """A run isolated from the runs before and after it in this process (harness.training.isolation), or not."""
    from harness.training.isolation import isolated_run

    return isolated_run() if isolated else contextlib.nullcontext()


def _settings(overrides: dict | list[str] | None) -> list[str]:
    """{"optimizer.learning_rate": 0.01} -> ["optimizer.learning_rate=0.01"], as --set takes them."""
    if isinstance(overrides, list):
        return overrides
    return [f"{key}={json.dumps(value)}" for key, value in (overrides or {}).items()]


def _four_places(value: float) -> str:
    return f"{value:.4f}"


def _format(value) -> str:
    return _four_places(value) if isinstance(value, float) else html.escape(str(value))


def _inline_png(path: Path) -> str:
    """The image itself in the page (base64), so that a saved notebook shows it without the run's files."""
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:48%;margin:2px" alt="{path.name}">'


def _page_link(page: Path) -> str:
    return f'<p><a href="{page.as_uri()}" target="_blank">{page.name}</a></p>' if page.is_file() else ""
