"""`make compare`: the named runs side by side (harness.reporting.compare_runs), or groups of seeds by their
distributions (harness.reporting.compare_groups).

    python -m harness compare adam adam_lr rmsprop      (or: make compare NAMES="adam adam_lr rmsprop")

An experiment name means its latest run or group; a run id, group id or directory means that one.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.records import GroupDir, find_target, is_group
from harness.reporting.compare_groups import compare_groups
from harness.reporting.compare_runs import Comparison, compare_runs, load_run
from harness.surface import on_command_line, setting


def compare(names: list[str], reports_dir: Path) -> Comparison:
    """Write the comparison of the named runs, or of the named groups of seeds."""
    if len(names) < 2:
        example = 'make compare NAMES="adam adam_lr"' if on_command_line() else 'harness.compare("adam", "adam_lr")'
        raise UserError(f"compare needs at least two runs or groups, e.g. {example}")
    targets = [find_target(reports_dir, name) for name in names]
    _check_distinct(names, targets)
    kinds = [GroupDir(target).record()["kind"] if is_group(target) else "run" for target in targets]
    if "sweep" in kinds:
        sweep = targets[kinds.index("sweep")]
        raise UserError(
            f"{sweep.name} is a sweep, not repeats of one config: compare seed groups "
            f"({setting('seeds', 'N', True)}), or runs of the sweep by their paths, e.g. {sweep / 'p00'}"
        )
    groups = {"seeds": "group of seeds", "folds": "cross-validation", "final": "final group"}
    if set(kinds) <= set(groups):
        return compare_groups(targets, reports_dir)
    if set(kinds) & set(groups):
        what = ", ".join(f"{name}: {groups.get(kind, 'single run')}" for name, kind in zip(names, kinds, strict=True))
        raise UserError(
            f"compare groups with groups or runs with runs ({what}): run each experiment with "
            f"{setting('seeds', 'N', True)}, or name single runs by their run ids"
        )
    return compare_runs([load_run(target) for target in targets], reports_dir)


def _check_distinct(names: list[str], targets: list[Path]) -> None:
    """One line when two names are the same run or group (an experiment's name and its latest run's id, say)."""
    resolved = [target.resolve() for target in targets]
    for later, target in enumerate(resolved):
        if target in resolved[:later]:
            first, kind = names[resolved.index(target)], "group" if is_group(target) else "run"
            same = f"{first} is named twice" if names[later] == first else f"{first} and {names[later]} are one {kind}"
            raise UserError(
                f"{same} ({target}): a {kind} compared with itself proves nothing; name two different runs or groups"
            )
