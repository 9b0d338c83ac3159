"""A group's directory, ``reports/<NAME>/seeds-<id>/`` or ``sweep-<id>/``: its record, summary, study, logs and the
member runs inside it (each a harness.records.RunDir).

    group = GroupDir("reports/adam/latest")
    group.record()["kind"], group.summary()["metrics"], [member["status"] for member in group.members()]
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from harness.atomic import write_json
from harness.errors import UserError
from harness.records.folder import Folder
from harness.records.reasons import reason
from harness.records.run_dir import RunDir, process_alive, read_json


class GroupDir(Folder):
    RECORD = "group.json"  # what the group is: kind, seeds, points, search, members, its study
    SUMMARY = "summary.json"  # its statistics, from the members' own files
    LIVE = "live.json"  # each member's state while the group runs, for its page and the index to follow
    STUDY = "study.journal"  # its Optuna study, when kept in the folder
    LOGS = "logs"  # each member's console output, logs/<run>.log
    PAGE = "group.html"
    CURVES = "curves.png"
    PARAMETERS = "parameters.png"

    def is_group(self) -> bool:
        return (self.path / self.RECORD).is_file()

    def record(self) -> dict:
        return read_json(self.path / self.RECORD)

    def write_record(self, record: dict) -> None:
        write_json(self.path / self.RECORD, record)

    def summary(self, missing: dict | None = None) -> dict:
        return read_json(self.path / self.SUMMARY, missing=missing)

    def write_summary(self, summary: dict) -> None:
        write_json(self.path / self.SUMMARY, summary)

    def write_live(self, state: dict) -> None:
        write_json(self.path / self.LIVE, state | {"pid": os.getpid(), "host": platform.node()})

    def live(self) -> dict:
        """The group's live state ({} if it has none); `running` whose process is gone reads as `interrupted`."""
        state = read_json(self.path / self.LIVE, missing={})
        mine = state.get("host") == platform.node()
        if state.get("status") == "running" and mine and not process_alive(state.get("pid")):
            return state | {"status": "interrupted"}
        return state

    def is_running(self) -> bool:
        """Its runs are still being run (by a process that lives, on this machine or another)."""
        try:
            return self.live().get("status") == "running"
        except UserError:
            return False

    @property
    def study_path(self) -> Path:
        return self.path / self.STUDY

    def member(self, run: str) -> RunDir:
        return RunDir(self.path / run)

    def log(self, run: str) -> Path:
        return self.path / self.LOGS / f"{run}.log"

    def logs(self) -> dict[str, str]:
        """Each member's log, by run name, as a path relative to the group's folder."""
        folder = self.path / self.LOGS
        return {path.stem: f"{self.LOGS}/{path.name}" for path in folder.glob("*.log")} if folder.is_dir() else {}

    def read_member(self, member: dict) -> dict:
        """A member's record with its status and metrics; a run that never started reads as failed."""
        run = self.member(member["run"])
        if run.path.is_dir():
            status = run.status()
            state, why = status["status"], status.get("reason")
        else:
            state, why = "failed", reason("not_started", exit_code=member.get("exit_code"))
        return member | {"status": state, "reason": why, "metrics": run.metrics(), "report": run.has(RunDir.PAGE)}

    def members(self) -> list[dict]:
        """Each member as read_member reads it, in the record's order."""
        return [self.read_member(member) for member in self.record()["members"]]

    def runs(self) -> list[RunDir]:
        """The member runs that exist here."""
        return [run for run in (self.member(member["run"]) for member in self.record()["members"]) if run.is_run()]


def is_group(path: Path) -> bool:
    return GroupDir(path).is_group()
