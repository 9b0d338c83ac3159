"""The `model:` section of an experiment file: which builder, and its parameters, checked against the builder's own
signature (models.registry).

    model: {builder: cnn, filters: [32, 64, 128], dropout: 0.4}     model: {builder: l2}
    (`factory:`, the reference notebook's word, is accepted for `builder:`)

The builder's keyword parameters are the section's keys: an unknown key gets the closest parameter name, a value of
the wrong type or out of its annotated range one line, and every default is written into the resolved config, so a
run records every value its model was built with.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model, model_serializer, model_validator

from harness.errors import did_you_mean
from models.registry import UnknownModel, find_builder

CORE = ("builder", "framework", "gradient")


def parameters_of(builder) -> type[BaseModel]:
    """The builder's keyword parameters (after input_shape and num_classes) as a schema: their annotations, their
    defaults (a parameter without one is required), nothing else. Made once for each version of the function: an
    edited builder (a notebook's autoreload replaces its code in place) is read again."""
    version = (
        getattr(builder, "__code__", None),
        repr(getattr(builder, "__defaults__", None)),
        repr(getattr(builder, "__kwdefaults__", None)),
        repr(getattr(builder, "__annotations__", None)),
    )
    return _parameters_of(builder, version)


@functools.cache
def _parameters_of(builder, version: tuple) -> type[BaseModel]:
    hints = typing.get_type_hints(builder, include_extras=True)
    fields = {}
    for parameter in list(inspect.signature(builder).parameters.values())[2:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (hints.get(parameter.name, Any), default)
    return create_model(f"{builder.__name__}_parameters", __config__=ConfigDict(extra="forbid"), **fields)


def _problems(error: ValidationError, known: list[str]) -> str:
    """Each problem as `model.<key>: what is wrong`, in one line; one problem for each key: the deepest (a list's
    element out of range, rather than the list then too short, or the union's member that fits the value)."""
    lines, chosen = [], {}
    for problem in error.errors():
        key = str(problem["loc"][0])
        if key not in chosen or len(problem["loc"]) > len(chosen[key]["loc"]):
            chosen[key] = problem
    for key, problem in chosen.items():
        # The parameter and list positions; pydantic's names for a union's members say nothing to a user.
        where = ".".join(["model", key, *(str(part) for part in problem["loc"][1:] if isinstance(part, int))])
        if problem["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key{did_you_mean(key, known)}; the builder takes {', '.join(known)}")
        elif problem["type"] == "missing":
            lines.append(f"{where}: required by the builder, and missing")
        else:
            message = re.sub(r"^(Input|Tuple|List|Value) should", "must", problem["msg"].removeprefix("Value error, "))
            lines.append(f"{where}: {message} (got {problem['input']!r})")
    return "; ".join(lines)


def checked_parameters(builder_name: str, given: dict) -> dict:
    """The builder's parameters: the entry's presets, then what the file gives, validated and with every default
    filled in, as plain values; or a ValueError that names each problem."""
    try:
        builder, presets = find_builder(builder_name)
    except UnknownModel as error:
        suggestion = did_you_mean(builder_name, _entries())
        raise ValueError(f"model.builder: {error}{suggestion}; the named models are {', '.join(_entries())}") from None
    schema = parameters_of(builder)
    try:
        parameters = schema(**(presets | given)).model_dump(mode="json")
    except ValidationError as error:
        raise ValueError(_problems(error, list(schema.model_fields))) from None
    check = getattr(builder, "check", None)
    if check is not None:
        check(parameters)
    return parameters


def _entries() -> list[str]:
    from models.registry import MODELS

    return list(MODELS)


class ModelConfig(BaseModel):
    """Which model, and its parameters (kept apart from the section's own keys, flat in the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    builder: str
    parameters: dict = {}
    # keras, or numpy: the textbook's from-scratch TwoLayerNet (builder two_layer_net only).
    framework: Literal["keras", "numpy"] = "keras"
    # numpy only: backprop, or numerical (central differences; tiny networks only).
    gradient: Literal["backprop", "numerical"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_the_file(cls, data):
        """The file's flat section (builder, or its synonym factory, beside the builder's parameters) split into
        builder and parameters, the parameters checked; absent (or null) ones take the entry's or builder's value."""
        if not isinstance(data, dict) or "parameters" in data:
            return data
        data = dict(data)
        if "factory" in data:
            if "builder" in data:
                raise ValueError("give model.builder or model.factory (a synonym of it), not both")
            data["builder"] = data.pop("factory")
        if not isinstance(data.get("builder"), str):
            raise ValueError("model.builder: required: a model's name (make list shows them) or module.function")
        core = {key: data.pop(key) for key in CORE if key in data}
        given = {key: value for key, value in data.items() if value is not None}
        return core | {"parameters": checked_parameters(core["builder"], given)}

    @model_serializer(mode="wrap")
    def _flat(self, handler):
        """Written back flat, as the file has it: builder, its parameters, then framework and gradient."""
        data = handler(self)
        parameters = data.pop("parameters")
        return {"builder": data.pop("builder"), **parameters, **data}
