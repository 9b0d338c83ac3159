"""What a group of runs is before any of it runs: its seeds or points (a grid, a random sample, or a search that
chooses them as it goes), each member's resolved config, and the plan as plain data for a machine that joins it.

    GroupPlan.of_seeds("adam", "5", RunArguments())                   five seeds of one config
    GroupPlan.of_sweep("l2", "model.l2=0.0001,0.01", None, 0, None, RunArguments())

Every config is resolved, and the data loaded once, before the group's folder exists (check_plan), so a bad grid
or a missing dataset costs no training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.experiments import resolve
from harness.config.grid import Range, as_override, grid_points, parse_axes, point_label, random_points
from harness.config.schema import ExperimentConfig
from harness.data.datasets import load_dataset
from harness.errors import UserError
from harness.groups.stopping import parse_stop
from harness.groups.study import PRUNERS, SEARCHES
from harness.groups.workers import RunRequest
from harness.records import GroupDir
from harness.surface import option, setting, warn

MAX_RUNS = 10_000  # a group beyond this is refused before any of it is built


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


def check_size(kind: str, points: int, seeds: int, sizes: str, folds: int | None = None) -> None:
    """Refuse a group of more than MAX_RUNS runs at once, saying how big it is and what to do instead."""
    runs = points * seeds * (folds or 1)
    if runs > MAX_RUNS:
        times = (f" x {seeds:,} seeds" if seeds > 1 else "") + (f" x {folds} folds" if folds else "")
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
    kind: str  # "seeds", "folds" (cross-validation, over seeds too), "sweep" or "final" (make finalize)
    points: list[dict]  # config values per point; one empty point for a seeds group; none yet for SEARCH=tpe
    seeds: list[int | None]  # None: the config's own seed
    arguments: RunArguments
    search: dict | None = None  # a sweep's GRID, RANDOM, sampling seed, SEARCH, TRIALS and PRUNE, as given
    axes: dict = field(default_factory=dict)  # each swept key's values or range (harness.config.grid.parse_axes)
    folds: int | None = None  # FOLDS=k: each point and seed as k runs, one per fold (dataset.folds, dataset.fold)
    base: dict | None = None  # a config as a run recorded it, instead of the experiment's file (make finalize)
    final: dict | None = None  # make finalize: the sweep, point and epochs it came from (group.json's "final")

    @classmethod
    def of_seeds(
        cls, experiment: str, seeds: str | None, arguments: RunArguments, folds: int | None = None
    ) -> GroupPlan:
        """SEEDS=N (or "3 7 11") runs of one config; with FOLDS=k, k runs (one per fold) for each seed."""
        chosen = parse_seeds(seeds) if seeds else [None]
        check_size("seeds group", 1, len(chosen), "one point", check_folds(folds))
        return cls(experiment, "folds" if folds else "seeds", [{}], chosen, arguments, folds=folds)

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
        stop: str | None = None,
        folds: int | None = None,
    ) -> GroupPlan:
        """Every point of GRID, or RANDOM points drawn from its LOW:HIGH ranges, times SEEDS; or TRIALS points
        chosen by TPE (method "tpe"). `prune`: hyperband or median stops hopeless runs; `stop`: when the sweep takes
        no new point (harness.groups.stopping)."""
        check_search(method, trials, random, seeds, prune)
        check_folds(folds)
        parse_stop(stop)  # a rule it cannot read is one line, before anything runs
        axes = parse_axes(grid, random=random is not None or method is not None)
        chosen = parse_seeds(seeds) if seeds else [None]
        if method is not None:
            check_size("sweep", trials, 1, f"TRIALS={trials:,}", folds)
            points = []
        elif random is not None:
            check_size("sweep", random, len(chosen), f"RANDOM={random:,} points", folds)
            points = random_points(axes, random, sample_seed)
        else:
            sizes = [len(values) for values in axes.values()]
            sizes_text = " x ".join(f"{size:,}" for size in sizes) + " points"
            check_size("sweep", math.prod(sizes), len(chosen), sizes_text, folds)
            points = grid_points(axes)
        search = {
            "grid": grid,
            "random": random,
            "sample_seed": sample_seed if random or method else None,
            "method": method,
            "trials": trials,
            "prune": prune,
            "stop": stop,
        }
        return cls(experiment, "sweep", points, chosen, arguments, search, axes, folds)

    def members(self) -> list[dict]:
        members = []
        for index, point in enumerate(self.points):
            for seed in self.seeds:
                for fold in range(self.folds) if self.folds else [None]:
                    members.append(
                        self.member(index, seed, fold, point, f"p{index:02d}" if self.kind == "sweep" else "")
                    )
        return members

    @staticmethod
    def member(index: int, seed: int | None, fold: int | None, point: dict, prefix: str) -> dict:
        """A member's record: its name (p03-seed-1-fold-2, seed-4, fold-0, ...), point, seed, fold and values."""
        parts = (prefix, f"seed-{seed}" if seed is not None else "", f"fold-{fold}" if fold is not None else "")
        name = "-".join(part for part in parts if part)
        return {"run": name, "point": index, "seed": seed, "fold": fold, "parameters": point}


def check_folds(folds: int | None) -> int | None:
    if folds is not None and not 2 <= folds <= 100:
        raise UserError(f"{setting('folds', folds)}: cross-validation takes 2 to 100 folds (5 or 10 are usual)")
    return folds


def member_overrides(plan: GroupPlan, member: dict) -> list[str]:
    folds = []
    if member.get("fold") is not None:
        folds = [f"dataset.folds={plan.folds}", f"dataset.fold={member['fold']}"]
    return plan.arguments.overrides + [as_override(key, value) for key, value in member["parameters"].items()] + folds


def member_config(plan: GroupPlan, member: dict, experiments_dir: Path) -> ExperimentConfig:
    """The member's resolved config; a problem names the point it belongs to."""
    if plan.base is not None:
        return recorded_config(plan.base, member["seed"])
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


def recorded_config(config: dict, seed: int | None) -> ExperimentConfig:
    """A config as a run recorded it, with another training seed."""
    training = config["training"] | ({"seed": seed} if seed is not None else {})
    return ExperimentConfig.model_validate(config | {"training": training})


def check_plan(plan: GroupPlan, experiments_dir: Path) -> dict[str, ExperimentConfig]:
    """Resolve every member's config and load the data once: any problem fails here, before training. A search
    that chooses its points as it goes is checked at the low end of every range (and each list's first value)."""
    members = plan.members() or [
        {
            "run": "probe",
            "seed": None,
            "fold": 0 if plan.folds else None,
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
    member: dict,
    config: ExperimentConfig,
    group_dir: Path,
    command: list[str],
    trial: dict | None,
    plan: GroupPlan,
    experiments_dir: Path | None = None,
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
        experiments_dir=experiments_dir,
    )


def plan_record(plan: GroupPlan) -> dict:
    """What a machine joining the group needs to run its points: the plan, as plain data in the study."""
    return {
        "experiment": plan.experiment,
        "kind": plan.kind,
        "points": plan.points,
        "seeds": plan.seeds,
        "search": plan.search,
        "arguments": vars(plan.arguments),
        "folds": plan.folds,
        "base": plan.base,
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
        record.get("folds"),
        record.get("base"),
    )
