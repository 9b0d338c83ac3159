"""What a dataset source returns, and what an entry of the datasets registry (harness.data.sources) declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Examples:
    """A dataset as its source holds it: training and test examples (images as pixels, or a table's rows) and
    integer labels, with the classes' names in label order."""

    x_train: object  # np.ndarray of images (n, height, width[, channels]), or a pandas DataFrame of a table's columns
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray
    class_names: tuple[str, ...]
    brightest: float | None = None  # images: the pixel value that means white (255, 16); tables: None
    left_out: dict = field(default_factory=dict)  # what the source left out and why, with counts (data.json)
    checks: tuple = ()  # the cache checks a run confirms (harness.data.cache.Check)


@dataclass(frozen=True)
class DatasetSource:
    read: Callable[[object, bool], Examples] | None  # read(settings, download): its examples (None: a table's are
    # read by harness.data.tables)
    identity: Callable[[object], str]  # what its content is (part of a run's fingerprint)
    description: str
    kind: str = "images"  # images, or table
    offline: str | None = None  # how it is had without a network; None: it always is
    takes: tuple[str, ...] = ()  # dataset settings besides the split's (name, train_size, val_size, split_seed)
    needs: tuple[str, ...] = ()  # of those, the ones it cannot do without
    files: Callable[[object], list[Path]] = field(default=lambda settings: [])  # what it is read from here
    reads_cache: bool = False  # it keeps its own cache entries (a folder of images): read(settings, download, memory)
    class_names: tuple[str, ...] = ()  # known without reading it (the built-in sets); else they come from the data
