"""Where datasets come from, one registry entry each: how to load it, its classes, its files and its identity.

    dataset: {name: fashion_mnist}          python -m harness run adam --dataset digits

``mnist`` comes from the Keras loader and its cache, ``fashion_mnist`` from Debian's ``dataset-fashion-mnist``
files when present (else the Keras loader), ``digits`` from scikit-learn. Files are checked against their
published size and SHA-256, so a truncated or corrupt one is refused by name. To add a dataset: an entry in
DATASETS (harness.data.datasets splits, scales and caches whatever a loader returns).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.registry import Registry

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
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (train x, y), (test x, y)


@dataclass(frozen=True)
class DatasetSource:
    load: Callable[[bool], Arrays]  # load(download): the images and labels as the source holds them
    scale: float  # the brightest pixel value: pixels are divided by it
    class_names: tuple[str, ...]
    identity: Callable[[], str]  # what its content is, without reading it (part of a run's fingerprint)
    description: str
    offline: str | None = None  # how it is had without a network, or None: it always is
    files: Callable[[], list[Path]] = lambda: []  # the files it is decoded from here (the cache's key)


def keras_cache_dir() -> Path:
    """Where the Keras loaders look for and keep downloaded datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def offline_datasets() -> str:
    """The datasets that work here without a network, for error messages."""
    return ", ".join(
        f"{name} ({source.offline or 'bundled'})" for name, source in DATASETS.items() if source.offline != "download"
    )


def _from_keras_loader(loader, filename: str, dataset: str):
    try:
        return loader()
    except Exception:  # the loader raises whatever the network stack raised
        raise UserError(
            f"{dataset} is not in the Keras cache and could not be downloaded (no network?): "
            f"put {filename} in {keras_cache_dir()}/, or use a dataset that works offline: {offline_datasets()}"
        ) from None


def _not_here(dataset: str, filename: str) -> UserError:
    return UserError(f"{dataset} is not on this machine: put {filename} in {keras_cache_dir()}/")


def verified(path: Path, content: bytes, expected: tuple[int, str]) -> bytes:
    """The content, if its size and SHA-256 are the published ones; else a UserError naming the file."""
    size, digest = expected
    fix = "delete it and fetch it again (or reinstall the package it came from)"
    if len(content) != size:
        raise UserError(f"{path} is {len(content):,} bytes, not the published {size:,}: truncated or wrong; {fix}")
    if hashlib.sha256(content).hexdigest() != digest:
        raise UserError(f"{path} does not match its published SHA-256: corrupt; {fix}")
    return content


# ---------------------------------------------------------------- mnist


def _mnist_file() -> Path:
    return keras_cache_dir() / "mnist.npz"


def _mnist(download: bool = True) -> Arrays:
    import keras

    cached = _mnist_file()
    if cached.is_file():
        content = verified(cached, cached.read_bytes(), MNIST_NPZ)
        with np.load(io.BytesIO(content)) as data:  # the bytes just checked, not a second read of the file
            return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
    if not download:
        raise _not_here("mnist", "mnist.npz")
    return _from_keras_loader(keras.datasets.mnist.load_data, "mnist.npz", "mnist")


# ---------------------------------------------------------------- fashion_mnist


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("FASHION_MNIST_DIR", DEBIAN_FASHION_MNIST))


def _read_idx(path: Path, header_bytes: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as file:
            content = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"{path} cannot be decompressed ({error}): truncated or corrupt; fetch it again") from None
    content = verified(path, content, FASHION_MNIST_IDX[path.name])
    return np.frombuffer(content, dtype=np.uint8, offset=header_bytes)


def _read_fashion_mnist(folder: Path) -> Arrays:
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


def _fashion_mnist_files() -> list[Path]:
    folder = _fashion_mnist_folder()
    return [folder / file for file in FASHION_MNIST_IDX] if folder else []


def _fashion_mnist(download: bool = True) -> Arrays:
    folder = _fashion_mnist_folder()
    if folder is not None:
        return _read_fashion_mnist(folder)
    if not download:
        raise _not_here("fashion_mnist", "the fashion-mnist files")
    import keras

    _from_keras_loader(keras.datasets.fashion_mnist.load_data, "the fashion-mnist files", "fashion_mnist")
    return _read_fashion_mnist(keras_cache_dir() / "fashion-mnist")  # downloaded: verify like any other copy


# ---------------------------------------------------------------- digits


def _digits(download: bool = True) -> Arrays:  # bundled: never downloads
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # scikit-learn ships no test split: hold out a fixed, stratified 20% as the test set.
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    return (x_train, y_train), (x_test, y_test)


def _digits_identity() -> str:
    import sklearn

    return f"scikit-learn {sklearn.__version__} load_digits"


DATASETS: Registry[DatasetSource] = Registry("dataset")
DATASETS.add(
    "mnist",
    DatasetSource(
        _mnist,
        255.0,
        DIGIT_CLASSES,
        lambda: f"mnist.npz sha256 {MNIST_NPZ[1]}",
        "handwritten digits, 28x28, 60,000 + 10,000 (Keras's loader and cache)",
        offline="download",
        files=lambda: [_mnist_file()],
    ),
)
DATASETS.add(
    "fashion_mnist",
    DatasetSource(
        _fashion_mnist,
        255.0,
        FASHION_MNIST_CLASSES,
        lambda: "fashion-mnist idx sha256 " + " ".join(digest for _, digest in FASHION_MNIST_IDX.values()),
        "clothing, 28x28, 60,000 + 10,000 (Debian's dataset-fashion-mnist, else Keras's loader)",
        offline="apt-get install dataset-fashion-mnist",
        files=_fashion_mnist_files,
    ),
)
DATASETS.add(
    "digits",
    DatasetSource(
        _digits,
        16.0,
        DIGIT_CLASSES,
        _digits_identity,
        "scikit-learn's bundled 8x8 digits, 1,797 images (a fixed stratified 20% is the test set)",
    ),
)
