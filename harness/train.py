"""Train one experiment's model: seed, build, compile, fit. Writes nothing itself.

The caller (``harness.runner``) passes the callbacks that write files, such as the CSV history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import pandas as pd

from harness.config import ExperimentConfig
from harness.optimizers import build_optimizer, schedule_callback
from models.registry import build_model


class EpochStats(keras.callbacks.Callback):
    """Adds the learning rate in use and the epoch's wall time to each epoch's logs (so to history.csv)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        logs["seconds"] = round(time.perf_counter() - self._started, 4)


@dataclass
class TrainingResult:
    model: keras.Model
    history: pd.DataFrame  # one row per epoch run: epoch (from 0), loss, accuracy, val_*, learning_rate, seconds
    train_seconds: float
    stopped_early: bool


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend; optionally ask the backend for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the one TensorFlow-only switch; JAX on CPU is deterministic already

        tf.config.experimental.enable_op_determinism()


# Training steps per call into the compiled graph: fewer Python round trips per epoch, same arithmetic.
STEPS_PER_EXECUTION = 32


def build_compiled_model(
    config: ExperimentConfig, input_dim: int, num_classes: int, steps_per_execution: int = STEPS_PER_EXECUTION
) -> keras.Model:
    model_config = config.model.model_dump(exclude={"factory"})
    model = build_model(config.model.factory, input_dim, num_classes, **model_config)
    model.compile(
        optimizer=build_optimizer(config.optimizer),
        # Integer labels with the sparse loss: the same loss as one-hot categorical cross-entropy.
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def training_callbacks(config: ExperimentConfig) -> list[keras.callbacks.Callback]:
    callbacks = [callback for callback in (schedule_callback(config),) if callback is not None]
    stopping = config.training.early_stopping
    if stopping is not None:
        callbacks.append(keras.callbacks.EarlyStopping(**stopping.model_dump(), verbose=1))
    # Last, so that the learning rate it records is the one the schedule set.
    return callbacks + [EpochStats()]


def fit(
    config: ExperimentConfig,
    model: keras.Model,
    x,
    y,
    validation: tuple | None = None,
    extra_callbacks: list[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    initial_epoch: int = 0,
    epochs: int | None = None,
) -> TrainingResult:
    """The harness's training path: used by every run and measured by `python -m harness bench`.

    Trains epochs initial_epoch .. epochs - 1 (all of the config's epochs by default).
    """
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        validation_data=validation,
        initial_epoch=initial_epoch,
        epochs=epochs or config.training.epochs,
        batch_size=config.training.batch_size,
        callbacks=training_callbacks(config) + list(extra_callbacks),
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", history.epoch)
    return TrainingResult(
        model=model,
        history=frame,
        train_seconds=time.perf_counter() - started,
        stopped_early=len(frame) < config.training.epochs,
    )
