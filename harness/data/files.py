"""Your own data: an .npz file, a table (CSV or Parquet) or a folder of images with one subfolder per class.

    dataset: {name: npz, path: data/mine.npz}                  x_train, y_train, x_test, y_test[, class_names]
    dataset: {name: table, path: data/churn.csv, target: churned, test_fraction: 0.2}      (or test_path: ...)
    dataset: {name: images, path: data/photos, image_size: [64, 64], test_fraction: 0.2}

Class names come from the data: the subfolders' names, the target column's values, or the file's class_names.
Whatever is wrong with the data is one line that names the file and what to do, before any run exists: a missing
file or folder, an unknown target column, a text column that cannot be encoded, a class in the test set that
training never sees, images of mixed sizes without image_size, too few examples of a class for the split, an
.npz without its arrays. Images are read with Pillow (what Keras's own image utilities use), so a process that
only checks a group's data need not import Keras.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from harness.data.examples import Examples
from harness.errors import UserError, did_you_mean

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DEFAULT_TEST_FRACTION = 0.2
MAX_CATEGORIES = 50  # distinct values a text column may have to be one-hot encoded


def _existing(path: str | None, what: str, folder: bool = False) -> Path:
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
    path = _existing(settings.path, ".npz file")
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


# ---------------------------------------------------------------- tables


def _read_table(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, ImportError) as error:
        raise UserError(f"{path} cannot be read as a table ({type(error).__name__}: {error})") from None


def _check_columns(frame, target: str, path: Path) -> None:
    if target not in frame.columns:
        raise UserError(
            f"dataset.target: {path} has no column {target!r}{did_you_mean(target, frame.columns)}; "
            f"its columns: {', '.join(map(str, frame.columns))}"
        )
    for column in frame.columns.drop(target):
        values = frame[column]
        if values.dtype.kind in "OSUb" or str(values.dtype) in ("category", "string"):
            distinct = values.nunique()
            if distinct > MAX_CATEGORIES:
                raise UserError(
                    f"column {column!r} of {path} is text with {distinct:,} distinct values: too many to one-hot "
                    f"encode (at most {MAX_CATEGORIES}); drop it from the table, or turn it into numbers"
                )
        elif values.dtype.kind not in "iuf":
            raise UserError(f"column {column!r} of {path} holds {values.dtype} values, neither numbers nor text")


def _numbered(frame, path: Path):
    """The table with each row's place in its file as the index: its line in a CSV (the header is line 1), its row
    number in a Parquet file, so that a row the report shows can be found in the file."""
    import pandas as pd

    csv = path.suffix.lower() not in (".parquet", ".pq")
    first = 2 if csv else 1
    frame.index = pd.RangeIndex(first, first + len(frame), name="line" if csv else "row")
    return frame


def _labelled(frame, target: str, path: Path):
    """The rows that have a value in the target column, and how many had none (said in one line)."""
    missing = frame[target].isna()
    if missing.any():
        where = ", ".join(str(place) for place in frame.index[missing][:5]) + (", ..." if missing.sum() > 5 else "")
        print(
            f"warning: {missing.sum():,} rows of {path.name} have no value in the target column {target!r} "
            f"({frame.index.name}s {where}): left out",
            file=sys.stderr,
            flush=True,
        )
    return frame[~missing], int(missing.sum())


def _table_with_target(path: Path, target: str):
    frame = _numbered(_read_table(path), path)
    _check_columns(frame, target, path)
    return _labelled(frame, target, path)


def table_file(settings, download: bool = True) -> Examples:
    path = _existing(settings.path, "table (CSV or Parquet)")
    frame, unlabelled = _table_with_target(path, settings.target)
    if settings.test_path:
        test_path = _existing(settings.test_path, "test table")
        test, unlabelled_test = _table_with_target(test_path, settings.target)
        unlabelled += unlabelled_test
        missing = sorted(set(frame.columns) - set(test.columns))
        if missing:
            raise UserError(f"{test_path} lacks the columns {', '.join(map(str, missing))} that {path} has")
        train = frame
    else:
        fraction = settings.test_fraction or DEFAULT_TEST_FRACTION
        rows, test_rows = stratified_test_split(
            frame[settings.target].to_numpy(), fraction, settings.split_seed, f"table {path.name}"
        )
        train, test = frame.iloc[rows], frame.iloc[test_rows]
    y_train, y_test, names = class_labels(train[settings.target].to_numpy(), test[settings.target].to_numpy())
    features = [column for column in frame.columns if column != settings.target]
    left_out = {"rows_without_target": unlabelled} if unlabelled else {}
    return Examples(train[features], y_train, test[features], y_test, names, left_out=left_out)


def fit_table_encoder(x_train):
    """Numbers standardised, text one-hot encoded, fitted on the training examples only (scikit-learn)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [column for column in x_train.columns if x_train[column].dtype.kind in "iuf"]
    text = [column for column in x_train.columns if column not in numeric]
    encoder = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
                ),
                text,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return encoder.fit(x_train)


# ---------------------------------------------------------------- a folder of images


def _class_folders(root: Path) -> dict[str, list[Path]]:
    folders = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        images = sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            folders[folder.name] = images
    if len(folders) < 2:
        raise UserError(
            f"dataset.path: {root} needs one subfolder of images per class, at least two; it has "
            f"{', '.join(folders) or 'none'}"
        )
    return folders


def images_folder_files(settings) -> list[Path]:
    root = Path(settings.path).expanduser()
    return [image for images in _class_folders(root).values() for image in images] if root.is_dir() else []


def _opened(path: Path):
    """The image in a file, decoded now (Pillow decodes lazily), the file closed; a file that is not a whole image is
    one line that names it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"{path}: cannot be read as an image ({error}): replace the file, or remove it") from None


def _decoded(files: list[Path], image_size) -> np.ndarray:
    """The images as uint8 arrays of one size and one colour mode (grey, unless one of them has colour)."""
    from PIL import Image

    images = [_opened(path) for path in files]
    sizes = sorted({image.size for image in images})
    if image_size is None and len(sizes) > 1:
        (first_w, first_h), (other_w, other_h) = sizes[0], sizes[-1]
        raise UserError(
            f"the images have mixed sizes ({first_h}x{first_w} and {other_h}x{other_w}, height x width): give "
            "dataset.image_size: [height, width] to resize them to one"
        )
    colour = any(image.mode not in ("L", "1", "I;16", "I", "F") for image in images)
    mode = "RGB" if colour else "L"
    height, width = image_size or (sizes[0][1], sizes[0][0])
    pixels = [np.asarray(image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)) for image in images]
    stacked = np.stack(pixels).astype(np.uint8)
    return stacked if colour else stacked[..., np.newaxis]


def images_folder(settings, download: bool = True) -> Examples:
    root = _existing(settings.path, "folder of images", folder=True)
    folders = _class_folders(root)
    files = [image for images in folders.values() for image in images]
    labels = np.concatenate([np.full(len(images), index) for index, images in enumerate(folders.values())])
    pixels = _decoded(files, settings.image_size)
    train, test = stratified_test_split(
        labels, settings.test_fraction or DEFAULT_TEST_FRACTION, settings.split_seed, f"folder {root.name}"
    )
    return Examples(
        pixels[train],
        labels[train].astype(np.int32),
        pixels[test],
        labels[test].astype(np.int32),
        tuple(folders),
        255.0,
    )


# ---------------------------------------------------------------- identity


def user_files_identity(settings) -> str:
    """What a dataset of your own files is: the SHA-256 of their bytes, and the settings that decide its examples."""
    digest = hashlib.sha256()
    root = Path(settings.path).expanduser()
    paths = images_folder_files(settings) if root.is_dir() else [root]
    paths += [Path(settings.test_path).expanduser()] if getattr(settings, "test_path", None) else []
    for path in paths:
        digest.update(str(path.relative_to(root) if root.is_dir() else path.name).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    chosen = {key: getattr(settings, key, None) for key in ("target", "test_fraction", "image_size", "split_seed")}
    return f"{settings.name} sha256 {digest.hexdigest()} {chosen}"
