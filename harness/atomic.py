"""Files written whole or not at all: a temporary file beside the target, renamed over it when complete.

A kill or a full disk in the middle of a write leaves the old file (or none), never half of a new one. Run
directories (harness.records), the dataset cache (harness.data.cache) and the benchmarks' results use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


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
    """Write a file produced by writer(temporary_path), e.g. DataFrame.to_csv or savefig, whole or not at all."""
    with atomic_path(path) as temporary:
        writer(temporary)
