"""The one parameterised multilayer perceptron every experiment builds.

Knows nothing about data or files: give it the input width, the number of classes and an
``MLPSpec``, get an uncompiled ``keras.Model``.
"""

from __future__ import annotations

import keras

from models.spec import ACTIVATIONS, INITIALIZERS, MLPSpec


def _regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    if l1 and l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    if l1:
        return keras.regularizers.L1(l1)
    if l2:
        return keras.regularizers.L2(l2)
    return None


def build_mlp(input_dim: int, num_classes: int, spec: MLPSpec, name: str = "mlp") -> keras.Model:
    """Dense hidden layers (with optional batch norm and dropout) and a softmax output.

    Regularisers apply to the hidden layers' kernels only, as in the seed notebook.
    """
    if spec.activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {spec.activation!r}: choose one of {', '.join(ACTIVATIONS)}")
    if spec.initializer not in INITIALIZERS:
        raise ValueError(f"unknown initializer {spec.initializer!r}: choose one of {', '.join(INITIALIZERS)}")
    inputs = keras.Input(shape=(input_dim,), name="pixels")
    x = inputs
    for index, (units, rate) in enumerate(zip(spec.hidden_units, spec.dropout_rates(), strict=True), start=1):
        # With batch norm the activation follows the normalisation, so it gets its own layer.
        x = keras.layers.Dense(
            units,
            activation=None if spec.batch_norm else spec.activation,
            kernel_initializer=INITIALIZERS[spec.initializer],
            kernel_regularizer=_regularizer(spec.l1, spec.l2),
            name=f"dense_{index}",
        )(x)
        if spec.batch_norm:
            x = keras.layers.BatchNormalization(name=f"batch_norm_{index}")(x)
            x = keras.layers.Activation(spec.activation, name=f"{spec.activation}_{index}")(x)
        if rate > 0:
            x = keras.layers.Dropout(rate, name=f"dropout_{index}")(x)
    # Under a mixed policy (bfloat16 compute) the output stays float32: probabilities and the loss need its
    # range and precision. Otherwise it follows the policy (float64 in harness.tools.gradcheck).
    output_dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="softmax", dtype=output_dtype)(x)
    return keras.Model(inputs, outputs, name=name)
