"""Per-epoch checkpoints that a kill at any moment cannot corrupt, and restoring from them.

Keras's BackupAndRestore rewrites its weights file in place, so a SIGKILL during the write leaves a file
that no longer loads (seen in testing); here weights and the epoch counter are each written to a
temporary file and renamed, so the checkpoint on disk is always a whole one.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from harness.records import write_json, write_with

WEIGHTS = "latest.weights.h5"  # model and optimizer state
PROGRESS = "progress.json"  # {"epoch": epochs completed}


class EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training and not all(map(_finite, (logs or {}).values())):
            return  # a diverged epoch is not worth resuming from
        self.directory.mkdir(exist_ok=True)
        write_with(self.directory / WEIGHTS, lambda path: self.model.save_weights(path))
        write_json(self.directory / PROGRESS, {"epoch": epoch + 1})


def _finite(value) -> bool:
    try:
        return abs(float(value)) < float("inf")
    except (TypeError, ValueError):
        return True


def completed_epochs(directory: Path) -> int | None:
    """Epochs the checkpoint holds, or None when there is no checkpoint."""
    try:
        return json.loads((directory / PROGRESS).read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return None


def restore(model: keras.Model, weights: Path) -> None:
    """Load weights and optimizer state (a checkpoint's WEIGHTS file, or a finished run's model.keras) into
    a compiled model."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)
