"""Python's cyclic garbage collector, kept out of the way of training.

TensorFlow and Keras leave about a million long-lived objects in a process, and every full collection walks
them all, which takes a noticeable part of a second. The collections between two runs of a worker (Keras's
clear_session and the isolation's own) are the ones that matter; setting the imports aside spares them that walk.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees everything else at once): for
    work that makes many small objects at once, such as the index's tens of thousands of rows."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_survivors() -> None:
    """Collect once, then set everything alive aside (gc.freeze) so that later collections skip it: for a
    long-lived process once its frameworks are imported."""
    gc.collect()
    gc.freeze()
