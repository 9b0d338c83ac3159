"""A run's fingerprint: one hash of its resolved config, the code and the data, so `make all` reruns
only what changed.

    make all            skips an experiment with a finished run of the same fingerprint
    make all FORCE=1    runs every experiment again

The code version hashes the harness's own source files and requirements.txt (the pinned libraries)
rather than the git commit, so an uncommitted edit counts as a change and a checkout without git works.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness.config.schema import ExperimentConfig
from harness.data.datasets import data_identity
from harness.records import RunDir, run_directories

ROOT = Path(__file__).resolve().parent.parent
CODE = ("harness/**/*.py", "harness/reporting/templates/*", "models/**/*.py", "requirements*.txt")


def code_version() -> str:
    digest = hashlib.sha256()
    for path in sorted({path for pattern in CODE for path in ROOT.glob(pattern) if path.is_file()}):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(config: ExperimentConfig) -> dict:
    """The parts and their hash; the description is left out, since rewording it changes no result."""
    settings = {key: value for key, value in config.to_dict().items() if key != "description"}
    parts = {"config": settings, "code": code_version(), "data": data_identity(config.dataset)}
    text = json.dumps(parts, sort_keys=True, default=str)
    return {"fingerprint": hashlib.sha256(text.encode()).hexdigest()} | parts


def finished_run_like(config: ExperimentConfig, reports_dir: Path) -> Path | None:
    """A finished run of this experiment with the same fingerprint, if there is one."""
    wanted = fingerprint(config)["fingerprint"]
    for run_dir in reversed(run_directories(reports_dir)):
        if run_dir.relative_to(reports_dir).parts[0] != config.name:
            continue
        run = RunDir(run_dir)
        if run.fingerprint() == wanted and run.status()["status"] == "finished":
            return run_dir
    return None
