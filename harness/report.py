"""A run's report, made only from the files in its directory: plots and the classification report.

    python -m harness report        (or: make report) makes every run's report again

Never trains and never loads the model, so it can be rerun at any time without touching results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import yaml  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402

from harness.data import CLASS_NAMES  # noqa: E402
from harness.runs import write_text, write_with  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    write_with(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


def plot_learning_curves(history: pd.DataFrame, title: str, path: Path) -> None:
    """Loss and accuracy per epoch, train (dashed) against validation (solid)."""
    long = pd.concat(
        [
            history[["epoch", metric, f"val_{metric}"]]
            .rename(columns={metric: "train", f"val_{metric}": "validation"})
            .melt(id_vars="epoch", var_name="split", value_name="value")
            .assign(metric=metric)
            for metric in ("loss", "accuracy")
        ]
    )
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        sns.lineplot(
            data=long[long.metric == metric], x="epoch", y="value", hue="split", style="split",
            dashes={"train": (4, 2), "validation": ""}, markers=True, ax=axis,
        )  # fmt: skip
        axis.set(title=metric.capitalize(), xlabel="epoch (from 0)", ylabel=metric)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title)
    _save(figure, path)


def plot_confusion_matrix(confusion: np.ndarray, class_names: tuple[str, ...], title: str, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(confusion, annot=True, fmt="d", cmap="Blues", xticklabels=class_names, yticklabels=class_names, ax=axis)
    axis.set(title=title, xlabel="predicted label", ylabel="true label")
    _save(figure, path)


def classification_table(report: dict) -> pd.DataFrame:
    """scikit-learn's report dict as one row per class plus the averages."""
    accuracy = report.pop("accuracy")
    table = pd.DataFrame(report).T
    table.loc["accuracy"] = [np.nan, np.nan, accuracy, table.loc["macro avg", "support"]]
    table["support"] = table["support"].astype(int)
    table.index.name = "class"
    return table


def write_classification(predictions: pd.DataFrame, class_names: tuple[str, ...], title: str, run_dir: Path) -> None:
    true, predicted = predictions["true_label"], predictions["predicted_label"]
    labels, names = list(range(len(class_names))), list(class_names)
    options = {"labels": labels, "target_names": names, "zero_division": 0}
    write_text(run_dir / "classification_report.txt", classification_report(true, predicted, digits=4, **options))
    table = classification_table(classification_report(true, predicted, output_dict=True, **options))
    write_with(run_dir / "classification_report.csv", lambda path: table.to_csv(path))
    confusion = confusion_matrix(true, predicted, labels=labels)
    plot_confusion_matrix(
        confusion, class_names, f"{title}: confusion matrix (test set)", run_dir / "confusion_matrix.png"
    )


def write_report(run_dir: Path) -> None:
    """Every report file the run's results allow: curves once an epoch is done, the rest once it is evaluated."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    title = f"{config['name']} ({config['dataset']['name']})"
    history_path = run_dir / "history.csv"
    if history_path.is_file() and history_path.stat().st_size:
        plot_learning_curves(pd.read_csv(history_path), f"{title}: learning curves", run_dir / "learning_curves.png")
    if (run_dir / "predictions.csv").is_file():
        predictions = pd.read_csv(run_dir / "predictions.csv")
        write_classification(predictions, CLASS_NAMES[config["dataset"]["name"]], title, run_dir)
