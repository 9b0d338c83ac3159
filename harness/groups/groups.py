"""Groups of runs: one experiment over several seeds, or a sweep over grid points (times seeds).

    make experiment NAME=adam SEEDS=5 JOBS=2     reports/adam/seeds-<id>/: 5 runs, summary.json, group.html
    make sweep NAME=l2 GRID="model.l2=0.0001,0.01 training.batch_size=64,128"    reports/l2/sweep-<id>/

The members run in JOBS warm worker processes (harness.groups.workers), each created in the group's folder under
a name that says what it is (seed-3, p02-seed-1). Every config is resolved, and the data loaded once,
before the group's folder exists, so a bad grid or a missing dataset costs no training.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.config.experiments import resolve
from harness.config.grid import as_override, grid_points, parse_axes, point_label, random_points
from harness.config.schema import ExperimentConfig
from harness.data.datasets import load_dataset
from harness.errors import UserError
from harness.groups.parallel import thread_share
from harness.groups.workers import RunRequest, RunResult, WorkerPool
from harness.records import GROUP_FILE, new_run_dir, point_latest, read_member, write_json

LOGS = "logs"
MAX_RUNS = 10_000  # a group beyond this is refused before any of it is built


def check_size(kind: str, points: int, seeds: int, sizes: str) -> None:
    """Refuse a group of more than MAX_RUNS runs at once, saying how big it is and what to do instead."""
    runs = points * seeds
    if runs > MAX_RUNS:
        times = f" x {seeds:,} seeds" if seeds > 1 else ""
        advice = ("sample it with RANDOM=N (N points of the same ranges) or narrow the grid" if kind == "sweep"
                  else "give fewer seeds")  # fmt: skip
        raise UserError(f"the {kind} would make {runs:,} runs ({sizes}{times}), more than the {MAX_RUNS:,} a group "
                        f"may have: {advice}")  # fmt: skip


def parse_seeds(text: str) -> list[int]:
    """SEEDS=5 means seeds 0..4; SEEDS="3 7 11" means those seeds."""
    words = text.replace(",", " ").split()
    if not words or not all(word.isdigit() for word in words):
        raise UserError(f'SEEDS={text!r}: give a count (SEEDS=5 runs seeds 0..4) or seeds (SEEDS="3 7 11")')
    if len(words) == 1:
        count = int(words[0])
        if count < 1:
            raise UserError("SEEDS=0: give at least one seed")
        return list(range(count))
    seeds = [int(word) for word in words]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"SEEDS={text!r} repeats a seed; each seed runs once")
    return seeds


@dataclass
class RunArguments:
    """What the command line said about every member: the shortcuts and --set overrides."""

    overrides: list[str] = field(default_factory=list)
    dataset: str | None = None
    epochs: int | None = None


@dataclass
class GroupPlan:
    experiment: str
    kind: str  # "seeds" or "sweep"
    points: list[dict]  # config values per point; one empty point for a seeds group
    seeds: list[int | None]  # None: the config's own seed
    arguments: RunArguments
    search: dict | None = None  # a sweep's GRID, RANDOM and sampling seed, as given

    @classmethod
    def of_seeds(cls, experiment: str, seeds: str | None, arguments: RunArguments) -> GroupPlan:
        """SEEDS=N (or "3 7 11") runs of one config."""
        chosen = parse_seeds(seeds) if seeds else [None]
        check_size("seeds group", 1, len(chosen), "one point")
        return cls(experiment, "seeds", [{}], chosen, arguments)

    @classmethod
    def of_sweep(cls, experiment: str, grid: str, random: int | None, sample_seed: int, seeds: str | None,
                 arguments: RunArguments) -> GroupPlan:  # fmt: skip
        """Every point of GRID, or RANDOM points drawn from its LOW:HIGH ranges; times SEEDS."""
        axes = parse_axes(grid, random=random is not None)
        chosen = parse_seeds(seeds) if seeds else [None]
        if random is not None:
            check_size("sweep", random, len(chosen), f"RANDOM={random:,} points")
        else:
            sizes = [len(values) for values in axes.values()]
            check_size("sweep", math.prod(sizes), len(chosen), " x ".join(f"{size:,}" for size in sizes) + " points")
        points = random_points(axes, random, sample_seed) if random is not None else grid_points(axes)
        search = {"grid": grid, "random": random, "sample_seed": sample_seed if random else None}
        return cls(experiment, "sweep", points, chosen, arguments, search)

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
        return resolve(plan.experiment, experiments_dir, member_overrides(plan, member), plan.arguments.dataset,
                       plan.arguments.epochs, member["seed"])  # fmt: skip
    except UserError as error:
        where = f"point {point_label(member['parameters'])}: " if member["parameters"] else ""
        raise UserError(f"{where}{error}") from None


def check_plan(plan: GroupPlan, experiments_dir: Path) -> dict[str, ExperimentConfig]:
    """Resolve every member's config and load the data once: any problem fails here, before training."""
    configs = {member["run"]: member_config(plan, member, experiments_dir) for member in plan.members()}
    load_dataset(next(iter(configs.values())).dataset)
    return configs


def member_request(member: dict, config: ExperimentConfig, group_dir: Path, command: list[str]) -> RunRequest:
    """The member's run, for a worker: in the group's folder, its console output in logs/<run>.log."""
    return RunRequest(member["run"], config.to_dict(), group_dir.parent.parent, run_dir=group_dir / member["run"],
                      log=group_dir / LOGS / f"{member['run']}.log", command=tuple(command))  # fmt: skip


def describe(member: dict) -> str:
    parameters = point_label(member["parameters"])
    return member["run"] + (f" ({parameters})" if parameters else "")


def progress(group_dir: Path, total: int, members: dict):
    """Print one line as each run ends: its status and score, or where its log is."""

    def report(result: RunResult, done: int) -> None:
        member = members[result.request.label]
        member["exit_code"] = result.exit_code
        state = read_member(group_dir, member)
        if state["status"] == "finished":
            metrics = state["metrics"]
            outcome = f"finished, test accuracy {metrics['test_accuracy']:.4f}, val {metrics['best_val_accuracy']:.4f}"
        else:
            outcome = f"{state['status']} ({result.reason or 'see its log'}); log: {result.request.log}"
        print(f"[{done}/{total}] {describe(member)}: {outcome}", flush=True)

    return report


def run_group(plan: GroupPlan, experiments_dir: Path, reports_dir: Path, jobs: int) -> tuple[Path, dict, int]:
    """Run every member, `jobs` at a time; write the summary and pages. Returns the folder, the summary
    and the exit code."""
    if jobs < 1:
        raise UserError(f"JOBS={jobs}: run at least one job at a time")
    configs = check_plan(plan, experiments_dir)
    group_dir = new_run_dir(reports_dir, plan.experiment, prefix=f"{plan.kind}-")
    members = {member["run"]: member | {"exit_code": None} for member in plan.members()}
    parallel = min(jobs, len(members))
    threads = thread_share(parallel)
    command = [Path(sys.executable).name, "-m", "harness", *sys.argv[1:]]
    record = {
        "experiment": plan.experiment, "kind": plan.kind, "created": datetime.now().isoformat(timespec="seconds"),
        "seeds": plan.seeds, "points": plan.points, "search": plan.search, "jobs": jobs, "threads_per_run": threads,
        "command": command, "members": list(members.values()),
    }  # fmt: skip
    write_json(group_dir / GROUP_FILE, record)
    point_latest(group_dir)
    print(f"{plan.experiment}: {len(members)} runs in {parallel} worker processes with {threads} threads each, "
          f"in {group_dir} (each run's output: {group_dir / LOGS}/<run>.log)", flush=True)  # fmt: skip
    requests = [member_request(member, configs[name], group_dir, command) for name, member in members.items()]
    interrupted = False
    try:
        WorkerPool(parallel).run(requests, progress(group_dir, len(requests), members))
    except KeyboardInterrupt:
        interrupted = True
    write_json(group_dir / GROUP_FILE, record | {"members": list(members.values()), "interrupted": interrupted})
    from harness.reporting.group_report import write_group_report
    from harness.reporting.index import write_index

    summary = write_group_report(group_dir)
    write_index(reports_dir)
    if interrupted:
        return group_dir, summary, 130
    return group_dir, summary, 0 if summary["finished"] == summary["runs"] else 1
