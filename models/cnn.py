"""A family of convolutional classifiers: blocks of Conv2D (optional batch normalisation), ReLU and max pooling, then
dropout and a dense head; optional augmentation that acts only while training.

    model: {builder: cnn, filters: [32, 64, 128], dense: 256, dropout: 0.4, translate: 0.1}
    make sweep NAME=fashion_cnn GRID="model.filters=[32,64],[64,128] model.dropout=0.2,0.4"

Each entry of `filters` is a block: `convolutions_per_block` 3x3 convolutions of that many filters, each followed
by batch normalisation (when `batch_norm`) and ReLU, then 2x2 max pooling. Augmentation layers are Keras's own
preprocessing layers (RandomTranslation, RandomFlip, RandomZoom): they change the training images each epoch and
pass the images through untouched at evaluation. Images of one channel or three; tables are not images.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le, Lt, MinLen

Rate = Annotated[float, Ge(0), Lt(1)]
Fraction = Annotated[float, Ge(0), Le(0.5)]


def cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: Annotated[tuple[Annotated[int, Ge(1), Le(4096)], ...], MinLen(1)] = (32, 64),
    convolutions_per_block: Annotated[int, Ge(1), Le(4)] = 1,
    dense: Annotated[int, Ge(0), Le(100_000)] = 128,
    dropout: Rate = 0.3,
    batch_norm: bool = True,
    translate: Fraction = 0.0,
    flip: Literal["none", "horizontal", "vertical", "horizontal_and_vertical"] = "none",
    zoom: Fraction = 0.0,
):
    """Conv blocks, dropout and a dense head of `dense` units (0: none) before the softmax. `translate` and `zoom`
    are fractions of the image's size for training-only augmentation; `flip` mirrors training images at random."""
    import keras

    if len(input_shape) != 3:
        raise ValueError(f"cnn needs images (height, width, channels), not inputs of shape {tuple(input_shape)}")
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _augmented(inputs, translate, flip, zoom)
    for block, width in enumerate(filters, start=1):
        for convolution in range(1, convolutions_per_block + 1):
            name = f"block_{block}_conv_{convolution}"
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=name)(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{name}_norm")(x)
            x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
        if min(x.shape[1:3]) >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"block_{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    if dense:
        x = keras.layers.Dense(dense, activation="relu", name="dense")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    output_dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="softmax", dtype=output_dtype)(x)
    return keras.Model(inputs, outputs, name="cnn")


def _augmented(inputs, translate: float, flip: str, zoom: float):
    """The images, changed at random while training only (Keras's preprocessing layers are off at evaluation)."""
    import keras

    x = inputs
    if translate:
        x = keras.layers.RandomTranslation(translate, translate, fill_mode="constant", name="translate")(x)
    if flip != "none":
        x = keras.layers.RandomFlip(flip, name="flip")(x)
    if zoom:
        x = keras.layers.RandomZoom(zoom, fill_mode="constant", name="zoom")(x)
    return x
