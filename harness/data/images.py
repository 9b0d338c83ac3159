"""A folder of images, one subfolder per class, decoded once into the cache and kept up to date file by file.

    dataset: {name: images, path: data/photos, image_size: [64, 64], test_fraction: 0.2}
    dataset: {name: images, path: data/train, test_path: data/test}            (train/<class>/, test/<class>/)

The first run opens, decodes, converts and closes each file in turn (threads, as Pillow decodes without Python's
lock), writing its pixels straight into a uint8 array on disk in the cache (harness.data.cache): memory holds a few
images at a time and the open files stay few, whatever the folder holds. The entry keeps a manifest of every file
(its path in the folder, size, modification time and SHA-256, hashed once). A later run lists the folder and
compares sizes and times: unchanged files are neither decoded nor hashed again, and an added, removed or changed file
is found and only its work is done. A file that is not a whole image is named in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from harness.data.arrays import NpyWriter, Rows
from harness.data.cache import Entry, entry_folder, read_entry, write_entry
from harness.data.examples import Examples
from harness.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
GREY_MODES = ("L", "1", "I;16", "I", "F", "LA")
BLOCK = 512  # images decoded (or copied) at a time
NOTE_FROM = 2_000  # images decoded at once that are worth a line saying so


class Stamp(NamedTuple):
    """A file as the folder lists it: its path in the folder, class, size and modification time."""

    path: str
    label: int
    size: int
    mtime_ns: int


MANIFEST = "manifest.json"  # in a folder's entry: each file's path, size, modification time and SHA-256, by row


def _images_in(folder: str, prefix: str, found: list) -> list:
    """(path in the root folder, size, modification time) of each image file under `folder`, its subfolders too."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_SUFFIXES):
                stat = entry.stat()
                found.append((prefix + name, stat.st_size, stat.st_mtime_ns))
            elif entry.is_dir():
                _images_in(entry.path, f"{prefix}{name}/", found)
    return found


def listing(root: Path) -> tuple[list[str], list[Stamp]]:
    """The class names (the subfolders that hold images, sorted) and every image under them, in class then path
    order, with its size and modification time."""
    names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    found = {name: sorted(_images_in(os.path.join(root, name), f"{name}/", [])) for name in names}
    classes = [name for name in names if found[name]]
    if len(classes) < 2:
        raise UserError(
            f"dataset.path: {root} needs one subfolder of images per class, at least two; it has "
            f"{', '.join(classes) or 'none'}"
        )
    return classes, [
        Stamp(path, label, size, mtime) for label, name in enumerate(classes) for path, size, mtime in found[name]
    ]


def listing_digest(stamps: list[Stamp]) -> str:
    """One hash of every file's path, size and modification time, in order: a folder unchanged since its entry was
    written has the entry's (comparing it costs nothing more than the listing)."""
    text = "\n".join(f"{path}\0{label}\0{size}\0{mtime}" for path, label, size, mtime in stamps)
    return hashlib.sha256(text.encode()).hexdigest()


def manifest(folder: Path) -> list:
    """An entry's files: [path, size, modification time, SHA-256] by row ([] when it has none)."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return []


def _unchanged(folder: Path | None, stamps: list[Stamp]) -> dict[str, tuple[int, str]]:
    """The files an entry already holds, as they are now: path -> (its row in the entry, its SHA-256)."""
    if folder is None:
        return {}
    now = {stamp.path: stamp for stamp in stamps}
    kept = {}
    for row, (path, size, mtime_ns, digest) in enumerate(manifest(folder)):
        stamp = now.get(path)
        if stamp is not None and (stamp.size, stamp.mtime_ns) == (size, mtime_ns):
            kept[path] = (row, digest)
    return kept


def folder_entry(root: Path, image_size, memory: dict) -> Entry:
    """The folder's decoded images (x: n x height x width x channels, uint8) and labels (y), from `memory`, the cache,
    or decoded now, only what changed since the cache was written."""
    folder = entry_folder("images", [str(root.resolve()), f"image_size={image_size}"])
    classes, stamps = listing(root)
    entry = memory.get(folder) or read_entry(folder)
    listed = entry is not None and entry.meta.get("listing") == listing_digest(stamps)  # None: an older entry
    if listed and entry.meta["classes"] == classes:
        memory[folder] = entry
        return entry
    kept = _unchanged(folder if entry is not None else None, stamps)
    started, decoding = time.perf_counter(), len(stamps) - len(kept)
    if decoding >= NOTE_FROM:
        print(f"note: decoding {decoding:,} images of {root} into the cache (once)", file=sys.stderr, flush=True)
    written = write_entry(
        folder, {}, {"classes": classes}, lambda into: _write(into, root, stamps, entry, kept, image_size)
    )
    if written is None:
        raise UserError(
            f"cannot write the decoded images of {root} into {folder}: free disk space there, or give "
            "KERAS_HARNESS_CACHE another folder"
        )
    if decoding >= NOTE_FROM:
        print(f"note: decoded in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    memory[folder] = written
    return written


def _write(into: Path, root: Path, stamps: list[Stamp], old: Entry | None, kept: dict, image_size) -> dict:
    """Write x.npy and y.npy for `stamps` into the folder `into`: kept rows copied from the old entry, the rest
    decoded; returns the manifest. A colour image in what began as a grey folder starts it again in colour."""
    shape, resize = _shape(root, stamps, old, kept, image_size), image_size is not None
    try:
        files = _write_pixels(into, root, stamps, (old, kept), shape, resize)
    except _Colour:
        shape = (*shape[:2], 3)
        files = _write_pixels(into, root, stamps, (None, {}), shape, resize)
    np.save(into / "y.npy", np.array([stamp.label for stamp in stamps], dtype=np.int32))
    (into / MANIFEST).write_text(json.dumps(files))
    identity = _identity((path, digest) for path, _, _, digest in files)
    return {"shape": list(shape), "listing": listing_digest(stamps), "identity": identity}


class _Colour(Exception):
    """A colour image where the folder's first image was grey."""


def _shape(root: Path, stamps: list[Stamp], old: Entry | None, kept: dict, image_size) -> tuple[int, int, int]:
    """(height, width, channels) of every image: image_size or the first image's size, and its colour."""
    if old is not None and kept:
        return tuple(old.meta["shape"])
    first = _opened(root / stamps[0].path)[0]
    height, width = image_size or (first.size[1], first.size[0])
    return height, width, 1 if first.mode in GREY_MODES else 3


def _write_pixels(into: Path, root: Path, stamps: list[Stamp], reused: tuple, shape, resize: bool) -> list:
    """x.npy, a block of images at a time: the rows `reused` (the old entry, and the files it holds unchanged) copied,
    the others decoded in threads; returns the manifest."""
    (old, kept), files = reused, [None] * len(stamps)
    with (
        NpyWriter(into / "x.npy", (len(stamps), *shape), np.uint8) as writer,
        ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool,
    ):
        for start in range(0, len(stamps), BLOCK):
            block = stamps[start : start + BLOCK]
            copied = [index for index, stamp in enumerate(block) if stamp.path in kept]
            if copied:
                rows = [kept[block[index].path][0] for index in copied]
                for index, pixels in zip(copied, Rows(old.arrays["x"], rows)[:], strict=True):
                    writer.write(start + index, pixels[np.newaxis])
                    files[start + index] = [*_stamp(block[index]), kept[block[index].path][1]]
            fresh = [index for index in range(len(block)) if block[index].path not in kept]
            decoded = pool.map(lambda stamp: _decoded(root / stamp.path, shape, resize), [block[i] for i in fresh])
            for index, (pixels, digest) in zip(fresh, decoded, strict=True):
                writer.write(start + index, pixels[np.newaxis])
                files[start + index] = [*_stamp(block[index]), digest]
    return files


def _stamp(stamp: Stamp) -> list:
    return [stamp.path, stamp.size, stamp.mtime_ns]


def _opened(path: Path):
    """The image in a file, decoded now (Pillow decodes lazily) and the file closed, with the file's SHA-256; a file
    that is not a whole image is one line that names it."""
    from PIL import Image

    try:
        content = path.read_bytes()
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            return image, hashlib.sha256(content).hexdigest()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"{path}: cannot be read as an image ({error}): replace the file, or remove it") from None


def _decoded(path: Path, shape: tuple[int, int, int], resize: bool) -> tuple[np.ndarray, str]:
    """A file's pixels at the folder's size and colour, and its SHA-256."""
    from PIL import Image

    image, digest = _opened(path)
    height, width, channels = shape
    if channels == 1 and image.mode not in GREY_MODES:
        raise _Colour
    if image.size != (width, height) and not resize:
        raise UserError(
            f"the images have mixed sizes ({height}x{width} and {image.size[1]}x{image.size[0]}, height x width, "
            f"{path} among the second): give dataset.image_size: [height, width] to resize them to one"
        )
    converted = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8)
    return (pixels[..., np.newaxis] if channels == 1 else pixels), digest


def images_examples(settings, download: bool = True, memory: dict | None = None) -> Examples:
    """A folder's images as a dataset's examples: its test set a folder of its own (test_path, with the same classes)
    or a stratified share of it (test_fraction); each decoded once into the cache."""
    from harness.data.files import DEFAULT_TEST_FRACTION, existing, stratified_test_split

    memory = {} if memory is None else memory
    root = existing(settings.path, "folder of images", folder=True)
    entry = folder_entry(root, settings.image_size, memory)
    x, y, classes = entry.arrays["x"], entry.arrays["y"], tuple(entry.meta["classes"])
    checks = tuple(check for check in [entry.check] if check)
    if settings.test_path:
        test_root = existing(settings.test_path, "folder of test images", folder=True)
        test = folder_entry(test_root, settings.image_size, memory)
        _same_classes_and_shape(root, entry, test_root, test)
        checks += tuple(check for check in [test.check] if check)
        return Examples(x, y, test.arrays["x"], test.arrays["y"], classes, 255.0, checks=checks)
    fraction = settings.test_fraction or DEFAULT_TEST_FRACTION
    train, test_rows = stratified_test_split(y, fraction, settings.split_seed, f"folder {root.name}")
    return Examples(Rows(x, train), y[train], Rows(x, test_rows), y[test_rows], classes, 255.0, checks=checks)


def _same_classes_and_shape(root: Path, train: Entry, test_root: Path, test: Entry) -> None:
    """A test folder names the same classes as its training folder, and its images have their size and colour."""
    mine, theirs = train.meta["classes"], test.meta["classes"]
    if mine != theirs:
        raise UserError(
            f"the class folders of {test_root} ({', '.join(theirs)}) are not those of {root} ({', '.join(mine)}): "
            "give the test folder one subfolder for each class of the training folder, with the same names"
        )
    if train.meta["shape"] != test.meta["shape"]:
        (height, width, channels), (other_height, other_width, other_channels) = train.meta["shape"], test.meta["shape"]
        raise UserError(
            f"the images of {test_root} are {other_height}x{other_width} with {other_channels} channel(s), those of "
            f"{root} {height}x{width} with {channels}: give dataset.image_size to resize both to one size, and "
            "give both folders images of one colour kind"
        )


def folder_identity(root: Path, image_size) -> str:
    """What a folder holds: a SHA-256 of each file's path and SHA-256. A folder listed as its cache entry was written
    has the entry's (its manifest is not read); otherwise the entry's digests serve for the files unchanged since, and
    the others are hashed now."""
    from harness.data.cache import read_meta

    folder = entry_folder("images", [str(root.resolve()), f"image_size={image_size}"])
    _, stamps = listing(root)
    meta = read_meta(folder)
    if meta and "identity" in meta and meta.get("listing") == listing_digest(stamps):
        return meta["identity"]
    kept = _unchanged(folder if meta else None, stamps)
    return _identity(
        (stamp.path, kept[stamp.path][1] if stamp.path in kept else _sha256(root / stamp.path)) for stamp in stamps
    )


def _identity(files) -> str:
    """One SHA-256 of (path in the folder, the file's SHA-256) pairs, in order."""
    digest = hashlib.sha256()
    for path, file_digest in files:
        digest.update(f"{path}\0{file_digest}\0".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
