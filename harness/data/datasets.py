"""Datasets split into train / validation / test, as a model is given them: images as float32 pixels in [0, 1] of shape
(height, width, channels), tables as standardised and one-hot encoded numbers; integer labels.

    python -m harness run adam --dataset digits

Validation is a stratified split of the training set; the test set is only used for the final evaluation. Where each
dataset comes from is its entry in harness.data.sources.DATASETS. Decoding and verifying a source can cost seconds
(Fashion-MNIST's gzip and SHA-256, a folder of images), so the decoded examples are kept in a cache
(``harness.data.cache``), itself checked by hash, and once per process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from harness.data.cache import cached_arrays
from harness.data.examples import Examples
from harness.data.files import fit_table_encoder
from harness.data.sources import DATASETS
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


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    kind: str = "images"  # images (height, width, channels), or table (features)
    features: tuple[str, ...] = ()  # a table's encoded columns
    left_out: dict = field(default_factory=dict)  # what the source left out and why, with counts

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
    """The dataset's examples as its source holds them, decoded once into the cache (a table is read each time);
    `memory` keeps what was read for the process's next run (harness.shortcuts.Reusables.decoded)."""
    source = DATASETS[config.name]
    if not source.cached:
        return source.read(config, download)
    files = [path for path in source.files(config) if path.is_file()]
    if source.offline is not None and not files:  # nothing to cache yet: the reader says what is missing, or downloads
        source.read(config, download)
        files = [path for path in source.files(config) if path.is_file()]
    stamps = [f"{path.resolve()} {path.stat().st_size} {path.stat().st_mtime_ns}" for path in files]
    settings = [f"{key}={getattr(config, key, None)}" for key in source.takes]
    arrays = cached_arrays(
        _cache_name(config),
        [CACHE_FORMAT, source.identity(config), *settings, *stamps],
        lambda: _as_arrays(source.read(config, download)),
        {} if memory is None else memory,
    )
    brightest = float(arrays["brightest"])
    return Examples(
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        tuple(arrays["class_names"].tolist()),
        None if np.isnan(brightest) else brightest,
    )


def _cache_name(config: DatasetSettings) -> str:
    """The cache file's name: the dataset's, and for files of your own, which files (another path, another entry)."""
    path = getattr(config, "path", None)
    return config.name if not path else f"{config.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _as_arrays(examples: Examples) -> dict[str, np.ndarray]:
    return {
        "x_train": np.asarray(examples.x_train),
        "y_train": examples.y_train,
        "x_test": np.asarray(examples.x_test),
        "y_test": examples.y_test,
        "class_names": np.array(examples.class_names, dtype=str),
        "brightest": np.array(np.nan if examples.brightest is None else examples.brightest),  # nan: a table
    }


def split_train_val(x, y, config: DatasetSettings):
    """Stratified validation split, then an optional stratified sample of the rest for training.

    x may be row indices: the split depends only on the number of rows, y and split_seed.
    """
    from sklearn.model_selection import train_test_split

    available = len(y)
    val_size = config.val_size or (DEFAULT_VAL_SIZE_LARGE if available >= 50_000 else max(available // 10, 10))
    train_size = config.train_size or available - val_size
    if train_size + val_size > available:
        raise UserError(
            f"dataset {config.name} has {available} training examples, fewer than train_size {train_size} + "
            f"val_size {val_size}: lower them, or leave them out to use the defaults"
        )
    try:
        x_rest, x_val, y_rest, y_val = train_test_split(
            x, y, test_size=val_size, stratify=y, random_state=config.split_seed
        )
        if train_size < len(y_rest):
            x_rest, _, y_rest, _ = train_test_split(
                x_rest, y_rest, train_size=train_size, stratify=y_rest, random_state=config.split_seed
            )
    except ValueError as error:  # a class with a single example, a validation set smaller than the classes
        raise UserError(
            f"dataset {config.name} cannot be split for validation ({error}): give more examples of "
            "each class, or another val_size"
        ) from None
    return x_rest, y_rest, x_val, y_val


def load_dataset(config: DatasetSettings, reusables: Reusables | None = None) -> Dataset:
    """The dataset split and prepared. With the `reusables` of a process that runs run after run (a worker), the
    images it prepared last are taken as they are, read-only, by its next run on the same data (the next seed, the
    next point of a sweep) instead of being split and scaled again (about 0.1 s a run on Fashion-MNIST): keyed on
    every dataset setting and the decoded arrays they came from (a changed source file is new arrays)."""
    reusables = reusables or Reusables()
    examples = source_examples(config, memory=reusables.decoded)
    key = (config.model_dump_json(), id(examples.x_train))
    kept = reusables.prepared.get(key)
    if kept is not None and kept[0] is examples.x_train:  # the id of an array that still lives
        return kept[1]
    dataset = _prepared(config, examples)
    if dataset.kind == "images":
        for array in (dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, dataset.x_test, dataset.y_test):
            array.flags.writeable = False
        reusables.prepared.put(key, (examples.x_train, dataset))
    return dataset


def _prepared(config: DatasetSettings, examples: Examples) -> Dataset:
    # Split row numbers, then prepare only the rows used (10,000 of 60,000 in the reference experiments).
    train_rows, y_train, val_rows, y_val = split_train_val(
        np.arange(len(examples.y_train)), examples.y_train.astype(np.int32), config
    )
    if examples.brightest is None:
        return _table(config.name, examples, train_rows, y_train, val_rows, y_val)
    return Dataset(
        name=config.name,
        x_train=as_images(examples.x_train[train_rows], examples.brightest),
        y_train=y_train,
        x_val=as_images(examples.x_train[val_rows], examples.brightest),
        y_val=y_val,
        x_test=as_images(examples.x_test, examples.brightest),
        y_test=examples.y_test.astype(np.int32),
        class_names=examples.class_names,
    )


def _frame(x):
    """A table's rows as a DataFrame (an .npz's rows of numbers get the column names x0, x1, ...)."""
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        return x
    columns = [f"x{index}" for index in range(x.shape[1])]
    return pd.DataFrame(x, columns=columns, index=pd.RangeIndex(len(x), name="row"))


def _table(name: str, examples: Examples, train_rows, y_train, val_rows, y_val) -> Dataset:
    """A table's columns encoded as numbers, by an encoder fitted on the training rows only."""
    rows, test = _frame(examples.x_train), _frame(examples.x_test)
    train = rows.iloc[train_rows]
    encoder = fit_table_encoder(train)

    def encoded(frame) -> np.ndarray:
        return np.asarray(encoder.transform(frame), dtype=np.float32)

    return Dataset(
        name=name,
        x_train=encoded(train),
        y_train=y_train,
        x_val=encoded(rows.iloc[val_rows]),
        y_val=y_val,
        x_test=encoded(test),
        y_test=examples.y_test.astype(np.int32),
        class_names=examples.class_names,
        kind="table",
        features=tuple(str(feature) for feature in encoder.get_feature_names_out()),
        left_out=examples.left_out,
    )


def test_examples(config: DatasetSettings) -> tuple[object, np.ndarray]:
    """The test set as the report shows it, in the order of a run's predictions (no download): images in [0, 1]
    (height, width, channels), or a table's rows as they are in the file."""
    examples = source_examples(config, download=False)
    if examples.brightest is None:
        return _frame(examples.x_test), examples.y_test
    return as_images(examples.x_test, examples.brightest), examples.y_test


def data_identity(config: DatasetSettings) -> str:
    """What a dataset's content is: part of a run's fingerprint."""
    return DATASETS[config.name].identity(config)


def classes_of(name: str) -> tuple[str, ...]:
    """A dataset's class names as its entry declares them (runs record the names their data had: data.json)."""
    return DATASETS[name].class_names
