"""A run's TensorBoard event files, written with TensorBoard's own writer on every backend.

Keras's TensorBoard callback writes through `tf.summary`, so it loads TensorFlow whichever backend trains: on JAX
that is about 2 s of every command and every worker, for files that need no TensorFlow. TensorBoard's event writer
and summary protos need only NumPy (on JAX, TensorBoard is told to use its TensorFlow-free stub for files:
harness.training.train.leave_tensorflow_unloaded). `EpochScalars` writes what Keras's callback writes with
`write_graph=False` (each epoch's logs as `epoch_<name>`, validation ones under validation/), so `tensorboard
--logdir reports` shows the same curves, and the HParams dashboard's records (harness.training.hparams) go through
the same writer.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras


def event_writer(folder: Path):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    return EventFileWriter(str(folder))


def add_summaries(writer, summaries: list, step: int) -> None:
    """`summaries` (tensorboard Summary protos) at `step`, flushed to disk."""
    from tensorboard.compat.proto import event_pb2

    for summary in summaries:
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
    writer.flush()


def scalar(tag: str, value: float):
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb

    return scalar_pb(tag, float(value))


class EpochScalars(keras.callbacks.Callback):
    """Each epoch's logs as TensorBoard scalars: `loss` as epoch_loss in train/, `val_loss` as epoch_loss in
    validation/, as Keras's TensorBoard callback names them. An epoch's scalars are on disk when it ends."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.writers: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        parts: dict[str, list] = {}
        for name, value in (logs or {}).items():
            part, tag = ("validation", name.removeprefix("val_")) if name.startswith("val_") else ("train", name)
            parts.setdefault(part, []).append(scalar(f"epoch_{tag}", value))
        for part, summaries in parts.items():
            if part not in self.writers:
                self.writers[part] = event_writer(self.folder / part)
            add_summaries(self.writers[part], summaries, epoch)

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
