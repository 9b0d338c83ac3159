"""Groups of runs: one experiment over several seeds, or a sweep over grid points (times seeds).

    make experiment NAME=adam SEEDS=5 JOBS=2     reports/adam/seeds-<id>/: 5 runs, summary.json, group.html
    make sweep NAME=l2 GRID="model.l2=0.0001,0.01 training.batch_size=64,128"    reports/l2/sweep-<id>/

The members run in JOBS warm worker processes (harness.groups.workers), each created in the group's folder under
a name that says what it is (seed-3, p02-seed-1). Every config is resolved, and the data loaded once,
before the group's folder exists, so a bad grid or a missing dataset costs no training.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.config.experiments import resolve
from harness.config.grid import Range, as_override, grid_points, parse_axes, point_label, random_points
from harness.config.schema import ExperimentConfig
from harness.data.datasets import load_dataset
from harness.errors import UserError
from harness.groups.parallel import thread_share
from harness.groups.storage import HEARTBEAT_SECONDS, checked_storage, default_storage, open_storage
from harness.groups.study import (
    PRUNERS,
    SEARCHES,
    create_study,
    decoded,
    distributions,
    encoded,
    load_study,
    take_queued,
    tell,
    trial_reference,
)
from harness.groups.workers import RunRequest, RunResult, WorkerPool
from harness.masking import masked
from harness.records import GroupDir, new_run_dir, point_latest, process_command, reason_text
from harness.surface import on_command_line, option, setting, warn

MAX_RUNS = 10_000  # a group beyond this is refused before any of it is built
RETRIES = 2  # times a run whose worker process died is run again


def check_search(
    method: str | None, trials: int | None, random: int | None, seeds: str | None, prune: str | None
) -> None:
    """SEARCH, TRIALS and PRUNE: what combines with what, said before anything runs."""
    tpe = setting("search", "tpe", example=True)
    if method is not None and method not in SEARCHES:
        raise UserError(
            f"{setting('search', method)}: the search that learns is {tpe} (or leave {option('search')} out for a grid)"
        )
    if (method is None) != (trials is None):
        raise UserError(
            f"{tpe} needs {setting('trials', 'N', example=True)} (how many runs it may make), and "
            f"{option('trials')} needs {tpe}"
        )
    if method is not None and (random is not None or seeds):
        raise UserError(
            f"{tpe} chooses its own points one run at a time: drop {option('random')} and {option('seeds')} (run the "
            f"best point with {setting('seeds', 5)} afterwards)"
        )
    if trials is not None and trials < 1:
        raise UserError(f"{setting('trials', trials)}: give at least one trial")
    if prune is not None and prune not in PRUNERS:
        raise UserError(f"{setting('prune', prune)}: choose one of {', '.join(PRUNERS)}")


def check_size(kind: str, points: int, seeds: int, sizes: str) -> None:
    """Refuse a group of more than MAX_RUNS runs at once, saying how big it is and what to do instead."""
    runs = points * seeds
    if runs > MAX_RUNS:
        times = f" x {seeds:,} seeds" if seeds > 1 else ""
        sample = setting("random", "N", example=True)
        advice = f"sample it with {sample} (N points of the same ranges) or narrow the grid"
        raise UserError(
            f"the {kind} would make {runs:,} runs ({sizes}{times}), more than the {MAX_RUNS:,} a group "
            f"may have: {advice if kind == 'sweep' else 'give fewer seeds'}"
        )


def parse_seeds(text: str) -> list[int]:
    """SEEDS=5 means seeds 0..4; SEEDS="3 7 11" means those seeds."""
    words = text.replace(",", " ").split()
    if not words or not all(word.isdigit() for word in words):
        examples = f"{setting('seeds', 5)} runs seeds 0..4) or seeds ({setting('seeds', '3 7 11')}"
        raise UserError(f"{setting('seeds', text)}: give a count ({examples})")
    if len(words) == 1:
        count = int(words[0])
        if count < 1:
            raise UserError(f"{setting('seeds', text)}: give at least one seed")
        return list(range(count))
    seeds = [int(word) for word in words]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{setting('seeds', text)} repeats a seed; each seed runs once")
    return seeds


@dataclass
class RunArguments:
    """What the command line said about every member: the shortcuts and --set overrides."""

    overrides: list[str] = field(default_factory=list)
    dataset: str | None = None
    epochs: int | None = None
    note: str | None = None  # the user's note and tags, given to every member
    tags: list[str] = field(default_factory=list)


@dataclass
class GroupPlan:
    experiment: str
    kind: str  # "seeds" or "sweep"
    points: list[dict]  # config values per point; one empty point for a seeds group; none yet for SEARCH=tpe
    seeds: list[int | None]  # None: the config's own seed
    arguments: RunArguments
    search: dict | None = None  # a sweep's GRID, RANDOM, sampling seed, SEARCH, TRIALS and PRUNE, as given
    axes: dict = field(default_factory=dict)  # each swept key's values or range (harness.config.grid.parse_axes)

    @classmethod
    def of_seeds(cls, experiment: str, seeds: str | None, arguments: RunArguments) -> GroupPlan:
        """SEEDS=N (or "3 7 11") runs of one config."""
        chosen = parse_seeds(seeds) if seeds else [None]
        check_size("seeds group", 1, len(chosen), "one point")
        return cls(experiment, "seeds", [{}], chosen, arguments)

    @classmethod
    def of_sweep(
        cls,
        experiment: str,
        grid: str,
        random: int | None,
        sample_seed: int,
        seeds: str | None,
        arguments: RunArguments,
        method: str | None = None,
        trials: int | None = None,
        prune: str | None = None,
    ) -> GroupPlan:
        """Every point of GRID, or RANDOM points drawn from its LOW:HIGH ranges, times SEEDS; or TRIALS points
        chosen by TPE (method "tpe"). `prune`: hyperband or median stops hopeless runs."""
        check_search(method, trials, random, seeds, prune)
        axes = parse_axes(grid, random=random is not None or method is not None)
        chosen = parse_seeds(seeds) if seeds else [None]
        if method is not None:
            check_size("sweep", trials, 1, f"TRIALS={trials:,}")
            points = []
        elif random is not None:
            check_size("sweep", random, len(chosen), f"RANDOM={random:,} points")
            points = random_points(axes, random, sample_seed)
        else:
            sizes = [len(values) for values in axes.values()]
            check_size("sweep", math.prod(sizes), len(chosen), " x ".join(f"{size:,}" for size in sizes) + " points")
            points = grid_points(axes)
        search = {
            "grid": grid,
            "random": random,
            "sample_seed": sample_seed if random or method else None,
            "method": method,
            "trials": trials,
            "prune": prune,
        }
        return cls(experiment, "sweep", points, chosen, arguments, search, axes)

    def members(self) -> list[dict]:
        members = []
        for index, point in enumerate(self.points):
            for seed in self.seeds:
                name = f"p{index:02d}" if self.kind == "sweep" else ""
                name = "-".join(part for part in (name, f"seed-{seed}" if seed is not None else "") if part)
                members.append({"run": name, "point": index, "seed": seed, "parameters": point})
        return members


def member_overrides(plan: GroupPlan, member: dict) -> list[str]:
    return plan.arguments.overrides + [as_override(key, value) for key, value in member["parameters"].items()]


def member_config(plan: GroupPlan, member: dict, experiments_dir: Path) -> ExperimentConfig:
    """The member's resolved config; a problem names the point it belongs to."""
    try:
        return resolve(
            plan.experiment,
            experiments_dir,
            member_overrides(plan, member),
            plan.arguments.dataset,
            plan.arguments.epochs,
            member["seed"],
        )
    except UserError as error:
        where = f"point {point_label(member['parameters'])}: " if member["parameters"] else ""
        raise UserError(f"{where}{error}") from None


def check_plan(plan: GroupPlan, experiments_dir: Path) -> dict[str, ExperimentConfig]:
    """Resolve every member's config and load the data once: any problem fails here, before training. A search
    that chooses its points as it goes is checked at the low end of every range (and each list's first value)."""
    members = plan.members() or [
        {
            "run": "probe",
            "seed": None,
            "parameters": {
                key: values.low if isinstance(values, Range) else values[0] for key, values in plan.axes.items()
            },
        }
    ]
    configs = {member["run"]: member_config(plan, member, experiments_dir) for member in members}
    load_dataset(next(iter(configs.values())).dataset)
    for message in dict.fromkeys(found for config in configs.values() for found in config.settings_without_effect()):
        warn(message)
    return configs


def member_request(
    member: dict, config: ExperimentConfig, group_dir: Path, command: list[str], trial: dict | None, plan: GroupPlan
) -> RunRequest:
    """The member's run, for a worker: in the group's folder, its console output in logs/<run>.log."""
    group = GroupDir(group_dir)
    return RunRequest(
        member["run"],
        config.to_dict(),
        group_dir.parent.parent,
        run_dir=group.member(member["run"]).path,
        log=group.log(member["run"]),
        command=tuple(command),
        trial=trial,
        note=plan.arguments.note,
        tags=tuple(plan.arguments.tags),
    )


def describe(member: dict) -> str:
    parameters = point_label(member["parameters"])
    return member["run"] + (f" ({parameters})" if parameters else "")


def outcome_line(group_dir: Path, member: dict, result: RunResult) -> str:
    """How a run ended, in one line: its status and score, or where its log is."""
    state = GroupDir(group_dir).read_member(member)
    if state["status"] == "finished":
        metrics = state["metrics"]
        return f"finished, test accuracy {metrics['test_accuracy']:.4f}, val {metrics['best_val_accuracy']:.4f}"
    if state["status"] == "pruned":
        return f"pruned: {reason_text(state['reason'])}"
    return f"{state['status']} ({reason_text(result.reason) or 'see its log'}); log: {result.request.log}"


class Ledger:
    """A group's study and its members: hands each free worker the next trial's run, and records each run's end
    in its trial. Grid, random and seed points are enqueued up front (by the machine that starts the group; one
    that joins it takes from the same queue); SEARCH=tpe asks for a new point each time."""

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
        if not joining:
            study.set_user_attr("plan", plan_record(plan))
            for member in plan.members():
                params = {key: encoded(value) for key, value in member["parameters"].items()}
                study.enqueue_trial(params, user_attrs={key: member[key] for key in ("run", "point", "seed")})
        self.total = self.trials if self.method else len(self._waiting())
        self.heartbeat = Heartbeat(study, self.asked) if "://" in storage else None

    def members_here(self) -> list[dict]:
        """The members this machine ran; with a database, the points it never took are other machines' to run."""
        shared = self.heartbeat is not None
        return [member for member in self.members.values() if not shared or member["run"] in self.taken]

    def _waiting(self) -> list:
        from optuna.trial import TrialState

        return self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))

    def requests(self):
        """The next member's run each time a worker is free, until the study has no point left to run."""
        from optuna.trial import TrialState

        while True:
            if self.heartbeat is not None:  # a trial whose machine went silent goes back in the queue
                self.heartbeat.retry_stale()
            if self.method is None:
                trial = take_queued(self.study, self.distributions)
                if trial is None:  # every point taken, here or by another machine
                    return
            elif len(self.study.get_trials(deepcopy=False)) >= self.trials:
                return
            else:
                trial = self.study.ask(self.distributions)
            member = self._member(trial)
            if member is None:  # a trial queued by hand, not by the harness: no run stands for it
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            if "run" not in trial.user_attrs:  # a point TPE chose: the trial says which run it is
                for key in ("run", "point", "seed"):
                    trial.set_user_attr(key, member[key])
            trial.set_user_attr("parameters", member["parameters"])  # for a page made from the study alone
            self.members[member["run"]], self.asked[member["run"]] = member | {"exit_code": None}, trial
            self.taken.add(member["run"])
            # Checked already (check_plan) unless TPE chose the point or it is a retry's.
            config = self.configs.get(member["run"]) or member_config(self.plan, member, self.experiments_dir)
            reference = trial_reference(self.study, trial, self.storage, self.prune)
            yield member_request(member, config, self.group_dir, self.command, reference, self.plan)

    def _member(self, trial) -> dict | None:
        """The member a trial stands for: an enqueued point, or (TPE) a new point made from its parameters."""
        attributes = trial.user_attrs
        if "run" in attributes:
            known = self.members.get(attributes["run"])
            if known is not None:
                return {key: value for key, value in known.items() if key != "exit_code"}
            point = self.plan.points[attributes["point"]]
            return {
                "run": attributes["run"],
                "point": attributes["point"],
                "seed": attributes["seed"],
                "parameters": point,
            }
        if self.method is None:
            return None
        parameters = decoded(self.plan.axes, trial.params)
        self.plan.points.append(parameters)
        return {
            "run": f"t{trial.number:03d}",
            "point": len(self.plan.points) - 1,
            "seed": None,
            "parameters": parameters,
        }

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
        print(f"[{done}/{self.total}] {describe(member)}: {line}", flush=True)

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
        self.study.enqueue_trial(params, user_attrs={key: retry[key] for key in ("run", "point", "seed")})
        self.members[retry["run"]] = retry
        self.total += 1
        return retry


def plan_record(plan: GroupPlan) -> dict:
    """What a machine joining the group needs to run its points: the plan, as plain data in the study."""
    return {
        "experiment": plan.experiment,
        "kind": plan.kind,
        "points": plan.points,
        "seeds": plan.seeds,
        "search": plan.search,
        "arguments": vars(plan.arguments),
    }


def plan_from_record(record: dict) -> GroupPlan:
    search = record["search"] or {}
    axes = parse_axes(search["grid"], random=bool(search.get("random") or search.get("method"))) if search else {}
    return GroupPlan(
        record["experiment"],
        record["kind"],
        record["points"],
        record["seeds"],
        RunArguments(**record["arguments"]),
        record["search"],
        axes,
    )


class Heartbeat:
    """For a study in a database: a thread that says every HEARTBEAT_SECONDS that this machine's trials are
    alive, and, before each new trial, Optuna's check for trials whose machine went silent (they are failed and
    enqueued again by the storage's RetryHeartbeatStaleTrialCallback)."""

    def __init__(self, study, asked: dict):
        import threading

        self.study, self.asked = study, asked
        self.stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name="heartbeat").start()

    def _beat(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            for trial in list(self.asked.values()):
                self.study._storage.record_heartbeat(trial._trial_id)  # noqa: SLF001 - Optuna's own heartbeat call

    def retry_stale(self) -> None:
        import optuna

        optuna.storages.fail_stale_trials(self.study)

    def stop(self) -> None:
        self.stopped.set()


def run_group(plan: GroupPlan, experiments_dir: Path, reports_dir: Path, jobs: int, storage: str | None = None) -> Path:
    """Run every member, `jobs` at a time, as the trials of the group's study (in the group's folder, or in the
    database at `storage`); write the summary and pages. Returns the group's folder (harness.api.Group reads
    its outcome and exit status from it)."""
    if jobs < 1:
        raise UserError(f"{setting('jobs', jobs)}: run at least one job at a time")
    storage = checked_storage(storage)
    configs = check_plan(plan, experiments_dir)
    if storage is not None and "://" in storage:
        with database_errors(storage, None):  # a database that cannot be reached: one line, and nothing made
            open_storage(storage)
    group_dir = new_run_dir(reports_dir, plan.experiment, prefix=f"{plan.kind}-")
    spec = storage or default_storage(group_dir)
    with database_errors(storage, group_dir):
        study = create_study(f"{plan.experiment}/{group_dir.name}", spec, plan.search or {})
        ledger = Ledger(plan, group_dir, study, spec, experiments_dir, configs, process_command())
    return _run_ledger(ledger, jobs, reports_dir)


def join_group(sweep: str, storage: str, experiments_dir: Path, reports_dir: Path, jobs: int) -> Path:
    """make sweep-worker: take the runs of a group whose study is in the database at `storage` until none is
    left, writing them into this machine's reports folder under the group's own id."""
    if jobs < 1:
        raise UserError(f"{setting('jobs', jobs)}: run at least one job at a time")
    storage = checked_storage(storage)
    if storage is None or "://" not in storage:
        raise UserError(
            f"make sweep-worker joins a sweep kept in a database: give {option('storage')}="
            "postgresql://... (the one the sweep was started with)"
        )
    with database_errors(storage, None):
        name, record = find_study(sweep, storage)
        plan = plan_from_record(record)
        study = load_study(name, storage, plan.search or {})
    configs = check_plan(plan, experiments_dir)
    group_dir = reports_dir / plan.experiment / name.split("/", 1)[1]
    group_dir.mkdir(parents=True, exist_ok=True)
    with database_errors(storage, group_dir):
        ledger = Ledger(plan, group_dir, study, storage, experiments_dir, configs, process_command(), joining=True)
    return _run_ledger(ledger, jobs, reports_dir)


def _group_record(ledger: Ledger, jobs: int, threads: int) -> dict:
    """What group.json says of the group before its runs start."""
    plan = ledger.plan
    where = masked(ledger.storage) if "://" in ledger.storage else os.path.relpath(ledger.storage, ledger.group_dir)
    return {
        "experiment": plan.experiment,
        "kind": plan.kind,
        "created": datetime.now().isoformat(timespec="seconds"),
        "seeds": plan.seeds,
        "points": plan.points,
        "search": plan.search,
        "jobs": jobs,
        "threads_per_run": threads,
        "command": ledger.command,
        "study": {"storage": where, "name": ledger.study.study_name},
        "members": list(ledger.members.values()),
    }


def _run_ledger(ledger: Ledger, jobs: int, reports_dir: Path) -> Path:
    group, parallel = GroupDir(ledger.group_dir), max(1, min(jobs, ledger.total))
    threads = thread_share(parallel)
    record = _group_record(ledger, jobs, threads)
    group.write_record(record)
    point_latest(group.path)
    if on_command_line():
        print(
            f"{ledger.plan.experiment}: {ledger.total} runs in {parallel} worker processes with {threads} threads "
            f"each, in {group.path} (each run's output: {group.path / group.LOGS}/<run>.log)",
            flush=True,
        )
    interrupted = False
    try:
        with database_errors(ledger.storage, group.path):
            WorkerPool(parallel).run(ledger.requests(), ledger.record, expected=ledger.total)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if ledger.heartbeat is not None:
            ledger.heartbeat.stop()
        group.write_record(record | {"members": ledger.members_here(), "interrupted": interrupted})
    from harness.reporting.group_report import write_group_report
    from harness.reporting.index import write_index

    write_group_report(group.path, ledger.study if ledger.plan.kind == "sweep" else None)
    write_index(reports_dir)
    return group.path


def find_study(sweep: str, storage: str) -> tuple[str, dict]:
    """The study of group `sweep` (its id, e.g. sweep-20261124-120000-ab12, or <experiment>/<id>): its name and
    the plan its starter recorded."""
    import optuna

    studies = optuna.get_all_study_summaries(open_storage(storage))
    matches = [study for study in studies if study.study_name == sweep or study.study_name.endswith(f"/{sweep}")]
    if len(matches) != 1:
        known = ", ".join(study.study_name for study in studies[-5:]) or "none"
        raise UserError(f"no group {sweep!r} in the database at {masked(storage)}; its groups: {known}")
    return matches[0].study_name, matches[0].user_attrs["plan"]


def _from_database(error: BaseException | None) -> BaseException | None:
    """The database driver's or SQLAlchemy's error that this one was raised from (or is), if any."""
    while error is not None:
        if type(error).__module__.split(".")[0] in ("sqlalchemy", "psycopg"):
            return error
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def database_errors(storage: str | None, group_dir: Path | None):
    """A lost or unreachable database stops this machine's part of the group with one line; the runs it
    finished stay in its reports folder."""
    try:
        yield
    except Exception as error:
        cause = _from_database(error) if storage else None
        if cause is None:
            raise
        kept = f"; the runs finished here are kept in {group_dir}" if group_dir else ""
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise UserError(
            f"the sweep's database at {masked(storage)} cannot be reached ({masked(first)}){kept}; "
            "when it is back, make sweep-worker SWEEP=<id> STORAGE=... goes on"
        ) from None
