"""Run directories: ``reports/<NAME>/<run-id>/``, the ``latest`` link, atomic file writes, env.json."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import yaml

from harness.config.schema import ExperimentConfig
from harness.errors import UserError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


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
    link = run_dir.parent / "latest"
    temporary = run_dir.parent / f".latest-{secrets.token_hex(4)}"
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, link)


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    # The full suffix (".weights.h5", ".keras"): Keras picks the format by it.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix="".join(path.suffixes))
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes files private; reports are ordinary files
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    """Atomically write a file produced by writer(temporary_path), e.g. DataFrame.to_csv or savefig."""
    with atomic_path(path) as temporary:
        writer(temporary)


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def environment(seed: int, command: list[str] | None = None) -> dict:
    """What produced the run: versions, hardware, code version and command line (this process's by default)."""
    import keras
    import numpy

    backend = keras.backend.backend()
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": numpy.__version__}
    devices = []
    if backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        devices = [device.name for device in tf.config.list_logical_devices()]
    elif backend == "jax":
        import jax

        versions["jax"] = jax.__version__
        devices = [str(device) for device in jax.devices()]
    status = _git("status", "--porcelain")
    gpus = [device for device in devices if "GPU" in device.upper() or "CUDA" in device.upper()]
    return {
        "versions": versions,
        "backend": backend,
        "devices": devices,
        "gpu": bool(gpus),
        "training_device": gpus[0] if gpus else "CPU",  # Keras places a model on the first GPU, if any
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "seed": seed,
        "threads": int(os.environ["TF_NUM_INTRAOP_THREADS"]) if "TF_NUM_INTRAOP_THREADS" in os.environ else None,
        "command": command or process_command(),
    }


def process_command() -> list[str]:
    """This process's command line, as one would type it again (a password in a database URL masked)."""
    return [Path(sys.executable).name, "-m", "harness", *(masked(argument) for argument in sys.argv[1:])]


# A run's life: running -> finished | failed | diverged | interrupted. Anything but finished has a reason.
STATUSES = ("running", "finished", "failed", "diverged", "interrupted", "pruned")
# A command's exit, by its run's end; a pruned run did what its sweep asked of it.
EXIT_CODES = {"finished": 0, "pruned": 0, "failed": 1, "diverged": 3, "interrupted": 130}


def write_status(run_dir: Path, status: str, reason: str | None = None, **details) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    record = {"status": status, "reason": reason, "pid": os.getpid(), "host": platform.node()}
    write_json(run_dir / "status.json", record | {"updated": datetime.now().isoformat(timespec="seconds")} | details)


def mark_interrupted(run_dir: Path, reason: str) -> None:
    """What a run's own process would have written had it lived: the status, and metrics.json saying so."""
    history = run_dir / "history.csv"
    epochs = max(len(history.read_text().splitlines()) - 1, 0) if history.is_file() else 0
    write_json(run_dir / "metrics.json", {"status": "interrupted", "reason": reason, "epochs_run": epochs})
    write_status(run_dir, "interrupted", reason)


def read_json(path: Path, missing: dict | None = None) -> dict:
    """A JSON file of a run or group: `missing` when there is none (an error when not given); a damaged
    one (cut short by a kill or a full disk, or edited by hand) is a UserError that names it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if missing is None:
            raise UserError(f"{path} is missing: rerun that run, or delete its directory") from None
        return missing
    try:
        return json.loads(text)
    except ValueError as error:
        raise UserError(f"{path} is damaged ({error}): rerun that run, or delete its directory") from None


def read_table(path: Path):
    """A run's CSV file as a DataFrame; an empty one when the file is missing or empty (a run that stopped
    before its first epoch)."""
    import pandas as pd  # not at start-up: most commands never read a table

    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def write_config(run_dir: Path, config: ExperimentConfig) -> None:
    """The resolved config a run is made with, as config.yaml (read back by read_config)."""
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))


def read_config(run_dir: Path) -> ExperimentConfig:
    """The resolved config a run was made with (its config.yaml)."""
    path = run_dir / "config.yaml"
    try:
        return ExperimentConfig.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"{path} is missing: {run_dir} is not a run directory") from None
    except (yaml.YAMLError, ValueError) as error:
        reason = str(error).splitlines()[0]
        raise UserError(f"{path} is damaged ({reason}): rerun that run, or delete its directory") from None


def read_status(run_dir: Path) -> dict:
    """The run's status; a 'running' run whose process is gone is reported as interrupted."""
    try:
        record = json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {"status": "incomplete", "reason": "status.json is missing or unreadable"}
    if record.get("status") == "running" and record.get("host") == platform.node() and not _alive(record.get("pid")):
        return record | {"status": "interrupted", "reason": "the process stopped without a word (killed?)"}
    return record


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


TENSORBOARD = "tensorboard"
NOT_RUNS = {"bench", "compare", "logs", TENSORBOARD}  # folders under reports/ that hold no experiment runs
GROUP_FILE = "group.json"  # marks reports/<experiment>/<group-id>/, whose runs are its subfolders
STUDY_FILE = "study.journal"  # a group's Optuna study, when it is kept in the group's folder


def open_storage(spec: str):
    """A group's Optuna storage: a database URL (postgresql://...), or the path of a file journal."""
    import optuna

    # Optuna marks the heartbeat and its retry callback experimental, and warns that heartbeats are meant for
    # Study.optimize: the harness records them itself, for the trials it asked for (harness.groups.groups).
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    if "://" in spec:
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        return optuna.storages.RDBStorage(
            spec,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=3 * HEARTBEAT_SECONDS,
            heartbeat_stale_trial_callback=retry,
        )
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(spec))


# A trial in a database whose machine has been silent for three of these is taken up again by another.
HEARTBEAT_SECONDS = int(os.environ.get("HARNESS_HEARTBEAT_SECONDS", "10"))


def masked(url: str) -> str:
    """A URL as it may be shown or recorded: its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)


def is_group(path: Path) -> bool:
    return (path / GROUP_FILE).is_file()


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
    config.yaml; checking that is the caller's."""
    runs, groups = [], []
    for experiment in _subfolders(reports_dir):
        if experiment.name in NOT_RUNS or experiment.name.startswith("."):
            continue
        for folder in _subfolders(experiment.path):
            if os.path.isfile(os.path.join(folder.path, GROUP_FILE)):
                groups.append(folder.path)
                runs.extend(member.path for member in _subfolders(folder.path))
            else:
                runs.append(folder.path)
    return runs, groups


def run_directories(reports_dir: Path) -> list[Path]:
    """Every run directory (one with a config.yaml): reports/<experiment>/<run>/ and the groups' members."""
    runs, _ = run_folders(reports_dir)
    return sorted(Path(run) for run in runs if os.path.isfile(os.path.join(run, "config.yaml")))


def group_directories(reports_dir: Path) -> list[Path]:
    """Every group (seeds or sweep) under reports/<experiment>/."""
    return sorted(Path(group) for group in run_folders(reports_dir)[1])


def find_run(reports_dir: Path, experiment: str, run: str) -> Path:
    """A run named by 'latest', its run id, or its path."""
    candidates = [reports_dir / experiment / run, Path(run)]
    for candidate in candidates:
        if (candidate / "config.yaml").is_file():
            return candidate.resolve()
    runs = [path.name for path in run_directories(reports_dir) if path.parent.name == experiment]
    known = ", ".join(runs[-5:]) if runs else "none yet"
    raise UserError(f"no run {run!r} of {experiment} under {reports_dir}; recent runs: {known} (or use latest)")


def read_member(group_dir: Path, member: dict) -> dict:
    """A member's record with its status and metrics; a run that never started reads as failed."""
    run_dir = group_dir / member["run"]
    metrics = read_json(run_dir / "metrics.json", missing={})
    if run_dir.is_dir():
        status = read_status(run_dir)
        state, reason = status["status"], status.get("reason")
    else:
        state, reason = "failed", f"the run did not start (exit {member.get('exit_code')}); see its log"
    return member | {"status": state, "reason": reason, "metrics": metrics,
                     "report": (run_dir / "report.html").is_file()}  # fmt: skip


def read_group(group_dir: Path) -> tuple[dict, list[dict]]:
    """The group's record (group.json) and each member as read_member reads it."""
    record = read_json(group_dir / GROUP_FILE)
    return record, [read_member(group_dir, member) for member in record["members"]]


def find_target(reports_dir: Path, name: str) -> Path:
    """An experiment's latest run or group, a run or group id anywhere under reports/, or a directory's path."""
    for candidate in (reports_dir / name / "latest", Path(name)):
        if (candidate / "config.yaml").is_file() or is_group(candidate):
            return candidate.resolve()
    matches = [path for path in run_directories(reports_dir) + group_directories(reports_dir) if path.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listing = ", ".join(str(path.relative_to(reports_dir)) for path in matches[:4])
        raise UserError(f"{name!r} names {len(matches)} runs ({listing}); give the run's path instead")
    known = ", ".join(sorted(path.parent.name for path in reports_dir.glob("*/latest"))) or "none yet"
    raise UserError(
        f"no run named {name!r} under {reports_dir}: give an experiment with runs ({known}), a run id or a path"
    )
