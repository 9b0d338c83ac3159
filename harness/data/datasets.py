"""Datasets as flat float32 pixels in [0, 1] with integer labels, split into train / validation / test.

    python -m harness run adam --dataset digits

Validation is a stratified split of the training set; the test set is only used for the final evaluation.
Where each dataset comes from is its entry in harness.data.sources.DATASETS. Decoding and verifying a source costs
about a second (Fashion-MNIST's gzip and SHA-256), so the decoded arrays are kept in a cache
(``harness.data.cache``), itself checked by hash, and once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.data.cache import cached_arrays
from harness.data.sources import DATASETS
from harness.errors import UserError

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
    image_shape: tuple[int, int]

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def flatten(images: np.ndarray, scale: float) -> np.ndarray:
    return (images.reshape(len(images), -1) / scale).astype(np.float32)


def source_arrays(name: str, download: bool = True) -> tuple[tuple, tuple]:
    """((train images, labels), (test images, labels)) as the source holds them, decoded once into the cache."""
    source = DATASETS[name]
    files = [path for path in source.files() if path.is_file()]
    if source.offline is not None and not files:  # nothing to cache yet: the loader says what is missing, or downloads
        source.load(download)
        files = source.files()
    stats = [(path, path.stat()) for path in files]
    identity = [source.identity()] + [f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns}" for path, stat in stats]
    arrays = cached_arrays(name, identity, lambda: _as_arrays(source.load(download)))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _as_arrays(parts) -> dict[str, np.ndarray]:
    (x_train, y_train), (x_test, y_test) = parts
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


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
    x_rest, x_val, y_rest, y_val = train_test_split(
        x, y, test_size=val_size, stratify=y, random_state=config.split_seed
    )
    if train_size < len(y_rest):
        x_rest, _, y_rest, _ = train_test_split(
            x_rest, y_rest, train_size=train_size, stratify=y_rest, random_state=config.split_seed
        )
    return x_rest, y_rest, x_val, y_val


def load_dataset(config: DatasetSettings) -> Dataset:
    source = DATASETS[config.name]
    scale, class_names = source.scale, source.class_names
    (train_images, train_labels), (test_images, test_labels) = source_arrays(config.name)
    # Split row numbers, then scale only the rows used (10,000 of 60,000 in the seed experiments).
    train_rows, y_train, val_rows, y_val = split_train_val(
        np.arange(len(train_labels)), train_labels.astype(np.int32), config
    )
    return Dataset(
        name=config.name,
        x_train=flatten(train_images[train_rows], scale),
        y_train=y_train,
        x_val=flatten(train_images[val_rows], scale),
        y_val=y_val,
        x_test=flatten(test_images, scale),
        y_test=test_labels.astype(np.int32),
        class_names=class_names,
        image_shape=tuple(train_images.shape[1:]),
    )


def test_images(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The test set as images scaled to [0, 1] and labels, in the order of a run's predictions (no download)."""
    _, (images, labels) = source_arrays(name, download=False)
    return images / DATASETS[name].scale, labels


def data_identity(name: str) -> str:
    """What a dataset's content is, without reading it: part of a run's fingerprint."""
    return DATASETS[name].identity()


def classes_of(name: str) -> tuple[str, ...]:
    """The dataset's class names, in label order."""
    return DATASETS[name].class_names
