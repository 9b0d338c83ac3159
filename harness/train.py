"""Train one experiment's model: seed, build, compile, fit. Writes nothing itself.

The caller (``harness.runner``) passes the callbacks that write files, such as the CSV history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np
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


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training as soon as the loss is NaN or infinite, and remembers where.

    Keras's TerminateOnNaN stops too but does not say in which epoch; with steps_per_execution the batch
    reported is the last of the group of steps in which the loss went bad.
    """

    def __init__(self):
        super().__init__()
        self.diverged_at: tuple[int, int] | None = None  # (epoch, batch)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.diverged_at is None:
            last_batch = (self.params.get("steps") or batch + 1) - 1  # Keras reports the group's nominal end
            self.diverged_at = (self._epoch, min(batch, last_batch))
            self.model.stop_training = True


class ShuffledBatches(keras.utils.PyDataset):
    """Batches in an order that depends only on (seed, epoch), so a resumed run sees the same data order.

    Keras's own shuffle draws from a generator that restarts with the process; this costs about 15% per epoch,
    so it is used for `training.deterministic: true` runs only.
    """

    def __init__(self, x, y, batch_size: int, seed: int, epoch: int = 0):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.y))

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)


class EpochSeededRandomness(keras.callbacks.Callback):
    """Dropout masks that depend only on (seed, epoch, step), so a resumed run draws the same ones.

    A layer's SeedGenerator state is [seed, counter] and is not saved with the weights; setting the
    counter from the epoch at each epoch's start makes it a function of where training is.
    """

    STEPS_PER_EPOCH_BOUND = 1_000_000

    def on_epoch_begin(self, epoch, logs=None):
        for generator in _seed_generators(self.model):
            seed = keras.ops.convert_to_numpy(generator.state)[0]
            generator.state.assign(np.array([seed, epoch * self.STEPS_PER_EPOCH_BOUND], dtype=generator.state.dtype))


def _seed_generators(model: keras.Model) -> list:
    return [
        value
        for layer in model.layers
        for value in vars(layer).values()
        if isinstance(value, keras.random.SeedGenerator)
    ]


@dataclass
class TrainingResult:
    model: keras.Model
    history: pd.DataFrame  # one row per epoch run: epoch (from 0), loss, accuracy, val_*, learning_rate, seconds


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend; optionally ask the backend for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the one TensorFlow-only switch; JAX on CPU is deterministic already

        tf.config.experimental.enable_op_determinism()


# Training steps per call into the compiled graph: fewer Python round trips per epoch, same arithmetic.
STEPS_PER_EXECUTION = 32
# XLA even on CPU, where Keras's own "auto" leaves it off for TensorFlow: for these dense networks it fuses
# the bias, activation, loss and optimizer updates around the matrix multiplications, for about 0.7x the
# epoch time of basic_dnn on 60,000 images (`make bench`), but compiling takes a few seconds. It pays off
# from about 5 such epochs; below that, "auto" trains without it.
XLA_MIN_IMAGES = 400_000


def use_xla(config: ExperimentConfig, train_examples: int) -> bool:
    """The config's training.jit_compile, with "auto" decided by the run's training images in all."""
    training = config.training
    if training.deterministic:
        return False  # Keras compiles without XLA under op determinism anyway; deciding here spares a warning
    if training.jit_compile == "auto":
        return (training.epochs or 0) * train_examples >= XLA_MIN_IMAGES
    return training.jit_compile


def build_compiled_model(
    config: ExperimentConfig,
    input_dim: int,
    num_classes: int,
    steps_per_execution: int = STEPS_PER_EXECUTION,
    jit_compile: bool = False,
) -> keras.Model:
    model_config = config.model.architecture()
    model = build_model(config.model.factory, input_dim, num_classes, **model_config)
    model.compile(
        optimizer=build_optimizer(config.optimizer),
        # Integer labels with the sparse loss: the same loss as one-hot categorical cross-entropy.
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
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
    training = config.training
    if training.deterministic:
        batches = ShuffledBatches(x, y, training.batch_size, training.seed, epoch=initial_epoch)
        data = {"x": batches, "shuffle": False}
        extra_callbacks = [EpochSeededRandomness(), *extra_callbacks]
    else:
        data = {"x": x, "y": y, "batch_size": training.batch_size}
    history = model.fit(
        **data,
        validation_data=validation,
        validation_batch_size=training.batch_size,
        initial_epoch=initial_epoch,
        epochs=epochs or training.epochs,
        callbacks=training_callbacks(config) + list(extra_callbacks),
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", history.epoch)
    return TrainingResult(
        model=model,
        history=frame,
    )
