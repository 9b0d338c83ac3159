"""The disk: the space each experiment, group and sweep takes, and the heavy files of only the best runs kept.

    make du                                             each experiment's, group's and sweep's size, the largest first
    make prune NAME=adam KEEP=best:3                    what would be removed (a dry run)
    make prune NAME=sweep-<id> KEEP=best:2 CONFIRM=1    the heavy files of all but the 2 best points' runs removed
    make sweep NAME=... GRID=... KEEP=best:2            the same, once the sweep ends

A run's heavy files are its model (model.keras), its checkpoints, the NumPy network's weights and its TensorBoard
events; its results, history, predictions, report and pages are never removed. Runs are ranked by validation (a
sweep's points by their runs' mean best validation accuracy, other runs by their own), never by test. A run whose
files were removed says so in removed.json, on its page and in the index.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.errors import UserError
from harness.records import GroupDir, RunDir, find_target, group_directories, is_group, run_directories, tensorboard_dir
from harness.surface import option


def folder_bytes(path: Path) -> int:
    """The bytes of every file under `path` (links not followed), or of the file itself."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total


def heavy_bytes(run_dir: Path) -> int:
    return sum(folder_bytes(path) for path in RunDir(run_dir).heavy_paths(tensorboard_dir(run_dir)))


def usage(reports_dir: Path) -> list[dict]:
    """Each experiment, and each group in it, with its runs, size and heavy files' size (TensorBoard's events
    counted with their runs), the largest experiment first."""
    rows = []
    for experiment in sorted({path.relative_to(reports_dir).parts[0] for path in run_directories(reports_dir)}):
        runs = [path for path in run_directories(reports_dir) if path.relative_to(reports_dir).parts[0] == experiment]
        groups = [group for group in group_directories(reports_dir) if group.parent.name == experiment]
        size = folder_bytes(reports_dir / experiment) + sum(folder_bytes(tensorboard_dir(run)) for run in runs)
        row = {"name": experiment, "kind": "experiment", "runs": len(runs), "bytes": size, "groups": []}
        rows.append(row | {"heavy": sum(heavy_bytes(run) for run in runs)})
        for group in groups:
            members = [run for run in runs if run.parent == group]
            bytes_ = folder_bytes(group) + sum(folder_bytes(tensorboard_dir(run)) for run in members)
            kind = GroupDir(group).record().get("kind", "group")
            row["groups"].append(
                {
                    "name": group.name,
                    "kind": kind,
                    "runs": len(members),
                    "bytes": bytes_,
                    "heavy": sum(heavy_bytes(run) for run in members),
                }
            )
    return sorted(rows, key=lambda row: row["bytes"], reverse=True)


def usage_text(reports_dir: Path) -> str:
    rows = usage(reports_dir)
    if not rows:
        return "no runs yet: make experiment NAME=adam_lr"
    lines = [f"{'':<44} {'runs':>6} {'size':>10} {'of which models, checkpoints, TensorBoard':>44}"]
    for row in rows:
        lines.append(
            f"{row['name']:<44} {row['runs']:>6} {_megabytes(row['bytes']):>10} {_megabytes(row['heavy']):>44}"
        )
        for group in sorted(row["groups"], key=lambda group: group["bytes"], reverse=True):
            name = f"  {group['name']} ({group['kind']})"
            lines.append(
                f"{name:<44} {group['runs']:>6} {_megabytes(group['bytes']):>10} {_megabytes(group['heavy']):>44}"
            )
    total = sum(row["bytes"] for row in rows)
    lines.append(f"{'all':<44} {sum(row['runs'] for row in rows):>6} {_megabytes(total):>10}")
    return "\n".join(lines)


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


@dataclass(frozen=True)
class Keep:
    best: int

    @classmethod
    def parse(cls, text: str) -> Keep:
        kind, _, count = text.partition(":")
        if kind != "best" or not count.isdigit() or int(count) < 1:
            raise UserError(f"{option('keep')}={text!r}: give best:K, the K best by validation whose files stay")
        return cls(int(count))


def _validation(run_dir: Path) -> float:
    value = RunDir(run_dir).metrics().get("best_val_accuracy")
    return float(value) if value is not None else float("-inf")


def ranked_runs(reports_dir: Path, name: str) -> tuple[list[list[Path]], str]:
    """The runs of `name` (a sweep or group: by point; an experiment: each run alone) from the best by validation to
    the worst, as lists that are kept or not together; and what they are, in words."""
    target = reports_dir / name if (reports_dir / name).is_dir() and not is_group(reports_dir / name) else None
    if target is not None:  # an experiment: every run of it, its groups' members too
        runs = [path for path in run_directories(reports_dir) if path.relative_to(reports_dir).parts[0] == name]
        return [[run] for run in sorted(runs, key=_validation, reverse=True)], f"the runs of {name}"
    group_dir = find_target(reports_dir, name)
    if not is_group(group_dir):
        raise UserError(f"{name} is a single run: give its experiment, or a group or sweep, to keep the best of")
    group = GroupDir(group_dir)
    record, points = group.record(), {}
    for member in record["members"]:  # a sweep's runs go by point; a group of seeds' each alone
        run = group.member(member["run"])
        if run.is_run():
            points.setdefault(member["point"] if record["kind"] == "sweep" else member["run"], []).append(run.path)

    def mean(runs: list[Path]) -> float:
        values = [_validation(run) for run in runs]
        return sum(values) / len(values)

    return sorted(points.values(), key=mean, reverse=True), f"the points of {group_dir.name}"


def prune(reports_dir: Path, name: str, keep: Keep, confirm: bool, why: str) -> str:
    """Remove (with `confirm`, else only say) the heavy files of every run but those of the `keep.best` best."""
    ranked, what = ranked_runs(reports_dir, name)
    kept = [run for runs in ranked[: keep.best] for run in runs]
    removable = [run for runs in ranked[keep.best :] for run in runs if heavy_bytes(run)]
    freed = sum(heavy_bytes(run) for run in removable)
    head = f"{what}: the {keep.best} best by validation keep their files ({', '.join(run.name for run in kept)})"
    if not removable:
        return f"{head}; nothing else to remove"
    if not confirm:
        names = ", ".join(run.name for run in removable)
        return (
            f"{head}; would remove the models, checkpoints and TensorBoard events of {names}: {_megabytes(freed)} "
            f"(a dry run: add {option('confirm')}=1 to remove them)"
        )
    from harness.reporting.index import write_index
    from harness.reporting.report import write_run_page_again

    for run in removable:
        _remove_heavy(run, why)
        write_run_page_again(run, index=False)  # its page says its files were removed
    write_index(reports_dir)
    return (
        f"{head}; removed the models, checkpoints and TensorBoard events of {len(removable)} runs: {_megabytes(freed)}"
    )


def _remove_heavy(run_dir: Path, why: str) -> None:
    run = RunDir(run_dir)
    paths = run.heavy_paths(tensorboard_dir(run_dir))
    record = {
        "files": [path.name for path in paths],
        "bytes": sum(folder_bytes(path) for path in paths),
        "when": datetime.now().isoformat(timespec="seconds"),
        "why": why,
    }
    run.write_removed(record)  # first: a kill halfway leaves a run that says so, not one that silently lacks files
    for path in paths:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
