"""A group's runs as the trials of its Optuna study: which run a free worker takes next, and each run's end told
to its trial.

Grid, random and seed points are enqueued up front by the machine that starts the group; a machine that joins
it (make sweep-worker) takes from the same queue, and SEARCH=tpe asks for a new point each time. With a database
each machine beats for its running trials; a trial whose machine went silent for three beats is failed and
enqueued again (Optuna's fail_stale_trials and its retry callback), and whoever takes it runs `<run>-retry<n>`.
A machine with nothing left to take waits for the trials still running elsewhere before it calls the group done.
A run that ended while its machine could not reach the database is recorded when that machine joins again: in its
trial if that still runs, else in its retry's, which is then not run again. A point's run is recorded once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import SQLAlchemyError

from harness.config.grid import point_label
from harness.config.schema import ExperimentConfig
from harness.groups.plan import GroupPlan, member_config, member_request, plan_record
from harness.groups.stopping import STARTED, STOPPED, parse_stop, stop_reason
from harness.groups.storage import HEARTBEAT_SECONDS
from harness.groups.study import decoded, distributions, encoded, take_queued, tell, trial_reference
from harness.groups.workers import ASK_AGAIN, RunResult
from harness.records import GroupDir, reason_text, scores_text
from harness.surface import on_command_line

RETRIES = 2  # times a run whose worker process died is run again
MEMBER_KEYS = ("run", "point", "seed", "fold")  # what a trial records of the member it stands for


def describe(member: dict) -> str:
    parameters = point_label(member["parameters"])
    return member["run"] + (f" ({parameters})" if parameters else "")


def outcome_line(group_dir: Path, member: dict, result: RunResult) -> str:
    """How a run ended, in one line: its status and score, or where its log is."""
    state = GroupDir(group_dir).read_member(member)
    if state["status"] == "finished":
        return f"finished, {scores_text(state['metrics'])}"
    if state["status"] == "pruned":
        return f"pruned: {reason_text(state['reason'])}"
    return f"{state['status']} ({reason_text(result.reason) or 'see its log'}); log: {result.request.log}"


class Ledger:
    """A group's study and its members: hands each free worker the next trial's run, and records each run's end
    in its trial."""

    def __init__(
        self,
        plan: GroupPlan,
        group_dir: Path,
        study,
        storage: str,
        experiments_dir: Path,
        configs: dict[str, ExperimentConfig],
        command: list[str],
        joining: bool = False,
    ):
        self.plan, self.group_dir, self.study, self.storage = plan, group_dir, study, storage
        self.experiments_dir, self.configs, self.command = experiments_dir, configs, command
        search = plan.search or {}
        self.method, self.prune, self.trials = search.get("method"), search.get("prune"), search.get("trials")
        self.distributions = distributions(plan.axes)
        self.members = {} if joining else {member["run"]: member | {"exit_code": None} for member in plan.members()}
        self.asked: dict[str, object] = {}  # run -> its Optuna trial, until told
        self.taken: set[str] = set()  # the runs this machine took
        self.finished_here: dict[str, Path] = {}  # runs that ended here untold, whose trial failed meanwhile
        self.waiting_said = False
        self.rules = parse_stop(search.get("stop"))
        self.stop_said = False
        if not joining:
            study.set_user_attr("plan", plan_record(plan))
            study.set_user_attr(STARTED, time.time())
            for member in plan.members():
                params = {key: encoded(value) for key, value in member["parameters"].items()}
                study.enqueue_trial(params, user_attrs={key: member.get(key) for key in MEMBER_KEYS})
        self.total = self.trials * (plan.folds or 1) if self.method else len(self._trials("WAITING"))
        self.heartbeat = Heartbeat(study, self.asked) if "://" in storage else None
        if joining:
            self._record_untold()

    def members_here(self) -> list[dict]:
        """The members this machine ran; with a database, the points it never took are other machines' to run; once
        the sweep stopped (STOP), the points no machine took are not runs at all."""
        shared, stopped = self.heartbeat is not None, self.stop_said or (bool(self.rules) and self._said_stopped())
        return [
            member
            for member in self.members.values()
            if (not shared or member["run"] in self.taken) and not (stopped and member["run"] not in self.taken)
        ]

    def _trials(self, *states: str) -> list:
        from optuna.trial import TrialState

        return self.study.get_trials(deepcopy=False, states=tuple(TrialState[state] for state in states))

    def requests(self):
        """The next member's run each time a worker is free, until no point is left to run here or elsewhere;
        ASK_AGAIN while the last points still run on other machines (one of them may go silent)."""
        from optuna.trial import TrialState

        while True:
            if self.heartbeat is not None:  # a trial whose machine went silent goes back in the queue
                self.heartbeat.retry_stale()
            trial = None if self._stopped() else self._next_trial()
            if trial is None:
                if not self._running_elsewhere():
                    return
                yield ASK_AGAIN
                continue
            member = self._member(trial)
            if member is None:  # a trial queued by hand, not by the harness: no run stands for it
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            if member.get("retry_of") in self.finished_here:  # it ended here while the database was away
                self._record_from(trial, member["retry_of"])
                continue
            if self.heartbeat is not None:
                self.heartbeat.beat(trial)  # at once: a machine that dies before its first beat is seen too
            if trial.user_attrs.get("run") != member["run"]:  # a point TPE chose, or a retry: the trial says which
                for key in MEMBER_KEYS:
                    trial.set_user_attr(key, member.get(key))
            trial.set_user_attr("parameters", member["parameters"])  # for a page made from the study alone
            self.members[member["run"]], self.asked[member["run"]] = member | {"exit_code": None}, trial
            self.taken.add(member["run"])
            # Checked already (check_plan) unless TPE chose the point or it is a retry's.
            config = self.configs.get(member["run"]) or member_config(self.plan, member, self.experiments_dir)
            reference = trial_reference(self.study, trial, self.storage, self.prune, member)
            yield member_request(
                member, config, self.group_dir, self.command, reference, self.plan, self.experiments_dir
            )

    def _next_trial(self):
        """A queued trial (a grid point, or a retry), else (SEARCH=tpe) a new point while the study has fewer than
        TRIALS; None when there is neither."""
        queued = take_queued(self.study, self.distributions)
        if queued is not None or self.method is None:
            return queued
        trials = self.study.get_trials(deepcopy=False)
        points = [trial for trial in trials if not trial.user_attrs.get("fold")]  # a point's first fold counts it
        if len(points) - sum(_is_retry(trial) for trial in points) >= self.trials:  # a retry stands in for a trial
            return None
        return self.study.ask(self.distributions)

    def _said_stopped(self) -> bool:
        """Whether a machine recorded in the study that the sweep stopped; a database lost now says no (the sweep's
        error says it is lost)."""
        try:
            return bool(self.study.user_attrs.get(STOPPED))
        except (SQLAlchemyError, StorageInternalError):
            return False

    def _stopped(self) -> bool:
        """Whether the sweep's stopping rules (STOP) say it takes no new point, here or on another machine (said
        once)."""
        why = stop_reason(self.rules, self.study)
        if why is not None and not self.stop_said and on_command_line():
            print(f"the sweep takes no new point: {reason_text(why)}", flush=True)
            self.stop_said = True
        return why is not None

    def _running_elsewhere(self) -> list[str]:
        """The runs other machines are running (a study in a database): the group is not done until they end."""
        if self.heartbeat is None:
            return []
        mine = {trial.number for trial in self.asked.values()}
        running = [trial for trial in self._trials("RUNNING") if trial.number not in mine]
        names = [trial.user_attrs.get("run", f"trial {trial.number}") for trial in running]
        if names and not self.waiting_said and on_command_line():
            print(
                f"waiting for {', '.join(names)}, still running on other machines; a machine silent for "
                f"{3 * HEARTBEAT_SECONDS} s has its run taken over here",
                flush=True,
            )
            self.waiting_said = True
        return names

    def _member(self, trial) -> dict | None:
        """The member a trial stands for: an enqueued point, a retry of a run whose machine went silent, or (TPE)
        a new point made from its parameters."""
        attributes = trial.user_attrs
        retried = self.study._storage.get_trial_system_attrs(trial._trial_id).get("retry_history")  # noqa: SLF001
        if retried and "run" in attributes:
            original = attributes["run"].split("-retry")[0]
            return self._point_member(trial) | {
                "run": f"{original}-retry{len(retried)}",
                "retry": len(retried),
                "retry_of": original,
            }
        if "run" in attributes:
            known = self.members.get(attributes["run"])
            if known is not None:
                return {key: value for key, value in known.items() if key != "exit_code"}
            return self._point_member(trial) | {"run": attributes["run"]}
        if self.method is None:
            return None
        member = self._point_member(trial)
        return member | {"run": f"t{trial.number:03d}" + ("-fold-0" if member["fold"] is not None else "")}

    def _record_untold(self) -> None:
        """The runs this machine ended while the study could not hear of it (its database was away), recorded now: in
        their trial if it still runs; else (it failed meanwhile: its machine went silent) kept for its retry, which
        is then recorded from the run instead of run again."""
        import optuna

        group = GroupDir(self.group_dir)
        members = group.record().get("members", []) if group.is_group() else []
        trials = self.study.get_trials(deepcopy=False)
        for member in members:
            run = group.member(member["run"])
            state = run.status()["status"] if run.is_run() else None
            mine = [trial for trial in trials if trial.user_attrs.get("run") == member["run"]]
            if state not in ("finished", "pruned") or any(trial.state.name in TOLD for trial in mine):
                continue
            self.members[member["run"]] = member | {"exit_code": 0}
            self.taken.add(member["run"])
            running = [trial for trial in mine if trial.state.name == "RUNNING"]
            if running:
                tell(self.study, optuna.Trial(self.study, running[0]._trial_id), state, run.metrics(), run.path)  # noqa: SLF001
                self._say(member["run"], f"{state} here while the database was away; recorded now")
            else:
                self.finished_here[member["run"]] = run.path

    def _record_from(self, trial, original: str) -> None:
        """A retry whose run already ended here: its trial records that run (under the run's own name)."""
        run = GroupDir(self.group_dir).member(original)
        for key in MEMBER_KEYS:
            trial.set_user_attr(key, self.members[original].get(key))
        trial.set_user_attr("parameters", self.members[original]["parameters"])
        tell(self.study, trial, run.status()["status"], run.metrics(), self.finished_here.pop(original))
        self._say(original, "ended here while the database was away; recorded now, not run again")

    def _say(self, run: str, what: str) -> None:
        if on_command_line():
            print(f"{run}: {what}", flush=True)

    def _point_member(self, trial) -> dict:
        """The trial's point, seed and fold: an enqueued point of the plan, or (TPE) a new one made from its
        parameters, whose other folds (FOLDS=k) are enqueued to run next."""
        point, seed, fold = (trial.user_attrs.get(key) for key in ("point", "seed", "fold"))
        if self.method is None or (point is not None and point < len(self.plan.points)):
            return {"point": point, "seed": seed, "fold": fold, "parameters": self.plan.points[point]}
        self.plan.points.append(decoded(self.plan.axes, trial.params))
        point = len(self.plan.points) - 1
        if self.plan.folds and fold is None:
            fold = 0
            for later in range(1, self.plan.folds):
                sibling = self.plan.member(point, seed, later, self.plan.points[point], f"t{trial.number:03d}")
                self.study.enqueue_trial(trial.params, user_attrs={key: sibling[key] for key in MEMBER_KEYS})
        return {"point": point, "seed": seed, "fold": fold, "parameters": self.plan.points[point]}

    def record(self, result: RunResult, done: int) -> None:
        """A run ended: tell its trial, and print one line. A run whose worker died is run again (its point
        enqueued anew, as `<run>-retry<n>`), up to RETRIES times."""
        member = self.members[result.request.label]
        member["exit_code"] = result.exit_code
        metrics = GroupDir(self.group_dir).member(member["run"]).metrics()
        tell(self.study, self.asked.pop(member["run"]), result.status, metrics, result.run_dir)
        line = outcome_line(self.group_dir, member, result)
        if result.lost and member.get("retry", 0) < RETRIES:
            retry = self._retry(member)
            line += f"; its point runs again as {retry['run']}"
        print(f"[{done}/{max(self.total, done)}] {describe(member)}: {line}", flush=True)

    def _retry(self, member: dict) -> dict:
        attempt = member.get("retry", 0) + 1
        retry = member | {
            "run": f"{member.get('retry_of', member['run'])}-retry{attempt}",
            "retry": attempt,
            "retry_of": member.get("retry_of", member["run"]),
            "exit_code": None,
        }
        member["retried_by"] = retry["run"]
        params = {key: encoded(value) for key, value in member["parameters"].items()}
        self.study.enqueue_trial(params, user_attrs={key: retry.get(key) for key in MEMBER_KEYS})
        self.members[retry["run"]] = retry
        self.total += 1
        return retry


TOLD = ("COMPLETE", "PRUNED")  # a trial's states once its run's end was told


def _is_retry(trial) -> bool:
    """A trial that runs a point again: its machine went silent (Optuna's retry), or its worker died."""
    return bool(trial.system_attrs.get("retry_history")) or "-retry" in str(trial.user_attrs.get("run", ""))


class Heartbeat:
    """For a study in a database: a thread that says every HEARTBEAT_SECONDS that this machine's trials are
    alive, and, before each new trial, Optuna's check for trials whose machine went silent (they are failed and
    enqueued again by the storage's RetryHeartbeatStaleTrialCallback)."""

    def __init__(self, study, asked: dict):
        self.study, self.asked = study, asked
        self.stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name="heartbeat").start()

    def beat(self, trial) -> None:
        self.study._storage.record_heartbeat(trial._trial_id)  # noqa: SLF001 - Optuna's own heartbeat call

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                for trial in list(self.asked.values()):
                    self.beat(trial)
            except Exception:  # noqa: BLE001 - the database is gone: the group's next call to it says so, once
                return

    def retry_stale(self) -> None:
        import optuna

        optuna.storages.fail_stale_trials(self.study)

    def stop(self) -> None:
        self.stopped.set()
