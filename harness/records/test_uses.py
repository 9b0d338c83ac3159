"""Each time `make finalize` scores a configuration on a test set: reports/test-uses.json, one entry per use.

A test set tells the truth about one decision made without it. Scored again after a second search on the same data,
it has been used to choose, and its figure is an estimate no more; the harness cannot stop that, but it says so: a
finalize on a test set used before names the earlier uses, in its output and on its page.

    earlier = earlier_uses(reports_dir, identity)     # the uses of this test set before now
    record_use(reports_dir, {"data": identity, ...})
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from harness.atomic import write_json
from harness.records.run_dir import read_json

USES = "test-uses.json"


def earlier_uses(reports_dir: Path, identity: str) -> list[dict]:
    """The recorded uses of the test set whose data identity is `identity`, oldest first."""
    uses = read_json(reports_dir / USES, missing={"uses": []})["uses"]
    return [use for use in uses if use["data"] == identity]


def record_use(reports_dir: Path, use: dict) -> None:
    """Add a use; two finalizes that end at once both land (the file is locked while it is read and written)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    with _locked(reports_dir / f".{USES}.lock"):
        recorded = read_json(reports_dir / USES, missing={"uses": []})
        write_json(reports_dir / USES, {"uses": [*recorded["uses"], use]})


@contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
