"""Compare runs side by side: curves, metrics with differences, config differences, per-class F1, and
what the difference proves (McNemar's exact test and a paired bootstrap on the shared test set).

    python -m harness compare adam adam_lr rmsprop      (or: make compare NAMES="adam adam_lr rmsprop")

An experiment name means its latest run or group; a run id, group id or directory means that one.
(harness.reporting.compare chooses this or harness.reporting.compare_groups.) Writes
reports/compare/<slug>/compare.html with its PNG and CSV files and prints the metrics and verdicts.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix, f1_score

from harness.atomic import write_with
from harness.config.experiments import flat_config
from harness.config.schema import ExperimentConfig
from harness.data.datasets import test_examples
from harness.errors import UserError
from harness.records import RunDir
from harness.reporting.figures import new_figure, save_figure
from harness.reporting.i18n import labels, language
from harness.reporting.pages import clean, write_page
from harness.reporting.report import class_names_of, plot_image_grid
from harness.reporting.stats import holm, paired
from harness.reporting.verdicts import SIGNIFICANCE, Adjusted, explanations, paired_verdict, phrase

SUMMARY_COLUMNS = [
    "status",
    "epochs_run",
    "test_accuracy",
    "macro_f1",
    "best_val_accuracy",
    "best_epoch",
    "final_val_accuracy",
    "train_seconds",
]
DISAGREEMENT_IMAGES = 10


@dataclass
class Comparison:
    out: Path  # the folder with compare.html
    table: pd.DataFrame  # one row per run or group
    verdicts: list[str]  # each later run or group against the first
    statistics: pd.DataFrame  # each test's numbers: differences, intervals, p raw and Holm-adjusted


@dataclass
class Run:
    label: str  # "<experiment> <run id>"
    path: Path
    config: dict
    status: dict
    metrics: dict
    history: pd.DataFrame
    predictions: pd.DataFrame | None


def load_run(path: Path) -> Run:
    run = RunDir(path)
    config = run.config_dict()
    return Run(
        f"{config['name']} {path.name}", path, config, run.status(), run.metrics(), run.history(), run.predictions()
    )


def config_difference(runs: list[Run]) -> pd.DataFrame:
    """Only the config keys whose values differ between the runs (a key one run lacks counts as different)."""
    flat = [flat_config({k: v for k, v in run.config.items() if k not in ("name", "description")}) for run in runs]
    keys = sorted(set().union(*flat))
    differing = [key for key in keys if len({json.dumps(f.get(key), sort_keys=True) for f in flat}) > 1]
    rows = {run.label: [f.get(key, "—") for key in differing] for run, f in zip(runs, flat, strict=True)}
    return pd.DataFrame(rows, index=pd.Index(differing, name="key")).T


def summary_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run; best_* are at the epoch of best validation accuracy, final_* at the last epoch."""
    rows = [
        {"run": run.label, "status": run.status.get("status")}
        | {column: run.metrics.get(column) for column in SUMMARY_COLUMNS[1:]}
        for run in runs
    ]
    table = pd.DataFrame(rows).set_index("run")
    for column in ("epochs_run", "best_epoch"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    for column in ("test_accuracy", "macro_f1", "best_val_accuracy", "final_val_accuracy"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
        table[f"{column}_delta"] = table[column] - table[column].iloc[0]
    return table


def per_class_f1(runs: list[Run], class_names: tuple[str, ...]) -> pd.DataFrame:
    columns = {}
    for run in runs:
        if run.predictions is not None:
            scores = f1_score(
                run.predictions.true_label,
                run.predictions.predicted_label,
                labels=list(range(len(class_names))),
                average=None,
                zero_division=0,
            )
            columns[run.label] = scores
    return pd.DataFrame(columns, index=pd.Index(class_names, name="class"))


def disagreements(first: Run, second: Run) -> dict[str, np.ndarray]:
    """Test examples that exactly one of two runs gets right (runs share the test set's order)."""
    a, b = first.predictions, second.predictions
    right_a, right_b = a.true_label == a.predicted_label, b.true_label == b.predicted_label
    return {
        "first_only": a["index"][right_a & ~right_b].to_numpy(),
        "second_only": a["index"][right_b & ~right_a].to_numpy(),
    }


def difference_html(differences: pd.DataFrame, text: dict) -> str:
    """The config differences as a page shows them ('' for none); the keys themselves are data."""
    return "" if differences.empty else differences.rename_axis(columns=text["config_key"]).to_html(na_rep="")


def test_set(dataset: dict) -> str:
    """Which test examples a run was scored on: its dataset, and for files of your own, which and how split."""
    if "path" not in dataset:
        return dataset["name"]
    return json.dumps({key: value for key, value in dataset.items() if key not in ("train_size", "val_size")})


def check_one_dataset(items: list) -> None:
    """Runs or groups (anything with a label and a config) must have been scored on one test set."""
    datasets = {test_set(item.config["dataset"]) for item in items}
    if len(datasets) > 1:
        listing = ", ".join(f"{item.label}: {test_set(item.config['dataset'])}" for item in items)
        raise UserError(f"runs on different datasets cannot be compared ({listing}); compare runs on one dataset")


def slug(items: list) -> str:
    """The comparison's folder name, from runs or groups (anything with a config and a path)."""
    names = "_vs_".join(dict.fromkeys(item.config["name"] for item in items))
    digest = hashlib.sha1("|".join(str(item.path) for item in items).encode()).hexdigest()[:6]
    return f"{names[:80]}-{digest}"


def plot_curves(runs: list[Run], path: Path, text: dict) -> None:
    """Validation accuracy and loss per epoch, one colour per run, train dashed; runs may differ in length."""
    colours = sns.color_palette("tab10", len(runs))
    figure, axes = new_figure(1, 2, figsize=(12, 4.3))
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for run, colour in zip(runs, colours, strict=True):
            if run.history.empty:
                continue
            epochs = run.history.epoch + 1  # counted from 1, as people count them
            axis.plot(epochs, run.history[f"val_{metric}"], color=colour, marker="o", ms=3, label=run.label)
            axis.plot(epochs, run.history[metric], color=colour, linestyle="--", alpha=0.7)
        axis.set(title=text[f"val_{metric}"], xlabel=text["epoch"], ylabel=text[metric])
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    save_figure(figure, path)


def plot_scores(summary: pd.DataFrame, path: Path, text: dict) -> None:
    names = {"test_accuracy": text["test_accuracy"], "macro_f1": text["macro_f1"]}
    scores = summary[list(names)].rename(columns=names).reset_index()
    long = scores.melt(id_vars="run", var_name="metric", value_name="value")
    figure, axis = new_figure(figsize=(max(6, 2.2 * len(summary)), 4))
    sns.barplot(data=long, x="run", y="value", hue="metric", ax=axis)
    for container in axis.containers:
        axis.bar_label(container, fmt="%.4f", fontsize=7)
    axis.set(xlabel="", ylabel=text["value"], ylim=(0, 1.05))
    axis.tick_params(axis="x", labelrotation=15)
    save_figure(figure, path)


def plot_per_class(f1: pd.DataFrame, path: Path, text: dict) -> None:
    figure, axis = new_figure(figsize=(2 + 1.8 * len(f1.columns), 0.45 * len(f1) + 1.5))
    sns.heatmap(f1, annot=True, fmt=".3f", cmap="viridis", vmin=0, vmax=1, ax=axis)
    axis.set(title=text["per_class_f1"], xlabel="", ylabel=text["class"])
    save_figure(figure, path)


def plot_confusion_difference(first: Run, second: Run, class_names, path: Path, text: dict) -> None:
    """Row-normalised confusion matrices, second minus first: red where the second errs more."""
    classes = list(range(len(class_names)))
    matrices = [
        confusion_matrix(run.predictions.true_label, run.predictions.predicted_label, labels=classes, normalize="true")
        for run in (first, second)
    ]
    figure, axis = new_figure(figsize=(8, 6.5))
    sns.heatmap(
        matrices[1] - matrices[0],
        annot=True,
        fmt=".2f",
        cmap="RdBu",
        center=0,
        ax=axis,
        xticklabels=class_names,
        yticklabels=class_names,
    )
    axis.set(
        title=text["confusion_difference"].format(a=first.label, b=second.label),
        xlabel=text["predicted"],
        ylabel=text["true"],
    )
    save_figure(figure, path)


def two_run_sections(first: Run, second: Run, class_names, out: Path, text: dict) -> dict:
    """The confusion difference and the examples exactly one of the two runs gets right."""
    plot_confusion_difference(first, second, class_names, out / "confusion_difference.png", text)
    split = disagreements(first, second)
    counts = {
        text["right_wrong"].format(a=first.label, b=second.label): len(split["first_only"]),
        text["right_wrong"].format(a=second.label, b=first.label): len(split["second_only"]),
    }
    grids, dataset = [], ExperimentConfig.model_validate(first.config).dataset
    for (caption, count), (key, indices) in zip(counts.items(), split.items(), strict=True):
        shown = indices[:DISAGREEMENT_IMAGES]
        try:
            images = test_examples(dataset, shown) if count else None
        except (UserError, ValueError, OSError):
            images = None
        if images is None or isinstance(images, pd.DataFrame):  # a table's rows are not drawn
            continue
        truth = first.predictions.set_index("index").loc[shown]
        other = second.predictions.set_index("index").loc[shown]
        predicted = zip(truth.true_label, truth.predicted_label, other.predicted_label, strict=True)
        captions = [
            f"{text['true_short']}: {class_names[t]}\n{class_names[a]} / {class_names[b]}" for t, a, b in predicted
        ]
        plot_image_grid(images, captions, caption, out / f"{key}.png")
        grids.append((f"{key}.png", caption))
    return {"counts": counts, "grids": grids}


def _delta_cell(value, delta) -> str:
    if value is None or pd.isna(value):
        return "-"
    sign = "" if pd.isna(delta) or delta == 0 else f" ({delta:+.4f})"
    return f"{value:.4f}{sign}"


def metrics_rows(summary: pd.DataFrame) -> list[dict]:
    rows = []
    for label, row in summary.iterrows():
        rows.append(
            {
                "run": label,
                "status": row.status,
                "epochs_run": clean(row.epochs_run),
                "best_epoch": clean(row.best_epoch + 1 if pd.notna(row.best_epoch) else None),
                "train_seconds": clean(row.train_seconds),
            }
            | {
                column: _delta_cell(row[column], row[f"{column}_delta"])
                for column in ("test_accuracy", "macro_f1", "best_val_accuracy", "final_val_accuracy")
            }
        )
    return rows


def short_names(labels_: list[str]) -> list[str]:
    """Experiment names where they tell the items apart, else the full labels."""
    names = [label.split()[0] for label in labels_]
    return names if len(set(names)) == len(names) else labels_


def paired_statistics(runs: list[Run], lang: str = "en") -> tuple[list[str], pd.DataFrame]:
    """Each later run against the first on the shared test set: verdicts and their numbers, p raw and adjusted
    for the comparison's tests (Holm)."""
    names = short_names([run.label for run in runs])
    baseline, candidates = runs[0], dict(zip(names[1:], runs[1:], strict=True))
    untestable, results = {}, {}
    for name, run in candidates.items():
        if run.predictions is None or baseline.predictions is None:
            untestable[name] = phrase(lang, "no_predictions", candidate=name, baseline=names[0])
        elif not run.predictions[["index", "true_label"]].equals(baseline.predictions[["index", "true_label"]]):
            untestable[name] = phrase(lang, "other_examples", candidate=name, baseline=names[0])
        else:
            results[name] = paired(correct(run), correct(baseline))
    adjusted = dict(zip(results, holm([result.p_value for result in results.values()]), strict=True))
    verdicts, rows = [], []
    for name, run in candidates.items():
        if name in untestable:
            verdicts.append(untestable[name])
            continue
        result, p_holm = results[name], adjusted[name]
        verdicts.append(paired_verdict(name, names[0], result, lang, Adjusted(p_holm, len(results))))
        rows.append(
            {"candidate": run.label, "baseline": baseline.label, "test": "McNemar exact + paired bootstrap"}
            | vars(result)
            | {"p_holm": p_holm, "tests": len(results), "shown": p_holm < SIGNIFICANCE}
        )
    return verdicts, pd.DataFrame(rows)


def correct(run: Run) -> np.ndarray:
    return (run.predictions.true_label == run.predictions.predicted_label).to_numpy()


IMAGES = (("curves.png", "curves_compare"), ("scores.png", "scores"), ("per_class_f1.png", "per_class_f1"))


def _write_tables(out: Path, summary, differences, f1, statistics) -> None:
    """The comparison's numbers as CSV files beside its page."""
    write_with(out / "metrics.csv", lambda path: summary.to_csv(path))
    write_with(out / "config_diff.csv", lambda path: differences.to_csv(path))
    write_with(out / "per_class_f1.csv", lambda path: f1.to_csv(path))
    write_with(out / "statistics.csv", lambda path: statistics.to_csv(path, index=False))


def _plot_runs(runs: list[Run], summary: pd.DataFrame, f1: pd.DataFrame, out: Path, text: dict) -> None:
    plot_curves(runs, out / "curves.png", text)
    plot_scores(summary.dropna(subset=["test_accuracy"]), out / "scores.png", text)
    if not f1.empty:
        plot_per_class(f1, out / "per_class_f1.png", text)


def compare_runs(runs: list[Run], reports_dir: Path) -> Comparison:
    check_one_dataset(runs)
    lang = language(runs[0].config.get("report", {}).get("language"))
    text = labels(lang)
    class_names = class_names_of(RunDir(runs[0].path), runs[0].config)
    out = reports_dir / "compare" / slug(runs)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(runs)
    differences = config_difference(runs)
    f1 = per_class_f1(runs, class_names)
    verdicts, statistics = paired_statistics(runs, lang)
    why = explanations(lang, "why_mcnemar", len(statistics))
    _write_tables(out, summary, differences, f1, statistics)
    _plot_runs(runs, summary, f1, out, text)
    pair = None
    if len(runs) == 2 and all(run.predictions is not None for run in runs):
        pair = two_run_sections(runs[0], runs[1], class_names, out, text)
    write_page(
        "compare.html",
        out / "compare.html",
        reports_dir,
        lang,
        text=text,
        runs=runs,
        metrics=metrics_rows(summary),
        differences=difference_html(differences, text),
        per_class=(f1.rename_axis(text["class"]).to_html(float_format="%.4f") if not f1.empty else ""),
        pair=pair,
        images=[(name, text[label]) for name, label in IMAGES if (out / name).is_file()],
        links=[os.path.relpath(run.path / RunDir.PAGE, out.resolve()) for run in runs],
        verdicts=verdicts,
        statistics=statistics.to_dict("records"),
        why=why,
    )
    return Comparison(out, summary, verdicts, statistics)


def terminal_text(summary: pd.DataFrame, verdicts: list[str]) -> str:
    if "test_accuracy_delta" not in summary:  # groups: their own table
        table = summary.to_string(float_format=lambda value: f"{value:.4f}")
    else:
        table = terminal_summary(summary)
    return table + "\n\n" + "\n".join(verdicts)


def terminal_summary(summary: pd.DataFrame) -> str:
    shown = summary[
        [
            "status",
            "epochs_run",
            "test_accuracy",
            "test_accuracy_delta",
            "macro_f1",
            "best_val_accuracy",
            "best_epoch",
            "final_val_accuracy",
        ]
    ]
    note = "best_val_accuracy is at best_epoch (by validation accuracy); final_val_accuracy is the last epoch's"
    return shown.astype(object).fillna("-").to_string(float_format=lambda value: f"{value:.4f}") + "\n" + note
