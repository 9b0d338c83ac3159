"""Datasets as flat float32 pixels in [0, 1] with integer labels, split into train / validation / test.

    python -m harness run adam --dataset digits

``mnist`` comes from the Keras loader and its cache, ``fashion_mnist`` from Debian's
``dataset-fashion-mnist`` files when present (else the Keras loader), ``digits`` from scikit-learn.
Validation is a stratified split of the training set; the test set is only used for the final evaluation.

Decoding and verifying a source costs about a second (Fashion-MNIST's gzip and SHA-256), so the decoded
arrays are kept in a cache (``harness.data.cache``), itself checked by hash, and once per process.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config.schema import DatasetConfig
from harness.data.cache import cached_arrays
from harness.errors import UserError

# Debian's dataset-fashion-mnist; FASHION_MNIST_DIR points elsewhere (a folder with the same four files).
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Published digests: mnist.npz as Keras downloads it; Fashion-MNIST's four IDX files after decompression,
# which are the same whoever compressed them (Debian's .gz differ from Zalando's, their contents do not).
MNIST_NPZ = (11_490_434, "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
FASHION_MNIST_IDX = {
    "train-images-idx3-ubyte.gz": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
OFFLINE_DATASETS = "digits (bundled with scikit-learn) and fashion_mnist (apt-get install dataset-fashion-mnist)"
# Validation examples taken from the training set when the experiment does not say.
DEFAULT_VAL_SIZE_LARGE = 5000


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


def keras_cache_dir() -> Path:
    """Where the Keras loaders look for and keep downloaded datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _from_keras_loader(loader, filename: str, dataset: str):
    try:
        return loader()
    except Exception:  # the loader raises whatever the network stack raised
        raise UserError(
            f"{dataset} is not in the Keras cache and could not be downloaded (no network?): "
            f"put {filename} in {keras_cache_dir()}/, or use a dataset that works offline: {OFFLINE_DATASETS}"
        ) from None


def _not_here(dataset: str, filename: str) -> UserError:
    return UserError(f"{dataset} is not on this machine: put {filename} in {keras_cache_dir()}/")


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("FASHION_MNIST_DIR", DEBIAN_FASHION_MNIST))


def verified(path: Path, content: bytes, expected: tuple[int, str]) -> bytes:
    """The content, if its size and SHA-256 are the published ones; else a UserError naming the file."""
    size, digest = expected
    fix = "delete it and fetch it again (or reinstall the package it came from)"
    if len(content) != size:
        raise UserError(f"{path} is {len(content):,} bytes, not the published {size:,}: truncated or wrong; {fix}")
    if hashlib.sha256(content).hexdigest() != digest:
        raise UserError(f"{path} does not match its published SHA-256: corrupt; {fix}")
    return content


def _mnist(download: bool = True):
    import keras

    cached = keras_cache_dir() / "mnist.npz"
    if cached.is_file():
        content = verified(cached, cached.read_bytes(), MNIST_NPZ)
        with np.load(io.BytesIO(content)) as data:  # the bytes just checked, not a second read of the file
            return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
    if not download:
        raise _not_here("mnist", "mnist.npz")
    return _from_keras_loader(keras.datasets.mnist.load_data, "mnist.npz", "mnist")


def _read_idx(path: Path, header_bytes: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"{path} cannot be decompressed ({error}): truncated or corrupt; fetch it again") from None
    content = verified(path, content, FASHION_MNIST_IDX[path.name])
    return np.frombuffer(content, dtype=np.uint8, offset=header_bytes)


def _read_fashion_mnist(folder: Path):
    parts = []
    for prefix in ("train", "t10k"):
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8)
        parts.append((images, labels))
    return tuple(parts)


def _fashion_mnist_folder() -> Path | None:
    for folder in (fashion_mnist_dir(), keras_cache_dir() / "fashion-mnist"):
        if all((folder / name).is_file() for name in FASHION_MNIST_IDX):
            return folder
    return None


def _fashion_mnist(download: bool = True):
    folder = _fashion_mnist_folder()
    if folder is not None:
        return _read_fashion_mnist(folder)
    if not download:
        raise _not_here("fashion_mnist", "the fashion-mnist files")
    import keras

    _from_keras_loader(keras.datasets.fashion_mnist.load_data, "the fashion-mnist files", "fashion_mnist")
    return _read_fashion_mnist(keras_cache_dir() / "fashion-mnist")  # downloaded: verify like any other copy


def _digits(download: bool = True):  # bundled: never downloads
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # scikit-learn ships no test split: hold out a fixed, stratified 20% as the test set.
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    return (x_train, y_train), (x_test, y_test)


# name -> (loader, brightest pixel value, class names)
SOURCES = {
    "mnist": (_mnist, 255.0, DIGIT_CLASSES),
    "fashion_mnist": (_fashion_mnist, 255.0, FASHION_MNIST_CLASSES),
    "digits": (_digits, 16.0, DIGIT_CLASSES),
}


CLASS_NAMES = {name: class_names for name, (_, _, class_names) in SOURCES.items()}


def flatten(images: np.ndarray, scale: float) -> np.ndarray:
    return (images.reshape(len(images), -1) / scale).astype(np.float32)


def source_files(name: str) -> list[Path]:
    """The files a dataset is decoded from here (none for digits, which scikit-learn bundles)."""
    if name == "mnist":
        return [keras_cache_dir() / "mnist.npz"]
    if name == "fashion_mnist":
        folder = _fashion_mnist_folder()
        return [folder / file for file in FASHION_MNIST_IDX] if folder else []
    return []


def source_arrays(name: str, download: bool = True) -> tuple[tuple, tuple]:
    """((train images, labels), (test images, labels)) as the source holds them, decoded once into the cache."""
    loader = SOURCES[name][0]
    files = [path for path in source_files(name) if path.is_file()]
    if name != "digits" and not files:  # nothing to cache yet: the loader says what is missing, or downloads
        loader(download)
        files = source_files(name)
    stats = [(path, path.stat()) for path in files]
    identity = [data_identity(name)] + [f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns}" for path, stat in stats]
    arrays = cached_arrays(name, identity, lambda: _as_arrays(loader(download)))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _as_arrays(parts) -> dict[str, np.ndarray]:
    (x_train, y_train), (x_test, y_test) = parts
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def split_train_val(x, y, config: DatasetConfig):
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


def load_dataset(config: DatasetConfig) -> Dataset:
    _, scale, class_names = SOURCES[config.name]
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
    """The test set as images scaled to [0, 1] and labels, in the order predictions.csv uses (no download)."""
    _, (images, labels) = source_arrays(name, download=False)
    return images / SOURCES[name][1], labels


def data_identity(name: str) -> str:
    """What a dataset's content is, without reading it: the published digests its files are checked
    against, or the scikit-learn version that ships digits. Part of a run's fingerprint."""
    if name == "mnist":
        return f"mnist.npz sha256 {MNIST_NPZ[1]}"
    if name == "fashion_mnist":
        return "fashion-mnist idx sha256 " + " ".join(digest for _, digest in FASHION_MNIST_IDX.values())
    import sklearn

    return f"scikit-learn {sklearn.__version__} load_digits"
