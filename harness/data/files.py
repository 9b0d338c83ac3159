"""Your own data: an .npz file here, and what the three kinds share (an .npz, a table: harness.data.tables, a folder
of images: harness.data.images): their paths checked, labels and class names, the stratified test split, identity.

    dataset: {name: npz, path: data/mine.npz}                  x_train, y_train, x_test, y_test[, class_names]
    dataset: {name: table, path: data/churn.csv, target: churned, test_fraction: 0.2}      (or test_path: ...)
    dataset: {name: images, path: data/photos, image_size: [64, 64], test_fraction: 0.2}   (or test_path: ...)

Class names come from the data: the subfolders' names, the target column's values, or the file's class_names.
Whatever is wrong with the data is one line that names the file and what to do, before any run exists: a missing
file or folder, an unknown target column, a text column that cannot be encoded, a class in the test set that
training never sees, images of mixed sizes without image_size, too few examples of a class for the split, an
.npz without its arrays. Images are read with Pillow (what Keras's own image utilities use), so a process that
only checks a group's data need not import Keras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.data.examples import Examples
from harness.errors import UserError

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_TEST_FRACTION = 0.2


def existing(path: str | None, what: str, folder: bool = False) -> Path:
    if not path:
        raise UserError(f"dataset.path: give the {what}'s path")
    found = Path(path).expanduser()
    if not (found.is_dir() if folder else found.is_file()):
        raise UserError(f"dataset.path: {found} is not {'a folder' if folder else 'a file'} here; check the path")
    return found


def class_labels(y_train, y_test, names=None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Integer labels and the class names: the given names (labels are their indices), else the training labels'
    distinct values in order. A test label that training never saw is refused."""
    y_train, y_test = np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)
    if names is not None:
        names = tuple(str(name) for name in np.asarray(names).reshape(-1))
        for labels in (y_train, y_test):
            if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(names):
                raise UserError(
                    f"labels must be integers 0 to {len(names) - 1}, one for each of the {len(names)} class_names"
                )
        return y_train.astype(np.int32), y_test.astype(np.int32), names
    classes = np.unique(y_train)
    unseen = sorted(set(np.unique(y_test).tolist()) - set(classes.tolist()))
    if unseen:
        raise UserError(
            f"class {unseen[0]!r} is in the test set but never in the training set: a model cannot learn it; "
            "drop those examples or add some to the training data"
        )
    return (
        np.searchsorted(classes, y_train).astype(np.int32),
        np.searchsorted(classes, y_test).astype(np.int32),
        tuple(str(value) for value in classes),
    )


def stratified_test_split(y, fraction: float, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the training and test examples: a stratified split, every class in both."""
    from sklearn.model_selection import train_test_split

    values, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        rare = values[counts.argmin()]
        raise UserError(
            f"class {str(rare)!r} of the {what} has {counts.min()} example: a stratified test split needs at least "
            "2 of each class; add examples, or give a test set of its own"
        )
    rows = np.arange(len(y))
    try:
        train, test = train_test_split(rows, test_size=fraction, stratify=y, random_state=seed)
    except ValueError as error:  # a test set smaller than the number of classes, and the like
        raise UserError(f"the {what} cannot be split for a test set of {fraction:g}: {error}") from None
    return np.sort(train), np.sort(test)


# ---------------------------------------------------------------- .npz


def npz_file(settings, download: bool = True) -> Examples:
    path = existing(settings.path, ".npz file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in NPZ_ARRAYS if name not in data.files]
            if missing:
                raise UserError(
                    f"{path} has no {', '.join(missing)} (it has {', '.join(data.files) or 'nothing'}): an .npz "
                    "dataset needs x_train, y_train, x_test and y_test, and may give class_names"
                )
            arrays = {name: data[name] for name in data.files}
    except (ValueError, OSError) as error:
        raise UserError(f"{path} cannot be read as .npz ({error})") from None
    y_train, y_test, names = class_labels(arrays["y_train"], arrays["y_test"], arrays.get("class_names"))
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    if x_train.ndim < 2 or x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(f"{path}: x_train {x_train.shape} and x_test {x_test.shape} must have the same example shape")
    if x_train.ndim == 2:  # rows of numbers: a table (brightest None), standardised like a table's columns
        return Examples(x_train, y_train, x_test, y_test, names)
    brightest = 255.0 if np.issubdtype(x_train.dtype, np.integer) else 1.0
    return Examples(x_train, y_train, x_test, y_test, names, brightest)


# ---------------------------------------------------------------- identity
