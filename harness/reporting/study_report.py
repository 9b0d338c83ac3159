"""What mattered in a sweep, from its Optuna study alone: each parameter's importance for validation accuracy
(Optuna's fANOVA evaluator) set against the spread between seeds, the optimisation history, every trial's
validation accuracy per epoch (a pruned trial's curve ends where it was stopped) and a parallel-coordinates plot,
drawn by Optuna's matplotlib backend as PNG files beside group.html (no browser plotting).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from harness.reporting.figures import save_figure
from harness.reporting.i18n import LABELS

RECORDED = ("test_accuracy", "macro_f1", "best_val_accuracy", "epochs_run")  # each trial's, by harness.groups.study
PLOTS = (  # file, heading label, Optuna's matplotlib function
    ("importance.png", "importance", "plot_param_importances"),
    ("history.png", "optimisation_history", "plot_optimization_history"),
    ("epochs.png", "trial_curves", "plot_intermediate_values"),  # pruned trials' curves end where they stopped
    ("parallel.png", "parallel_coordinates", "plot_parallel_coordinate"),
)


def completed(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def study_plots(group_dir: Path, study, text: dict) -> list[tuple[str, str]]:
    """The plots a study can draw (importance needs two finished trials and a parameter that varies). With one swept
    parameter the importance chart would be one bar at 100%: the page says what mattered in a sentence instead."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    images, swept = [], {name for trial in completed(study) for name in trial.params}
    for name, label, function in PLOTS:
        if function == "plot_param_importances" and len(swept) < 2:
            continue
        before = set(plt.get_fignums())
        # Optuna switches pyplot to its ggplot style for good; within this context the style is put back after.
        with warnings.catch_warnings(), plt.style.context("default"):
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axes = getattr(optuna_plots, function)(study)
            except (ValueError, RuntimeError):  # too few finished trials for this plot
                for number in set(plt.get_fignums()) - before:  # its own figure only, not a notebook's
                    plt.close(number)
                continue
        figure = np.ravel(axes)[0].figure
        figure.set_size_inches(9, 4.5)
        if function == "plot_intermediate_values":
            _count_epochs_from_one(np.ravel(axes)[0])
        _relabel(figure, text)
        _restyle(figure)
        save_figure(figure, group_dir / name)
        images.append((name, text[label]))
    return images


def _restyle(figure) -> None:
    """In the look of the page's other plots: white axes with their frame, no grey background or grid."""
    for axis in figure.axes:
        if axis.get_label() == "<colorbar>":
            continue
        axis.set_facecolor("white")
        axis.grid(False)
        for spine in axis.spines.values():
            spine.set_visible(True)
            spine.set_color("black")
            spine.set_linewidth(0.8)


def _count_epochs_from_one(axis) -> None:
    """The trials report their epochs to the study from 0, as Keras counts them; the page counts from 1."""
    for line in axis.get_lines():
        line.set_xdata(np.asarray(line.get_xdata(), dtype=float) + 1)
    axis.relim()
    axis.autoscale_view()


def _relabel(figure, text: dict) -> None:
    """Optuna's English titles and labels in the page's words (the page's heading is the plot's title)."""
    from matplotlib.text import Text

    words = {
        "Objective Value": text["best_val_accuracy"],
        "Best Value": text["best_so_far"],
        "Trial": text["trial"],
        "Hyperparameter Importance": text["importance_short"],
        "Hyperparameter": text["parameter"],
        "Hyperparameter Importances": "",
        "Optimization History Plot": "",
        "Parallel Coordinate Plot": "",
        "Intermediate Values Plot": "",
        "Step": text["epoch"],
        "Intermediate Value": text["val_accuracy"],
    }
    for label in figure.findobj(Text):
        if label.get_text() in words:
            label.set_text(words[label.get_text()])
        elif numbered := re.fullmatch(r"Trial(\d+)", label.get_text()):  # the per-epoch plot's legend
            label.set_text(f"{text['trial']} {numbered.group(1)}")


def what_mattered(study, summary: dict) -> dict | None:
    """The parameter that explains the largest share of the variation of validation accuracy (fANOVA) and that
    share, with the spread between seeds at one point beside it; None when the study cannot say."""
    if len(completed(study)) < 2 or not any(trial.params for trial in completed(study)):
        return None
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            importance = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError):
            return None
    if not importance:
        return None
    top, share = next(iter(importance.items()))
    spreads = [
        point["metrics"]["best_val_accuracy"]["std"]
        for point in summary["points"]
        if point["metrics"]["best_val_accuracy"]["std"] is not None
    ]
    return {
        "parameter": top,
        "share": round(float(share), 4),
        "importance": {name: round(float(value), 4) for name, value in importance.items()},
        "seed_spread": round(float(np.mean(spreads)), 6) if spreads else None,
    }


def mattered_text(mattered: dict | None, lang: str) -> str | None:
    """What mattered, in a sentence of the page's language."""
    if not mattered:
        return None
    text = LABELS[lang]
    sentence = text["importance_sentence"].format(
        parameter=mattered["parameter"], share=f"{mattered['share'] * 100:.0f}"
    )
    if mattered.get("seed_spread") is not None:
        sentence += text["seed_spread_sentence"].format(points=f"{mattered['seed_spread'] * 100:.2f}")
    return sentence


def members_from_study(study, points: list[dict], known: set[str]) -> list[dict]:
    """The runs the study records but this folder lacks (made on another machine, or deleted here), as group
    members read from their trials: the sweep's page covers every run from the study alone."""
    from optuna.trial import TrialState

    members = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        attributes = trial.user_attrs
        point = attributes.get("point")
        if attributes.get("run") in known or "status" not in attributes or point is None or point >= len(points):
            continue  # (a point TPE chose on another machine is not among this record's points)
        metrics = {key: attributes[key] for key in RECORDED if attributes.get(key) is not None}
        members.append(
            {
                "run": attributes["run"],
                "point": point,
                "seed": attributes.get("seed"),
                "parameters": attributes.get("parameters", points[point]),
                "status": attributes["status"],
                "reason": attributes.get("reason"),
                "metrics": metrics,
                "report": False,
                "host": attributes.get("host"),
            }
        )
    return members
