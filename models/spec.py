"""The architecture of a fully connected classifier as plain data (no Keras import)."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "swish")
# Config names for Keras initializers: Glorot (Xavier) suits tanh/sigmoid, He suits ReLU.
INITIALIZERS = {"glorot": "glorot_uniform", "he": "he_normal"}


@dataclass(frozen=True)
class MLPSpec:
    """Hidden layers only; the softmax output layer is implied by the number of classes."""

    hidden_units: tuple[int, ...] = (512, 256, 128, 64)
    activation: str = "relu"
    initializer: str = "glorot"
    l1: float = 0.0
    l2: float = 0.0
    # One rate per hidden layer (0 means no Dropout layer after it); empty means no dropout at all.
    dropout: tuple[float, ...] = ()
    batch_norm: bool = False

    def dropout_rates(self) -> tuple[float, ...]:
        if not self.dropout:
            return (0.0,) * len(self.hidden_units)
        if len(self.dropout) != len(self.hidden_units):
            raise ValueError(
                f"dropout has {len(self.dropout)} rates for {len(self.hidden_units)} hidden layers: "
                "give one rate, or one per hidden layer"
            )
        return self.dropout
