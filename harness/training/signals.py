"""Ctrl-C and SIGTERM while a run trains: the run stops at once as `interrupted`, with what it finished kept.

The handler raises `Interrupted` at once; a last callback (`StopOnSignal`) raises it again at the end of the
epoch, because Python drops an exception raised inside a finalizer or a garbage collector's callback (TensorFlow's
objects have many, and JAX, which TensorFlow imports, has one), so the first raise can be lost and the run would
otherwise train on to its last epoch. A lost raise is not printed: Python would show it as "Exception ignored in
..." with a traceback, though the run stops all the same.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import keras


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during training: like KeyboardInterrupt, not an Exception, so that code which handles
    errors (a library's `except Exception`) lets it through."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


@dataclass
class SignalWatch:
    """The signal that asked training to stop, if one did."""

    name: str | None = None

    def check(self) -> None:
        if self.name:
            raise Interrupted(self.name)


class StopOnSignal(keras.callbacks.Callback):
    """Raise Interrupted at the end of an epoch once a signal was received (the handler's own raise may be lost)."""

    def __init__(self, watch: SignalWatch):
        super().__init__()
        self.watch = watch

    def on_epoch_end(self, epoch, logs=None):
        self.watch.check()


@contextmanager
def signals_interrupt(watch: SignalWatch | None = None):
    """Turn SIGINT and SIGTERM into Interrupted while training runs: from the handler at once, and on
    leaving the block should that raise have been lost."""
    watch = watch or SignalWatch()

    def handler(number, frame):
        watch.name = signal.Signals(number).name
        watch.check()

    def unraisable(lost):
        if not isinstance(lost.exc_value, Interrupted):  # a raise of ours that Python dropped: StopOnSignal's then
            previous_hook(lost)

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield watch
        watch.check()
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        sys.unraisablehook = previous_hook
