"""Datasets split into train / validation / test, as a model is given them: images as uint8 pixels of shape (height,
width, channels) with the value that means white (`scale`: the model's steps divide by it, a batch at a time), tables
as standardised and one-hot encoded numbers; integer labels.

    python -m harness run adam --dataset digits

Validation is a stratified split of the training set; the test set is only used for the final evaluation. Where each
dataset comes from is its entry in harness.data.sources.DATASETS. A source is decoded once into the harness's cache
(harness.data.cache) and mapped from there: a split is the rows of the decoded arrays it holds (harness.data.arrays
.Rows), gathered a batch or an epoch at a time by the training's input (harness.training.inputs), so no copy of the
data, and no float32 one, is ever made whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from harness.data.arrays import Rows
from harness.data.cache import cached_arrays, entry_folder, read_entry, write_entry
from harness.data.examples import Examples
from harness.data.sources import DATASETS
from harness.data.tables import (
    Columns,
    check_target,
    columns_with_missing,
    encoded_rows,
    encoders_features,
    fit_encoders,
    labelled_rows,
    raw_rows,
    write_encoded,
)
from harness.errors import UserError
from harness.shortcuts import Reusables

# What the cache holds of a source: its examples, class names and brightest pixel (a change of it is a new key).
CACHE_FORMAT = "examples, class_names, brightest"
# Validation examples taken from the training set when the experiment does not say.
DEFAULT_VAL_SIZE_LARGE = 5000


class DatasetSettings(Protocol):
    """What an experiment says about its data (harness.config.schema.DatasetConfig)."""

    name: str
    train_size: int | None
    val_size: int | None
    split_seed: int
    folds: int | None
    fold: int | None


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: object  # Rows of the decoded arrays, or an array: len, shape, dtype, and indexing that gathers
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    x_test: object
    y_test: np.ndarray
    class_names: tuple[str, ...]
    kind: str = "images"  # images (height, width, channels), or table (features)
    features: tuple[str, ...] = ()  # a table's encoded columns
    left_out: dict = field(default_factory=dict)  # what the source left out and why, with counts
    scale: float | None = None  # images: the pixel value that means white (255, 16); tables: None
    checks: tuple = ()  # the cache checks a run confirms before its results count (harness.data.cache.Check)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def input_dim(self) -> int:
        """The number of inputs once flattened."""
        return int(np.prod(self.input_shape))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train_bytes(self) -> int:
        """The training examples' size as the source holds them (uint8 pixels, float32 features)."""
        return int(np.prod(self.x_train.shape, dtype=np.int64)) * np.dtype(self.x_train.dtype).itemsize

    def floats(self, x) -> np.ndarray:
        """Examples as a model computes with them, in memory: pixels scaled to [0, 1] in float32, features as they
        are. For small data (the NumPy network, the gradient check): training scales a batch at a time instead."""
        x = np.asarray(x)
        return x.astype(np.float32) / np.float32(self.scale) if self.scale else x.astype(np.float32, copy=False)

    def in_floats(self) -> Dataset:
        """The dataset with every split in memory as floats (for the NumPy network)."""
        splits = {name: self.floats(getattr(self, name)) for name in ("x_train", "x_val", "x_test")}
        return replace(self, **splits, scale=None)

    def confirm(self) -> None:
        """Raise (harness.data.cache.Damaged) if a cache the data came from proved damaged while the run trained."""
        for check in self.checks:
            check.confirm()

    def description(self) -> dict:
        """What a run records of its data: the class names (in label order), its kind, shape and sizes."""
        return {
            "name": self.name,
            "kind": self.kind,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "examples": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
            "features": list(self.features),
            "left_out": dict(self.left_out),
        }


def as_images(images: np.ndarray, brightest: float) -> np.ndarray:
    """Pixels scaled to [0, 1] as float32, with a channel axis: (n, height, width, channels)."""
    images = np.asarray(images)
    if images.dtype in (np.uint8, np.uint16):
        # Exact in float32, so dividing there gives the same numbers as in float64 then rounding (double rounding
        # is exact for a division when the wider type has more than twice the digits), in half the time.
        scaled = images.astype(np.float32) / np.float32(brightest)
    else:
        scaled = (images / brightest).astype(np.float32)
    return scaled[..., np.newaxis] if scaled.ndim == 3 else scaled


def flatten(images: np.ndarray, scale: float) -> np.ndarray:
    """Pixels in [0, 1], one row of inputs per image (the reference notebook's way)."""
    return (images.reshape(len(images), -1) / scale).astype(np.float32)


def source_examples(config: DatasetSettings, download: bool = True, memory: dict | None = None) -> Examples:
    """The dataset's examples as its source holds them, decoded once into the cache and mapped from there (images as
    uint8 pixels with a channel axis); `memory` keeps what was read for the process's next run
    (harness.shortcuts.Reusables.decoded)."""
    source, memory = DATASETS[config.name], {} if memory is None else memory
    if source.reads_cache:  # a folder of images: it keeps its own entry up to date, file by file
        return source.read(config, download, memory)
    files = [path for path in source.files(config) if path.is_file()]
    if source.offline is not None and not files:  # nothing to cache yet: the reader says what is missing, or downloads
        source.read(config, download)
        files = [path for path in source.files(config) if path.is_file()]
    stamps = [f"{path.resolve()} {path.stat().st_size} {path.stat().st_mtime_ns}" for path in files]
    settings = [f"{key}={getattr(config, key, None)}" for key in source.takes]
    entry = cached_arrays(
        _cache_name(config),
        [CACHE_FORMAT, source.identity(config), *settings, *stamps],
        lambda: _as_arrays(source.read(config, download)),
        memory,
    )
    arrays, meta = entry.arrays, entry.meta
    return Examples(
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        tuple(meta["class_names"]),
        meta["brightest"],
        checks=(entry.check,) if entry.check else (),
    )


def _cache_name(config: DatasetSettings) -> str:
    """The cache entry's name: the dataset's, and for files of your own, which files (another path, another entry)."""
    path = getattr(config, "path", None)
    return config.name if not path else f"{config.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _as_arrays(examples: Examples) -> dict:
    """A source's examples as the cache keeps them: images with a channel axis, labels, and the meta."""
    images = examples.brightest is not None

    def shaped(x):
        x = np.asarray(x)
        if images and x.dtype.kind == "f" and x.size and x.min() >= 0 and x.max() <= 255 and np.all(x == np.round(x)):
            x = x.astype(np.uint8)  # whole pixel values (scikit-learn's digits are float64 0..16): a byte each
        return x[..., np.newaxis] if images and x.ndim == 3 else x

    return {
        "x_train": shaped(examples.x_train),
        "y_train": np.asarray(examples.y_train).astype(np.int32),
        "x_test": shaped(examples.x_test),
        "y_test": np.asarray(examples.y_test).astype(np.int32),
        "meta": {"class_names": list(examples.class_names), "brightest": examples.brightest},
    }


def split_train_val(x, y, config: DatasetSettings):
    """Stratified validation split (one fold of `folds` when cross-validating; none when val_size is 0), then an
    optional stratified sample of the rest for training.

    x may be row indices: the split depends only on the number of rows, y and split_seed.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    available, folds = len(y), getattr(config, "folds", None)
    val_size = config.val_size
    if val_size is None and folds is None:
        val_size = DEFAULT_VAL_SIZE_LARGE if available >= 50_000 else max(available // 10, 10)
    train_size = config.train_size or available - (val_size or 0)
    if folds is None and train_size + val_size > available:
        raise UserError(
            f"dataset {config.name} has {available} training examples, fewer than train_size {train_size} + "
            f"val_size {val_size}: lower them, or leave them out to use the defaults"
        )
    try:
        if folds is not None:
            splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.split_seed).split(x, y)
            kept, held_out = list(splits)[config.fold or 0]
            x_rest, x_val, y_rest, y_val = x[kept], x[held_out], y[kept], y[held_out]
        elif val_size == 0:
            x_rest, x_val, y_rest, y_val = x, x[:0], y, y[:0]
        else:
            x_rest, x_val, y_rest, y_val = train_test_split(
                x, y, test_size=val_size, stratify=y, random_state=config.split_seed
            )
        if train_size < len(y_rest):
            x_rest, _, y_rest, _ = train_test_split(
                x_rest, y_rest, train_size=train_size, stratify=y_rest, random_state=config.split_seed
            )
    except ValueError as error:  # a class with a single example, a validation set smaller than the classes
        what = f"into {folds} folds" if folds else "for validation"
        raise UserError(
            f"dataset {config.name} cannot be split {what} ({error}): give more examples of each class, or "
            f"{'fewer folds' if folds else 'another val_size'}"
        ) from None
    return x_rest, y_rest, x_val, y_val


def load_dataset(config: DatasetSettings, reusables: Reusables | None = None) -> Dataset:
    """The dataset split and prepared. With the `reusables` of a process that runs run after run (a worker), the
    dataset it prepared last is taken as it is by its next run on the same data (the next seed, the next point of a
    sweep) instead of being split again: keyed on every dataset setting and the decoded arrays they came from (a
    changed source file is new arrays)."""
    reusables = reusables or Reusables()
    if DATASETS[config.name].kind == "table":
        return _table_dataset(config, reusables.decoded)
    examples = source_examples(config, memory=reusables.decoded)
    key = (config.model_dump_json(), id(examples.x_train))
    kept = reusables.prepared.get(key)
    if kept is not None and kept[0] is examples.x_train:  # the id of an array that still lives
        return kept[1]
    dataset = _prepared(config, examples)
    reusables.prepared.put(key, (examples.x_train, dataset))
    return dataset


def _prepared(config: DatasetSettings, examples: Examples) -> Dataset:
    """The training examples split for validation (rows of the source's, nothing copied); a source of rows of numbers
    (an .npz) is a table, encoded as one."""
    if examples.brightest is None:
        return _npz_table(config, examples)
    train_rows, y_train, val_rows, y_val = split_train_val(
        np.arange(len(examples.y_train)), np.asarray(examples.y_train).astype(np.int32), config
    )
    return Dataset(
        name=config.name,
        x_train=Rows(examples.x_train, train_rows),
        y_train=y_train,
        x_val=Rows(examples.x_train, val_rows),
        y_val=y_val,
        x_test=examples.x_test,
        y_test=np.asarray(examples.y_test).astype(np.int32),
        class_names=examples.class_names,
        left_out=examples.left_out,
        scale=float(examples.brightest),
        checks=examples.checks,
    )


def _table_dataset(config, memory: dict) -> Dataset:
    """A table file (and its test file), encoded once per (file, settings): read from the cache while the files keep
    their size and modification time, else decoded (only what changed) and encoded now."""
    entry = _table_entry(config, memory)
    arrays, meta = entry.arrays, entry.meta
    return _table(
        config,
        arrays | {"names": tuple(meta["names"])},
        arrays,
        meta["features"],
        left_out={"rows_without_target": meta["unlabelled"]} if meta["unlabelled"] else {},
        checks=(entry.check,) if entry.check else (),
    )


def _table_files(config) -> list:
    from harness.data.files import existing

    paths = [existing(config.path, "table (CSV or Parquet)")]
    return paths + ([existing(config.test_path, "test table")] if config.test_path else [])


TABLE_LAYOUT = "splits in file order"  # an encoded table's rows (entries of another layout are other keys)


def _table_entry(config, memory: dict):
    """The cache entry of the table's encoded splits, keyed on its files (path, size, modification time) and every
    dataset setting; encoded now when there is none."""
    paths = _table_files(config)
    stamps = [[str(path.resolve()), stat.st_size, stat.st_mtime_ns] for path in paths for stat in [path.stat()]]
    folder = entry_folder("table", [str(stamps), config.model_dump_json(), TABLE_LAYOUT])
    entry = memory.get(folder) or read_entry(folder)
    if entry is None:
        train, test = _table_columns(config, paths, memory)
        split = _table_split(config, train, test, config.target)
        labels = {name: split[name] for name in ("y_train", "y_val", "y_test")} | {"test_rows": split["test"]}
        meta = {"names": list(split["names"]), "unlabelled": split["unlabelled"]}
        entry = write_entry(folder, labels, meta, lambda into: _write_encoded(into, train, test, split, config.target))
        if entry is None:
            raise UserError(f"cannot write the encoded table into {folder}: free disk space there")
    memory[folder] = entry
    return entry


def _table_columns(config, paths: list, memory: dict) -> tuple[Columns, Columns | None]:
    """The table's columns (and its test file's), read into the cache once per file content; the target checked."""
    from harness.data.tables import read_columns

    train = read_columns(paths[0], memory)
    test = read_columns(paths[1], memory) if len(paths) > 1 else None
    for columns in (train, test):
        if columns is not None:
            check_target(columns, config.target)
    if test is not None:
        missing = sorted(set(train.names) - set(test.names))
        if missing:
            raise UserError(f"{test.path} lacks the columns {', '.join(map(str, missing))} that {train.path} has")
    return train, test


def _npz_table(config, examples: Examples) -> Dataset:
    """An .npz's rows of numbers, encoded as a table's columns (x0, x1, ...) are, in memory (such files are small)."""
    from pathlib import Path

    def columns(x, y) -> Columns:
        x = np.asarray(x, dtype=np.float64)
        values = {f"x{index}": x[:, index] for index in range(x.shape[1])} | {"y": np.asarray(y, dtype=np.float64)}
        return Columns(Path("arrays.npz"), list(values), values, {}, None)

    train, test = columns(examples.x_train, examples.y_train), columns(examples.x_test, examples.y_test)
    split = _table_split(config, train, test, "y", examples.class_names)
    features = train.names[:-1]
    encoders = fit_encoders(train, features, split["train"], columns_with_missing([train, test], features))
    x = {
        name: encoded_rows(test if name == "test" else train, encoders, split[name])
        for name in ("train", "val", "test")
    }
    return _table(config, split, {f"x_{name}": array for name, array in x.items()}, encoders_features(encoders))


def _table(config, split: dict, arrays: dict, features: list[str], **more) -> Dataset:
    """An encoded table: its x arrays, the split's labels and class names, its features (and what else is known)."""
    return Dataset(
        name=config.name,
        x_train=arrays["x_train"],
        y_train=split["y_train"],
        x_val=arrays["x_val"],
        y_val=split["y_val"],
        x_test=arrays["x_test"],
        y_test=split["y_test"],
        class_names=split["names"],
        kind="table",
        features=tuple(features),
        **more,
    )


def _table_split(config, train: Columns, test: Columns | None, target: str, names=None) -> dict:
    """Which rows of the file(s) each split holds, in order, with their labels (nothing encoded yet)."""
    from harness.data.files import DEFAULT_TEST_FRACTION, class_labels, stratified_test_split

    rows, values, unlabelled = labelled_rows(train, target)
    if test is not None:
        test_rows, test_values, more = labelled_rows(test, target)
        unlabelled += more
    else:
        fraction = getattr(config, "test_fraction", None) or DEFAULT_TEST_FRACTION
        kept, chosen = stratified_test_split(values, fraction, config.split_seed, f"table {train.path.name}")
        rows, values, test_rows, test_values = rows[kept], values[kept], rows[chosen], values[chosen]
    if names is not None:  # an .npz's labels are class indices already
        y_all, y_test, names = class_labels(values.astype(np.int64), test_values.astype(np.int64), names)
    else:
        y_all, y_test, names = class_labels(values, test_values)
    train_positions, y_train, val_positions, y_val = split_train_val(np.arange(len(y_all)), y_all, config)
    (train_positions, y_train), (val_positions, y_val) = _in_file_order(train_positions, y_train, val_positions, y_val)
    return {
        "train": rows[train_positions],
        "val": rows[val_positions],
        "test": test_rows,
        "y_train": y_train,
        "y_val": y_val,
        "y_test": y_test,
        "names": names,
        "unlabelled": unlabelled,
    }


def _in_file_order(*positions_and_labels) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each split's rows in the order the file has them (the split chose which; each epoch's order is the run's own):
    encoding then reads the file's columns front to back, each page once, rather than every page for every block."""
    pairs = zip(positions_and_labels[::2], positions_and_labels[1::2], strict=True)
    return [(positions[order], labels[order]) for positions, labels in pairs for order in [np.argsort(positions)]]


def _write_encoded(into, train: Columns, test: Columns | None, split: dict, target: str) -> dict:
    features = [name for name in train.names if name != target]
    missing = columns_with_missing([train] + ([test] if test is not None else []), features)
    encoders = fit_encoders(train, features, split["train"], missing)
    write_encoded(into / "x_train.npy", train, encoders, split["train"])
    write_encoded(into / "x_val.npy", train, encoders, split["val"])
    write_encoded(into / "x_test.npy", test if test is not None else train, encoders, split["test"])
    return {"features": encoders_features(encoders)}


def test_examples(config: DatasetSettings, indices) -> object:
    """Some test examples as the report shows them, in the order of a run's predictions (no download): images in
    [0, 1] (height, width, channels), or a table's rows as the file has them, indexed by their line in it."""
    source = DATASETS[config.name]
    if source.kind == "table":
        memory: dict = {}
        entry = _table_entry(config, memory)
        train, test = _table_columns(config, _table_files(config), memory)
        features = [name for name in train.names if name != config.target]
        rows = entry.arrays["test_rows"][np.asarray(indices)]
        return raw_rows(test if test is not None else train, features, rows)
    examples = source_examples(config, download=False)
    if examples.brightest is None:
        import pandas as pd

        rows = np.asarray(indices)
        x = np.asarray(examples.x_test)[rows]
        columns = [f"x{index}" for index in range(x.shape[1])]
        return pd.DataFrame(x, columns=columns, index=pd.Index(rows, name="row"))
    return as_images(np.asarray(Rows(examples.x_test)[np.asarray(indices)]), examples.brightest)


def data_identity(config: DatasetSettings) -> str:
    """What a dataset's content is: part of a run's fingerprint."""
    return DATASETS[config.name].identity(config)


def classes_of(name: str) -> tuple[str, ...]:
    """A dataset's class names as its entry declares them (runs record the names their data had: data.json)."""
    return DATASETS[name].class_names
