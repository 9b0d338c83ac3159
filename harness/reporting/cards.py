"""Cards: how a run, a group or a comparison shows itself in a notebook (harness.api's `_repr_html_`).

A card is small: its key numbers, a thumbnail or two (downscaled and palette-reduced, so a run's card stays under
about 60 KB and a saved notebook carries it without the run's files) and where the full page is. A link to a
`file://` address is blocked in a notebook served over HTTP, so the card links the page by its path relative to
the notebook's folder when it lies beneath it (Jupyter serves those), and always says where it is.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import pandas as pd

from harness.config.grid import point_label
from harness.records import GroupDir, RunDir, reason_text
from harness.reporting.study_report import mattered_text

THUMBNAIL_WIDTH = 520  # pixels: two side by side fill a notebook's width
KEY_METRICS = {"test_accuracy": 4, "macro_f1": 4, "best_val_accuracy": 4, "epochs_run": 0, "train_seconds": 1}
GROUP_METRICS = ("test_accuracy", "macro_f1", "best_val_accuracy")


def thumbnail(path: Path, width: int = THUMBNAIL_WIDTH) -> str:
    """The image, scaled down to `width` pixels and reduced to a palette, inline as a data: URI in an <img>."""
    if not path.is_file():
        return ""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.quantize(colors=64).save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:49%;margin:2px" alt="{html.escape(path.name)}">'


def page_line(page: Path) -> str:
    """Where the page is: a link Jupyter can serve when the page lies under the notebook's folder, and its path."""
    if not page.is_file():
        return ""
    try:
        relative = Path(os.path.relpath(page, Path.cwd()))
    except ValueError:  # another drive
        relative = page
    shown = html.escape(str(page))
    if not relative.parts or relative.parts[0] == "..":
        return f"<p>page: <code>{shown}</code> (open it from disk, or <code>make serve</code>)</p>"
    return f'<p>page: <a href="{html.escape(relative.as_posix())}" target="_blank">{shown}</a></p>'


def _cell(value, decimals: int) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.{decimals}f}" if decimals else f"{value:,}"
    return html.escape(str(value))


def run_card(path: Path) -> str:
    run = RunDir(path)
    config, status, metrics = run.config_dict(), run.status(), run.metrics()
    cells = "".join(
        f"<td><b>{key}</b><br>{_cell(metrics[key], decimals)}</td>"
        for key, decimals in KEY_METRICS.items()
        if key in metrics
    )
    why = reason_text(status.get("reason"))
    banner = f"<p><b>{html.escape(status['status'])}</b>: {html.escape(why)}</p>" if why else ""
    images = thumbnail(run.file(RunDir.LEARNING_CURVES)) + thumbnail(run.file(RunDir.CONFUSION_MATRIX))
    return (
        f"<div><h4>{html.escape(config['name'])} · {html.escape(run.name)} · {html.escape(status['status'])}</h4>"
        f"{banner}<table><tr>{cells}</tr></table><div>{images}</div>{page_line(run.file(RunDir.PAGE))}</div>"
    )


def seeds_table(summary: dict) -> pd.DataFrame:
    """A group of seeds: one row per metric, its mean, spread and 95% interval over the finished runs."""
    rows = {
        metric: {key: values[key] for key in ("mean", "std", "ci95_low", "ci95_high", "n")}
        for metric, values in summary.get("metrics", {}).items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def points_table(summary: dict) -> pd.DataFrame:
    """A sweep: one row per point, its parameters, how many of its runs finished and their mean scores."""
    rows = []
    for point in summary.get("points", []):
        row = {
            "point": f"p{point['point']:02d}",
            **point["parameters"],
            "finished": f"{point['finished']}/{point['runs']}",
        }
        row |= {metric: point["metrics"][metric]["mean"] for metric in GROUP_METRICS}
        rows.append(row)
    return pd.DataFrame(rows).set_index("point") if rows else pd.DataFrame()


def _table_html(table: pd.DataFrame) -> str:
    return table.to_html(float_format=lambda value: f"{value:.4f}", na_rep="-") if not table.empty else ""


def group_card(path: Path) -> str:
    group = GroupDir(path)
    record, summary = group.record(), group.summary(missing={})
    counted = f"{summary.get('finished', 0)} of {summary.get('runs', len(record['members']))} runs finished"
    if summary.get("pruned"):
        counted += f", {summary['pruned']} pruned"
    body = _table_html(seeds_table(summary))
    if summary.get("final"):
        from harness.reporting.group_report import final_text

        body = f"<p id='final'>{html.escape(final_text(summary).strip())}</p>" + body
    if record["kind"] == "sweep":
        body = _best_point_line(summary) + _mattered_line(summary) + _table_html(points_table(summary))
    return (
        f"<div><h4>{html.escape(record['experiment'])} · {html.escape(group.name)} · {counted}</h4>{body}"
        f"{thumbnail(group.file(GroupDir.CURVES), width=760)}{page_line(group.file(GroupDir.PAGE))}</div>"
    )


def _best_point_line(summary: dict) -> str:
    if summary.get("best_point") is None:
        return ""
    best = summary["points"][summary["best_point"]]
    scores = best["metrics"]
    return (
        f"<p>best point by validation accuracy: <b>p{best['point']:02d} {html.escape(point_label(best['parameters']))}"
        f"</b> (validation {scores['best_val_accuracy']['mean']:.4f}, test {scores['test_accuracy']['mean']:.4f})</p>"
    )


def _mattered_line(summary: dict) -> str:
    sentence = mattered_text(summary.get("what_mattered"), "en")
    return f"<p>{html.escape(sentence)}</p>" if sentence else ""


def comparison_card(path: Path, verdicts: list[str], table: pd.DataFrame) -> str:
    items = "".join(f"<li>{html.escape(verdict)}</li>" for verdict in verdicts)
    curves = "".join(thumbnail(image, width=760) for image in sorted(path.glob("*curves*.png")))
    return f"<div><ul>{items}</ul>{_table_html(table)}{curves}{page_line(path / 'compare.html')}</div>"
