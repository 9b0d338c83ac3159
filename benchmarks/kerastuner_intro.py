"""KerasTuner's own introduction, as its users run it: Hyperband over one dense layer's width (32 to 512, step 32)
and Adam's learning rate (1e-2, 1e-3, 1e-4) on Fashion-MNIST, validation split 0.2, batch 32, at most 10 epochs a
trial, early stopping on validation loss. The benchmark peer of `make bench-tuning` (benchmarks.tuning),
run as a process of its own:

    python -m benchmarks.kerastuner_intro OUT [--dataset fashion_mnist] [--max-epochs 10]

The images come from the harness's dataset sources (Keras's download is not reachable everywhere); everything
else is the tutorial's code. Writes OUT/kerastuner.json: the chosen width and rate, their validation accuracy,
the trials and the epochs trained.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.tuning import LEARNING_RATES, WIDTHS  # noqa: E402
from harness.data.sources import DATASETS  # noqa: E402


def images(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The training images scaled to [0, 1] and their labels, as the tutorial prepares them."""
    examples = DATASETS[dataset].read(None, True)
    return examples.x_train.astype("float32") / examples.brightest, examples.y_train


def model_builder(hp, input_shape: tuple[int, ...]):
    model = keras.Sequential()
    model.add(keras.Input(shape=input_shape))
    model.add(keras.layers.Flatten())
    units = hp.Int("units", min_value=WIDTHS[0], max_value=WIDTHS[1], step=WIDTHS[2])
    model.add(keras.layers.Dense(units=units, activation="relu"))
    model.add(keras.layers.Dense(10))
    learning_rate = hp.Choice("learning_rate", values=list(LEARNING_RATES))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def search(out: Path, dataset: str, max_epochs: int) -> dict:
    x_train, y_train = images(dataset)
    tuner = keras_tuner.Hyperband(
        lambda hp: model_builder(hp, x_train.shape[1:]),
        objective="val_accuracy",
        max_epochs=max_epochs,
        factor=3,
        directory=str(out / "kerastuner"),
        project_name="intro_to_kt",
    )
    stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5)
    tuner.search(x_train, y_train, epochs=50, validation_split=0.2, callbacks=[stop_early], verbose=0)
    best = tuner.get_best_hyperparameters(num_trials=1)[0]
    trials = tuner.oracle.trials.values()
    return {
        "units": best.get("units"),
        "learning_rate": best.get("learning_rate"),
        "best_val_accuracy": tuner.oracle.get_best_trials(1)[0].score,
        "trials": len(trials),
        "epochs_trained": sum(_epochs(trial) for trial in trials),
    }


def _epochs(trial) -> int:
    """The epochs a trial trained: Hyperband's later rounds go on from an earlier trial's epochs (early stopping,
    with patience 5, cannot end a trial of at most 10 epochs much sooner)."""
    values = trial.hyperparameters.values
    return values.get("tuner/epochs", 0) - values.get("tuner/initial_epoch", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--max-epochs", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = search(args.out, args.dataset, args.max_epochs)
    (args.out / "kerastuner.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
