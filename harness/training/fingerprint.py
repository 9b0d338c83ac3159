"""A run's fingerprint: one hash of everything that decides its result, so `make all` reruns only what changed.

    make all            skips an experiment with a finished run of the same fingerprint
    make all FORCE=1    runs every experiment again

The parts: the resolved config; the code (the harness's and the models' source files, found from the packages
themselves, and the source of the module that defines the builder, wherever it lives); the backend and the versions
of the libraries that compute; the data's identity. A builder whose source cannot be read (a function typed into an
interactive session, where Python keeps no source) cannot be fingerprinted: its runs are never skipped.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from importlib import metadata
from pathlib import Path

import models
from harness.config.schema import ExperimentConfig
from harness.data.datasets import data_identity
from harness.records import RunDir, run_directories
from harness.surface import warn

# The packages' own folders, wherever they are installed or checked out (this file is harness/training/fingerprint.py).
PACKAGES = {"harness": Path(__file__).resolve().parents[1], "models": Path(models.__file__).resolve().parent}
SOURCE_SUFFIXES = (".py", ".html", ".js")
# The libraries whose versions can change a result: the backends, the numerics, the data's decoding and encoding.
LIBRARIES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "numpy", "scikit-learn", "pandas", "pillow")
NOT_FINGERPRINTED = "not fingerprinted"  # the code part of a run whose builder's source cannot be read


def package_files() -> list[tuple[str, Path]]:
    """Every source file of the harness and models packages, as (name within its package, path), in order."""
    files = []
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                files.append((f"{package}/{path.relative_to(folder).as_posix()}", path))
    return files


def packages_version() -> str:
    digest = hashlib.sha256()
    for name, path in package_files():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def builder_source(builder: str) -> str | None:
    """The SHA-256 of the source that defines the builder: its module's file, or (a module with no file of its own,
    such as a notebook's __main__) the function's own source; None when Python cannot find either."""
    from models.registry import UnknownModel, find_builder

    try:
        function, _ = find_builder(builder)
    except UnknownModel:
        return None
    module = inspect.getmodule(function)
    path = getattr(module, "__file__", None) if module is not None and module.__name__ != "__main__" else None
    try:
        text = Path(path).read_bytes() if path and path.endswith(".py") else inspect.getsource(function).encode()
    except (OSError, TypeError):
        return None
    return hashlib.sha256(text).hexdigest()


def backend() -> str:
    """The backend Keras will use, by Keras's own rule (KERAS_BACKEND, else keras.json, else tensorflow), read without
    importing Keras, which would import the backend."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def libraries() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def code_version(config: ExperimentConfig) -> str:
    """The hash of the packages' sources and the builder's; NOT_FINGERPRINTED when the builder's cannot be read."""
    builder = builder_source(config.model.builder)
    if builder is None:
        return NOT_FINGERPRINTED
    return hashlib.sha256(f"{packages_version()} {builder}".encode()).hexdigest()


def fingerprint(config: ExperimentConfig) -> dict:
    """The parts and their hash; the description is left out, since rewording it changes no result."""
    settings = {key: value for key, value in config.to_dict().items() if key != "description"}
    parts = {
        "config": settings,
        "code": code_version(config),
        "backend": backend(),
        "libraries": libraries(),
        "data": data_identity(config.dataset),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return {"fingerprint": hashlib.sha256(text.encode()).hexdigest()} | parts


def finished_run_like(config: ExperimentConfig, reports_dir: Path) -> Path | None:
    """A finished run of this experiment with the same fingerprint, if there is one; never for a builder whose source
    cannot be read (said in one line)."""
    parts = fingerprint(config)
    if parts["code"] == NOT_FINGERPRINTED:
        warn(
            f"{config.name}: the source of the builder {config.model.builder!r} cannot be read, so its runs cannot be "
            "fingerprinted: it runs again (define the builder in a file to let make all skip it)"
        )
        return None
    wanted = parts["fingerprint"]
    for run_dir in reversed(run_directories(reports_dir)):
        if run_dir.relative_to(reports_dir).parts[0] != config.name:
            continue
        run = RunDir(run_dir)
        if run.fingerprint() == wanted and run.status()["status"] == "finished":
            return run_dir
    return None
