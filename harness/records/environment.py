"""What produced a run, for its env.json: versions, hardware, the code's git commit and the command line."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from harness.masking import masked


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
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


def environment(seed: int, command: list[str] | None = None) -> dict:
    """What produced the run: versions, hardware, code version and command line (this process's by default)."""
    import keras
    import numpy

    backend = keras.backend.backend()
    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": numpy.__version__}
    backend_versions, devices = _backend_versions_and_devices(backend)
    status = _git("status", "--porcelain")
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
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
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
