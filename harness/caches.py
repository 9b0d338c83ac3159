"""The harness's cache folder, and the compilation caches in it that TensorFlow's XLA and JAX keep across processes.

The folder is ``$KERAS_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/keras-harness``, else ``~/.cache/keras-harness``;
deleting it (or any part of it) is always safe. ``datasets/`` holds decoded datasets (harness.data.cache);
``compiled/<key>/`` the executables XLA compiled for training steps, so that a computation compiled once (the same
model, optimizer and batch shapes: the seeds of an experiment, the points of a sweep that change a rate) is loaded
instead of compiled again by later runs and later commands. The key names the libraries' versions and this
machine's CPU, so an upgrade or another machine sharing the home folder never loads an executable made for
something else; within a key, XLA and JAX key each entry by the computation itself, so a change of code makes new
entries. ``KERAS_HARNESS_COMPILE_CACHE=off`` turns the compilation caches off.
"""

from __future__ import annotations

import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = ("tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib")
JAX_MIN_COMPILE_SECONDS = "0"  # JAX keeps every compilation (its default keeps those over 1 s: few here)


def cache_dir() -> Path:
    if os.environ.get("KERAS_HARNESS_CACHE"):
        return Path(os.environ["KERAS_HARNESS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "keras-harness"


def compile_cache_dir() -> Path:
    """compiled/<key>/: the key is a digest of the libraries' versions and the CPU."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    key = hashlib.sha256("\n".join([*versions, platform.machine(), _cpu_model()]).encode()).hexdigest()[:16]
    return cache_dir() / "compiled" / key


def enable_compile_caches() -> None:
    """Point TensorFlow's XLA and JAX at the compilation cache, before either library loads (their settings are read
    once). A setting of the user's own is left as it is."""
    if os.environ.get("KERAS_HARNESS_COMPILE_CACHE", "").lower() in ("0", "off", "false", "no"):
        return
    folder = compile_cache_dir()
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "tf_xla_persistent_cache_directory" not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={folder / 'xla'}".strip()
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(folder / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", JAX_MIN_COMPILE_SECONDS)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
