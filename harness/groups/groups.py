"""Groups of runs: one experiment over several seeds, or a sweep over grid points (times seeds).

    make experiment NAME=adam SEEDS=5 JOBS=2     reports/adam/seeds-<id>/: 5 runs, summary.json, group.html
    make sweep NAME=l2 GRID="model.l2=0.0001,0.01 training.batch_size=64,128"    reports/l2/sweep-<id>/

The group is planned and checked first (harness.groups.plan), then its members run in JOBS warm worker processes
(harness.groups.workers), each created in the group's folder under a name that says what it is (seed-3, p02-seed-1),
as the trials of the group's Optuna study (harness.groups.ledger). Its page follows it while it runs
(harness.groups.live) and gets its statistics when it ends.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from harness.errors import UserError
from harness.groups.in_process import check_jobs, pool
from harness.groups.ledger import Ledger
from harness.groups.live import GroupProgress
from harness.groups.parallel import thread_share
from harness.groups.plan import GroupPlan, check_plan, plan_from_record
from harness.groups.storage import checked_storage, default_storage, open_storage
from harness.groups.study import create_study, load_study
from harness.masking import masked
from harness.records import GroupDir, new_run_dir, point_latest, process_command
from harness.surface import on_command_line, option


def run_group(plan: GroupPlan, experiments_dir: Path, reports_dir: Path, jobs: int, storage: str | None = None) -> Path:
    """Run every member, `jobs` at a time, as the trials of the group's study (in the group's folder, or in the
    database at `storage`); write the summary and pages. Returns the group's folder (harness.api.Group reads
    its outcome and exit status from it)."""
    check_jobs(jobs)
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
    check_jobs(jobs)
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
    } | {key: value for key, value in (("folds", plan.folds), ("final", plan.final)) if value is not None}


def _run_ledger(ledger: Ledger, jobs: int, reports_dir: Path) -> Path:
    group, parallel = GroupDir(ledger.group_dir), max(1, min(jobs, ledger.total))
    threads = thread_share(parallel)
    record = _group_record(ledger, jobs, threads)
    group.write_record(record)
    point_latest(group.path)
    if on_command_line():
        where = "one after another in this process" if jobs == 0 else f"in {parallel} worker processes"
        print(
            f"{ledger.plan.experiment}: {ledger.total} runs {where} with {threads} threads each, in {group.path} "
            f"(each run's output: {group.path / group.LOGS}/<run>.log)",
            flush=True,
        )
    interrupted, progress = False, GroupProgress(ledger, reports_dir, _language(ledger))
    try:
        with database_errors(ledger.storage, group.path):
            runs = pool(0 if jobs == 0 else parallel)
            runs.run(ledger.requests(), ledger.record, ledger.total, on_progress=progress.update)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if ledger.heartbeat is not None:
            ledger.heartbeat.stop()
        group.write_record(record | {"members": ledger.members_here(), "interrupted": interrupted})
        progress.update(ended=True)
    from harness.reporting.group_report import write_group_report
    from harness.reporting.index import write_index

    write_group_report(group.path, ledger.study if ledger.plan.kind == "sweep" else None)
    if ledger.plan.kind == "final":
        from harness.groups.finalize import record_final_use

        record_final_use(group.path, reports_dir)
    write_index(reports_dir)
    return group.path


def _language(ledger: Ledger) -> str | None:
    """The pages' language, as the group's configs say (report.language), if they say."""
    return next((config.report.language for config in ledger.configs.values()), None)


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


# What a database server's answer says went wrong, by a phrase of PostgreSQL's or MySQL's message.
REFUSALS = (
    ("authentication failed", "refused the login", "check the user and password in {storage}"),
    ("access denied", "refused the login", "check the user and password in {storage}"),
    ("does not exist", "has no such database or user", "check the names in {storage}"),
    ("unknown database", "has no such database or user", "check the names in {storage}"),
)


@contextmanager
def database_errors(storage: str | None, group_dir: Path | None):
    """A database that answers no, or cannot be reached, is one line that says which; a database lost mid-sweep stops
    this machine's part of the group, and the runs it finished stay in its reports folder."""
    try:
        yield
    except Exception as error:
        cause = _from_database(error) if storage else None
        if cause is None:
            raise
        raise UserError(_database_problem(storage, str(cause), group_dir)) from None


def _database_problem(storage: str, cause: str, group_dir: Path | None) -> str:
    lines = [line.strip() for line in cause.strip().splitlines() if line.strip()] or ["no answer"]
    said = next((line for line in lines if "FATAL" in line), lines[0])
    where = f"the sweep's database at {masked(storage)}"
    for phrase, what, fix in REFUSALS:
        if phrase in cause.lower():
            return f"{where} {what} ({masked(said)}): {fix.format(storage=option('storage'))}"
    if group_dir is None:
        return (
            f"{where} cannot be reached ({masked(said)}); nothing was started: check {option('storage')} and the server"
        )
    return (
        f"{where} cannot be reached ({masked(said)}); the runs finished here are kept in {group_dir}; "
        "when it is back, make sweep-worker SWEEP=<id> STORAGE=... goes on"
    )
