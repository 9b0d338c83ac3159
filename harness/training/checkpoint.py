"""Per-epoch checkpoints that a kill at any moment cannot corrupt, and restoring from them.

Keras's BackupAndRestore rewrites its weights file in place, so a SIGKILL during the write leaves a file
that no longer loads. Here each epoch's weights go to a new file of their own, and then
progress.json, written to a temporary file and renamed, names them and their epoch in one step: a kill at
any moment leaves the last whole checkpoint in force, weights and epoch count together. (With one weights
file and the counter written after it, a kill between the two renames paired epoch N+1's weights with
"N epochs done", and the resumed run repeated an epoch from the wrong weights.)
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from harness.atomic import write_json, write_with

PROGRESS = "progress.json"  # {"epoch": epochs completed, "weights": the file with the model and optimizer state}


class EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training and not all(map(_finite, (logs or {}).values())):
            return  # a diverged epoch is not worth resuming from
        self.directory.mkdir(exist_ok=True)
        name = f"epoch-{epoch + 1:05d}.weights.h5"
        write_with(self.directory / name, lambda path: self.model.save_weights(path))
        write_json(self.directory / PROGRESS, {"epoch": epoch + 1, "weights": name})  # the commit
        for older in self.directory.glob("epoch-*.weights.h5"):
            if older.name != name:
                older.unlink(missing_ok=True)


def _finite(value) -> bool:
    try:
        return abs(float(value)) < float("inf")
    except (TypeError, ValueError):
        return True


def completed_epochs(directory: Path) -> tuple[int, Path] | None:
    """Epochs the checkpoint holds and the weights file that holds them, or None when there is no checkpoint."""
    try:
        progress = json.loads((directory / PROGRESS).read_text())
        return progress["epoch"], directory / progress["weights"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def restore(model: keras.Model, weights: Path) -> None:
    """Load weights and optimizer state (a checkpoint's WEIGHTS file, or a finished run's model.keras) into
    a compiled model."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)
