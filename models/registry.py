"""Named model factories: each is a set of ``MLPSpec`` values taken from the seed notebook.

An experiment file names a factory (``model: {factory: l2}``) and may change any field of it
(``model: {factory: l2, l2: 0.0001}``). To add a model, add an entry to ``FACTORIES``.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from models.spec import MLPSpec

SEED_HIDDEN = (512, 256, 128, 64)

FACTORIES: dict[str, MLPSpec] = {
    # 784-512-256-128-64-10, ReLU, no regularisation: the seed's create_basic_dnn.
    "basic_dnn": MLPSpec(hidden_units=SEED_HIDDEN),
    "l1": MLPSpec(hidden_units=SEED_HIDDEN, l1=0.001),
    "l2": MLPSpec(hidden_units=SEED_HIDDEN, l2=0.001),
    "dropout": MLPSpec(hidden_units=SEED_HIDDEN, dropout=(0.3, 0.3, 0.3, 0.3)),
    "combined": MLPSpec(hidden_units=SEED_HIDDEN, l2=0.001, dropout=(0.3, 0.3, 0.2, 0.2)),
    # 784-256-128-10: the seed's create_simple_model, used to compare optimizers.
    "simple": MLPSpec(hidden_units=(256, 128)),
    # 784-50-10 with a sigmoid hidden layer: the textbook's TwoLayerNet (models/two_layer_net.py in NumPy).
    "two_layer_net": MLPSpec(hidden_units=(50,), activation="sigmoid"),
}

SPEC_FIELDS = tuple(field.name for field in fields(MLPSpec))


def factory_defaults(factory: str) -> dict:
    """The factory's architecture as plain config values (lists, not tuples)."""
    if factory not in FACTORIES:
        raise ValueError(f"unknown model factory {factory!r}: known factories are {', '.join(FACTORIES)}")
    spec = asdict(FACTORIES[factory])
    return {key: list(value) if isinstance(value, tuple) else value for key, value in spec.items()}


def describe_factory(factory: str) -> str:
    """The factory's architecture in a few words: its hidden layers, activation and regularisation."""
    spec = FACTORIES[factory]
    parts = ["hidden " + "-".join(map(str, spec.hidden_units)), spec.activation]
    parts += [f"{name} {value:g}" for name, value in (("L1", spec.l1), ("L2", spec.l2)) if value]
    if spec.dropout:
        parts.append("dropout " + ", ".join(f"{rate:g}" for rate in spec.dropout))
    if spec.batch_norm:
        parts.append("batch norm")
    return ", ".join(parts)


def resolve_spec(factory: str, **changes) -> MLPSpec:
    """The factory's spec with some fields changed (None means keep the factory's value)."""
    values = factory_defaults(factory) | {key: value for key, value in changes.items() if value is not None}
    values["hidden_units"] = tuple(values["hidden_units"])
    values["dropout"] = tuple(values["dropout"])
    return MLPSpec(**values)


def build_model(factory: str, input_dim: int, num_classes: int, **changes):
    """Build a named factory as an uncompiled ``keras.Model`` (imports Keras on first use)."""
    from models.mlp import build_mlp

    return build_mlp(input_dim, num_classes, resolve_spec(factory, **changes), name=factory)
