"""Every run in one table, rebuilt from the run directories themselves so it can never disagree with them.

python -m harness report           writes reports/index.html (make report; make experiment refreshes it)
python -m harness list --runs      prints the table
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from harness.runs import read_status, run_directories

COLUMNS = [
    "experiment", "run_id", "date", "dataset", "model", "optimizer", "learning_rate", "epochs", "test_accuracy",
    "macro_f1", "best_val_accuracy", "train_seconds", "status", "reason", "path",
]  # fmt: skip


def started(run_id: str) -> str:
    try:
        return datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").isoformat(sep=" ")
    except ValueError:
        return ""


def run_row(run_dir: Path, reports_dir: Path) -> dict:
    """One run's row; a directory that cannot be read still gets a row that says why."""
    row = dict.fromkeys(COLUMNS)
    row |= {"experiment": run_dir.parent.name, "run_id": run_dir.name, "date": started(run_dir.name)}
    row["path"] = str(run_dir.relative_to(reports_dir))
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
