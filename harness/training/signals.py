"""Ctrl-C and SIGTERM while a run trains: the run stops at once as `interrupted`, with what it finished kept.

The handler raises `Interrupted` at once; a last callback (`StopOnSignal`) raises it again at the end of the
epoch, because Python drops an exception raised inside a finalizer (TensorFlow's objects have many), so the
first raise can be lost and the run would otherwise train on to its last epoch.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from dataclasses import dataclass

import keras


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during training."""

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

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield watch
        watch.check()
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
