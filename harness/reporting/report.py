"""A run's report, made only from the files in its directory: plots, classification report, report.html.

    python -m harness report        (or: make report) makes every run's report and reports/index.html again

Never trains and never loads the model, so it can be rerun at any time without touching results.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import classification_report, confusion_matrix

from harness.config.schema import ExperimentConfig
from harness.data.datasets import classes_of, test_examples
from harness.errors import UserError
from harness.records import RunDir, is_group, read_table, reports_root
from harness.reporting.figures import counted_from_one, new_figure, save_figure
from harness.reporting.i18n import labels, language
from harness.reporting.index import add_index_row, run_started, write_index
from harness.reporting.pages import write_page

MISCLASSIFIED_SHOWN = 20


def seaborn():
    """seaborn, imported when a figure needs it: with scipy.stats it takes about 1 s, which a run's warm-up thread
    pays while the model trains (warm_up), not the command before training starts."""
    import seaborn

    return seaborn


def plot_learning_curves(history: pd.DataFrame, title: str, path: Path, text: dict) -> None:
    """Loss and accuracy per epoch, train (dashed) against validation (solid; none where the run had no validation
    set)."""
    splits = {"train": text["train"], "validation": text["validation"]}
    if "val_loss" not in history:
        history = history.assign(val_loss=float("nan"), val_accuracy=float("nan"))
    long = pd.concat(
        [
            counted_from_one(history)[["epoch", metric, f"val_{metric}"]]
            .rename(columns={metric: splits["train"], f"val_{metric}": splits["validation"]})
            .melt(id_vars="epoch", var_name="split", value_name="value")
            .assign(metric=metric)
            for metric in ("loss", "accuracy")
        ]
    )
    sns = seaborn()
    figure, axes = new_figure(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        sns.lineplot(
            data=long[long.metric == metric],
            x="epoch",
            y="value",
            hue="split",
            style="split",
            dashes={splits["train"]: (4, 2), splits["validation"]: ""},
            markers=True,
            ax=axis,
        )
        axis.set(title=text[metric], xlabel=text["epoch"], ylabel=text[metric])
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(title=None)
    figure.suptitle(f"{title}: {text['learning_curves']}")
    save_figure(figure, path)


def plot_system(system: pd.DataFrame, title: str, path: Path, text: dict) -> None:
    """The training process's CPU use and resident memory per epoch (and a GPU's, where it had one)."""
    gpu = "gpu_memory_mb" in system and system["gpu_memory_mb"].notna().any()
    figure, axes = new_figure(1, 3 if gpu else 2, figsize=(12 if gpu else 9, 2.8), layout="constrained")
    panels = [("cpu_percent", "cpu_percent"), ("rss_mb", "rss_mb")] + (
        [("gpu_memory_mb", "gpu_memory_mb")] if gpu else []
    )
    system = counted_from_one(system)
    for axis, (column, label) in zip(axes, panels, strict=True):
        axis.plot(system["epoch"], system[column], marker="o", markersize=3)
        axis.set(title=text[label], xlabel=text["epoch"])
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylim(bottom=0)
    figure.suptitle(f"{title}: {text['system_use']}")
    save_figure(figure, path)


def plot_iteration_loss(losses: pd.DataFrame, title: str, path: Path, text: dict) -> None:
    """The loss of every training batch, as in the textbook's figure 4-11."""
    figure, axis = new_figure(figsize=(8, 4))
    axis.plot(losses["iteration"], losses["loss"], linewidth=0.6)
    axis.set(title=f"{title}: {text['loss_per_iteration']}", xlabel=text["iteration"], ylabel=text["loss"])
    save_figure(figure, path)


def plot_confusion_matrix(confusion: np.ndarray, class_names: tuple[str, ...], title: str, path: Path, text) -> None:
    figure, axis = new_figure(figsize=(8, 6.5))
    seaborn().heatmap(
        confusion, annot=True, fmt="d", cmap="Blues", xticklabels=class_names, yticklabels=class_names, ax=axis
    )
    axis.set(title=f"{title}: {text['confusion_matrix']}", xlabel=text["predicted"], ylabel=text["true"])
    save_figure(figure, path)


def plot_image_grid(images: np.ndarray, captions: list[str], title: str, path: Path, columns: int = 5) -> None:
    """Test images with a caption each, as the reference notebook shows its predictions: grey images dark on white,
    colour ones as they are.

    Drawn as one montage image with the captions over it: a subplot per image took four times as long.
    """
    images = images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images
    colour = images.ndim == 4
    rows = max(1, -(-len(images) // columns))
    height, width = images.shape[1:3]
    caption_lines = max((caption.count("\n") + 1 for caption in captions), default=1)
    gap = max(2, height // 10)  # between rows; captions sit in a band of their own above each image
    band = int(height * 0.4 * caption_lines)
    cell_height, cell_width = band + height + gap, width + width // 3
    montage = np.full((rows * cell_height, columns * cell_width, *images.shape[3:]), 1.0 if colour else np.nan)
    for index, image in enumerate(images):
        top, left = (index // columns) * cell_height + band, (index % columns) * cell_width
        montage[top : top + height, left : left + width] = np.clip(image / max(float(image.max()), 1.0), 0, 1)
    figure_width = 2.1 * columns
    figure_height = figure_width * montage.shape[0] / montage.shape[1] + 0.4  # the title
    figure, axis = new_figure(figsize=(figure_width, figure_height), layout="constrained")
    if colour:
        axis.imshow(montage, interpolation="nearest")
    else:
        axis.imshow(np.ma.masked_invalid(montage), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    axis.axis("off")
    for index, caption in enumerate(captions):
        top, left = (index // columns) * cell_height + band, (index % columns) * cell_width
        axis.text(left + width / 2, top - 1, caption, ha="center", va="bottom", fontsize=8)
    figure.suptitle(title)
    save_figure(figure, path)


def most_confident_mistakes(predictions: pd.DataFrame) -> pd.DataFrame:
    wrong = predictions[predictions.true_label != predictions.predicted_label]
    return wrong.sort_values("confidence", ascending=False).head(MISCLASSIFIED_SHOWN)


def write_misclassified(run: RunDir, predictions: pd.DataFrame, config: dict, names, title: str, text: dict) -> None:
    """The most confident mistakes: drawn as images, or for a table, its rows as the file has them (the run's
    misclassified.csv, shown on its page). Nothing when the test examples are not on this machine."""
    wrong = most_confident_mistakes(predictions)
    try:
        examples = test_examples(ExperimentConfig.model_validate(config).dataset, wrong["index"].to_numpy())
    except (UserError, ValueError, OSError):
        return
    if isinstance(examples, pd.DataFrame):
        rows = examples.reset_index()  # the row's line (or row) in the user's file
        labels = pd.DataFrame(
            {
                "true": [names[label] for label in wrong.true_label],
                "predicted": [names[label] for label in wrong.predicted_label],
                "confidence": wrong.confidence.round(4).to_numpy(),
            }
        )
        shown = pd.concat([rows.iloc[:, :1], labels, rows.iloc[:, 1:]], axis=1)
        run.write_with(RunDir.MISCLASSIFIED_TABLE, lambda path: shown.to_csv(path, index=False))
        return
    captions = [
        f"{text['true_short']}: {names[row.true_label]}\n{text['predicted_short']}: {names[row.predicted_label]} "
        f"({row.confidence:.2f})"
        for row in wrong.itertuples()
    ]
    plot_image_grid(
        examples,
        captions,
        f"{title}: {text['misclassified']}",
        run.file(RunDir.MISCLASSIFIED),
    )


def class_names_of(run: RunDir, config: dict) -> tuple[str, ...]:
    """The run's class names, as its data had them (data.json); a run made before runs recorded them takes its
    dataset's."""
    recorded = run.data().get("class_names")
    return tuple(recorded) if recorded else classes_of(config["dataset"]["name"])


def classification_table(report: dict) -> pd.DataFrame:
    """scikit-learn's report dict as one row per class plus the averages."""
    accuracy = report.pop("accuracy")
    table = pd.DataFrame(report).T
    table.loc["accuracy"] = [np.nan, np.nan, accuracy, table.loc["macro avg", "support"]]
    table["support"] = table["support"].astype(int)
    table.index.name = "class"
    return table


def write_classification(predictions: pd.DataFrame, class_names, title: str, run: RunDir, text: dict) -> None:
    true, predicted = predictions["true_label"], predictions["predicted_label"]
    options = {"labels": list(range(len(class_names))), "target_names": list(class_names), "zero_division": 0}
    run.write_text(RunDir.CLASSIFICATION_TEXT, classification_report(true, predicted, digits=4, **options))
    table = classification_table(classification_report(true, predicted, output_dict=True, **options))
    run.write_with(RunDir.CLASSIFICATION_TABLE, lambda path: table.to_csv(path))
    confusion = confusion_matrix(true, predicted, labels=options["labels"])
    plot_confusion_matrix(confusion, class_names, title, run.file(RunDir.CONFUSION_MATRIX), text)


def key_metrics(metrics: dict, text: dict) -> list[tuple[str, str]]:
    shown = []
    if metrics.get("test_accuracy") is not None:
        shown += [
            (text["test_accuracy"], f"{metrics['test_accuracy']:.4f}"),
            (text["macro_f1"], f"{metrics['macro_f1']:.4f}"),
        ]
        if metrics.get("best_val_accuracy") is not None:
            best = f"{metrics['best_val_accuracy']:.4f} ({text['best_epoch']} {metrics['best_epoch'] + 1})"
            shown.append((text["best_val_accuracy"], best))
        shown.append((text["parameters"], f"{metrics['parameters']:,}"))
    if "epochs_run" in metrics:
        shown += [
            (text["epochs_run"], str(metrics["epochs_run"])),
            (text["train_time"], f"{metrics['train_seconds']:.1f} s"),
        ]
    return shown


def classification_html(table: pd.DataFrame, text: dict) -> str:
    """The classification report with its headings in the page's language (the CSV keeps scikit-learn's)."""
    table = table.rename(index=lambda name: text.get(name, name), columns=lambda name: text.get(name, name))
    table.index.name = text["class"]
    return table.to_html(float_format="%.4f", na_rep="")


PAGE_IMAGES = (
    (RunDir.LEARNING_CURVES, "learning_curves"),
    (RunDir.SYSTEM_PLOT, "system_use"),
    (RunDir.LOSS_PER_ITERATION, "loss_per_iteration"),
    (RunDir.CONFUSION_MATRIX, "confusion_matrix"),
    (RunDir.MISCLASSIFIED, "misclassified"),
)


def write_run_page(run: RunDir, config: dict, text: dict, lang: str) -> None:
    images = [(name, text[key]) for name, key in PAGE_IMAGES if run.has(name)]
    table = run.classification_table()
    classification = classification_html(table, text) if not table.empty else ""
    mistakes = read_table(run.file(RunDir.MISCLASSIFIED_TABLE))
    mistakes_html = mistakes.to_html(index=False, float_format="%.4g", na_rep="") if not mistakes.empty else ""
    write_page(
        "run.html",
        run.file(RunDir.PAGE),
        reports_root(run.path),
        lang,
        text=text,
        config=config,
        run_id=run.name,
        date=run_started(run.path),
        group=is_group(run.path.parent),
        status=run.status(),
        key_metrics=key_metrics(run.metrics(), text),
        notes=run.notes(),
        removed=run.removed(),
        images=images,
        mistakes=mistakes_html,
        classification=classification,
        config_text=run.file(RunDir.CONFIG).read_text(),
        environment=run.environment_text(),
        files=run.files(),
    )


def write_report(run_dir: Path) -> None:
    """Every report file the run's results allow: curves once an epoch is done, the rest once it is evaluated."""
    run = RunDir(run_dir)
    config = run.config_dict()
    lang = language((config.get("report") or {}).get("language"))
    text = labels(lang)
    dataset = config["dataset"]["name"]
    title = f"{config['name']} ({dataset})"
    history, system = run.history(), run.system()
    if not history.empty:
        plot_learning_curves(history, title, run.file(RunDir.LEARNING_CURVES), text)
    if not system.empty:
        plot_system(system, title, run.file(RunDir.SYSTEM_PLOT), text)
    if run.has(RunDir.ITERATION_LOSS):
        plot_iteration_loss(run.iteration_loss(), title, run.file(RunDir.LOSS_PER_ITERATION), text)
    predictions = run.predictions()
    if predictions is not None:
        names = class_names_of(run, config)
        write_classification(predictions, names, title, run, text)
        write_misclassified(run, predictions, config, names, title, text)
    write_run_page(run, config, text, lang)


def write_run_page_again(run_dir: Path, index: bool = True) -> None:
    """The run's page and (with index) the index, from the run's files as they are now, its plots left as they
    are: after a note or tag changed, or as a run starts (its page then follows it while served: run_live.html)."""
    run = RunDir(run_dir)
    config = run.config_dict()
    lang = language((config.get("report") or {}).get("language"))
    write_run_page(run, config, labels(lang), lang)
    if index:
        write_index(reports_root(run.path))


def write_report_safely(run_dir: Path, index: bool = True) -> None:
    """The run's report and (with index) reports/index.html; a failure leaves the results intact and says
    how to make the report again."""
    _safely(write_report, run_dir, index)


def write_running_page_safely(run_dir: Path, index: bool = True) -> None:
    """The page of a run that has just started, and (with index) its row in the index's data, as running: the
    index's full refresh waits for the run's end."""
    _safely(lambda path: write_run_page_again(path, index=False), run_dir, index, final=False, add_row=True)


def _safely(write: Callable[[Path], None], run_dir: Path, index: bool, final: bool = True, add_row=False) -> None:
    try:
        write(run_dir)
        if index:
            (add_index_row if add_row else write_index)(reports_root(run_dir), *([run_dir] if add_row else []))
    except Exception as error:  # the results are safe on disk
        again = "`make report` makes it again from the run's files" if final else "its report comes when it ends"
        print(
            f"warning: the report of {run_dir} failed ({type(error).__name__}: {error}); {again}",
            file=sys.stderr,
        )


def warm_up() -> None:
    """Import seaborn and draw a tiny figure once, so that the report's first plot does not pay for either."""
    seaborn()
    figure, axis = new_figure(figsize=(1, 1))
    axis.plot([0, 1], [0, 1])
    axis.set_title("0")
    figure.savefig(io.BytesIO(), format="png")


class RunReporter:
    """The report as the training runner asks for it (harness.training.runner.Reporter)."""

    def warm_up(self) -> None:
        warm_up()

    def started(self, run_dir: Path, index: bool) -> None:
        write_running_page_safely(run_dir, index=index)

    def write(self, run_dir: Path, index: bool) -> None:
        write_report_safely(run_dir, index=index)


REPORTER = RunReporter()
