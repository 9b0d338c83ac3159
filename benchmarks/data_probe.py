"""One side of `make bench-data`, in a process of its own (its peak memory is the process's): the harness's way or what
a Keras user writes instead, on one image folder or table. Prints one line of JSON.

    python -m benchmarks.data_probe harness images PATH [--input memory|stream] [--epochs 2]
    python -m benchmarks.data_probe keras images PATH          keras.utils.image_dataset_from_directory + fit
    python -m benchmarks.data_probe pandas table PATH.csv      pandas.read_csv, get_dummies and standardising + fit
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

CLASSES = 10
HIDDEN = 64  # the small model every side trains: flatten, a dense layer of 64, softmax


class Clock:
    """Seconds from a start to the first batch, and each epoch's seconds (Keras callbacks)."""

    def __init__(self):
        import keras

        clock = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                clock.first_batch = clock.first_batch or time.perf_counter()

            def on_epoch_begin(self, epoch, logs=None):
                clock.first_batch = clock.first_batch or time.perf_counter()  # a whole-epoch step has one batch
                clock.epoch_started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                clock.epochs.append(round(time.perf_counter() - clock.epoch_started, 3))

        self.callback, self.first_batch, self.epochs, self.epoch_started = Callback(), None, [], 0.0


def harness_side(kind: str, path: str, mode: str, epochs: int, batch_size: int, experiments: Path) -> dict:
    """The harness's own path: the dataset loaded (decoded or read from the cache), the model compiled, trained."""
    from harness.config.experiments import resolve
    from harness.data.datasets import load_dataset
    from harness.training.runner import compiled_model
    from harness.training.train import fit

    dataset_settings = {"name": "images", "path": path} if kind == "images" else {"name": "table", "path": path}
    if kind == "table":
        dataset_settings["target"] = "target"
    overrides = [
        f"dataset={json.dumps(dataset_settings)}",
        f"model={{builder: mlp, hidden_units: [{HIDDEN}]}}",
        f"training.batch_size={batch_size}",
        f"training.input={mode}",
    ]
    config = resolve("adam", experiments, overrides, epochs=epochs)
    loading = time.perf_counter()
    dataset = load_dataset(config.dataset)
    loaded = time.perf_counter()
    model = compiled_model(config, dataset)
    clock = Clock()
    fit(config, model, dataset.x_train, dataset.y_train, None, [clock.callback], 0, mode=mode)
    return {
        "examples": len(dataset.y_train),
        "load_seconds": round(loaded - loading, 3),
        "first_batch_seconds": round(clock.first_batch - loading, 3),
        "epoch_seconds": clock.epochs,
    }


def keras_side(path: str, epochs: int, batch_size: int) -> dict:
    """keras.utils.image_dataset_from_directory and fit, as Keras's guide writes it."""
    import keras

    loading = time.perf_counter()
    images = keras.utils.image_dataset_from_directory(
        path, image_size=(64, 64), batch_size=batch_size, shuffle=True, seed=0, verbose=False
    )
    model = _small_model((64, 64, 3), rescale=True)
    clock = Clock()
    model.fit(images, epochs=epochs, callbacks=[clock.callback], verbose=0)
    return {
        "load_seconds": None,
        "first_batch_seconds": round(clock.first_batch - loading, 3),
        "epoch_seconds": clock.epochs,
    }


def pandas_side(path: str, epochs: int, batch_size: int) -> dict:
    """pandas.read_csv, the text column one-hot encoded and the numbers standardised with pandas, then fit."""
    import numpy as np
    import pandas as pd

    loading = time.perf_counter()
    frame = pd.read_csv(path)
    labels = frame.pop("target").astype("category").cat.codes.to_numpy()
    numbers = frame.select_dtypes("number")
    frame[numbers.columns] = (numbers - numbers.mean()) / numbers.std()
    x = pd.get_dummies(frame).to_numpy(dtype=np.float32)
    del frame, numbers
    loaded = time.perf_counter()
    model = _small_model((x.shape[1],), rescale=False, classes=int(labels.max()) + 1)
    clock = Clock()
    model.fit(x, labels, batch_size=batch_size, epochs=epochs, callbacks=[clock.callback], verbose=0)
    return {
        "examples": len(labels),
        "load_seconds": round(loaded - loading, 3),
        "first_batch_seconds": round(clock.first_batch - loading, 3),
        "epoch_seconds": clock.epochs,
    }


def _small_model(input_shape, rescale: bool, classes: int = CLASSES):
    import keras

    layers = [keras.layers.Rescaling(1 / 255)] if rescale else []
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            *layers,
            keras.layers.Flatten(),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=("harness", "keras", "pandas"))
    parser.add_argument("kind", choices=("images", "table"))
    parser.add_argument("path")
    parser.add_argument("--input", default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--experiments-dir", default="experiments")
    args = parser.parse_args()
    if args.side == "harness":
        result = harness_side(
            args.kind, args.path, args.input, args.epochs, args.batch_size, Path(args.experiments_dir)
        )
    elif args.side == "keras":
        result = keras_side(args.path, args.epochs, args.batch_size)
    else:
        result = pandas_side(args.path, args.epochs, args.batch_size)
    result["process_seconds"] = round(time.perf_counter() - STARTED, 3)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # the frameworks' teardown is not part of any side


if __name__ == "__main__":
    sys.exit(main())
