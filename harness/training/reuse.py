"""A worker's next run trains the model its last run compiled, when the two models are the same computation.

Keras traces (TensorFlow) or traces and compiles (JAX) a model's train, validation and prediction steps in its first
epoch: about 0.8 s a run on TensorFlow and 0.6 s on JAX with a warm compilation cache, paid again by every new model
although the next seed of an experiment (or a sweep's next learning rate) is the same computation on other numbers.
So a process keeps the last model it trained (in its Reusables), and a run takes it over when the fresh model it
built is the same computation: the new run's model is built and compiled as always (its weights drawn from its own
seed, its optimizer built with fresh slots and its own learning rate), then every variable of it is copied into the
kept model, whose compiled steps then train it. The numbers are those the fresh model would have trained to; only
the tracing is not done again (tests/test_reuse.py compares, bit for bit).

"The same computation" is decided from the fresh model itself (`model_identity`), never from the experiment file:
an edited builder, another activation, a layer class of your own whose code changed, another optimizer setting,
batch size or data shape is a new model.
"""

from __future__ import annotations

import hashlib
import inspect
import json

import keras

from harness.shortcuts import Kept


def _own_classes(model: keras.Model) -> list[type]:
    """The classes in the model that are not Keras's own (a model or layer class of the user's), each once."""
    from harness.training.train import _all_layers

    classes = [type(model), *(type(layer) for layer in _all_layers(model))]
    return list(dict.fromkeys(cls for cls in classes if not cls.__module__.startswith("keras.")))


def _source_digest(cls: type) -> str | None:
    """The SHA-256 of a class's source, with its bases' own (None when Python cannot find it)."""
    digest = hashlib.sha256()
    for base in cls.__mro__:
        if base.__module__.startswith(("keras.", "builtins")):
            continue
        try:
            digest.update(inspect.getsource(base).encode())
        except (OSError, TypeError):
            return None
    return digest.hexdigest()


def model_identity(model: keras.Model, data: dict, deterministic: bool) -> str | None:
    """Everything that decides a compiled model's traced steps, as one text: its architecture and every layer's config
    and dtype policy, the source of any class of the user's in it, the optimizer's config but its learning rate (a
    variable the steps read, copied with the weights), the loss, the compile settings, the batch size of its epoch
    step, the data path and the data's shapes, dtype and rows, the backend. None when it cannot be told (a class
    whose source cannot be read): such a model is never taken over."""
    sources = {f"{cls.__module__}.{cls.__qualname__}": _source_digest(cls) for cls in _own_classes(model)}
    if None in sources.values():
        return None
    optimizer = dict(model.optimizer.get_config())
    if isinstance(optimizer.get("learning_rate"), float | int):
        optimizer.pop("learning_rate")
    epoch_step = getattr(model, "_whole_epoch_step", None)
    try:
        architecture = dict(keras.saving.serialize_keras_object(model))
        architecture.pop("compile_config", None)  # its optimizer's rate among them: the parts below say the rest
    except (NotImplementedError, TypeError, ValueError):  # a model of the user's that cannot say its config
        return None
    parts = {
        "architecture": architecture,
        "sources": sources,
        "optimizer": [type(model.optimizer).__qualname__, optimizer],
        "loss": keras.saving.serialize_keras_object(model.loss),
        "compile": [model.jit_compile, model.steps_per_execution, epoch_step and epoch_step.batch_size],
        "pixel_scale": getattr(model, "_pixel_scale", None),  # baked into the steps (harness.training.inputs)
        "data": data,
        "deterministic": deterministic,
        "backend": keras.backend.backend(),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def data_spec(x, rows: tuple[int, ...], batch_size: int) -> dict:
    """What the compiled steps see of the data: one example's shape and dtype, the rows of each split, the batch."""
    return {"shape": list(x.shape[1:]), "dtype": str(x.dtype), "rows": list(rows), "batch_size": batch_size}


def build_training_state(model: keras.Model, x, y) -> None:
    """Make every variable training uses (the loss's, the metrics', the optimizer's) now, from the shapes of one row,
    as Keras's fit would make them from a first batch it draws. A fresh model and a kept one then start fit alike:
    on JAX that draw consumes a permutation of NumPy's generator, which shuffles the epochs after it."""
    model._symbolic_build(data_batch=(x[:1], y[:1]))


def _starting_state(model: keras.Model) -> list:
    """The variables a run starts from: weights, non-trainable state (dropout's generators), the optimizer's (its
    learning rate among them)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


def _takes_over(kept: keras.Model, model: keras.Model) -> bool:
    """Copy `model`'s starting state into `kept`; False (nothing copied) where their variables differ."""
    fresh, target = _starting_state(model), _starting_state(kept)
    if [(variable.shape, variable.dtype) for variable in fresh] != [(var.shape, var.dtype) for var in target]:
        return False
    for source, variable in zip(fresh, target, strict=True):
        variable.assign(source.value)
    return True


def reuse_compiled(model: keras.Model, identity: str | None, x, y, kept: Kept) -> keras.Model:
    """The kept model with `model`'s starting state, when it is the same computation (`identity`, model_identity's)
    and has been trained; else `model`, its training state built from the data `x`, `y` and kept for the next run."""
    previous = kept.get(identity)
    if previous is not None and previous.train_function is not None and _takes_over(previous, model):
        return previous
    build_training_state(model, x, y)
    kept.put(identity, model)
    return model
