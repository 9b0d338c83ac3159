"""The multilayer perceptron of the reference notebook: one builder, whose named variants (basic_dnn, l2, simple,
...) are entries of models.registry.

    model: {builder: l2}                       model: {builder: mlp, hidden_units: [1024, 512], dropout: 0.3}

Like every builder it knows nothing about data or files: give it the input's shape and the number of classes, get an
uncompiled keras.Model. Images are flattened inside the model, so the same data serves every builder. Its keyword
parameters and their annotations are what an experiment file may set (harness.config.model_section reads them).
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le, Lt, MinLen

Rate = Annotated[float, Ge(0), Lt(1)]
Units = Annotated[int, Ge(1), Le(100_000)]
# Config names for Keras initializers: Glorot (Xavier) suits tanh/sigmoid, He suits ReLU.
INITIALIZERS = {"glorot": "glorot_uniform", "he": "he_normal"}


def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden_units: Annotated[tuple[Units, ...], MinLen(1)] = (512, 256, 128, 64),
    activation: Literal["relu", "tanh", "sigmoid", "leaky_relu", "swish"] = "relu",
    initializer: Literal["glorot", "he"] = "glorot",
    l1: Annotated[float, Ge(0)] = 0.0,
    l2: Annotated[float, Ge(0)] = 0.0,
    dropout: Rate | tuple[Rate, ...] = (),
    batch_norm: bool = False,
):
    """Dense hidden layers (with optional batch norm and dropout) and a softmax output. Regularisers apply to the
    hidden layers' kernels only, as in the reference notebook. `dropout`: one rate for every hidden layer, or one
    each."""
    import keras

    rates = dropout_rates(hidden_units, dropout)
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    regularizer = _regularizer(l1, l2)
    for index, (units, rate) in enumerate(zip(hidden_units, rates, strict=True), start=1):
        # With batch norm the activation follows the normalisation, so it gets its own layer.
        x = keras.layers.Dense(
            units,
            activation=None if batch_norm else activation,
            kernel_initializer=INITIALIZERS[initializer],
            kernel_regularizer=regularizer,
            name=f"dense_{index}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{index}")(x)
            x = keras.layers.Activation(activation, name=f"{activation}_{index}")(x)
        if rate > 0:
            x = keras.layers.Dropout(rate, name=f"dropout_{index}")(x)
    # Under a mixed policy (bfloat16 compute) the output stays float32: probabilities and the loss need its range
    # and precision. Otherwise it follows the policy (float64 in harness.tools.gradcheck).
    output_dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="softmax", dtype=output_dtype)(x)
    return keras.Model(inputs, outputs, name="mlp")


def dropout_rates(hidden_units, dropout) -> tuple[float, ...]:
    """One rate per hidden layer: a single rate applies to each, an empty list means none."""
    if isinstance(dropout, int | float):
        return (float(dropout),) * len(hidden_units)
    if not dropout:
        return (0.0,) * len(hidden_units)
    if len(dropout) != len(hidden_units):
        raise ValueError(
            f"dropout has {len(dropout)} rates for {len(hidden_units)} hidden layers: "
            "give one rate, or one per hidden layer"
        )
    return tuple(dropout)


def _regularizer(l1: float, l2: float):
    import keras

    if l1 and l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    if l1:
        return keras.regularizers.L1(l1)
    if l2:
        return keras.regularizers.L2(l2)
    return None


# What its annotations cannot say, checked with the rest of the experiment file (models.registry).
mlp.check = lambda parameters: dropout_rates(parameters["hidden_units"], parameters["dropout"])
