"""Every model an experiment may name: a builder function, found by name, and the reference notebook's variants.

    model: {builder: l2}                              the reference notebook's L2 variant of its basic DNN (below)
    model: {builder: cnn, filters: [32, 64, 128]}    a builder function: cnn in models/cnn.py
    model: {builder: mypackage.nets.small_resnet}     a builder in any importable module

A builder is a plain function `(input_shape, num_classes, **parameters) -> keras.Model` (uncompiled, softmax output).
Its keyword parameters, their annotations and defaults are what an experiment file may set; a builder may also carry
`check(parameters)` for rules its annotations cannot say, raising ValueError. A bare name is an entry of MODELS, else
the function of that name in models/<name>.py, else in any module of models/; a dotted name is module.function.
Adding a model is one file. This module imports no Keras: validating an experiment stays quick.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_HIDDEN = (512, 256, 128, 64)
MLP = "models.mlp:mlp"


@dataclass(frozen=True)
class ModelEntry:
    builder: str  # "module:function"
    description: str
    presets: dict = field(default_factory=dict)  # the entry's own values, over the builder's defaults


MODELS: dict[str, ModelEntry] = {
    # 784-512-256-128-64-10, ReLU, no regularisation: the reference notebook's create_basic_dnn.
    "basic_dnn": ModelEntry(
        MLP, "the reference notebook's basic DNN: hidden 512-256-128-64, ReLU", {"hidden_units": REFERENCE_HIDDEN}
    ),
    "l1": ModelEntry(
        MLP, "the basic DNN with L1 0.001 on its hidden layers", {"hidden_units": REFERENCE_HIDDEN, "l1": 0.001}
    ),
    "l2": ModelEntry(
        MLP, "the basic DNN with L2 0.001 on its hidden layers", {"hidden_units": REFERENCE_HIDDEN, "l2": 0.001}
    ),
    "dropout": ModelEntry(
        MLP,
        "the basic DNN with dropout 0.3 after each hidden layer",
        {"hidden_units": REFERENCE_HIDDEN, "dropout": (0.3, 0.3, 0.3, 0.3)},
    ),
    "combined": ModelEntry(
        MLP,
        "the basic DNN with L2 0.001 and dropout 0.3, 0.3, 0.2, 0.2",
        {"hidden_units": REFERENCE_HIDDEN, "l2": 0.001, "dropout": (0.3, 0.3, 0.2, 0.2)},
    ),
    # 784-256-128-10: the reference notebook's create_simple_model, used to compare optimizers.
    "simple": ModelEntry(
        MLP, "the reference notebook's small net for optimizers: hidden 256-128, ReLU", {"hidden_units": (256, 128)}
    ),
    # 784-50-10 with a sigmoid hidden layer: the textbook's TwoLayerNet (models/two_layer_net.py in NumPy).
    "two_layer_net": ModelEntry(
        MLP, "the textbook's TwoLayerNet: hidden 50, sigmoid", {"hidden_units": (50,), "activation": "sigmoid"}
    ),
    "mlp": ModelEntry(MLP, "a multilayer perceptron of any hidden layers (models/mlp.py)"),
    "cnn": ModelEntry(
        "models.cnn:cnn", "conv blocks (Conv2D, batch norm, ReLU, pooling), dropout, a dense head; augmentation"
    ),
}


class UnknownModel(LookupError):
    """No entry, and no builder function, has the name."""


def _function(path: str) -> Callable:
    """`module:function` or `module.function`, imported."""
    module, _, name = path.rpartition(":") if ":" in path else path.rpartition(".")
    try:
        function = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        raise UnknownModel(f"cannot import {module!r} for the builder {path!r} ({error})") from None
    except AttributeError:
        raise UnknownModel(f"{module} has no function {name!r}") from None
    if not callable(function):
        raise UnknownModel(f"{path} is not a function")
    return function


def _in_models_folder(name: str) -> Callable | None:
    """The function `name` in models/<name>.py, else in any module of models/ that defines it."""
    folder = Path(__file__).resolve().parent
    modules = [name] + sorted(module.name for module in pkgutil.iter_modules([str(folder)]) if module.name != name)
    for module in modules:
        if not (folder / f"{module}.py").is_file():
            continue
        function = getattr(importlib.import_module(f"models.{module}"), name, None)
        if callable(function) and not isinstance(function, type):
            return function
    return None


def find_builder(name: str) -> tuple[Callable, dict]:
    """The builder function an experiment names, and the entry's preset parameters (none for a bare builder)."""
    if name in MODELS:
        entry = MODELS[name]
        return _function(entry.builder), dict(entry.presets)
    if "." in name or ":" in name:
        return _function(name), {}
    function = _in_models_folder(name)
    if function is None:
        raise UnknownModel(f"no model entry or builder function named {name!r}")
    return function, {}


def build(name: str, parameters: dict, input_shape: tuple[int, ...], num_classes: int):
    """The named model with these parameters, an uncompiled keras.Model (imports Keras)."""
    function, _ = find_builder(name)
    return function(tuple(input_shape), num_classes, **parameters)
