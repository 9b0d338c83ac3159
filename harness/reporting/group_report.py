"""A group's summary.json and group.html: statistics over seeds, banded learning curves, a sweep's points.

    make experiment NAME=adam SEEDS=5   writes them when its runs end; `make report` makes them again

The summary is computed from the member runs' own files, so it always agrees with them. A sweep's best
point is chosen by mean best validation accuracy, never by test accuracy.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from harness.config.grid import point_label
from harness.records import GroupDir, reason_text
from harness.reporting.figures import counted_from_one, new_figure, save_figure
from harness.reporting.i18n import labels, language, status_words
from harness.reporting.index import started
from harness.reporting.pages import write_page
from harness.reporting.stats import band, t_interval
from harness.reporting.study_report import mattered_text, members_from_study, study_plots, what_mattered

GROUP_METRICS = ("test_accuracy", "macro_f1", "best_val_accuracy")
ONE_POINT = ("seeds", "folds", "final")  # the kinds of group whose runs share one config (a sweep's have many)
SELECTED_BY = "best_val_accuracy"  # the validation set chooses; the test set only reports
CURVES_SHOWN = 10  # a sweep's curves: the best points by validation, so the plot stays readable


def point_summary(members: list[dict]) -> dict:
    """A point's runs: how many finished, their scores' mean and interval, and where its pruned runs stopped."""
    finished = [member for member in members if member["status"] == "finished"]
    metrics = {}
    for metric in GROUP_METRICS:
        values = [member["metrics"][metric] for member in finished if member["metrics"].get(metric) is not None]
        metrics[metric] = t_interval(values).to_dict() | {"values": values}
    pruned = [
        {"epochs": member["metrics"].get("epochs_run"), "best_val_accuracy": member["metrics"].get("best_val_accuracy")}
        for member in members
        if member["status"] == "pruned"
    ]
    return {"runs": len(members), "finished": len(finished), "pruned": pruned, "metrics": metrics}


def _counted_once(members: list[dict]) -> tuple[list[dict], list[str]]:
    """The members with each run counted once: of a run and its retries (`<run>-retry<n>`) that all ended, the first
    to end counts; the others are returned by name."""
    ended, counted, repeats = set(), [], []
    for member in sorted(members, key=lambda member: _retry_number(member["run"])):
        original = re.sub(r"-retry\d+$", "", member["run"])
        if member["status"] in ("finished", "pruned"):
            if original in ended:
                repeats.append(member["run"])
                continue
            ended.add(original)
        counted.append(member)
    return counted, repeats


def _retry_number(run: str) -> int:
    found = re.search(r"-retry(\d+)$", run)
    return int(found.group(1)) if found else 0


def summarize(group_dir: Path, record: dict, members: list[dict]) -> dict:
    """The group's statistics from its record (group.json) and its members as read_group reads them; a run
    that was run again (its worker died) counts through its retry, and a run that ended twice (its machine lost the
    database while it trained, and another machine ran it again) counts once."""
    members, repeats = _counted_once([member for member in members if not member.get("retried_by")])
    points = []
    for index, parameters in enumerate(record["points"]):
        at_point = [member for member in members if member["point"] == index]
        points.append({"point": index, "parameters": parameters} | point_summary(at_point))
    summary = {
        "experiment": record["experiment"],
        "kind": record["kind"],
        "group": group_dir.name,
        "runs": len(members),
        "finished": sum(member["status"] == "finished" for member in members),
        "pruned": sum(member["status"] == "pruned" for member in members),
        "epochs_trained": sum(member["metrics"].get("epochs_run") or 0 for member in members),
        "not_finished": [
            {key: member[key] for key in ("run", "status", "reason")}
            for member in members
            if member["status"] not in ("finished", "pruned")
        ],
        "seeds": record["seeds"],
        "folds": record.get("folds"),
        "points": points,
        "missing_points": [point["point"] for point in points if not point["runs"]],  # no run recorded anywhere
        "repeats": repeats,  # runs that ended a second time for the same point and seed: not counted
    }
    if record["kind"] in ONE_POINT:
        summary["metrics"] = points[0]["metrics"]
        if record.get("final"):
            summary["final"] = record["final"]
    else:
        scored = [point for point in points if point["finished"]]
        best = max(scored, key=lambda point: point["metrics"][SELECTED_BY]["mean"]) if scored else None
        summary["search"] = record.get("search")
        summary["selected_by"] = f"highest mean {SELECTED_BY} over the point's runs; test accuracy is only reported"
        summary["best_point"] = best["point"] if best else None
    return summary


def histories(group_dir: Path, members: list[dict]) -> pd.DataFrame:
    """The finished members' histories in one table, with their run and point, for the plots: epochs counted from 1."""
    group, frames = GroupDir(group_dir), []
    for member in members:
        history = group.member(member["run"]).history() if member["status"] == "finished" else pd.DataFrame()
        if not history.empty:
            frames.append(counted_from_one(history).assign(run=member["run"], point=point_label(member["parameters"])))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_banded_curves(history: pd.DataFrame, hue: str, path: Path, text: dict) -> None:
    """Accuracy and loss per epoch: the mean over runs with its 95% t interval as a band."""
    figure, axes = new_figure(1, 2, figsize=(12, 4.3))
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        if hue == "split":  # one point: train against validation (where the runs had a validation set)
            splits = [metric, f"val_{metric}"] if f"val_{metric}" in history else [metric]
            long = history.melt(id_vars=["epoch", "run"], value_vars=splits, var_name="split")
            long["split"] = long["split"].map({metric: text["train"], f"val_{metric}": text["validation"]})
            sns.lineplot(
                data=long,
                x="epoch",
                y="value",
                hue="split",
                style="split",
                errorbar=band,
                markers=True,
                dashes={text["train"]: (4, 2), text["validation"]: ""},
                ax=axis,
            )
        else:  # a sweep: validation curves, one colour per point
            sns.lineplot(data=history, x="epoch", y=f"val_{metric}", hue=hue, errorbar=band, marker="o", ax=axis)
        axis.set(
            title=text[f"val_{metric}"] if hue != "split" else text[metric], xlabel=text["epoch"], ylabel=text[metric]
        )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(title=None, fontsize=7)
    save_figure(figure, path)


def plot_parameters(members: list[dict], keys: list[str], random: bool, path: Path, text: dict) -> None:
    """The selection metric against each swept parameter. A grid draws one line per combination of the
    other parameters, with the 95% interval over seeds as a band; a random search draws every run as a dot."""
    table = pd.DataFrame(
        [
            member["parameters"] | {SELECTED_BY: member["metrics"][SELECTED_BY]}
            for member in members
            if member["status"] == "finished"
        ]
    )
    figure, axes = new_figure(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        others = [other for other in keys if other != key]
        hue = table[others].apply(lambda row: point_label(row.to_dict()), axis=1) if others and not random else None
        numeric = pd.api.types.is_numeric_dtype(table[key]) and not pd.api.types.is_bool_dtype(table[key])
        x = table[key] if numeric else table[key].map(str)
        if random:
            sns.scatterplot(x=x, y=table[SELECTED_BY], ax=axis)
        else:
            sns.lineplot(x=x, y=table[SELECTED_BY], hue=hue, errorbar=band, marker="o", ax=axis)
        if numeric and (x > 0).all() and x.max() / x.min() >= 10:
            axis.set_xscale("log")
        axis.set(xlabel=key, ylabel=text["best_val_accuracy"], ylim=(0, 1.02))
        if axis.get_legend():
            axis.legend(fontsize=7)
    save_figure(figure, path)


def write_group_report(group_dir: Path, study=None) -> dict:
    """summary.json, the plots and group.html; returns the summary. A sweep's `study` (harness.groups.storage)
    adds what mattered, and the runs it records that this folder lacks (made elsewhere, or deleted here)."""
    group = GroupDir(group_dir)
    record, members = group.record(), group.members()
    if study is not None:
        here = {member["run"] for member in members if group.member(member["run"]).path.is_dir()}
        recorded = members_from_study(study, record["points"], here)
        elsewhere = {member["run"] for member in recorded}
        members = [member for member in members if member["run"] not in elsewhere] + recorded
    summary = summarize(group_dir, record, members)
    if study is not None:
        summary["what_mattered"] = what_mattered(study, summary)
        summary["stopped"] = study.user_attrs.get("stopped")  # why the sweep took no more points (STOP)
    group.write_summary(summary)
    lang = language(_report_language(group, members))
    text = labels(lang)
    images = _group_plots(group, summary, members, text)
    if study is not None:
        images += study_plots(group_dir, study, text)
    mattered = mattered_text(summary.get("what_mattered"), lang)
    write_page(
        "group.html",
        group.path / group.PAGE,
        group_dir.parent.parent,
        lang,
        text=text,
        summary=summary,
        members=members,
        images=images,
        date=started(group_dir.name),
        metrics=GROUP_METRICS,
        point_label=point_label,
        logs=group.logs(),
        mattered=mattered,
    )
    return summary


def write_running_group_page(group_dir: Path, lang: str | None = None) -> None:
    """The page of a group that has just started: its runs as they start and end, from live.json while served
    (group_live.html); write_group_report replaces it when the group ends."""
    group = GroupDir(group_dir)
    record, lang = group.record(), language(lang)
    summary = {key: record[key] for key in ("experiment", "kind", "seeds")} | {"group": group_dir.name}
    write_page(
        "group.html",
        group.path / group.PAGE,
        group_dir.parent.parent,
        lang,
        text=labels(lang),
        summary=summary | {"finished": 0, "runs": len(record["members"]) or "?"},
        live=group.live(),
        statuses=status_words(lang),
        date=started(group_dir.name),
    )


def _group_plots(group: GroupDir, summary: dict, members: list[dict], text: dict) -> list[tuple[str, str]]:
    """The banded curves and, for a sweep, the selection metric against each parameter."""
    images, history = [], histories(group.path, members)
    if not history.empty:
        seeds = summary["kind"] in ONE_POINT
        shown = history if seeds else history[history.point.isin(best_points(summary))]
        plot_banded_curves(shown, "split" if seeds else "point", group.path / group.CURVES, text)
        images.append((group.CURVES, text["curves_band" if seeds else "curves_sweep"]))
    if summary["kind"] == "sweep" and summary["finished"]:
        random = bool((summary.get("search") or {}).get("random"))
        keys = list(summary["points"][0]["parameters"])
        plot_parameters(members, keys, random, group.path / group.PARAMETERS, text)
        images.append((group.PARAMETERS, text["metric_vs_parameter"]))
    return images


def best_points(summary: dict) -> list[str]:
    """Labels of the points whose curves are drawn: the best CURVES_SHOWN by validation."""
    scored = [point for point in summary["points"] if point["finished"]]
    scored.sort(key=lambda point: -point["metrics"][SELECTED_BY]["mean"])
    return [point_label(point["parameters"]) for point in scored[:CURVES_SHOWN]]


def _report_language(group: GroupDir, members: list[dict]) -> str | None:
    for member in members:
        run = group.member(member["run"])
        if run.is_run():
            return (run.config_dict().get("report") or {}).get("language")
    return None


def summary_text(summary: dict) -> str:
    """The group's result for the terminal."""
    pruned = f", {summary['pruned']} pruned" if summary.get("pruned") else ""
    epochs = f" ({summary['epochs_trained']} epochs trained in all)" if "epochs_trained" in summary else ""
    lines = [f"\n{summary['experiment']}: {summary['finished']} of {summary['runs']} runs finished{pruned}{epochs}"]
    lines += [
        f"  {member['run']}: {member['status']}: {reason_text(member['reason'])}" for member in summary["not_finished"]
    ]
    missing = summary.get("missing_points") or []
    if missing and not summary.get("stopped"):
        names = ", ".join(f"p{point:02d}" for point in missing)
        lines.append(
            f"  {len(missing)} of {len(summary['points'])} points have no run ({names}): the machine that took them "
            "stopped without a word to the study, and no machine took them over"
        )
    if summary.get("stopped"):
        lines.append(f"  the sweep stopped taking points: {reason_text(summary['stopped'])}")
    if summary.get("repeats"):
        lines.append(
            f"  {', '.join(summary['repeats'])}: ran again where its first run had already ended (its machine lost the "
            "database); counted once"
        )
    shown = []
    if summary.get("final"):
        lines.append(final_text(summary))
    if summary["kind"] in ONE_POINT:
        shown = [("", summary["metrics"])]
    elif summary["best_point"] is not None:
        best = summary["points"][summary["best_point"]]
        shown = [
            (f"best point by validation: p{best['point']:02d} {point_label(best['parameters'])}\n", best["metrics"])
        ]
    for heading, metrics in shown:
        lines.append(f"{heading}  {'metric':<18} {'mean':>7} {'std':>7}  95% CI           n")
        for metric in GROUP_METRICS:
            m = metrics[metric]
            if m["mean"] is None:
                continue
            std = f"{m['std']:.4f}" if m["std"] is not None else "-"
            ci = f"{m['ci95_low']:.4f} to {m['ci95_high']:.4f}" if m["ci95_low"] is not None else "-"
            lines.append(f"  {metric:<18} {m['mean']:.4f} {std:>7}  {ci:<16} {m['n']}")
    return "\n".join(lines)


def final_text(summary: dict) -> str:
    """What a finalize hands over, in a sentence: the test accuracy with its interval, the point and where it came
    from, and the test set's use."""
    final, test = summary["final"], summary["metrics"]["test_accuracy"]
    interval = f" (95% CI {test['ci95_low']:.4f} to {test['ci95_high']:.4f})" if test["ci95_low"] is not None else ""
    validation = final["validation"]
    score = (
        f"{test['mean']:.4f}{interval}, over {test['n']} seeds" if test["mean"] is not None else "none (no run ended)"
    )
    used = (
        f"; this test set was scored before ({len(final['earlier_uses'])} earlier finalize), so this figure is not "
        "an untouched estimate"
        if final["earlier_uses"]
        else "; the test set was used for this one decision"
    )
    return (
        f"  final test accuracy {score}: p{final['point']:02d} {final['label']} of {final['sweep']}, chosen by mean "
        f"validation accuracy {validation['mean']:.4f} over {validation['n']} runs, trained on training + validation "
        f"data for {final['epochs']} epochs (its runs' best: {', '.join(map(str, final['best_epochs']))}){used}"
    )
