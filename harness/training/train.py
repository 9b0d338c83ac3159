"""Train one experiment's model: seed, build, compile, fit. Writes nothing itself.

The caller (``harness.training.runner``) passes the callbacks that write files, such as the CSV history.
"""

from __future__ import annotations

import math
import sys
import time
import types
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from harness.config.schema import ExperimentConfig
from harness.errors import UserError
from harness.training.epoch_step import WholeEpochStep
from harness.training.inputs import EpochOrder, InOrder, PixelScale, in_memory, part_bytes, rows_per_part
from harness.training.optimizers import build_optimizer, schedule_callback
from harness.training.threefry import threefry_dropout


class EpochStats(keras.callbacks.Callback):
    """Adds the learning rate in use and the epoch's wall time to each epoch's logs (so to the run's history)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.setdefault("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        logs["seconds"] = round(time.perf_counter() - self._started, 4)


class EpochLine(keras.callbacks.Callback):
    """One console line per epoch: its metrics, learning rate and seconds; on a terminal, a long run gets
    Keras's progress bar over epochs instead. (Keras's own bar would count one step per epoch here, since
    an epoch is one call: harness.training.epoch_step.)"""

    SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
    LONG_RUN_EPOCHS = 30

    def __init__(self, epochs: int, terminal: bool):
        super().__init__()
        self.epochs = epochs
        self.bar = None
        if terminal and epochs > self.LONG_RUN_EPOCHS:
            self.bar = keras.utils.Progbar(epochs, stateful_metrics=self.SHOWN + ("seconds",), unit_name="epoch")

    def on_epoch_end(self, epoch, logs=None):
        values = [(name, float(logs[name])) for name in self.SHOWN + ("seconds",) if name in (logs or {})]
        if self.bar is not None:
            self.bar.update(epoch + 1, values=values)
            return
        width = len(str(self.epochs))
        shown = "  ".join(
            f"{name} {value:.4g}" if name == "learning_rate" else f"{name} {value:.4f}"
            for name, value in values
            if name != "seconds"
        )
        seconds = (logs or {}).get("seconds", 0.0)
        print(f"epoch {epoch + 1:>{width}}/{self.epochs}  {shown}  {seconds:.2f} s", flush=True)


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the end of the epoch in which the loss became NaN or infinite, and remembers which.

    Keras's TerminateOnNaN stops too but does not say in which epoch. An epoch is one call into the
    compiled step (harness.training.epoch_step), so the check comes at its end.
    """

    def __init__(self):
        super().__init__()
        self.diverged_in_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.diverged_in_epoch is None:
            self.diverged_in_epoch = epoch
            self.model.stop_training = True


class EpochSeeding(keras.callbacks.Callback):
    """Data order and dropout masks that depend only on (seed, epoch, step), so a resumed run sees the same.

    A layer's SeedGenerator state is [seed, counter] and is not saved with the weights; setting the
    counter from the epoch at each epoch's start makes it a function of where training is. The epoch is
    set here, where Keras says which it is, because Keras calls a PyDataset's own on_epoch_end once more
    than there are epochs (also before the first).
    """

    STEPS_PER_EPOCH_BOUND = 1_000_000

    def __init__(self, data: EpochOrder):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.epoch = epoch
        for generator in _seed_generators(self.model):
            seed = keras.ops.convert_to_numpy(generator.state)[0]
            generator.state.assign(np.array([seed, epoch * self.STEPS_PER_EPOCH_BOUND], dtype=generator.state.dtype))


def _all_layers(model: keras.Model) -> list:
    """Every layer of the model, those of models and blocks nested in it too."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _all_layers(layer)
    return found


def _layers_drawing(model: keras.Model) -> list[tuple[keras.layers.Layer, keras.random.SeedGenerator]]:
    """Each random-number generator of the model's layers (dropout, augmentation), with its layer."""
    return [
        (layer, value)
        for layer in _all_layers(model)
        for value in vars(layer).values()
        if isinstance(value, keras.random.SeedGenerator)
    ]


def _seed_generators(model: keras.Model) -> list:
    """The random-number generators of the model's layers (dropout, augmentation)."""
    return [generator for _, generator in _layers_drawing(model)]


@dataclass
class TrainingResult:
    model: keras.Model
    history: pd.DataFrame  # one row per epoch run: epoch (from 0), loss, accuracy, val_*, learning_rate, seconds


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend, and ask the backend for deterministic kernels or not: a worker
    (harness.groups.workers) runs run after run, and each must start as it would in a process of its own."""
    leave_tensorflow_unloaded()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        # The one TensorFlow-only switch (JAX on CPU is deterministic already). Its public API can only
        # turn it on; a worker's next run may need it off again.
        from tensorflow.python.framework import config as tensorflow_config

        if deterministic:
            tensorflow_config.enable_op_determinism()
        else:
            tensorflow_config.disable_op_determinism()


def leave_tensorflow_unloaded() -> None:
    """On JAX, keep Keras and TensorBoard from loading TensorFlow (about 2 s of every process: the README's Speed
    section) where they only ask whether it is installed: Keras before it seeds `tf.random` or looks for TensorFlow
    types while saving a model, TensorBoard's event writer for its file functions. Keras's lazy module is told it
    is absent, and TensorBoard gets its own switch to its TensorFlow-free stub (the module tensorboard.compat.notf).
    Nothing changes once TensorFlow is loaded (a notebook that imported it) or where it trains."""
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        return
    from keras.src.utils import module_utils

    module_utils.tensorflow._available = False
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


# XLA even on CPU, where Keras's own "auto" leaves it off for TensorFlow: it compiles a whole epoch's loop
# of steps (harness.training.epoch_step) with the bias, activation, loss and optimizer updates fused around the
# matrix multiplications, for a shorter epoch, but compiling costs seconds that only a long run earns back
# (the threshold and the figures behind it: the README's Speed section); below it, "auto" trains without it.
XLA_MIN_IMAGES = 200_000


def use_xla(config: ExperimentConfig, train_examples: int, model: keras.Model) -> bool:
    """The config's training.jit_compile, with "auto" decided by the backend, the model and the run's examples."""
    training = config.training
    tensorflow = keras.backend.backend() == "tensorflow"
    if training.deterministic and tensorflow:
        return False  # Keras compiles without XLA under op determinism anyway; deciding here spares a warning
    if training.jit_compile != "auto":
        return training.jit_compile
    if not tensorflow:
        return True  # JAX has no other compiler: without XLA, Keras would run its steps one operation at a time
    if draws_random_numbers_beyond_dropout(model) or (has_convolutions(model) and on_cpu()):
        # On this CPU TensorFlow's stateless random numbers (augmentation; dropout's masks are drawn with ThreeFry:
        # harness.training.threefry) are far slower under XLA, and so are convolutions, which oneDNN computes far
        # faster without it (the README's Speed section).
        return False
    return (training.epochs or 0) * train_examples >= XLA_MIN_IMAGES


def draws_random_numbers_beyond_dropout(model: keras.Model) -> bool:
    """Whether the model's training step draws random numbers other than Keras's dropout masks (augmentation)."""
    return any(not isinstance(layer, keras.layers.Dropout) for layer, _ in _layers_drawing(model))


def has_convolutions(model: keras.Model) -> bool:
    return any(
        isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D)
        for layer in _all_layers(model)
    )


def on_cpu() -> bool:
    """Whether the backend trains on the CPU (no GPU visible)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform == "cpu"
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


def whole_epoch_pays(model: keras.Model) -> bool:
    """Whether a whole epoch per call (harness.training.epoch_step) trains this model faster than Keras's own loop:
    not a conv net on JAX's CPU, where XLA compiles a loop of convolutions into something many times slower than the
    same convolutions one step per call (the README's Speed section)."""
    return not (keras.backend.backend() == "jax" and has_convolutions(model) and on_cpu())


def evaluation_batch_size(model: keras.Model, examples: int) -> int:
    """A forward pass over every example at once, but a conv net's in slices whose activations fit in memory."""
    return min(examples, CONV_EVALUATION_BATCH) if has_convolutions(model) else examples


CONV_EVALUATION_BATCH = 1000


class BuilderFailed(UserError):
    """The experiment's builder raised: its parameters do not make a model, or the builder has a bug of its own."""


def build_model(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The config's model, uncompiled, built under its precision (Keras's dtype policy), with a float32 output."""
    from models.registry import build

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.training.precision)  # read by each layer as it is built
    try:
        model = build(config.model.builder, config.model.parameters, input_shape, num_classes)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise BuilderFailed(
            f"the model {config.model.builder!r} cannot be built: {type(error).__name__}: {error}"
        ) from error
    finally:
        keras.config.set_dtype_policy(policy)  # the next model a process builds starts from float32 again
    if not isinstance(model, keras.Model):
        raise BuilderFailed(f"the builder {config.model.builder!r} returned {type(model).__name__}, not a keras.Model")
    if model.outputs and model.outputs[0].dtype != "float32" and config.training.precision.startswith("mixed"):
        # Probabilities and the loss need float32's range and precision.
        model = keras.Model(model.inputs, keras.layers.Activation("linear", dtype="float32")(model.outputs[0]))
    return model


def gives_probabilities(model: keras.Model, x) -> bool:
    """Whether the model's outputs are probabilities (a softmax at the end), judged from its outputs for a few rows:
    each row in [0, 1] and summing to 1. A builder that ends in a linear layer gives logits, almost surely not so."""
    outputs = keras.ops.convert_to_numpy(model(x[:PROBE_ROWS], training=False)).astype(np.float64)
    in_range = outputs.min() >= -1e-6 and outputs.max() <= 1 + 1e-6
    return bool(in_range and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


PROBE_ROWS = 16


def outputs_logits(model: keras.Model) -> bool:
    """Whether the model was compiled to train on logits (gives_probabilities said no)."""
    return bool(getattr(model.loss, "from_logits", False))


def compile_for_training(
    model: keras.Model,
    config: ExperimentConfig,
    jit_compile: bool = False,
    keras_loop_steps: int | None = None,
    from_logits: bool = False,
    scale: float | None = None,
) -> keras.Model:
    """The model compiled to train a whole epoch per call (WholeEpochStep: Keras's fit gets every row as one batch,
    the step trains them training.batch_size at a time); with keras_loop_steps=N, compiled for Keras's own loop
    instead, N steps per call (`make bench` compares). `from_logits`: its outputs are logits, not probabilities;
    `scale`: its inputs are integer pixels, which its steps divide by it (PixelScale)."""
    # Integer labels with the sparse loss: the same loss as one-hot categorical cross-entropy.
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if from_logits else SPARSE_LOSS
    model.compile(
        optimizer=build_optimizer(config.optimizer),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=keras_loop_steps or 1,
        jit_compile=jit_compile,
    )
    if scale is not None:
        PixelScale(scale).apply_to(model)
    if keras_loop_steps is not None or not whole_epoch_pays(model):
        return model
    return WholeEpochStep(config.training.batch_size).apply_to(model)


SPARSE_LOSS = "sparse_categorical_crossentropy"


def build_compiled_model(
    config: ExperimentConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    jit_compile: bool = False,
    keras_loop_steps: int | None = None,
    scale: float | None = None,
) -> keras.Model:
    """build_model, then compile_for_training."""
    model = build_model(config, input_shape, num_classes)
    return compile_for_training(model, config, jit_compile, keras_loop_steps, scale=scale)


def training_callbacks(config: ExperimentConfig) -> list[keras.callbacks.Callback]:
    callbacks = [callback for callback in (schedule_callback(config),) if callback is not None]
    stopping = config.training.early_stopping
    if stopping is not None:
        callbacks.append(keras.callbacks.EarlyStopping(**stopping.model_dump(), verbose=1))
    # Last, so that the learning rate it records is the one the schedule set.
    return callbacks + [EpochStats()]


def _training_data(config: ExperimentConfig, model: keras.Model, x, y, mode: str, epoch: int) -> tuple[dict, list]:
    """What fit is given as the training data, and the callback that sets each epoch's order (and dropout's masks):
    the epoch's examples in the order of (seed, epoch), in one piece in memory or in parts when streamed, which the
    model's WholeEpochStep trains in batches of training.batch_size (else Keras's own loop takes them a batch at a
    time) (harness.training.inputs)."""
    training, whole_epoch = config.training, WholeEpochStep.applied(model)
    row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * np.dtype(x.dtype).itemsize
    part = part_bytes(training.memory_budget_gb)
    rows = rows_per_part(mode, len(y), row_bytes, training.batch_size, whole_epoch, part)
    order = EpochOrder(x, y, training.seed, rows, epoch)
    return {"x": order, "shuffle": False}, [EpochSeeding(order)]


def _validation(model: keras.Model, validation: tuple | None, mode: str, budget_gb: float | None) -> dict:
    """fit's validation data: in memory in one pass (a conv net's in slices), or in parts when streamed."""
    if validation is None:
        return {}
    x, y = validation
    if mode == "stream":
        return {"validation_data": InOrder(x, y, evaluation_part_rows(model, x, budget_gb))}
    return {"validation_data": (in_memory(x), y), "validation_batch_size": evaluation_batch_size(model, len(y))}


def evaluation_part_rows(model: keras.Model, x, budget_gb: float | None) -> int:
    """Examples per part of a streamed evaluation: a conv net's slice, else a streamed part's worth of them."""
    row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * np.dtype(x.dtype).itemsize
    return evaluation_batch_size(model, max(1, part_bytes(budget_gb) // max(1, row_bytes)))


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
    mode: str = "memory",
) -> TrainingResult:
    """The harness's training path: used by every run and measured by `make bench` (benchmarks/training.py).

    Trains epochs initial_epoch .. epochs - 1 (all of the config's epochs by default); `mode`: memory or stream
    (harness.training.inputs).
    """
    training = config.training
    WholeEpochStep.prepare(model)
    data, seeding = _training_data(config, model, x, y, mode, initial_epoch)
    extra_callbacks = [*seeding, *extra_callbacks]
    with threefry_dropout(keras.backend.backend() == "tensorflow" and bool(model.jit_compile)):
        history = model.fit(
            **data,
            **_validation(model, validation, mode, training.memory_budget_gb),
            initial_epoch=initial_epoch,
            epochs=epochs or training.epochs,
            callbacks=training_callbacks(config) + list(extra_callbacks),
            verbose=verbose,
        )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", history.epoch)
    return TrainingResult(model=model, history=frame)
