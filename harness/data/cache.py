"""Decoded datasets kept in the harness's cache folder, so that a run neither decodes nor verifies its source again.

    python -m harness run adam_lr --set dataset.name=fashion_mnist     the first run decodes, later runs map the cache

An entry is a folder, ``datasets/<name>-<key>/``: one .npy file per array and ``meta.json`` (what the entry holds,
with each file's size and SHA-256). It is written whole into a temporary folder and renamed into place, and read by
mapping its files (harness.data.arrays): a later run touches only the rows it uses, and its memory does not grow
with the data. A file whose size differs from its record is refused at once; its SHA-256 is checked before the run
uses it when the entry is small, and alongside the run when it is large (`Entry.check`): either way a damaged entry
is deleted and never trusted, and a run that used one fails saying so. The key is the source's identity (its
published digests, or a folder's path and settings: harness.data.images keeps a folder's entry up to date file by
file). Within a process (a worker running run after run) an entry is read once, into the `memory` its owner passes
(harness.shortcuts.Reusables.decoded).

The folder is ``datasets/`` of the harness's cache folder (harness.caches); deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.caches import cache_dir
from harness.data.arrays import NpyWriter, map_npy
from harness.errors import UserError

FORMAT = 2  # the layout of an entry; another one is another key
META = "meta.json"
VERIFY_AT_ONCE_BYTES = 256 * 2**20  # larger entries are verified alongside the run
CHUNK_BYTES = 64 * 2**20  # what a write holds in memory at once
CHECK_DELAY_SECONDS = 3.0  # a large entry's check starts this long after the entry is read


def datasets_dir() -> Path:
    return cache_dir() / "datasets"


def entry_folder(name: str, identity: list[str]) -> Path:
    key = hashlib.sha256("\n".join([f"format {FORMAT}", *identity]).encode()).hexdigest()[:16]
    return datasets_dir() / f"{name}-{key}"


class Damaged(UserError):
    """A cache entry whose files are not what was written."""


@dataclass
class Check:
    """The SHA-256 of an entry's files, checked now or in a thread of its own; `confirm()` raises Damaged (the entry
    deleted) if they differ from its record."""

    folder: Path
    expected: dict[str, str]
    problem: str | None = None
    thread: threading.Thread | None = None

    def start(self, at_once: bool) -> Check:
        if at_once:
            self._run()
        else:  # alongside training, once it has begun: the first batch does not wait for it
            self.thread = threading.Timer(CHECK_DELAY_SECONDS, self._run)
            self.thread.daemon = True
            self.thread.start()
        return self

    def _run(self) -> None:
        for name, digest in self.expected.items():
            if file_digest(self.folder / name) != digest:
                self.problem = f"{self.folder / name} does not match its SHA-256"
                shutil.rmtree(self.folder, ignore_errors=True)
                return

    def confirm(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.problem:
            raise Damaged(f"the dataset cache was damaged ({self.problem}): it is deleted; run again to decode anew")


@dataclass
class Entry:
    folder: Path
    meta: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    check: Check | None = None


def file_digest(path: Path) -> str:
    """The file's SHA-256, read a megabyte at a time into one buffer (a check beside training adds little memory)."""
    digest, buffer = hashlib.sha256(), bytearray(2**20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as file:
        while size := file.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def read_meta(folder: Path) -> dict | None:
    """An entry's meta alone (what it holds, without mapping or checking its files); None when there is none."""
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None


def read_entry(folder: Path) -> Entry | None:
    """The entry's arrays, mapped, with its check started; None when there is none or its files are not whole (then
    it is deleted, to be written again)."""
    try:
        meta = json.loads((folder / META).read_text())
        arrays = {name: map_npy(folder / f"{name}.npy") for name in meta["arrays"]}
    except (OSError, ValueError, KeyError, TypeError):
        if folder.exists():
            print(f"note: the dataset cache {folder} is damaged; decoding the dataset again", file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)
        return None
    total = sum(array.nbytes for array in arrays.values())
    check = Check(folder, meta["digests"]).start(at_once=total <= VERIFY_AT_ONCE_BYTES)
    if check.problem:
        print(f"note: the dataset cache {folder} is damaged; decoding the dataset again", file=sys.stderr)
        return None
    return Entry(folder, meta, arrays, check)


def write_entry(
    folder: Path, arrays: dict[str, np.ndarray], meta: dict, write_more: Callable[[Path], dict] | None = None
):
    """Write an entry: `arrays` (in memory or mapped) a block at a time, and whatever `write_more(temporary folder)`
    writes there itself (it returns more of the meta), then the meta with every file's digest; renamed into place
    whole. Returns the entry as read_entry reads it; a cache that cannot be written is skipped (None)."""
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        for name, array in arrays.items():
            write_array(temporary / f"{name}.npy", array)
        meta = meta | (write_more(temporary) if write_more else {})
        names = sorted(path.stem for path in temporary.glob("*.npy"))
        digests = {f"{name}.npy": file_digest(temporary / f"{name}.npy") for name in names}
        (temporary / META).write_text(json.dumps(meta | {"arrays": names, "digests": digests}, default=str))
        replace_folder(temporary, folder)
    except OSError as error:  # a read-only home, a full disk: run from the source, slower but correct
        shutil.rmtree(temporary, ignore_errors=True)
        print(
            f"note: cannot write the dataset cache {folder} ({error.strerror}); continuing without it", file=sys.stderr
        )
        return None
    return read_entry(folder)


def write_array(path: Path, array) -> None:
    """An array (or mapped rows) as a .npy file, a block of rows at a time."""
    rows_per_block = max(1, CHUNK_BYTES // max(1, array.nbytes // max(1, len(array))))
    with NpyWriter(path, array.shape, array.dtype) as writer:
        for start in range(0, len(array), rows_per_block):
            writer.write(start, np.asarray(array[start : start + rows_per_block]))


def replace_folder(temporary: Path, folder: Path) -> None:
    """Put a folder in place of another in two renames; a process still reading the old one keeps its open files."""
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(temporary, folder)
    shutil.rmtree(old, ignore_errors=True)


def cached_arrays(name: str, identity: list[str], decode: Callable[[], dict[str, np.ndarray]], memory: dict) -> Entry:
    """The entry for this source identity: from `memory`, else mapped from the cache, else decoded now (`decode()`
    returns the arrays and "meta", a dict of plain values) and written there. Arrays are read-only."""
    folder = entry_folder(name, identity)
    if folder not in memory:
        entry = read_entry(folder)
        if entry is None:
            arrays = decode()
            meta = arrays.pop("meta", {})
            entry = write_entry(folder, arrays, meta) or Entry(folder, meta, _read_only(arrays))
        memory[folder] = entry
    return memory[folder]


def _read_only(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for array in arrays.values():
        array.flags.writeable = False
    return arrays
