"""What produced a run, for its env.json: versions, hardware, the harness's version and commit, the experiments
folder's commit, and the command line."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from harness.masking import masked

# The checkout the harness runs from (this file is harness/records/environment.py), whatever the current directory.
CHECKOUT = Path(__file__).resolve().parents[2]
CODE_PATHS = ("harness", "models", "pyproject.toml", "requirements.txt", "requirements-cpu.txt", "requirements-gpu.txt")


def _git(folder: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _backend_versions_and_devices(backend: str) -> tuple[dict, list[str]]:
    if backend == "tensorflow":
        import tensorflow as tf

        return {"tensorflow": tf.__version__}, [device.name for device in tf.config.list_logical_devices()]
    if backend == "jax":
        import jax

        return {"jax": jax.__version__}, [str(device) for device in jax.devices()]
    return {}, []


def _commit(folder: Path, paths: tuple[str, ...] = (".",)) -> tuple[str | None, bool | None]:
    """The commit of the git repository that holds `folder`, and whether `paths` in it differ from that commit;
    (None, None) outside a repository."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(folder, "status", "--porcelain", "--", *paths)
    return commit, None if status is None else bool(status)


def _harness_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("keras-experiment-harness")
    except metadata.PackageNotFoundError:
        return None


def environment(seed: int, command: list[str] | None = None, experiments_dir: Path | None = None) -> dict:
    """What produced the run: versions, hardware, the harness's version and commit (its checkout's, and whether its
    code differs from it), the experiments folder's commit, and the command line (this process's by default)."""
    import keras
    import numpy

    backend = keras.backend.backend()
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": numpy.__version__}
    backend_versions, devices = _backend_versions_and_devices(backend)
    commit, dirty = _commit(CHECKOUT, CODE_PATHS)
    experiments = _commit(experiments_dir) if experiments_dir is not None and experiments_dir.is_dir() else (None, None)
    gpus = [device for device in devices if "GPU" in device.upper() or "CUDA" in device.upper()]
    return {
        "versions": versions | backend_versions,
        "backend": backend,
        "devices": devices,
        "gpu": bool(gpus),
        "training_device": gpus[0] if gpus else "CPU",  # Keras places a model on the first GPU, if any
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_cores": _physical_cores(),
        "memory_gb": _memory_gb(),
        "harness_version": _harness_version(),
        "git_commit": commit,  # the harness's checkout
        "git_dirty": dirty,  # its code (harness/, models/, the requirements) differs from that commit
        "experiments_dir": str(experiments_dir.resolve()) if experiments_dir is not None else None,
        "experiments_commit": experiments[0],
        "experiments_dirty": experiments[1],
        "seed": seed,
        "threads": int(os.environ["TF_NUM_INTRAOP_THREADS"]) if "TF_NUM_INTRAOP_THREADS" in os.environ else None,
        "command": command or process_command(),
    }


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it (else what Python's platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _physical_cores() -> int | None:
    import psutil

    return psutil.cpu_count(logical=False)


def _memory_gb() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)


def process_command() -> list[str]:
    """This process's command line, as one would type it again (a password in a database URL masked)."""
    return [Path(sys.executable).name, "-m", "harness", *(masked(argument) for argument in sys.argv[1:])]
