"""The textbook's two-layer network in NumPy (seed 000, "Deep Learning from Scratch", chapter 4).

Parameters W1, b1, W2, b2; a sigmoid hidden layer; softmax with cross-entropy. `gradient` is
backpropagation, `numerical_gradient` the central difference with h = 1e-4, as in the book. The
experiment `scratch_two_layer` trains it through the harness like any Keras model.
"""

from __future__ import annotations

import numpy as np

DELTA = 1e-7  # inside the log, so that log(0) never happens (the book's value)
STEP = 1e-4  # the book's h for numerical differentiation


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)  # the same result without overflow
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels] if labels.ndim == 1 else labels


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean over the batch of -sum(t log(y + delta)); t is one-hot or integer labels."""
    t = one_hot(t, y.shape[-1])
    return float(-np.sum(t * np.log(y + DELTA)) / y.shape[0])


def numerical_gradient(f, x: np.ndarray) -> np.ndarray:
    """Central differences of f() with respect to every element of x (x is changed in place and restored)."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + STEP
        plus = f()
        x[index] = original - STEP
        minus = f()
        x[index] = original
        gradient[index] = (plus - minus) / (2 * STEP)
    return gradient


class TwoLayerNet:
    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        rng: np.random.Generator | None = None,
        dtype=np.float64,
    ):
        rng = rng or np.random.default_rng(0)
        self.params = {
            "W1": (weight_init_std * rng.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (weight_init_std * rng.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    @property
    def parameter_count(self) -> int:
        return sum(value.size for value in self.params.values())

    def predict(self, x: np.ndarray) -> np.ndarray:
        hidden = sigmoid(x @ self.params["W1"] + self.params["b1"])
        return softmax(hidden @ self.params["W2"] + self.params["b2"])

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        labels = t if t.ndim == 1 else t.argmax(axis=1)
        return float(np.mean(self.predict(x).argmax(axis=1) == labels))

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        return {name: numerical_gradient(lambda: self.loss(x, t), value) for name, value in self.params.items()}

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Backpropagation through softmax-with-loss, the affine layers and the sigmoid."""
        W1, b1, W2, b2 = (self.params[name] for name in ("W1", "b1", "W2", "b2"))
        t = one_hot(t, W2.shape[1])
        batch = x.shape[0]
        hidden = sigmoid(x @ W1 + b1)
        y = softmax(hidden @ W2 + b2)
        # d(loss)/d(logits) through softmax, for the loss as defined (delta included). The book's (y - t) / batch
        # drops the delta: a relative difference of about delta / y (1e-6) that a 1e-7 gradient check would flag.
        d_probabilities = -t / (y + DELTA) / batch
        d_logits = y * (d_probabilities - (d_probabilities * y).sum(axis=1, keepdims=True))
        d_hidden = (d_logits @ W2.T) * hidden * (1 - hidden)
        return {"W1": x.T @ d_hidden, "b1": d_hidden.sum(axis=0), "W2": hidden.T @ d_logits, "b2": d_logits.sum(axis=0)}
