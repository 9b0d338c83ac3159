"""Optuna's own dashboard on a sweep's study: live optimisation history, parameter importance and a table of every
trial, as the study grows, whether the study is the sweep's journal file or a database shared by several machines.

    make dashboard [SWEEP=<sweep id>] [STORAGE=postgresql://...] [DASHBOARD_PORT=8080]

Without SWEEP or STORAGE, the newest sweep under the reports folder. A database's password is never printed.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.groups.storage import checked_storage, group_study, open_storage
from harness.masking import masked
from harness.records import GroupDir, find_target, group_directories


def dashboard_storage(reports_dir: Path, sweep: str | None, storage: str | None) -> tuple[object, str]:
    """The storage to show and how to name it: the database given, else the sweep's own study."""
    storage = checked_storage(storage)
    if storage is not None and sweep is None:
        return open_storage(storage), masked(storage)
    if sweep is None:
        sweeps = [path for path in group_directories(reports_dir) if path.name.startswith("sweep-")]
        if not sweeps:
            raise UserError(f"no sweep under {reports_dir}: give SWEEP=<id>, or STORAGE=postgresql://... of a sweep")
        group = max(sweeps, key=lambda path: path.name.split("-", 1)[1])
    else:
        group = find_target(reports_dir, sweep)
    study = group_study(group)
    if study is None:
        where = GroupDir(group).record().get("study", {}).get("storage", "no study")
        raise UserError(f"{group} keeps its study in {where}: give that STORAGE=... (with its password) to show it")
    return study._storage, f"the study of {group}"  # noqa: SLF001 - the dashboard wants the storage, not the study


def run_dashboard(reports_dir: Path, sweep: str | None, storage: str | None, port: int) -> None:
    from optuna_dashboard import run_server

    opened, name = dashboard_storage(reports_dir, sweep, storage)
    print(f"Optuna's dashboard on {name} at http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
    run_server(opened, host="127.0.0.1", port=port)
