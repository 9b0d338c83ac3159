"""Every run in one table, rebuilt from the run directories themselves so it can never disagree with them.

python -m harness report           writes reports/index.html (make report; make experiment refreshes it)
python -m harness list --runs      prints the table
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from harness.config.grid import point_label
from harness.records import group_directories, is_group, read_status, run_directories
from harness.reporting.i18n import labels, language
from harness.reporting.pages import clean, write_page

COLUMNS = [
    "experiment", "run_id", "group", "date", "dataset", "model", "optimizer", "learning_rate", "epochs",
    "test_accuracy", "macro_f1", "best_val_accuracy", "train_seconds", "status", "reason", "path",
]  # fmt: skip


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


def run_row(run_dir: Path, reports_dir: Path) -> dict:
    """One run's row; a directory that cannot be read still gets a row that says why."""
    row = dict.fromkeys(COLUMNS)
    path = run_dir.relative_to(reports_dir)
    row |= {"experiment": path.parts[0], "run_id": run_dir.name, "date": run_started(run_dir), "path": str(path)}
    row["group"] = path.parts[1] if len(path.parts) == 3 else None
    status = read_status(run_dir)
    row |= {"status": status["status"], "reason": status.get("reason")}
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        row |= {
            "dataset": config["dataset"]["name"],
            "model": config["model"]["factory"],
            "optimizer": config["optimizer"]["name"]
            + (f" + {config['schedule']['name']}" if config.get("schedule") else ""),
            "learning_rate": config["optimizer"]["learning_rate"],
            "epochs": config["training"].get("epochs") or f"{config['training']['iterations']} it",
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        problem = f"config.yaml is unreadable ({type(error).__name__}: {error})"
        if row["status"] == "incomplete":
            return row | {"reason": f"{row['reason']}; {problem}"}
        return row | {"status": "unreadable", "reason": problem}
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except ValueError as error:
            return row | {"status": "unreadable", "reason": f"metrics.json: {error}"}
        row |= {key: metrics.get(key) for key in ("test_accuracy", "macro_f1", "best_val_accuracy", "train_seconds")}
        row["epochs"] = f"{metrics.get('epochs_run')}/{row['epochs']}"
    return row


def runs_table(reports_dir: Path) -> pd.DataFrame:
    """One row per run, newest first."""
    rows = [run_row(run_dir, reports_dir) for run_dir in run_directories(reports_dir)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["date", "run_id"], ascending=False, ignore_index=True)


def terminal_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "no runs yet: make experiment NAME=adam_lr"
    shown = table[["experiment", "run_id", "dataset", "optimizer", "epochs", "test_accuracy", "macro_f1", "status"]]
    return shown.to_string(index=False, float_format=lambda value: f"{value:.4f}", na_rep="-")


GROUP_COLUMNS = ["experiment", "group", "date", "kind", "finished", "point", "test_accuracy", "ci_half_width", "path"]


def group_row(group_dir: Path, reports_dir: Path) -> dict:
    """One group: how many runs finished and the mean test accuracy (of the best point, for a sweep)."""
    row = dict.fromkeys(GROUP_COLUMNS) | {"experiment": group_dir.parent.name, "group": group_dir.name}
    row |= {"date": started(group_dir.name), "path": str(group_dir.relative_to(reports_dir))}
    try:
        summary = json.loads((group_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return row | {"kind": "?", "finished": "no summary yet"}
    best = summary.get("best_point")
    point = summary["points"][best if best is not None else 0]
    test = point["metrics"]["test_accuracy"]
    row |= {"kind": summary["kind"], "finished": f"{summary['finished']}/{summary['runs']}"}
    row["point"] = point_label(point["parameters"]) if best is not None else None
    row["test_accuracy"] = test["mean"]
    row["ci_half_width"] = test["ci95_high"] - test["mean"] if test["ci95_high"] is not None else None
    return row


def groups_table(reports_dir: Path) -> pd.DataFrame:
    rows = [group_row(group_dir, reports_dir) for group_dir in group_directories(reports_dir)]
    return pd.DataFrame(rows, columns=GROUP_COLUMNS).sort_values("date", ascending=False, ignore_index=True)


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: every group and every run, newest first, sortable, each linking to its page."""
    text = labels(language())
    table = runs_table(reports_dir)
    rows = [{key: clean(value) for key, value in row.items()} for row in table.to_dict("records")]
    groups = [{key: clean(value) for key, value in row.items()} for row in groups_table(reports_dir).to_dict("records")]
    columns = [(column, text[column]) for column in COLUMNS if column not in ("reason", "path")]
    path = reports_dir / "index.html"
    text_columns = {"experiment", "run_id", "group", "date", "dataset", "model", "optimizer", "status", "epochs"}
    formats = {"test_accuracy": "%.4f", "macro_f1": "%.4f", "best_val_accuracy": "%.4f", "train_seconds": "%.1f"}
    write_page("index.html", path, reports_dir, language(), text=text, rows=rows, columns=columns, groups=groups,
               text_columns=text_columns, formats=formats)  # fmt: skip
    return path
