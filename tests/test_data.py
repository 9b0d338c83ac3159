"""Datasets load as uint8 pixels with the value that means white, split into stratified train / validation / test
sets that are rows of the decoded arrays."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from harness.config.schema import DatasetConfig
from harness.data import sources as data_module
from harness.data.datasets import load_dataset
from harness.data.sources import DEBIAN_FASHION_MNIST, FASHION_MNIST_CLASSES, FASHION_MNIST_IDX
from harness.errors import UserError


def test_digits_is_bundled_and_split_three_ways():
    data = load_dataset(DatasetConfig(name="digits"))
    assert data.input_dim == 64 and data.input_shape == (8, 8, 1)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1294, 143, 360)
    assert data.x_train.dtype == np.uint8 and data.scale == 16.0  # scikit-learn's 0..16, a byte each
    pixels = data.floats(data.x_train)
    assert pixels.dtype == np.float32 and pixels.min() == 0.0 and pixels.max() == 1.0
    assert data.class_names == tuple("0123456789")


def test_validation_is_stratified_and_disjoint_from_training():
    data = load_dataset(DatasetConfig(name="digits", val_size=500))
    counts = np.bincount(data.y_val, minlength=10)
    assert counts.min() >= 48 and counts.max() <= 52
    train_rows = {row.tobytes() for row in data.x_train}
    assert sum(row.tobytes() in train_rows for row in data.x_val) <= 5  # digits has a few duplicate images


def test_train_size_takes_a_stratified_sample():
    data = load_dataset(DatasetConfig(name="digits", train_size=300, val_size=100))
    assert (len(data.y_train), len(data.y_val)) == (300, 100)
    assert np.bincount(data.y_train, minlength=10).min() >= 28


def test_the_split_does_not_depend_on_anything_but_split_seed():
    first = load_dataset(DatasetConfig(name="digits"))
    again = load_dataset(DatasetConfig(name="digits"))
    other = load_dataset(DatasetConfig(name="digits", split_seed=1))
    assert np.array_equal(first.y_val, again.y_val)
    assert not np.array_equal(first.x_val, other.x_val)


def test_sizes_larger_than_the_dataset_are_refused():
    with pytest.raises(UserError, match="digits has 1437 training examples, fewer than train_size 10000"):
        load_dataset(DatasetConfig(name="digits", train_size=10_000, val_size=2_000))


def _fake_mnist(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(700, 28, 28), dtype=np.uint8)
    labels = np.tile(np.arange(10, dtype=np.uint8), 70)
    np.savez(folder / "mnist.npz", x_train=images, y_train=labels, x_test=images[:100], y_test=labels[:100])
    return folder / "mnist.npz", images


def test_mnist_is_read_from_the_keras_cache_once_verified(tmp_path, monkeypatch):
    path, images = _fake_mnist(tmp_path / "datasets")
    content = path.read_bytes()
    monkeypatch.setattr(data_module, "MNIST_NPZ", (len(content), hashlib.sha256(content).hexdigest()))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = load_dataset(DatasetConfig(name="mnist", val_size=100))
    assert data.input_dim == 784 and (len(data.y_train), len(data.y_val), len(data.y_test)) == (600, 100, 100)
    assert np.array_equal(data.x_test[0].reshape(-1), images[0].reshape(-1)) and data.scale == 255.0


def test_a_truncated_mnist_file_is_refused(tmp_path, monkeypatch):
    path, _ = _fake_mnist(tmp_path / "datasets")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=r"mnist.npz is 629,002 bytes, not the published 11,490,434: truncated"):
        load_dataset(DatasetConfig(name="mnist"))


def test_an_mnist_file_of_the_right_size_but_wrong_content_is_refused(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(bytes(11_490_434))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match="mnist.npz does not match its published SHA-256: corrupt"):
        load_dataset(DatasetConfig(name="mnist"))


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_a_truncated_fashion_mnist_file_is_refused_by_name(tmp_path, monkeypatch):
    for name in FASHION_MNIST_IDX:
        shutil.copy(DEBIAN_FASHION_MNIST / name, tmp_path / name)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:1_000_000])
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(UserError, match=f"{broken} cannot be decompressed"):
        load_dataset(DatasetConfig(name="fashion_mnist"))


def test_a_fashion_mnist_file_with_other_content_is_refused_by_name(tmp_path, monkeypatch):
    for name in FASHION_MNIST_IDX:
        with gzip.open(tmp_path / name, "wb") as file:
            file.write(bytes(100))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz is 100 bytes, not the published 47,040,016"):
        load_dataset(DatasetConfig(name="fashion_mnist"))


def test_missing_mnist_offline_says_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # no network, whatever this machine has
    with pytest.raises(UserError) as error:
        load_dataset(DatasetConfig(name="mnist"))
    message = str(error.value)
    assert f"put mnist.npz in {tmp_path}/datasets/" in message
    assert "digits" in message and "fashion_mnist" in message


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_the_debian_package():
    data = load_dataset(DatasetConfig(name="fashion_mnist"))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (55_000, 5_000, 10_000)
    assert data.input_dim == 784 and data.input_shape == (28, 28, 1)
    assert data.class_names == FASHION_MNIST_CLASSES
    assert np.bincount(data.y_test).tolist() == [1000] * 10
