"""Dropout masks drawn with ThreeFry while TensorFlow traces a model it compiles with XLA.

Keras's TensorFlow dropout draws its masks with `tf.nn.experimental.stateless_dropout` and TensorFlow's default
algorithm, `auto_select`, which under XLA on a CPU took 47 ms for one 128x512 mask here: 100 times Philox without
XLA (0.3 ms) and 400 times ThreeFry under XLA (0.12 ms). ThreeFry has no CPU kernel outside XLA, so the choice
belongs to the moment a step is traced for XLA: while `threefry_dropout(True)` is open, Keras's dropout draws with
ThreeFry, and a dropout model's XLA epoch on full Fashion-MNIST takes about 1.0 s against 1.8 s for the same model
without XLA (the README's Speed section). The masks are other numbers than Philox's, equally random; JAX draws
with ThreeFry already.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def threefry_dropout(active: bool) -> Iterator[None]:
    """Keras's TensorFlow dropout draws with ThreeFry while the context is open and `active` (a model compiled with
    XLA on TensorFlow); as it was, after."""
    if not active:
        yield
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import random

    keras_dropout = random.dropout

    def dropout(inputs, rate, noise_shape=None, seed=None):
        if rate in (0.0, 1.0):
            return keras_dropout(inputs, rate, noise_shape, seed)
        seed = random._cast_seed(random.draw_seed(seed))
        noise_shape = random._get_concrete_noise_shape(inputs, noise_shape)
        return tf.nn.experimental.stateless_dropout(
            inputs, rate=rate, noise_shape=noise_shape, seed=seed, rng_alg="threefry"
        )

    random.dropout = dropout
    try:
        yield
    finally:
        random.dropout = keras_dropout
