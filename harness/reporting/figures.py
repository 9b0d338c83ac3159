"""Figures drawn on canvases of their own, never through pyplot's global state: a notebook's own plots keep its
backend (inline) however many reports the harness draws, and a report thread never touches another's figure.

    figure, axes = new_figure(1, 2, figsize=(11, 4))
    sns.lineplot(..., ax=axes[0])
    save_figure(figure, run.file(RunDir.LEARNING_CURVES))
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from harness.atomic import write_with

DPI = 110


def counted_from_one(frame):
    """A history (or another table of epochs) with its epochs numbered as people count them, from 1, as every message
    and page does; the files keep Keras's numbers, from 0."""
    return frame.assign(epoch=frame["epoch"] + 1) if "epoch" in frame else frame


def new_figure(rows: int = 1, columns: int = 1, **options) -> tuple[Figure, object]:
    """A figure and its axes (one Axes, or an array of them, as pyplot.subplots returns), on no backend."""
    layout = options.pop("layout", None)
    squeeze = options.pop("squeeze", True)
    figure = Figure(figsize=options.pop("figsize", None), layout=layout)
    return figure, figure.subplots(rows, columns, squeeze=squeeze, **options)


def save_figure(figure: Figure, path: Path) -> None:
    """The figure as a PNG file, written whole or not at all; a figure pyplot made (Optuna's) is closed too."""
    write_with(path, lambda temporary: figure.savefig(temporary, format="png", dpi=DPI, bbox_inches="tight"))
    if getattr(figure, "number", None) is not None:  # registered with pyplot
        import matplotlib.pyplot as plt

        plt.close(figure)
