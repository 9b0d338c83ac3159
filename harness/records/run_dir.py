"""A run directory, ``reports/<NAME>/<run-id>/``: the one place that names its files, reads them and writes them.

    run = RunDir("reports/adam_lr/latest")
    run.config().optimizer.learning_rate, run.metrics()["test_accuracy"], run.history(), run.status()["status"]

Training writes through it, reporting, groups, tools and the API read through it. Every write is atomic
(harness.atomic), so a kill never leaves half a file.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml

from harness.atomic import write_json, write_text, write_with
from harness.config.schema import ExperimentConfig
from harness.errors import UserError
from harness.records.folder import Folder
from harness.records.reasons import reason

# A run's life: running -> finished | failed | diverged | interrupted | pruned. Anything but finished has a reason.
STATUSES = ("running", "finished", "failed", "diverged", "interrupted", "pruned")
# A command's exit, by its run's end; a pruned run did what its sweep asked of it.
EXIT_CODES = {"finished": 0, "pruned": 0, "failed": 1, "diverged": 3, "interrupted": 130}
# LibYAML's loader when PyYAML has it: ten times faster, which the index feels at thousands of runs.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_json(path: Path, missing: dict | None = None) -> dict:
    """A JSON file of a run or group: `missing` when there is none (an error when not given); a damaged
    one (cut short by a kill or a full disk, or edited by hand) is a UserError that names it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if missing is None:
            raise UserError(f"{path} is missing: rerun that run, or delete its directory") from None
        return missing
    try:
        return json.loads(text)
    except ValueError as error:
        raise UserError(f"{path} is damaged ({error}): rerun that run, or delete its directory") from None


def read_table(path: Path):
    """A CSV file as a DataFrame; an empty one when the file is missing or empty (a run that stopped before its
    first epoch)."""
    import pandas as pd  # not at start-up: most commands never read a table

    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


class RunDir(Folder):
    """One run's directory. Readers return what the files hold; writers replace a file whole."""

    CONFIG = "config.yaml"  # the resolved config: enough to repeat the run
    STATUS = "status.json"  # running, finished, ... and the reason
    METRICS = "metrics.json"  # test scores, best validation accuracy, epochs, parameters, train seconds
    HISTORY = "history.csv"  # one row per epoch (Keras's CSVLogger appends to it)
    PREDICTIONS = "predictions.csv"  # one row per test example
    NOTES = "notes.json"  # the user's note and tags: {"note": "...", "tags": [...]}
    REMOVED = "removed.json"  # heavy files removed to save disk (make prune): which, how many bytes, when, why
    DATA = "data.json"  # its dataset: class names in label order, kind (images or table), input shape, sizes
    ENVIRONMENT = "env.json"
    FINGERPRINT = "fingerprint.json"
    MODEL = "model.keras"
    MODEL_SUMMARY = "model_summary.txt"
    CHECKPOINTS = "checkpoint"  # a folder, while the run trains
    ITERATION_LOSS = "iteration_loss.csv"  # the NumPy network's loss per batch
    SYSTEM = "system.csv"  # per epoch: CPU use, resident memory, and on a GPU its memory and utilisation
    WEIGHTS = "weights.npz"  # the NumPy network's parameters
    # The report's files (harness.reporting.report)
    CLASSIFICATION_TEXT = "classification_report.txt"
    CLASSIFICATION_TABLE = "classification_report.csv"
    LEARNING_CURVES = "learning_curves.png"
    SYSTEM_PLOT = "system.png"
    LOSS_PER_ITERATION = "loss_per_iteration.png"
    CONFUSION_MATRIX = "confusion_matrix.png"
    MISCLASSIFIED = "misclassified.png"
    MISCLASSIFIED_TABLE = "misclassified.csv"  # a table's most confident mistakes, its rows as the file has them
    PAGE = "report.html"

    def is_run(self) -> bool:
        """Whether a run was made here (it has its config)."""
        return self.has(self.CONFIG)

    def files(self) -> list[str]:
        """The names of the files it holds, hidden ones left out."""
        return sorted(path.name for path in self.path.iterdir() if path.is_file() and not path.name.startswith("."))

    def write_text(self, name: str, text: str) -> None:
        write_text(self.path / name, text)

    def write_with(self, name: str, writer: Callable[[Path], None]) -> None:
        write_with(self.path / name, writer)

    # ------------------------------------------------------------ config

    def write_config(self, config: ExperimentConfig) -> None:
        self.write_text(self.CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))

    def config(self) -> ExperimentConfig:
        """The resolved config the run was made with, validated."""
        return ExperimentConfig.model_validate(self.config_dict())

    def config_dict(self) -> dict:
        """The resolved config as plain data, as written (fast: not validated)."""
        path = self.path / self.CONFIG
        try:
            data = yaml.load(path.read_text(), Loader=_YAML_LOADER)
        except FileNotFoundError:
            raise UserError(f"{path} is missing: {self.path} is not a run directory") from None
        except (yaml.YAMLError, ValueError) as error:
            problem = str(error).splitlines()[0]
            raise UserError(f"{path} is damaged ({problem}): rerun that run, or delete its directory") from None
        if not isinstance(data, dict):
            raise UserError(f"{path} is damaged (not a mapping): rerun that run, or delete its directory")
        return data

    # ------------------------------------------------------------ status

    def write_status(self, status: str, why: dict | None = None, **details) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        record = {"status": status, "reason": why, "pid": os.getpid(), "host": platform.node()}
        stamp = {"updated": datetime.now().isoformat(timespec="seconds")}
        write_json(self.path / self.STATUS, record | stamp | details)

    def status(self) -> dict:
        """The run's status; a 'running' run whose process is gone is reported as interrupted."""
        try:
            record = json.loads((self.path / self.STATUS).read_text())
        except (OSError, ValueError):
            return {"status": "incomplete", "reason": reason("status_unreadable")}
        mine = record.get("host") == platform.node()
        if record.get("status") == "running" and mine and not process_alive(record.get("pid")):
            return record | {"status": "interrupted", "reason": reason("vanished")}
        return record

    def mark_interrupted(self, why: dict) -> None:
        """What a run's own process would have written had it lived: the status, and metrics.json saying so."""
        self.write_metrics({"status": "interrupted", "reason": why, "epochs_run": self.epochs_done()})
        self.write_status("interrupted", why)

    # ------------------------------------------------------------ results

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.path / self.METRICS, metrics)

    def metrics(self) -> dict:
        """metrics.json; {} before the run has ended."""
        return read_json(self.path / self.METRICS, missing={})

    @property
    def history_path(self) -> Path:
        """history.csv, for Keras's CSVLogger, which appends a row per epoch."""
        return self.path / self.HISTORY

    def history(self):
        """One row per epoch: epoch (from 0), loss, accuracy, val_loss, val_accuracy, learning_rate, seconds."""
        return read_table(self.history_path)

    def write_history(self, history) -> None:
        self.write_text(self.HISTORY, history.to_csv(index=False))

    def epochs_done(self) -> int:
        """The rows of history.csv, without reading it as a table."""
        path = self.history_path
        return max(len(path.read_text().splitlines()) - 1, 0) if path.is_file() else 0

    def write_predictions(self, predictions) -> None:
        self.write_text(self.PREDICTIONS, predictions.to_csv(index=False))

    def predictions(self):
        """One row per test example: index, true_label, predicted_label, confidence; None before evaluation."""
        return read_table(self.path / self.PREDICTIONS) if self.has(self.PREDICTIONS) else None

    def classification_table(self):
        """scikit-learn's classification report as a table, one row per class and average (the report writes it)."""
        table = read_table(self.path / self.CLASSIFICATION_TABLE)
        return table.set_index("class") if "class" in table else table

    def system(self):
        """One row per epoch: cpu_percent (100 per busy core), rss_mb, and on a GPU gpu_memory_mb, gpu_utilization."""
        return read_table(self.path / self.SYSTEM)

    def append_system(self, row: dict) -> None:
        import pandas as pd

        system = self.system()
        system = system[system["epoch"] < row["epoch"]] if "epoch" in system else system  # a resumed run repeats
        self.write_text(self.SYSTEM, pd.concat([system, pd.DataFrame([row])]).to_csv(index=False))

    def iteration_loss(self):
        return read_table(self.path / self.ITERATION_LOSS)

    def write_iteration_loss(self, losses) -> None:
        self.write_text(self.ITERATION_LOSS, losses.to_csv(index=False))

    # ------------------------------------------------------------ disk

    HEAVY = (MODEL, CHECKPOINTS, WEIGHTS)  # what `make prune` may remove; results, history, predictions, pages stay

    def heavy_paths(self, tensorboard: Path) -> list[Path]:
        """The run's heavy files that exist: its model, checkpoints, NumPy weights and TensorBoard events folder."""
        return [path for path in (*(self.path / name for name in self.HEAVY), tensorboard) if path.exists()]

    def removed(self) -> dict:
        """What make prune removed from the run ({} when nothing was)."""
        return read_json(self.path / self.REMOVED, missing={})

    def write_removed(self, record: dict) -> None:
        write_json(self.path / self.REMOVED, record)

    # ------------------------------------------------------------ the user's words about it

    def notes(self) -> dict:
        """The run's note and tags: {"note": str | None, "tags": [str, ...]}."""
        recorded = read_json(self.path / self.NOTES, missing={})
        return {"note": recorded.get("note"), "tags": list(recorded.get("tags", []))}

    def write_notes(self, note: str | None = None, tags=()) -> dict:
        """Add tags (each once, in the order given) and, when given, set the note; returns the notes now."""
        notes = self.notes()
        notes["tags"] = list(dict.fromkeys([*notes["tags"], *(tag.strip() for tag in tags if tag.strip())]))
        if note is not None:
            notes["note"] = note
        write_json(self.path / self.NOTES, notes)
        return notes

    # ------------------------------------------------------------ what produced it

    def write_data(self, description: dict) -> None:
        write_json(self.path / self.DATA, description)

    def data(self) -> dict:
        """Its dataset as the run saw it; {} for a run made before runs recorded it."""
        return read_json(self.path / self.DATA, missing={})

    def write_environment(self, environment: dict) -> None:
        write_json(self.path / self.ENVIRONMENT, environment)

    def environment(self) -> dict:
        return read_json(self.path / self.ENVIRONMENT, missing={})

    def environment_text(self) -> str:
        return (self.path / self.ENVIRONMENT).read_text() if self.has(self.ENVIRONMENT) else ""

    def write_fingerprint(self, fingerprint: dict) -> None:
        write_json(self.path / self.FINGERPRINT, fingerprint)

    def fingerprint(self) -> str | None:
        """The hash in fingerprint.json, or None when there is none or it is damaged."""
        try:
            return json.loads((self.path / self.FINGERPRINT).read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            return None

    @property
    def model_path(self) -> Path:
        return self.path / self.MODEL

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / self.CHECKPOINTS


def process_alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scores_text(metrics: dict) -> str:
    """A finished run's scores in a progress line: test accuracy, and the best validation accuracy where it had a
    validation set."""
    validation = metrics.get("best_val_accuracy")
    return f"test accuracy {metrics['test_accuracy']:.4f}" + (
        f", best val {validation:.4f}" if validation is not None else ""
    )
