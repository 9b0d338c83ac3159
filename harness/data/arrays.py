"""Arrays on disk that a process reads without holding them: .npy files mapped read-only, written a row at a time,
and the rows of one taken as a view that gathers only when asked.

    pixels = map_npy(folder / "x.npy")             # nothing read yet; pages come from the page cache as touched
    train = Rows(pixels, train_rows)               # no copy: len(train), train.shape, train[batch_rows] gathers
    release(pixels)                                 # the pages touched so far leave this process's memory

A mapped file's pages count in a process's resident memory once touched; `release` gives them back (they stay in the
kernel's page cache, so touching them again is cheap), which keeps a run's memory from growing with the data.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

RELEASE_EVERY = 8 * 2**20  # bytes of rows gathered from a mapped file between releases of the pages touched
AROUND = 2 * 2**20  # a fault maps the pages around it that the page cache holds (64 KB by default, at most 2 MB)


def map_npy(path: Path) -> np.ndarray:
    """The .npy file's array, read-only, backed by a shared mapping of the file (numpy's memmap, with its mapping
    kept reachable for `release`)."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(file)
        offset = file.tell()
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if os.fstat(file.fileno()).st_size != offset + size:
            raise ValueError(f"{path} holds {os.fstat(file.fileno()).st_size - offset} bytes of data, not {size}")
        if size == 0:
            return np.zeros(shape, dtype)
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    array = np.frombuffer(mapping, dtype=dtype, count=size // dtype.itemsize, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


def _mapping(array) -> mmap.mmap | None:
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    return base


def release(array, rows: tuple[int, int] | None = None) -> None:
    """Let the pages of a mapped array that this process touched go from its resident memory (a no-op for an array
    in memory): all of them, or those of rows [first, end) and around them."""
    mapping = _mapping(array.array if isinstance(array, Rows) else array)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    if rows is None or not array.flags.c_contiguous:
        mapping.madvise(mmap.MADV_DONTNEED)
        return
    offset = array.ctypes.data - np.frombuffer(mapping, np.uint8).ctypes.data
    start = (offset + rows[0] * array.strides[0]) // AROUND * AROUND
    end = min(len(mapping), -(-(offset + rows[1] * array.strides[0]) // AROUND) * AROUND)
    mapping.madvise(mmap.MADV_DONTNEED, start, end - start)


class Rows:
    """Some rows of an array, in a given order, without copying them: what a dataset's split is. Indexing gathers (a
    copy of just those rows); len, shape and dtype are the view's."""

    def __init__(self, array: np.ndarray, rows: np.ndarray | None = None):
        if isinstance(array, Rows):  # rows of rows: one index into the array beneath
            array, rows = array.array, array.rows if rows is None else array.rows[rows]
        self.array = array
        self.rows = np.arange(len(array)) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.array.dtype.itemsize

    def __getitem__(self, index) -> np.ndarray:
        """Rows of the view (a slice or positions), gathered (harness.data.arrays.gather)."""
        wanted = self.rows[index]
        return np.asarray(self.array[int(wanted)]) if np.ndim(wanted) == 0 else gather(self.array, wanted)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        gathered = self[:]
        return gathered if dtype is None else gathered.astype(dtype)


def gather(array, rows) -> np.ndarray:
    """array[rows], copied: read in ascending order of the rows (which a mapped file reads fastest) and returned in the
    order asked. `array` may be Rows."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(array, Rows):
        return array[rows]
    order = np.argsort(rows, kind="stable")
    gathered = np.empty((len(rows), *array.shape[1:]), array.dtype)
    mapped = _mapping(array) is not None
    row_bytes = max(1, gathered[:1].nbytes)
    step = max(1, RELEASE_EVERY // row_bytes) if mapped else max(1, len(rows))
    for start in range(0, len(rows), step):
        chosen = order[start : start + step]
        gathered[chosen] = array[rows[chosen]]
        if mapped:  # the pages read, and those the kernel mapped around them, go before they add up
            release(array, (int(rows[chosen[0]]), int(rows[chosen[-1]]) + 1))
    return gathered


class NpyWriter:
    """A .npy file of a known shape and dtype written a row (or a block of rows) at a time, in any order, through
    the file rather than a mapping: what is written goes to the page cache, not this process's memory."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype):
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        with open(path, "wb") as file:
            np.lib.format.write_array_header_1_0(file, header)
            self.offset = file.tell()
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.fd = os.open(path, os.O_WRONLY)
        os.truncate(self.fd, self.offset + self.row_bytes * self.shape[0])

    def write(self, first_row: int, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        os.pwrite(self.fd, data.tobytes(), self.offset + first_row * self.row_bytes)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, *error) -> None:
        self.close()
