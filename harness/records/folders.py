"""Where runs and groups live under a reports folder: new directories, the `latest` link, finding one by name.

reports/<NAME>/<run-id>/            a run            reports/<NAME>/latest -> the newest run or group
reports/<NAME>/seeds-<id>/<run>/    a group's member reports/tensorboard/<NAME>/<run-id>/  its TensorBoard logs
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from harness.errors import UserError
from harness.records.group_dir import GroupDir, is_group
from harness.records.run_dir import RunDir

TENSORBOARD = "tensorboard"
LATEST = "latest"
NOT_RUNS = {"bench", "compare", "logs", TENSORBOARD}  # folders under reports/ that hold no experiment runs


def new_run_dir(reports_dir: Path, experiment: str, prefix: str = "") -> Path:
    """A fresh directory named by time and a random suffix, so concurrent runs never share one.

    Groups of runs take the same kind of name with a prefix: ``seeds-<time>-<suffix>``, ``sweep-...``.
    """
    parent = reports_dir / experiment
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            run_dir = parent / f"{prefix}{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
    except OSError as error:
        raise UserError(f"cannot create a run directory under {parent}: {error.strerror}; check REPORTS") from None
    raise RuntimeError(f"could not find a free run directory name under {parent}")


def create_member_dir(run_dir: Path) -> None:
    """A group's member run directory, named by the group; it must not exist yet."""
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise UserError(f"{run_dir} already exists; a run never reuses a directory") from None
    except OSError as error:
        raise UserError(f"cannot create {run_dir}: {error.strerror}; its group folder must exist") from None


def point_latest(run_dir: Path) -> None:
    """Make ``<experiment>/latest`` point at run_dir, replacing the old link in one step."""
    link = run_dir.parent / LATEST
    temporary = run_dir.parent / f".latest-{secrets.token_hex(4)}"
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, link)


def reports_root(run_dir: Path) -> Path:
    """The reports folder of a run: two levels up, or three for a member of a group."""
    return run_dir.parent.parent.parent if is_group(run_dir.parent) else run_dir.parent.parent


def tensorboard_dir(run_dir: Path) -> Path:
    """reports/tensorboard/<experiment>/<run>[/<member>]: outside the run directory, because TensorBoard
    follows the `latest` link and would show every latest run twice."""
    root = reports_root(run_dir)
    return root / TENSORBOARD / run_dir.relative_to(root)


def _subfolders(path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as entries:
            return [entry for entry in entries if entry.is_dir(follow_symlinks=False)]  # never through `latest`
    except OSError:
        return []


def run_folders(reports_dir: Path) -> tuple[list[str], list[str]]:
    """Where runs and groups can be, found by listing folders only (fast at thousands of runs): the folders
    reports/<experiment>/<run>/ and groups' members, and the groups. A run folder holds a run if it has a
    config; checking that is the caller's."""
    runs, groups = [], []
    for experiment in _subfolders(reports_dir):
        if experiment.name in NOT_RUNS or experiment.name.startswith("."):
            continue
        for folder in _subfolders(experiment.path):
            if os.path.isfile(os.path.join(folder.path, GroupDir.RECORD)):
                groups.append(folder.path)
                runs.extend(member.path for member in _subfolders(folder.path))
            else:
                runs.append(folder.path)
    return runs, groups


def run_directories(reports_dir: Path) -> list[Path]:
    """Every run directory (one with a config): reports/<experiment>/<run>/ and the groups' members."""
    runs, _ = run_folders(reports_dir)
    return sorted(Path(run) for run in runs if RunDir(run).is_run())


def group_directories(reports_dir: Path) -> list[Path]:
    """Every group (seeds or sweep) under reports/<experiment>/."""
    return sorted(Path(group) for group in run_folders(reports_dir)[1])


def find_run(reports_dir: Path, experiment: str, run: str) -> Path:
    """A run named by 'latest', its run id, or its path."""
    for candidate in (reports_dir / experiment / run, Path(run)):
        if RunDir(candidate).is_run():
            return candidate.resolve()
    runs = [path.name for path in run_directories(reports_dir) if path.parent.name == experiment]
    known = ", ".join(runs[-5:]) if runs else "none yet"
    raise UserError(f"no run {run!r} of {experiment} under {reports_dir}; recent runs: {known} (or use latest)")


def find_target(reports_dir: Path, name: str) -> Path:
    """An experiment's latest run or group, a run or group id anywhere under reports/, or a directory's path."""
    for candidate in (reports_dir / name / LATEST, Path(name)):
        if RunDir(candidate).is_run() or is_group(candidate):
            return candidate.resolve()
    matches = [path for path in run_directories(reports_dir) + group_directories(reports_dir) if path.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listing = ", ".join(str(path.relative_to(reports_dir)) for path in matches[:4])
        raise UserError(f"{name!r} names {len(matches)} runs ({listing}); give the run's path instead")
    known = ", ".join(sorted(path.parent.name for path in reports_dir.glob(f"*/{LATEST}"))) or "none yet"
    raise UserError(
        f"no run named {name!r} under {reports_dir}: give an experiment with runs ({known}), a run id or a path"
    )
