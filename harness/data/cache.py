"""Decoded datasets kept on disk and in memory, so a run does not decompress and verify its source again.

    python -m harness run adam_lr --set dataset.name=fashion_mnist     the first run decodes, later runs read

A cache file is an uncompressed ``.npz`` of the source's arrays, written atomically, with its SHA-256 in
a ``.sha256`` file beside it. It is read only if its bytes match that digest; a missing, truncated or
altered file is decoded from the (verified) source again, never trusted. The cache key is the source's
identity: its published digests and its files' paths, sizes and modification times, so a changed source
is decoded anew. Within a process (a worker running run after run) each dataset is read once, read-only, into the
`memory` its owner passes (harness.shortcuts.Reusables.decoded).

The files are in ``datasets/`` of the harness's cache folder (harness.caches); deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.caches import cache_dir


def cached_arrays(name: str, identity: list[str], decode: Callable[[], dict[str, np.ndarray]], memory: dict) -> dict:
    """The arrays `decode()` returns for this source identity: from `memory`, else a verified cache file,
    else decoded now and cached. The arrays are read-only, since runs in one process share them."""
    key = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:16]
    if (name, key) not in memory:
        path = cache_dir() / "datasets" / f"{name}-{key}.npz"
        arrays = _read_verified(path)
        if arrays is None:
            arrays = decode()
            _write(path, arrays)
        for array in arrays.values():
            array.flags.writeable = False
        memory[(name, key)] = arrays
    return memory[(name, key)]


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_verified(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays if the file's SHA-256 matches the one recorded when it was written, else None."""
    try:
        content = path.read_bytes()
        expected = _digest_path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    if hashlib.sha256(content).hexdigest() != expected:
        print(f"note: the dataset cache {path} is damaged; decoding the dataset again", file=sys.stderr)
        return None
    with np.load(io.BytesIO(content)) as data:  # the bytes just checked, not a second read
        return {key: data[key] for key in data.files}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache file and then its digest, each atomically; a cache that cannot be written is skipped."""
    from harness.atomic import write_text, write_with

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f"{path.name.rsplit('-', 1)[0]}-*.npz*"):
            stale.unlink(missing_ok=True)  # an earlier identity of the same source
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        content = buffer.getvalue()
        write_with(path, lambda temporary: temporary.write_bytes(content))
        write_text(_digest_path(path), f"{hashlib.sha256(content).hexdigest()}  {path.name}\n")
    except OSError as error:  # a read-only home, a full disk: run from the source, slower but correct
        print(f"note: cannot write the dataset cache {path} ({error.strerror}); continuing without it", file=sys.stderr)
