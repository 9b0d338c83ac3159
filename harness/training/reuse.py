"""A worker's next seed trains the model its last run compiled, with the new seed's starting state.

Keras traces (TensorFlow) or traces and compiles (JAX) a model's train, validation and prediction steps in its first
epoch: about 0.8 s a run on TensorFlow and 0.6 s on JAX with a warm compilation cache (`make bench-suite`), paid
again by every new model although the next seed of an experiment is the same computation on other numbers. So a
process keeps the last model it trained, and a run whose config differs from that model's only by the seed takes it
over: the new run's model is built and compiled as always (its weights drawn from its own seed, its optimizer built
with fresh slots), then every variable of it, weights, dropout's generator states and optimizer state, is copied
into the kept model, whose compiled steps then train it. The numbers are those the new model would have trained
with; only the tracing is not done again (tests/test_reuse.py compares a reused run with a fresh one, bit for
bit). Anything else that differs (a rate, a layer, the data's shape, the backend's settings) is a new model.
"""

from __future__ import annotations

import json

import keras

from harness.config.schema import ExperimentConfig

_KEPT: list[tuple[str, keras.Model]] = []  # (what the model computes, the model): this process's last


def computation_key(config: ExperimentConfig, input_shape: tuple, rows: tuple[int, ...]) -> str:
    """Everything that decides the traced steps: the whole config but the seed, the data's shapes, the backend."""
    settings = config.to_dict()
    settings["training"] = {key: value for key, value in settings["training"].items() if key != "seed"}
    return json.dumps([settings, list(input_shape), list(rows), keras.backend.backend()], sort_keys=True, default=str)


def build_training_state(model: keras.Model, x, y) -> None:
    """Make every variable training uses (the loss's, the metrics', the optimizer's) now, from the shapes of one row,
    as Keras's fit would make them from a first batch it draws. A fresh model and a kept one then start fit alike:
    on JAX that draw consumes a permutation of NumPy's generator, which shuffles the epochs after it."""
    model._symbolic_build(data_batch=(x[:1], y[:1]))


def _starting_state(model: keras.Model) -> list:
    """The variables a run starts from: weights, non-trainable state (dropout's generators), the optimizer's."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


def _takes_over(kept: keras.Model, model: keras.Model) -> bool:
    """Copy `model`'s starting state into `kept`; False (nothing copied) where their variables differ in shape."""
    fresh, target = _starting_state(model), _starting_state(kept)
    if [variable.shape for variable in fresh] != [variable.shape for variable in target]:
        return False
    for source, variable in zip(fresh, target, strict=True):
        variable.assign(source.value)
    return True


def reuse_compiled(model: keras.Model, key: str, x, y) -> keras.Model:
    """The kept model with `model`'s starting state, when it computes `key` and has been trained; else `model`, its
    training state built from the data `x`, `y` and kept for the next run."""
    if _KEPT and _KEPT[0][0] == key and _KEPT[0][1].train_function is not None and _takes_over(_KEPT[0][1], model):
        return _KEPT[0][1]
    build_training_state(model, x, y)
    _KEPT[:] = [(key, model)]
    return model


def forget_kept() -> None:
    """Let the kept model go: the next run builds its own (tests compare the two)."""
    _KEPT.clear()
