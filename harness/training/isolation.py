"""One run after another in one process, each as if it had the process to itself (a worker of
harness.groups.workers, or a notebook kernel running harness.api.run).

Keras's `clear_session` resets layer names, uids and TensorFlow's graph, but not everything a run leaves
behind: each time a training step is traced, Keras's optimizer calls tf.distribute's `all_reduce`, which
registers a gradient function in TensorFlow's global gradient registry and never removes it, and each
registration keeps the whole traced graph alive, so a worker grew run after run (the README's Speed section has
the figures). Once the run's model is gone nothing can ask for those
gradients again, so `isolated_run` forgets the registrations the run made.

The first isolated run of a process sets aside everything alive before it (harness.collector): the collections
between runs then walk only what the runs made, not the frameworks' million objects.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import sys
from collections.abc import Iterator

from harness.collector import freeze_survivors

CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


@contextlib.contextmanager
def isolated_run() -> Iterator[None]:
    """The block as a run alone in its process. A process that has not loaded Keras yet is as fresh as it can be: the
    block loads it if it needs it (a command that stops at bad input never does)."""
    keras = sys.modules.get("keras")
    registered = set()
    if keras is not None:
        _set_survivors_aside_once()
        keras.backend.clear_session()  # layer names, uids and graphs as in a fresh process
        registered = _gradient_registrations(keras)
    try:
        yield
    finally:
        keras = sys.modules.get("keras")
        if keras is not None:
            keras.backend.clear_session()
            _forget_gradient_registrations(keras, registered)
        gc.collect()  # the run's model and data go before the next run's arrive
        _release_free_memory()


@functools.cache
def _set_survivors_aside_once() -> None:
    freeze_survivors()


def _registry(keras) -> dict:
    if keras.backend.backend() != "tensorflow":
        return {}
    from tensorflow.python.framework import ops

    return ops._gradient_registry._registry


def _gradient_registrations(keras) -> set[str]:
    return {name for name in _registry(keras) if name.startswith(CUSTOM_GRADIENT_PREFIX)}


def _forget_gradient_registrations(keras, before: set[str]) -> None:
    registry = _registry(keras)
    for name in _gradient_registrations(keras) - before:
        del registry[name]


def _release_free_memory() -> None:
    """Give the memory the C allocator holds free back to the system (glibc's malloc_trim)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
