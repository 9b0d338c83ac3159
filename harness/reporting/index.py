"""Every run in one table, kept in step with the run directories themselves so it can never disagree with them.

python -m harness report           writes reports/index.html (make report; make experiment refreshes it)
python -m harness list --runs      prints the table

A refresh reads only what changed: each row is kept in reports/index-data.js beside the size and time of its
status and metrics files (every write the harness makes to a run rewrites one of them), and a run is read again
when one of them differs, or while it is running. Listing the folders to find new and vanished runs and comparing
those signatures is all a refresh costs when nothing else changed (`make bench-index`). `make report` reads every
run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from harness import records
from harness.atomic import write_text
from harness.collector import collector_paused
from harness.config.grid import point_label
from harness.errors import UserError
from harness.records import GroupDir, RunDir, is_group, reason, reason_text
from harness.reporting.i18n import labels, language, status_words
from harness.reporting.pages import clean, write_page

COLUMNS = [
    "experiment",
    "run_id",
    "group",
    "date",
    "dataset",
    "model",
    "optimizer",
    "learning_rate",
    "epochs",  # done: a running run's so far
    "epochs_planned",  # the config's (a NumPy network's iterations have none)
    "test_accuracy",
    "macro_f1",
    "best_val_accuracy",
    "train_seconds",
    "status",
    "tags",
    "note",
    "reason",
    "path",
    "files",  # "model removed" where make prune removed the run's heavy files
]


def started(run_id: str) -> str:
    """The start time in a run or group id such as 20261123-203512-ab12 or seeds-20261123-203512-ab12."""
    stamp = re.search(r"\d{8}-\d{6}", run_id)
    try:
        return datetime.strptime(stamp.group(), "%Y%m%d-%H%M%S").isoformat(sep=" ") if stamp else ""
    except ValueError:  # a folder named like a run id but not one (an hour of 99): no date, not a crash
        return ""


def run_started(run_dir: Path) -> str:
    """A group's members are named by seed and point; their time is the group's."""
    return started(run_dir.parent.name if is_group(run_dir.parent) else run_dir.name)


def run_row(run_dir: Path, reports_dir: Path, lang: str = "en") -> dict:
    """One run's row; a directory that cannot be read still gets a row that says why."""
    run, row = RunDir(run_dir), dict.fromkeys(COLUMNS)
    path = run_dir.relative_to(reports_dir)
    row |= {"experiment": path.parts[0], "run_id": run_dir.name, "date": run_started(run_dir), "path": str(path)}
    row["group"] = path.parts[1] if len(path.parts) == 3 else None
    status, notes = run.status(), run.notes()
    row["files"] = "model removed" if run.has(RunDir.REMOVED) else None
    row |= {"status": status["status"], "reason": reason_text(status.get("reason"), lang)}
    row["epochs"] = run.epochs_done() if status["status"] == "running" else None
    row |= {"tags": " ".join(notes["tags"]) or None, "note": notes["note"]}
    try:
        row |= config_columns(run.config_dict())
    except (UserError, KeyError, TypeError) as error:
        problem = reason_text(reason("unreadable", file=RunDir.CONFIG, error=f"{type(error).__name__}: {error}"), lang)
        if row["status"] == "incomplete":
            return row | {"reason": f"{row['reason']}; {problem}"}
        return row | {"status": "unreadable", "reason": problem}
    try:
        metrics = run.metrics()
    except UserError as error:
        return row | {
            "status": "unreadable",
            "reason": reason_text(reason("unreadable", file=RunDir.METRICS, error=str(error)), lang),
        }
    if metrics:
        row |= {key: metrics.get(key) for key in ("test_accuracy", "macro_f1", "best_val_accuracy", "train_seconds")}
        row["epochs"] = metrics.get("epochs_run")
    return row


def config_columns(config: dict) -> dict:
    """The index's columns that come from a run's config."""
    schedule = f" + {config['schedule']['name']}" if config.get("schedule") else ""
    training = config["training"]
    return {
        "dataset": config["dataset"]["name"],
        "model": config["model"].get("builder") or config["model"].get("factory"),
        "optimizer": config["optimizer"]["name"] + schedule,
        "learning_rate": config["optimizer"]["learning_rate"],
        "epochs_planned": training.get("epochs"),
    }


def _unsummarised(group: GroupDir) -> dict:
    """A group without its summary: running (or stopped while running), as its live.json says, or unknown."""
    try:
        live, kind = group.live(), group.record()["kind"]
    except (UserError, KeyError):
        return {"kind": "?", "finished": "no summary yet"}
    if not live:
        return {"kind": kind, "finished": "no summary yet"}
    return {"kind": kind, "status": live["status"], "finished": f"{live['finished']}/{live['runs']}"}


def terminal_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "no runs yet: make experiment NAME=adam_lr"
    shown = table[["experiment", "run_id", "dataset", "optimizer", "epochs", "test_accuracy", "macro_f1", "status"]]
    shown = shown.assign(
        epochs=[
            _epochs_text(done, planned) for done, planned in zip(table["epochs"], table["epochs_planned"], strict=True)
        ]
    )
    return shown.to_string(index=False, float_format=lambda value: f"{value:.4f}", na_rep="-")


GROUP_COLUMNS = [
    "experiment",
    "group",
    "date",
    "kind",
    "status",
    "finished",
    "point",
    "test_accuracy",
    "ci_half_width",
    "path",
]


def group_row(group_dir: Path, reports_dir: Path) -> dict:
    """One group: how many runs finished and the mean test accuracy (of the best point, for a sweep); while it runs,
    how many have finished so far (its live.json)."""
    row = dict.fromkeys(GROUP_COLUMNS) | {"experiment": group_dir.parent.name, "group": group_dir.name}
    row |= {"date": started(group_dir.name), "path": str(group_dir.relative_to(reports_dir))}
    group = GroupDir(group_dir)
    try:
        summary = group.summary()
    except UserError:
        return row | _unsummarised(group)
    row["status"] = "finished"
    best = summary.get("best_point")
    point = summary["points"][best if best is not None else 0]
    test = point["metrics"]["test_accuracy"]
    row |= {"kind": summary["kind"], "finished": f"{summary['finished']}/{summary['runs']}"}
    row["point"] = point_label(point["parameters"]) if best is not None else None
    row["test_accuracy"] = test["mean"]
    row["ci_half_width"] = test["ci95_high"] - test["mean"] if test["ci95_high"] is not None else None
    return row


DATA_FILE = "index-data.js"  # each row and the signature of the files it came from: read by index.html and refresh
_DATA_START, _DATA_END = "window.INDEX_DATA = ", ";\n"  # a script, since a page opened from disk cannot fetch JSON
RUN_FILES = (RunDir.STATUS, RunDir.METRICS, RunDir.NOTES, RunDir.REMOVED)  # every write to a run changes one
GROUP_FILES = (GroupDir.SUMMARY, GroupDir.LIVE)


def signature(folder: str, names: tuple[str, ...]) -> list:
    """Size and modification time of each file (None if missing): a file written again changes it."""
    stamps = []
    for name in names:
        try:
            stat = os.stat(f"{folder}{os.sep}{name}")  # os.path.join would be a third of the time at 10,000 runs
            stamps.append([stat.st_mtime_ns, stat.st_size])
        except OSError:
            stamps.append(None)
    return stamps


@dataclass(frozen=True)
class _Rows:
    """A kind of row: its columns, the file that marks a folder as one, the files whose change means the row must be
    read again, and its reader."""

    columns: list[str]
    marker: str
    files: tuple[str, ...]
    read_row: Callable[[Path, Path], dict]
    newest_first: tuple[str, str] = ("date", "run_id")


def _kept_rows(reports_dir: Path) -> dict:
    """The rows of the last refresh; none if the file is missing, damaged or from another version of the table."""
    try:
        text = (reports_dir / DATA_FILE).read_text()
        kept = json.loads(text.removeprefix(_DATA_START).removesuffix(_DATA_END))
    except (OSError, ValueError):
        return {}
    same = isinstance(kept, dict) and kept.get("columns") == [COLUMNS, GROUP_COLUMNS] and kept.get("lang") == language()
    return kept if same else {}  # the reasons are in the index's language


def _refreshed(kept: dict, folders: list[str], kind: _Rows, reports_dir: Path) -> tuple[dict, bool]:
    """{folder: [signature, row values]} for each folder kept from the last refresh or with the kind's marker file:
    the kept row if its files are unchanged and it is not running (whether its process lives can change without a
    file changing), else read again. Also says whether anything differs from the kept rows."""
    prefix = os.path.join(reports_dir, "")  # the folders are paths under it, as records.run_folders lists them
    status = kind.columns.index("status") if "status" in kind.columns else None
    rows, changed = {}, False
    for folder in folders:
        key = folder.removeprefix(prefix)
        entry = kept.get(key)
        if entry is None and not os.path.isfile(f"{folder}{os.sep}{kind.marker}"):
            continue
        stamps = signature(folder, kind.files)
        if entry is None or entry[0] != stamps or (status is not None and entry[1][status] == "running"):
            row = kind.read_row(Path(folder), reports_dir)
            entry = [stamps, [clean(row[column]) for column in kind.columns]]
            changed = True
        rows[key] = entry
    return rows, changed or len(rows) != len(kept)


def _newest_first(rows: dict, kind: _Rows) -> list[list]:
    date, name = (kind.columns.index(column) for column in kind.newest_first)
    return sorted((values for _, values in rows.values()), key=lambda row: (row[date], row[name]), reverse=True)


# The readers are looked up when called (a test counts the runs a refresh reads by replacing run_row).
RUNS = _Rows(COLUMNS, RunDir.CONFIG, RUN_FILES, lambda run_dir, reports: run_row(run_dir, reports, language()))
GROUPS = _Rows(GROUP_COLUMNS, GroupDir.RECORD, GROUP_FILES, group_row, newest_first=("date", "group"))


def _rows_record(reports_dir: Path, everything: bool) -> dict:
    """Every run and group as {"runs": {folder: [signature, values]}, "groups": ...}, reading again only those that
    changed since the last refresh (or, with `everything`, all of them); written back when anything changed."""
    with collector_paused():  # the cyclic collector would walk every row again and again
        kept = {} if everything else _kept_rows(reports_dir)
        run_folders, group_folders = records.run_folders(reports_dir)
        runs, runs_changed = _refreshed(kept.get("runs", {}), run_folders, RUNS, reports_dir)
        groups, groups_changed = _refreshed(kept.get("groups", {}), group_folders, GROUPS, reports_dir)
        record = {"columns": [COLUMNS, GROUP_COLUMNS], "lang": language(), "runs": runs, "groups": groups}
        if runs_changed or groups_changed or everything:
            # A read-only reports folder: the table is still right, only the next refresh is slower.
            with contextlib.suppress(OSError):
                _write_rows(reports_dir, record)
    return record


def add_index_row(reports_dir: Path, run_dir: Path) -> None:
    """A run that has just started, added to the index's data as it is (running) without looking at any other
    folder: the page that follows the index shows it at once, and the run's end refreshes the whole index."""
    kept = _kept_rows(reports_dir)
    if not kept or not (reports_dir / "index.html").is_file():
        write_index(reports_dir)
        return
    key = os.path.relpath(run_dir, reports_dir)
    row = RUNS.read_row(run_dir, reports_dir)
    kept["runs"][key] = [signature(str(run_dir), RUNS.files), [clean(row[column]) for column in COLUMNS]]
    with contextlib.suppress(OSError):
        _write_rows(reports_dir, kept)


def _write_rows(reports_dir: Path, record: dict) -> None:
    """index-data.js: compact JSON (the pretty-printing encoder is pure Python and far slower)."""
    write_text(reports_dir / DATA_FILE, f"{_DATA_START}{json.dumps(record, separators=(',', ':'))}{_DATA_END}")


def runs_table(reports_dir: Path) -> pd.DataFrame:
    """One row per run, newest first, numbers as numbers and the date as a datetime; only what changed since the
    last refresh is read again."""
    table = pd.DataFrame(_newest_first(_rows_record(reports_dir, everything=False)["runs"], RUNS), columns=COLUMNS)
    for column in NUMBER_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    for column in ("epochs", "epochs_planned"):
        table[column] = table[column].astype("Int64")
    table["date"] = pd.to_datetime(table["date"].replace("", None), errors="coerce")
    return table


def _epochs_text(done, planned) -> str:
    """'6/10': epochs done of those planned, as the terminal and the page show them."""
    done = "-" if pd.isna(done) else str(int(done))
    return done if pd.isna(planned) else f"{done}/{int(planned)}"


INDEX_FORMATS = {
    "test_accuracy": 4,
    "macro_f1": 4,
    "best_val_accuracy": 4,
    "train_seconds": 1,
    "learning_rate": None,
    "epochs": 0,
    "epochs_planned": 0,
}
NUMBER_COLUMNS = tuple(INDEX_FORMATS)
TEXT_COLUMNS = set(COLUMNS) - set(INDEX_FORMATS)  # sorted and filtered as text; the others as numbers


def write_index(reports_dir: Path, everything: bool = False) -> Path:
    """reports/index.html: every group and every run, newest first, each linking to its page. The runs are data
    (index-data.js, the refresh's own record), shown a page of rows at a time, filtered and sorted in the browser:
    10,000 runs stay quick to refresh and to open."""
    lang = language()
    text = labels(lang)
    record = _rows_record(reports_dir, everything)
    shown = [column for column in COLUMNS if column not in ("reason", "path", "epochs_planned", "files")]
    columns = [
        {"key": column, "label": text[column], "text": column in TEXT_COLUMNS, "decimals": INDEX_FORMATS.get(column)}
        for column in shown
    ]
    groups = [dict(zip(GROUP_COLUMNS, row, strict=True)) for row in _newest_first(record["groups"], GROUPS)]
    path = reports_dir / "index.html"
    write_page(
        "index.html",
        path,
        reports_dir,
        lang,
        text=text,
        groups=groups,
        columns=columns,
        data_file=DATA_FILE,
        data_start=_DATA_START,
        statuses=status_words(lang),
        count=len(record["runs"]),
    )
    return path
