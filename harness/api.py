"""The harness from Python (a notebook): run, load and compare runs and get their results as DataFrames.

    import harness
    run = harness.run("adam_lr", epochs=3, dataset="digits")      # a Run, shown as a card in a notebook
    group = harness.run("adam", epochs=3, dataset="digits", seeds=3)  # a Group of three runs
    harness.compare(group, "adam_lr").verdicts
    harness.runs()                                                 # every run, as the index page lists them

Each function does what the command line does, with the same validation, run directories and files; bad input
raises harness.UserError (a ValueError) with a one-line message in the API's own words (seeds=, epochs=). Runs
made here run in this process (isolated from each other as a worker's are); groups and sweeps in workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from functools import cached_property
from pathlib import Path

import pandas as pd

from harness.config.experiments import BUILT_IN, resolve
from harness.config.schema import ExperimentConfig
from harness.data.datasets import classes_of
from harness.errors import UserError
from harness.records import EXIT_CODES, GroupDir, RunDir, find_target, is_group, reason_text
from harness.surface import option, setting, warn

PROJECT = Path(__file__).resolve().parent.parent  # the checkout (installed editable by `make setup`)
EXPERIMENTS = BUILT_IN


def reports_folder(reports_dir: Path | str | None = None) -> Path:
    """Where runs are written and read: `reports_dir` when given, else $REPORTS as it is now, else the checkout's
    reports/ (where `make` writes, from any directory)."""
    return Path(reports_dir or os.environ.get("REPORTS") or PROJECT / "reports")


class Run:
    """One run: its config, status, scores, history and predictions, read from its directory when asked."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        self._run = RunDir(self.path)
        if not self._run.is_run():
            raise UserError(
                f"{self.path} is not a run directory (it has no config): give a run's folder, or "
                f'harness.load("<experiment>") for its latest run'
            )

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, name={self.name!r}, status={self.status!r})"

    def _repr_html_(self) -> str:
        from harness.reporting.cards import run_card

        return run_card(self.path)

    @cached_property
    def config(self) -> ExperimentConfig:
        """The resolved config the run was made with."""
        return self._run.config()

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.config.name

    @property
    def status(self) -> str:
        """running, finished, failed, diverged, interrupted or pruned."""
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
        """Test loss, accuracy and macro F1, best validation accuracy and its epoch, epochs run, train seconds, ..."""
        return self._run.metrics()

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch: epoch (from 0), loss, accuracy, val_loss, val_accuracy, learning_rate, seconds."""
        return self._run.history()

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per test example: index, true_label, predicted_label, confidence."""
        predictions = self._run.predictions()
        return pd.DataFrame() if predictions is None else predictions

    @property
    def class_names(self) -> list[str]:
        """The classes' names in label order, as the run's data had them."""
        return list(self._run.data().get("class_names") or classes_of(self.config.dataset.name))

    @property
    def classification_report(self) -> pd.DataFrame:
        """scikit-learn's precision, recall, F1 and support per class and their macro and weighted averages, to four
        decimals (the accuracy is metrics["test_accuracy"])."""
        table = self._run.classification_table().drop(index="accuracy", errors="ignore")
        return table.round(4)

    @property
    def confusion_matrix(self) -> pd.DataFrame:
        """Counts of true (rows) against predicted (columns) classes, labelled with the class names."""
        predictions, names = self.predictions, self.class_names
        table = pd.crosstab(predictions["true_label"], predictions["predicted_label"])
        table = table.reindex(index=range(len(names)), columns=range(len(names)), fill_value=0)
        table.index, table.columns = pd.Index(names, name="true"), pd.Index(names, name="predicted")
        return table

    @property
    def note(self) -> str | None:
        """Your note on the run (notes.json); set it with `run.note = "..."`."""
        return self._run.notes()["note"]

    @note.setter
    def note(self, text: str) -> None:
        self.tag(note=text)

    @property
    def tags(self) -> list[str]:
        """Your tags on the run (notes.json)."""
        return self._run.notes()["tags"]

    def tag(self, *tags: str, note: str | None = None) -> Run:
        """Add tags (and, when given, set the note) to the run, as `make tag RUN=<id> TAGS="..." [NOTE="..."]` does."""
        self._run.write_notes(note=note, tags=_tags(" ".join(tags)))
        from harness.reporting.report import write_run_page_again

        write_run_page_again(self.path)  # the page and the index show them
        return self

    def model(self):
        """The trained Keras model (model.keras)."""
        removed = self._run.removed()
        if removed:
            raise UserError(f"{self.path}'s model was removed to save disk ({removed['why']}, {removed['when']})")
        _quiet_native_logs()
        import keras

        return keras.saving.load_model(self._run.model_path)

    def resume(self, epochs: int | None = None, *, isolated: bool = True) -> Run:
        """Continue this run (interrupted or failed), or train a finished one on to `epochs` in all."""
        _quiet_native_logs()
        from harness.reporting.report import REPORTER
        from harness.training.runner import resume_experiment

        with _isolation(isolated):
            resume_experiment(self.path, epochs=epochs, reporter=REPORTER)
        return self


class Group:
    """A group of seeds or a sweep: its summary and its member runs."""

    def __init__(self, path: Path | str):
        self.path = Path(path).resolve()
        self._group = GroupDir(self.path)
        if not self._group.is_group():
            raise UserError(f"{self.path} is not a group of runs (it has no group record): give a group's folder")

    def __repr__(self) -> str:
        return f"Group({str(self.path)!r}, name={self.name!r}, kind={self.kind!r}, status={self.status!r})"

    def _repr_html_(self) -> str:
        from harness.reporting.cards import group_card

        return group_card(self.path)

    @property
    def record(self) -> dict:
        """What the group is (group.json): its kind, seeds, points, search and members."""
        return self._group.record()

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.record["experiment"]

    @property
    def kind(self) -> str:
        """seeds or sweep."""
        return self.record["kind"]

    @property
    def status(self) -> str:
        """running (no summary yet), interrupted, finished (every run finished or was pruned) or incomplete."""
        summary = self._group.summary(missing={})
        if not summary:
            return "running"
        if self.record.get("interrupted"):
            return "interrupted"
        return "finished" if summary["finished"] + summary.get("pruned", 0) == summary["runs"] else "incomplete"

    @property
    def summary(self) -> pd.DataFrame:
        """Seeds: one row per metric (mean, standard deviation, 95% interval, n). A sweep: one row per point, its
        parameters, how many of its runs finished and their mean scores."""
        from harness.reporting.cards import points_table, seeds_table

        summary = self._group.summary()
        return (points_table(summary) if self.kind == "sweep" else seeds_table(summary)).round(4)

    @property
    def best_point(self) -> dict | None:
        """A sweep's best point by mean best validation accuracy (never by test accuracy): its parameters and scores."""
        summary = self._group.summary(missing={})
        return summary["points"][summary["best_point"]] if summary.get("best_point") is not None else None

    @property
    def what_mattered(self) -> str | None:
        """A sweep's most important parameter for validation accuracy (fANOVA), against the spread between seeds."""
        from harness.reporting.study_report import mattered_text

        return mattered_text(self._group.summary(missing={}).get("what_mattered"), "en")

    @property
    def exit_code(self) -> int:
        """The command line's exit status: 130 when the group was interrupted (Ctrl-C), 0 when every run
        finished, else 1."""
        return {"interrupted": EXIT_CODES["interrupted"], "finished": 0}.get(self.status, 1)

    @property
    def runs(self) -> list[Run]:
        """The member runs that started."""
        return [Run(run.path) for run in self._group.runs()]


class Comparison:
    """`make compare`'s result: the verdict sentences, each item's metrics (`summary`), the tests' numbers
    (`statistics`: differences, intervals, p raw and Holm-adjusted) and the page it wrote."""

    def __init__(self, comparison):
        self.path = Path(comparison.out).resolve()
        self.page = self.path / "compare.html"
        self.verdicts: list[str] = comparison.verdicts
        self.summary: pd.DataFrame = comparison.table
        self.statistics: pd.DataFrame = comparison.statistics

    def __repr__(self) -> str:
        return f"Comparison({str(self.page)!r}, verdicts={self.verdicts!r})"

    def _repr_html_(self) -> str:
        from harness.reporting.cards import comparison_card

        return comparison_card(self.path, self.verdicts, self.summary)


def run(
    name: str,
    *,
    epochs: int | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    overrides: dict | list[str] | str | None = None,
    seeds: int | str | None = None,
    folds: int | None = None,
    jobs: int = 1,
    reports_dir: Path | str | None = None,
    experiments_dir: Path | str = EXPERIMENTS,
    run_dir: Path | str | None = None,
    command: list[str] | None = None,
    isolated: bool = True,
    note: str | None = None,
    tags: list[str] | str = (),
) -> Run | Group:
    """Train and evaluate the experiment `name` (a file in experiments/) and write its run directory.

    Returns a Run, trained in this process; with `seeds` (a count, 5 for seeds 0..4, or "3 7 11"), a Group of one
    run per seed, trained `jobs` at a time in worker processes (jobs=0: one after another in this process, where your
    debugger and output see them); with `folds=k` (or dataset.folds in the file), a Group
    that cross-validates: k runs per seed, each validated on one of k stratified folds of the training data.
    `epochs`, `dataset` and `seed` change those values; `overrides` changes any: {"optimizer.learning_rate": 0.01},
    or "key=value" strings. Runs go to `reports_dir` (default: $REPORTS, else the checkout's reports/). `note` and
    `tags` (a list, or words in a string) are yours to find the run by later. `run_dir`: a new directory to make the
    run in; `command`: what env.json records; `isolated=False` skips clearing up after the run for the next one in
    this process.
    """
    check_run_options(seed, seeds, 1, run_dir, folds)
    settings, reports, tags = _settings(overrides), reports_folder(reports_dir), _tags(tags)
    config = resolve(name, Path(experiments_dir), settings, dataset, epochs, seed)
    folds = folds or (config.dataset.folds if config.dataset.fold is None else None)  # FOLDS, or the file's
    check_jobs(jobs, seeds, folds)
    if seeds is not None or folds:
        from harness.groups.plan import GroupPlan, RunArguments

        arguments = RunArguments(settings, dataset, epochs, note, tags)
        plan = GroupPlan.of_seeds(name, str(seeds) if seeds is not None else None, arguments, folds)
        if seed is not None:
            plan.seeds = [seed]
        return _run_group(plan, jobs, reports, experiments_dir)
    run_dir = Path(run_dir) if run_dir else None
    where = {"run_dir": run_dir, "experiments_dir": Path(experiments_dir)}
    return _run_one(config, reports, where, command or ["harness.run", name], isolated, note, tags)


def _run_one(
    config: ExperimentConfig,
    reports: Path,
    where: dict,
    command: list[str],
    isolated: bool,
    note: str | None,
    tags: list[str],
) -> Run:
    for message in config.settings_without_effect():
        warn(message)
    _quiet_native_logs()
    from harness.data.datasets import load_dataset
    from harness.shortcuts import Reusables

    reusables = Reusables()
    load_dataset(config.dataset, reusables)  # the data's mistakes are said before Keras loads (seconds), not after
    from harness.reporting.report import REPORTER
    from harness.training.runner import run_experiment

    with _isolation(isolated):
        outcome = run_experiment(
            config,
            reports,
            reporter=REPORTER,
            command=command,
            note=note,
            tags=tuple(tags),
            reusables=reusables,
            **where,
        )
    return Run(outcome.run_dir)


def _tags(tags: list[str] | str) -> list[str]:
    """Tags as a list: a string holds them separated by spaces or commas, as make's TAGS does."""
    return tags.replace(",", " ").split() if isinstance(tags, str) else [str(tag) for tag in tags]


def check_run_options(seed, seeds, jobs: int, run_dir, folds: int | None = None) -> None:
    """One run or a group of seeds, not both; several jobs only for a group."""
    if seeds is not None and (seed is not None or run_dir is not None):
        raise UserError(f"give either {option('seed')} (one run) or {option('seeds')} (a group of runs), not both")
    if folds is not None and run_dir is not None:
        raise UserError(f"{option('folds')} makes a group of runs, one per fold: it does not take a run directory")
    check_jobs(jobs, seeds, folds)


def check_jobs(jobs: int, seeds, folds: int | None) -> None:
    if jobs not in (0, 1) and seeds is None and folds is None:
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
    stop: str | None = None,
    keep: str | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    overrides: dict | list[str] | str | None = None,
    seeds: int | str | None = None,
    folds: int | None = None,
    jobs: int = 1,
    reports_dir: Path | str | None = None,
    experiments_dir: Path | str = EXPERIMENTS,
    storage: str | None = None,
    note: str | None = None,
    tags: list[str] | str = (),
) -> Group:
    """Run the experiment `name` at every point of `grid` ("key=v1,v2 other=v3,v4", as make sweep's GRID), times
    `seeds`, and return the sweep as a Group whose summary has a row per point.

    `random=N` samples N points of the grid's LOW:HIGH ranges instead; search="tpe" with `trials=N` lets Optuna's
    TPE choose each point from the runs so far; prune="hyperband" or "median" stops runs that fall behind; stop=
    "plateau:8 target:0.93 time:2h trials:40" (any of them) stops taking new points (harness.groups.stopping); keep=
    "best:K" removes, once it ends, the heavy files of all but its K best points' runs (harness.groups.disk). With
    `folds=k` (or dataset.folds in the file) each point is cross-validated, k runs, and scored (chosen, pruned) by the
    mean of its folds. With `storage` (postgresql://...) the study lives in that database, and other machines can join
    it (join_sweep).
    """
    from harness.groups.plan import GroupPlan, RunArguments

    arguments = RunArguments(_settings(overrides), dataset, epochs, note, _tags(tags))
    if folds is None:
        config = resolve(name, Path(experiments_dir), arguments.overrides, dataset, epochs)
        folds = config.dataset.folds if config.dataset.fold is None else None
    plan = GroupPlan.of_sweep(
        name,
        grid,
        random,
        sample_seed,
        str(seeds) if seeds is not None else None,
        arguments,
        search,
        trials,
        prune,
        stop,
        folds,
    )
    kept = _keep(keep)  # a wrong KEEP is one line before anything runs
    group = _run_group(plan, jobs, reports_folder(reports_dir), experiments_dir, storage)
    if kept is not None:
        from harness.groups.disk import prune as prune_runs

        why = f"the sweep's {setting('keep', keep)}"
        print(prune_runs(reports_folder(reports_dir), str(group.path), kept, True, why))
    return group


def finalize(
    sweep: str | Path | Group,
    *,
    seeds: int | str = 5,
    jobs: int = 1,
    reports_dir: Path | str | None = None,
    experiments_dir: Path | str = EXPERIMENTS,
) -> Group:
    """`make finalize`: the sweep's best point by validation (never by test), trained again on training + validation
    data for the epochs its runs chose, over `seeds`, and scored once on the test set; a Group of kind "final" whose
    page states the final test accuracy with its interval and where the point came from. A test set scored by an
    earlier finalize is said to be so (the harness records each use: reports/test-uses.json)."""
    from harness.groups.finalize import final_plan

    reports = reports_folder(reports_dir)
    plan = final_plan(str(sweep.path if isinstance(sweep, Group) else sweep), str(seeds), reports)
    for use in plan.final["earlier_uses"]:
        warn(earlier_use_warning(use))
    return _run_group(plan, jobs, reports, experiments_dir)


def earlier_use_warning(use: dict) -> str:
    """A warning that a test set was scored before by a finalize."""
    return (
        f"the test set of {use['dataset']} was scored before, by the finalize {use['final']} ({use['when']}, from "
        f"{use['sweep']}): a test set that has helped choose is no longer an untouched estimate; report the first "
        "figure, or test on new data"
    )


def _keep(keep: str | None):
    from harness.groups.disk import Keep

    return Keep.parse(keep) if keep is not None else None


def prune(
    name: str | Path, keep: str, *, confirm: bool = False, reports_dir: Path | str | None = None, why: str = ""
) -> str:
    """`make prune`: remove the heavy files (model, checkpoints, TensorBoard events) of all but the `keep` ("best:K")
    best runs of an experiment, or points of a group or sweep, by validation; a dry run unless `confirm`. Returns
    what it did (or would do), in words."""
    from harness.groups.disk import Keep
    from harness.groups.disk import prune as prune_runs

    reason = why or f"make prune KEEP={keep}"
    return prune_runs(reports_folder(reports_dir), str(name), Keep.parse(keep), confirm, reason)


def disk_usage(reports_dir: Path | str | None = None) -> str:
    """`make du`: the space each experiment, group and sweep takes, and how much of it is heavy files."""
    from harness.groups.disk import usage_text

    return usage_text(reports_folder(reports_dir))


def join_sweep(
    sweep: str,
    storage: str,
    *,
    jobs: int = 1,
    reports_dir: Path | str | None = None,
    experiments_dir: Path | str = EXPERIMENTS,
) -> Group:
    """`make sweep-worker`: take runs of the sweep `sweep` (its group id) whose study is in the database at
    `storage`, until none is left; they are written under this machine's reports folder."""
    from harness.groups.groups import join_group

    return Group(join_group(sweep, storage, Path(experiments_dir), reports_folder(reports_dir), jobs))


def load(name_or_path: str | Path, reports_dir: Path | str | None = None) -> Run | Group:
    """An experiment's latest run or group, a run or group id, or a path to a run or group directory: a Run or a
    Group."""
    path = find_target(reports_folder(reports_dir), str(name_or_path))
    return Group(path) if is_group(path) else Run(path)


def runs(reports_dir: Path | str | None = None) -> pd.DataFrame:
    """Every run under the reports folder, one row each, newest first, with the index page's columns."""
    from harness.reporting.index import runs_table

    return runs_table(reports_folder(reports_dir))


def compare(*items: str | Path | Run | Group, reports_dir: Path | str | None = None) -> Comparison:
    """Compare runs, or groups of seeds, each against the first, and say what the difference proves.

    Each item is a Run or Group (as this API returns them), an experiment's name (its latest run or group), a run or
    group id, or a path. Writes the same page as `make compare`; the Comparison holds its verdicts and numbers.
    """
    from harness.reporting.compare import compare as compare_targets

    names = [str(item.path) if isinstance(item, Run | Group) else str(item) for item in items]
    return Comparison(compare_targets(names, reports_folder(reports_dir)))


def table(
    *names: str | Path | Group,
    rows: str = "experiment",
    columns: str = "dataset",
    metric: str = "test_accuracy",
    format: str = "markdown",  # noqa: A002 - make table's FORMAT
    spread: str = "ci",
    reports_dir: Path | str | None = None,
):
    """`make table`: a table for a paper, a cell per (row, column) from groups of seeds or folds (an experiment's name
    stands for all its groups; the newest in a cell counts): the metric's mean with its 95% interval's half-width (or
    its standard deviation, spread="sd"), the best in each column in bold, and the cells not significantly behind it
    marked (Welch's t-test, or the corrected resampled t-test for cross-validations on the same folds; Holm-adjusted).
    Writes Markdown, LaTeX (booktabs) and CSV under reports/tables/; returns the table (its `text` in `format`, its
    `frame`, its `files`)."""
    from harness.reporting.paper_table import make_table

    if not names:
        raise UserError('name the experiments or groups, e.g. harness.table("adam", "sgd")')
    named = [str(name.path) if isinstance(name, Group) else str(name) for name in names]
    return make_table(named, rows, columns, metric, format, spread, reports_folder(reports_dir))


def _run_group(plan, jobs: int, reports: Path, experiments_dir: Path | str, storage: str | None = None) -> Group:
    from harness.groups.groups import run_group

    return Group(run_group(plan, Path(experiments_dir), reports, jobs, storage))


def _quiet_native_logs() -> None:
    """In a notebook's kernel, before it first loads TensorFlow: its C++ start-up notices kept out of the cells, as out
    of the command line's output (harness.native_logs). Another program that calls the API keeps its own standard
    error as it is."""
    if "ipykernel" in sys.modules:
        from harness.native_logs import filter_native_logs

        filter_native_logs()


def _isolation(isolated: bool):
    """A run isolated from the runs before and after it in this process (harness.training.isolation), or not."""
    from harness.training.isolation import isolated_run

    return isolated_run() if isolated else contextlib.nullcontext()


def _settings(overrides: dict | list[str] | str | None) -> list[str]:
    """The overrides as --set takes them: {"optimizer.learning_rate": 0.01} -> ["optimizer.learning_rate=0.01"]; a
    string holds "key=value" items separated by spaces, as make's SET does."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return overrides.split()
    if isinstance(overrides, list | tuple) and all(isinstance(item, str) for item in overrides):
        return list(overrides)
    if isinstance(overrides, dict):
        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    raise UserError(
        f'overrides={overrides!r}: give {{"optimizer.learning_rate": 0.01}}, or "key=value" strings '
        '("optimizer.learning_rate=0.01 training.batch_size=64")'
    )
