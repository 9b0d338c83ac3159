"""Where datasets come from, one registry entry each: how to read it, what it needs, its identity.

    dataset: {name: fashion_mnist}                       python -m harness run adam --dataset digits
    dataset: {name: cifar10}                             Keras's own sets, from Keras's cache (or downloaded there)
    dataset: {name: table, path: churn.csv, target: churned, test_fraction: 0.2}     your own data (harness.data.files)

``mnist`` comes from the Keras loader and its cache, ``fashion_mnist`` from Debian's ``dataset-fashion-mnist``
files when present (else the Keras loader), ``digits`` from scikit-learn, ``cifar10`` and ``cifar100`` from the
archives Keras downloads. Files with a published digest are checked against it, so a truncated or corrupt one is
refused by name. A source returns its examples as it holds them (images as uint8 pixels); harness.data.datasets
splits, scales and caches them. To add a dataset: an entry in DATASETS.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.examples import DatasetSource, Examples
from harness.data.files import npz_file
from harness.data.identity import user_files_identity
from harness.data.images import images_examples
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


def keras_cache_dir() -> Path:
    """Where the Keras loaders look for and keep downloaded datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def offline_datasets() -> str:
    """The datasets that work here without a network, for error messages."""
    return ", ".join(
        f"{name} ({source.offline or 'bundled'})"
        for name, source in DATASETS.items()
        if source.offline != "download" and source.kind == "images" and not source.needs
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


def _mnist(settings, download: bool = True) -> Examples:
    cached = _mnist_file()
    if cached.is_file():
        content = verified(cached, cached.read_bytes(), MNIST_NPZ)
        with np.load(io.BytesIO(content)) as data:  # the bytes just checked, not a second read of the file
            parts = (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
    elif not download:
        raise _not_here("mnist", "mnist.npz")
    else:
        import keras

        parts = _from_keras_loader(keras.datasets.mnist.load_data, "mnist.npz", "mnist")
    return _examples(parts, DIGIT_CLASSES, 255.0)


def _examples(parts, class_names: tuple[str, ...], brightest: float) -> Examples:
    (x_train, y_train), (x_test, y_test) = parts
    return Examples(x_train, np.asarray(y_train), x_test, np.asarray(y_test), class_names, brightest)


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


def _read_fashion_mnist(folder: Path) -> Examples:
    parts = []
    for prefix in ("train", "t10k"):
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8)
        parts.append((images, labels))
    return _examples(parts, FASHION_MNIST_CLASSES, 255.0)


def _fashion_mnist_folder() -> Path | None:
    for folder in (fashion_mnist_dir(), keras_cache_dir() / "fashion-mnist"):
        if all((folder / name).is_file() for name in FASHION_MNIST_IDX):
            return folder
    return None


def _fashion_mnist_files(settings=None) -> list[Path]:
    folder = _fashion_mnist_folder()
    return [folder / file for file in FASHION_MNIST_IDX] if folder else []


def _fashion_mnist(settings, download: bool = True) -> Examples:
    folder = _fashion_mnist_folder()
    if folder is not None:
        return _read_fashion_mnist(folder)
    if not download:
        raise _not_here("fashion_mnist", "the fashion-mnist files")
    import keras

    _from_keras_loader(keras.datasets.fashion_mnist.load_data, "the fashion-mnist files", "fashion_mnist")
    return _read_fashion_mnist(keras_cache_dir() / "fashion-mnist")  # downloaded: verify like any other copy


# ---------------------------------------------------------------- digits


def _digits(settings, download: bool = True) -> Examples:  # bundled: never downloads
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # scikit-learn ships no test split: hold out a fixed, stratified 20% as the test set.
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    return _examples(((x_train, y_train), (x_test, y_test)), DIGIT_CLASSES, 16.0)


def _digits_identity(settings) -> str:
    import sklearn

    return f"scikit-learn {sklearn.__version__} load_digits"


# ---------------------------------------------------------------- cifar10, cifar100 (Keras's own sets)


@dataclass(frozen=True)
class Cifar:
    """A CIFAR set as Keras downloads it: the archive, or the folder it unpacks to, in Keras's cache."""

    archive: str  # as published
    folder: str  # inside the archive
    keras_name: str  # the name Keras's loader gives its download (<name>_archive, and <name>/ unpacked)
    train: tuple[str, ...]  # the training batches' files
    test: str
    label_key: str
    meta: tuple[str, str]  # the file with the class names, and its key

    def unpacked(self) -> Path | None:
        """The unpacked folder in Keras's cache, from an archive put there by hand or by Keras's own download."""
        cache = keras_cache_dir()
        for folder in (cache / self.keras_name / self.folder, cache / self.folder):
            if (folder / self.test).is_file():
                return folder
        for archive in (cache / self.archive, cache / f"{self.keras_name}_archive"):
            if archive.is_file():
                try:
                    with tarfile.open(archive) as tar:
                        tar.extractall(cache / self.keras_name, filter="data")
                except (tarfile.TarError, OSError, EOFError) as error:
                    raise UserError(
                        f"{archive} cannot be unpacked ({error}): truncated or corrupt; fetch it again"
                    ) from None
                return cache / self.keras_name / self.folder
        return None

    def read(self, name: str, download: bool) -> Examples:
        folder = self.unpacked()
        if folder is None and download:
            import keras

            _from_keras_loader(getattr(keras.datasets, name).load_data, self.archive, name)
            folder = self.unpacked()
        if folder is None:
            raise _not_here(name, self.archive)
        train = [_unpickled(folder / batch) for batch in self.train]
        test, meta = _unpickled(folder / self.test), _unpickled(folder / self.meta[0])
        names = tuple(label.decode() if isinstance(label, bytes) else str(label) for label in meta[self.meta[1]])
        x_train = np.concatenate([_images(batch) for batch in train])
        y_train = np.concatenate([np.asarray(batch[self.label_key]) for batch in train])
        return Examples(x_train, y_train, _images(test), np.asarray(test[self.label_key]), names, 255.0)


def _unpickled(path: Path) -> dict:
    try:
        with open(path, "rb") as file:
            data = pickle.load(file, encoding="bytes")  # the published batches: dicts of bytes keys and arrays
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise UserError(f"{path} cannot be read ({error}): fetch the archive again") from None
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in data.items()}


def _images(batch: dict) -> np.ndarray:
    """A batch's rows of 3 x 32 x 32 pixels as images of 32 x 32 x 3."""
    return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


CIFAR10 = Cifar(
    archive="cifar-10-python.tar.gz",
    folder="cifar-10-batches-py",
    keras_name="cifar-10-batches-py-target",
    train=tuple(f"data_batch_{index}" for index in range(1, 6)),
    test="test_batch",
    label_key="labels",
    meta=("batches.meta", "label_names"),
)
CIFAR100 = Cifar(
    archive="cifar-100-python.tar.gz",
    folder="cifar-100-python",
    keras_name="cifar-100-python-target",
    train=("train",),
    test="test",
    label_key="fine_labels",
    meta=("meta", "fine_label_names"),
)


def _cifar_files(cifar: Cifar) -> list[Path]:
    folder = cifar.unpacked()
    return [folder / name for name in (*cifar.train, cifar.test)] if folder else []


DATASETS: Registry[DatasetSource] = Registry("dataset")
DATASETS.add(
    "mnist",
    DatasetSource(
        _mnist,
        lambda settings: f"mnist.npz sha256 {MNIST_NPZ[1]}",
        "handwritten digits, 28x28, 60,000 + 10,000 (Keras's loader and cache)",
        offline="download",
        files=lambda settings: [_mnist_file()],
        class_names=DIGIT_CLASSES,
    ),
)
DATASETS.add(
    "fashion_mnist",
    DatasetSource(
        _fashion_mnist,
        lambda settings: "fashion-mnist idx sha256 " + " ".join(digest for _, digest in FASHION_MNIST_IDX.values()),
        "clothing, 28x28, 60,000 + 10,000 (Debian's dataset-fashion-mnist, else Keras's loader)",
        offline="apt-get install dataset-fashion-mnist",
        files=_fashion_mnist_files,
        class_names=FASHION_MNIST_CLASSES,
    ),
)
DATASETS.add(
    "digits",
    DatasetSource(
        _digits,
        _digits_identity,
        "scikit-learn's bundled 8x8 digits, 1,797 images (a fixed stratified 20% is the test set)",
        class_names=DIGIT_CLASSES,
    ),
)


def _cifar_source(name: str, cifar: Cifar, identity: str, classes: int) -> DatasetSource:
    """Keras's CIFAR-10 or CIFAR-100; `identity` is in every run's fingerprint: keep it as it is."""
    return DatasetSource(
        lambda settings, download: cifar.read(name, download),
        lambda settings: identity,
        f"colour photos of {classes} classes, 32x32, 50,000 + 10,000 (Keras's loader and cache)",
        offline="download",
        files=lambda settings: _cifar_files(cifar),
    )


DATASETS.add("cifar10", _cifar_source("cifar10", CIFAR10, "cifar-10-python batches (Keras's cifar10)", 10))
DATASETS.add(
    "cifar100", _cifar_source("cifar100", CIFAR100, "cifar-100-python batches, fine labels (Keras's cifar100)", 100)
)

# Your own data (harness.data.files, .tables, .images): each names its file or folder with `path`.
DATASETS.add(
    "npz",
    DatasetSource(
        npz_file,
        user_files_identity,
        "your arrays: an .npz file with x_train, y_train, x_test, y_test (class_names optional)",
        takes=("path",),
        needs=("path",),
        files=lambda settings: [Path(settings.path).expanduser()],
    ),
)
DATASETS.add(
    "table",
    DatasetSource(
        None,  # read and encoded by harness.data.tables, a block at a time
        user_files_identity,
        "your table, CSV or Parquet: numbers standardised, text one-hot encoded (fitted on the training split)",
        kind="table",
        takes=("path", "target", "test_path", "test_fraction"),
        needs=("path", "target"),
        files=lambda settings: [Path(settings.path).expanduser()],
    ),
)
DATASETS.add(
    "images",
    DatasetSource(
        images_examples,
        user_files_identity,
        "your images: a folder with one subfolder per class (and a test folder like it, or a share of it)",
        takes=("path", "image_size", "test_path", "test_fraction"),
        needs=("path",),
        reads_cache=True,
    ),
)
