"""A running group's live.json: each member's state (waiting; running, with its epochs; or how it ended), written
again whenever one changes, for the group's page and the index to follow while served (make serve). The machine
that runs the group writes it from the members' own files, and refreshes the index when a member starts or ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.grid import point_label
from harness.records import STATUSES, GroupDir, RunDir, reason_text
from harness.surface import warn

if TYPE_CHECKING:
    from harness.groups.ledger import Ledger

ENDED = tuple(status for status in STATUSES if status != "running")  # a member in one of these does not change


class GroupProgress:
    def __init__(self, ledger: Ledger, reports_dir: Path, lang: str | None):
        self.ledger, self.reports_dir, self.lang = ledger, reports_dir, lang
        self.group = GroupDir(ledger.group_dir)
        self.ended: dict[str, dict] = {}  # a member that ended does not change again
        self.epochs: dict[str, int | None] = {}
        self.written: dict | None = None
        self.statuses: list | None = None
        self.failed = False

    def update(self, ended: bool = False) -> None:
        """Write live.json if any member's state changed; the first time, also the page that follows it; when a
        member started or ended, the index too. A failure only stops the pages following the group."""
        if self.failed:
            return
        try:
            self._update(ended)
        except Exception as error:  # noqa: BLE001 - the runs go on; their pages come when they end
            self.failed = True
            warn(f"the group's live page stopped following it ({type(error).__name__}: {error})")

    def _update(self, ended: bool) -> None:
        members = [self._state(member) for member in self.ledger.members_here()]
        finished = sum(member["status"] == "finished" for member in members)
        state = {"status": "ended" if ended else "running", "runs": self.ledger.total, "finished": finished}
        state["members"] = members
        if state == self.written:
            return
        from harness.reporting.group_report import write_running_group_page
        from harness.reporting.index import write_index

        self.group.write_live(state)
        if self.written is None:
            write_running_group_page(self.group.path, self.lang)
        self.written = state
        statuses = [(member["run"], member["status"]) for member in members]
        if statuses != self.statuses and not ended:  # the group's end writes its own index
            write_index(self.reports_dir)
        self.statuses = statuses

    def _state(self, member: dict) -> dict:
        name = member["run"]
        if name in self.ended:
            return self.ended[name]
        state = {"run": name, "seed": member["seed"], "point": point_label(member["parameters"])}
        run = self.group.member(name)
        if not run.path.is_dir():
            return state | {"status": "waiting"}
        status = run.status()
        state |= {"status": status["status"], "epochs_done": run.epochs_done(), "epochs": self._planned(run)}
        if status["status"] not in ENDED:
            return state
        metrics = run.metrics()
        state |= {key: metrics.get(key) for key in ("best_val_accuracy", "test_accuracy")}
        self.ended[name] = state | {"reason": reason_text(status.get("reason"), self.lang or "en")}
        return self.ended[name]

    def _planned(self, run: RunDir) -> int | None:
        if run.name not in self.epochs:
            try:
                self.epochs[run.name] = run.config_dict()["training"].get("epochs")
            except Exception:  # noqa: BLE001 - its config not written yet: asked again next time
                return None
        return self.epochs[run.name]
