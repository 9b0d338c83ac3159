"""The files a run's report is made of: plots, classification report, predictions. Never trains."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from harness.evaluate import Evaluation  # noqa: E402
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


def write_evaluation(evaluation: Evaluation, class_names: tuple[str, ...], title: str, run_dir: Path) -> None:
    write_text(run_dir / "classification_report.txt", evaluation.report_text)
    write_with(run_dir / "classification_report.csv", lambda path: evaluation.report_table.to_csv(path))
    write_with(run_dir / "predictions.csv", lambda path: evaluation.predictions.to_csv(path, index=False))
    plot_confusion_matrix(
        evaluation.confusion, class_names, f"{title}: confusion matrix (test set)", run_dir / "confusion_matrix.png"
    )
