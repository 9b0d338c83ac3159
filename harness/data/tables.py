"""A table of your own, CSV or Parquet: read a block at a time through pyarrow, encoded once per (file content,
settings) into the cache, read back mapped.

    dataset: {name: table, path: data/churn.csv, target: churned, test_fraction: 0.2}     (or test_path: ...)

Two cache entries (harness.data.cache): a file's columns (numbers as float64, text as codes of its values, the
target), written the first time the file is read and again only when its size or modification time change; and its
encoded examples for one set of settings (target, test set, split): numbers standardised, text one-hot encoded, each
column fitted on the training rows only with scikit-learn (SimpleImputer, StandardScaler, OneHotEncoder), a column at
a time, and the rows transformed a block at a time. The imputer is fitted only for columns that have a missing
value somewhere in the data (median for numbers, the most frequent value for text); elsewhere it would change
nothing. Rows without a value in the target column are left out and counted. Memory holds a block of rows, a
column of the training rows, and the labels, whatever the table's length.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.arrays import NpyWriter, release
from harness.data.cache import Entry, entry_folder, read_entry, write_entry
from harness.errors import UserError, did_you_mean

MAX_CATEGORIES = 50  # distinct values a text column may have to be one-hot encoded
BLOCK_ROWS = 1 << 18  # rows transformed at a time
READ_BLOCK_BYTES = 2 << 20  # CSV bytes pyarrow parses at a time (it reads many ahead: 16 MB held a gigabyte)


@dataclass
class Columns:
    """A table file's columns as the cache holds them: `values[name]` are numbers (float64, NaN where missing) or, for a
    text column, codes into `categories[name]` (-1 where missing). Row i is line i + 2 of a CSV (its header is line
    1), row i + 1 of a Parquet file."""

    path: Path
    names: list[str]
    values: dict[str, np.ndarray]
    categories: dict[str, list[str]]
    entry: Entry

    @property
    def rows(self) -> int:
        return len(next(iter(self.values.values())))

    @property
    def numbering(self) -> tuple[str, int]:
        """What a row's number is called in the file, and the first row's number."""
        return ("line", 2) if self.path.suffix.lower() not in (".parquet", ".pq") else ("row", 1)

    def is_text(self, name: str) -> bool:
        return name in self.categories

    def text_values(self, name: str, rows) -> np.ndarray:
        """A text column's values for `rows`, as an object array (NaN where missing)."""
        lookup = np.array([*self.categories[name], np.nan], dtype=object)  # code -1: the last, missing
        return lookup[self.values[name][rows]]


def read_columns(path: Path, memory: dict) -> Columns:
    """The file's columns, from `memory`, the cache (while the file's size and modification time are the same), or
    read now."""
    stat = path.stat()
    folder = entry_folder("table-columns", [str(path.resolve())])
    entry = memory.get(folder) or read_entry(folder)
    if entry is None or entry.meta.get("stamp") != [stat.st_size, stat.st_mtime_ns]:
        stamp = {"stamp": [stat.st_size, stat.st_mtime_ns], "file": str(path.resolve())}
        entry = write_entry(folder, {}, stamp, lambda into: _write_columns(path, into))
        if entry is None:
            raise UserError(f"cannot write the columns of {path} into {folder}: free disk space there")
    memory[folder] = entry
    names = entry.meta["names"]
    values = {name: entry.arrays[f"c{index}"] for index, name in enumerate(names)}
    return Columns(path, names, values, entry.meta["categories"], entry)


def _batches(path: Path):
    """The file's rows as pyarrow record batches: a CSV parsed a block at a time (the types its first block shows,
    numbers read as float64 and text as dictionaries), a Parquet file a row group at a time."""
    import pyarrow as pa

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=BLOCK_ROWS)
            return
        import pyarrow.csv as pcsv

        read = pcsv.ReadOptions(block_size=READ_BLOCK_BYTES)
        with pcsv.open_csv(path, read_options=read) as probe:
            schema = probe.schema
        types = {field.name: _stream_type(field.type) for field in schema}
        convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        yield from pcsv.open_csv(path, read_options=read, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise UserError(f"{path} cannot be read as a table ({str(error).splitlines()[0]})") from None


def _stream_type(kind):
    import pyarrow as pa

    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        return pa.float64()
    return pa.dictionary(pa.int32(), pa.string())


def _write_columns(path: Path, into: Path) -> dict:
    """Each column of the file as a .npy file in the folder `into`, read a block at a time; returns the meta."""
    raw, names, categories, count = {}, None, {}, 0
    for batch in _batches(path):
        names = names or list(batch.schema.names)
        for index, name in enumerate(names):
            values = _numbers_or_codes(batch.column(index), name, categories, path)
            raw.setdefault(index, open(into / f"c{index}.bin", "wb")).write(values.tobytes())  # noqa: SIM115
        count += batch.num_rows
    for file in raw.values():
        file.close()
    if not names or not count:
        raise UserError(f"{path} has no rows: a table needs a header and rows of examples")
    for index, name in enumerate(names):
        dtype = np.int32 if name in categories else np.float64
        _npy_from_raw(into / f"c{index}.bin", into / f"c{index}.npy", count, dtype)
    return {"names": names, "categories": {name: list(values) for name, values in categories.items()}}


def _numbers_or_codes(column, name: str, categories: dict, path: Path) -> np.ndarray:
    """A block of a column: numbers as float64 (NaN where missing), or text as codes into the column's values so far
    (-1 where missing), its new values added in the order met."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        if name in categories:
            raise UserError(f"column {name!r} of {path} holds text and numbers: give it one kind of value")
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = column.cast(pa.string()).dictionary_encode()
    elif not pa.types.is_dictionary(kind):
        raise UserError(f"column {name!r} of {path} holds {kind} values, neither numbers nor text")
    known = categories.setdefault(name, {})
    chunks = column.chunks if hasattr(column, "chunks") else [column]
    codes = []
    for chunk in chunks:
        block = [known.setdefault(value, len(known)) for value in chunk.dictionary.to_pylist()]
        if len(known) > MAX_CATEGORIES:
            raise UserError(
                f"column {name!r} of {path} is text with more than {MAX_CATEGORIES} distinct values: too many to "
                "one-hot encode; drop it from the table, or turn it into numbers"
            )
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        mapped = np.asarray(block, dtype=np.int32)[np.where(chunk.indices.is_null(), 0, indices).astype(np.int64)]
        codes.append(np.where(chunk.indices.is_null().to_numpy(zero_copy_only=False), -1, mapped).astype(np.int32))
    return np.concatenate(codes) if codes else np.zeros(0, np.int32)


def _npy_from_raw(raw: Path, target: Path, count: int, dtype) -> None:
    """A .npy file made from a file of raw values: its header, then the values copied a block at a time."""
    with NpyWriter(target, (count,), dtype) as writer, open(raw, "rb") as source:
        os.lseek(writer.fd, writer.offset, os.SEEK_SET)
        while block := source.read(READ_BLOCK_BYTES):
            os.write(writer.fd, block)
    raw.unlink()


def check_target(columns: Columns, target: str) -> None:
    if target not in columns.names:
        raise UserError(
            f"dataset.target: {columns.path} has no column {target!r}{did_you_mean(target, columns.names)}; "
            f"its columns: {', '.join(map(str, columns.names))}"
        )


def labelled_rows(columns: Columns, target: str) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows that have a value in the target column, their target values (text, or numbers), and how many rows
    had none (said in one line)."""
    values = columns.values[target]
    missing = values < 0 if columns.is_text(target) else np.isnan(values)
    rows = np.flatnonzero(~missing)
    if missing.any():
        word, first = columns.numbering
        where = ", ".join(str(row + first) for row in np.flatnonzero(missing)[:5]) + (
            ", ..." if missing.sum() > 5 else ""
        )
        print(
            f"warning: {int(missing.sum()):,} rows of {columns.path.name} have no value in the target column "
            f"{target!r} ({word}s {where}): left out",
            file=sys.stderr,
            flush=True,
        )
    kept = values[rows]
    if columns.is_text(target):
        kept = np.asarray(columns.categories[target], dtype=object)[kept]
    elif np.all(kept == np.round(kept)):
        kept = kept.astype(np.int64)  # whole numbers name their classes as whole numbers
    return rows, kept, int(missing.sum())


@dataclass
class Encoder:
    """One column's fitted scikit-learn steps and the features it makes."""

    name: str
    steps: object
    features: list[str]
    text: bool


def fit_encoders(columns: Columns, features: list[str], train_rows: np.ndarray, with_missing: set[str]) -> list:
    """Each feature column's encoder, fitted on its training rows alone: numbers standardised (their median filled in
    first, where the data has a missing value), text one-hot encoded (its most frequent value filled in first, where
    missing); numbers first, then text, each in the file's order."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encoders = []
    for text in (False, True):
        for name in [name for name in features if columns.is_text(name) == text]:
            fill = [SimpleImputer(strategy="most_frequent" if text else "median")] if name in with_missing else []
            last = OneHotEncoder(handle_unknown="ignore", sparse_output=False) if text else StandardScaler()
            steps = make_pipeline(*fill, last).fit(_column(columns, name, train_rows))
            release(columns.values[name])  # the column's mapped pages: not this process's memory once fitted
            made = list(last.get_feature_names_out([name])) if text else [name]
            encoders.append(Encoder(name, steps, made, text))
    return encoders


def _column(columns: Columns, name: str, rows) -> np.ndarray:
    """A column's values for `rows`, as one-column input for scikit-learn."""
    values = columns.text_values(name, rows) if columns.is_text(name) else columns.values[name][rows]
    return values.reshape(-1, 1)


def encoders_features(encoders: list[Encoder]) -> list[str]:
    """The encoded columns' names, in order."""
    return [feature for encoder in encoders for feature in encoder.features]


def encoded_rows(columns: Columns, encoders: list[Encoder], rows: np.ndarray) -> np.ndarray:
    """The rows (in this order) encoded as float32 features."""
    parts = []
    for encoder in encoders:
        parts.append(encoder.steps.transform(_column(columns, encoder.name, rows)))
        release(columns.values[encoder.name])
    return np.hstack(parts).astype(np.float32) if parts else np.zeros((len(rows), 0), np.float32)


def write_encoded(path: Path, columns: Columns, encoders: list[Encoder], rows: np.ndarray) -> None:
    """The rows (in this order) encoded as float32 features, into a .npy file, a block of rows at a time."""
    with NpyWriter(path, (len(rows), len(encoders_features(encoders))), np.float32) as writer:
        for start in range(0, len(rows), BLOCK_ROWS):
            writer.write(start, encoded_rows(columns, encoders, rows[start : start + BLOCK_ROWS]))


def columns_with_missing(tables: list[Columns], features: list[str]) -> set[str]:
    """The feature columns with a missing value in any of the tables (the training file and a test file)."""
    found = set()
    for columns in tables:
        for name in features:
            values = columns.values[name]
            if (values < 0).any() if columns.is_text(name) else np.isnan(values).any():
                found.add(name)
            release(values)
    return found


def raw_rows(columns: Columns, features: list[str], rows: np.ndarray):
    """Rows as the file has them (numbers, text), indexed by their number in the file: the report's mistakes."""
    import pandas as pd

    word, first = columns.numbering
    data = {
        name: columns.text_values(name, rows) if columns.is_text(name) else columns.values[name][rows]
        for name in features
    }
    return pd.DataFrame(data, index=pd.Index(np.asarray(rows) + first, name=word))


def forget(entry: Entry) -> None:
    shutil.rmtree(entry.folder, ignore_errors=True)
