"""The reference notebook's own way of running its ten experiments, in one process: the baseline of `make bench-suite`.

    python -m benchmarks.reference_notebook OUT_DIR [NAME ...] [--dataset fashion_mnist]

What the notebook does for each model, with its plots saved instead of shown: a `Sequential` built as the
notebook builds it, one-hot labels and categorical cross-entropy, `fit` on NumPy arrays with batch 128
and a validation set (the schedule of `adam_lr` through `LearningRateScheduler`), `evaluate` and
`predict` on the test set, then its four figures and texts: learning curves, ten test images with their
true and predicted labels, the confusion matrix as a seaborn heatmap, and scikit-learn's classification
report. Each experiment's model, optimizer, epochs and data come from its experiment file, so both
sides of the benchmark do the same work on the same images. Prints the seconds it took in all.
"""

from __future__ import annotations

import argparse
import time

STARTED = time.perf_counter()

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402

from benchmarks.suite import REFERENCE_EXPERIMENTS  # noqa: E402
from benchmarks.training import reference_style_model  # noqa: E402
from harness.config.experiments import resolve  # noqa: E402
from harness.config.schema import ExperimentConfig  # noqa: E402
from harness.data.datasets import flatten, split_train_val  # noqa: E402
from harness.data.sources import DATASETS  # noqa: E402
from harness.training.optimizers import build_optimizer, learning_rates  # noqa: E402


def notebook_data(config: ExperimentConfig):
    """The notebook's preprocessing (pixels / 255, flattened, one-hot labels) of the experiment's own split."""
    examples = DATASETS[config.dataset.name].read(config.dataset, True)  # decompressed as the notebook does
    scale = examples.brightest
    x_train, y_train, x_val, y_val = split_train_val(flatten(examples.x_train, scale), examples.y_train, config.dataset)
    classes = len(np.unique(examples.y_train))

    def onehot(labels):
        return keras.utils.to_categorical(labels, classes)

    test = (flatten(examples.x_test, scale), onehot(examples.y_test))
    return (x_train, onehot(y_train)), (x_val, onehot(y_val)), test


def run_experiment(config: ExperimentConfig, data, out: Path) -> float:
    (x_train, y_train), validation, (x_test, y_test) = data
    model = reference_style_model(config.model.parameters, x_train.shape[1], y_train.shape[1])
    model.compile(optimizer=build_optimizer(config.optimizer), loss="categorical_crossentropy", metrics=["accuracy"])
    rates = learning_rates(config)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda epoch: rates[epoch])] if config.schedule else []
    history = model.fit(
        x_train,
        y_train,
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        validation_data=validation,
        callbacks=callbacks,
        verbose=2,
    )
    test_accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    y_pred_classes = np.argmax(model.predict(x_test, verbose=0), axis=1)
    y_true_classes = np.argmax(y_test, axis=1)
    save_plots(config.name, history.history, x_test, y_true_classes, y_pred_classes, out)
    return float(test_accuracy)


def save_plots(name: str, history: dict, x_test, y_true, y_pred, out: Path) -> None:
    """The notebook's plot_learning_curves, sample predictions, confusion matrix and classification report."""
    plt.figure(figsize=(12, 5))
    for index, metric in enumerate(("accuracy", "loss"), start=1):
        plt.subplot(1, 2, index)
        plt.plot(history[metric], label=f"{name} train")
        plt.plot(history[f"val_{metric}"], label=f"{name} validation")
        plt.title(metric)
        plt.xlabel("epoch")
        plt.legend()
    plt.tight_layout()
    plt.savefig(out / f"{name}_learning_curves.png")
    plt.close()
    side = int(np.sqrt(x_test.shape[1]))
    plt.figure(figsize=(15, 6))
    for i in range(10):
        plt.subplot(2, 5, i + 1)
        plt.imshow(x_test[i].reshape(side, side), cmap="gray")
        plt.title(f"true: {y_true[i]}, predicted: {y_pred[i]}")
        plt.axis("off")
    plt.tight_layout()
    plt.savefig(out / f"{name}_predictions.png")
    plt.close()
    plt.figure(figsize=(10, 8))
    sns.heatmap(confusion_matrix(y_true, y_pred), annot=True, fmt="d", cmap="Blues")
    plt.xlabel("predicted label")
    plt.ylabel("true label")
    plt.title("confusion matrix")
    plt.savefig(out / f"{name}_confusion_matrix.png")
    plt.close()
    (out / f"{name}_classification_report.txt").write_text(classification_report(y_true, y_pred, digits=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("names", nargs="*", default=list(REFERENCE_EXPERIMENTS))
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--experiments-dir", type=Path, default=Path("experiments"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    loaded = {}
    for name in args.names:
        config = resolve(name, args.experiments_dir, [f"dataset.name={args.dataset}"])
        key = config.dataset.model_dump_json()
        loaded.setdefault(key, notebook_data(config))  # the notebook loads its data once
        keras.utils.set_random_seed(config.training.seed)
        accuracy = run_experiment(config, loaded[key], args.out)
        print(f"{name}: test accuracy {accuracy:.4f}", flush=True)
    print(f"reference notebook: {len(args.names)} experiments in {time.perf_counter() - STARTED:.1f} s")


if __name__ == "__main__":
    main()
