"""Compare groups of seeds by their distributions: Welch's t-test and the 95% interval of the difference
of means for each metric, banded learning curves, and a verdict that says what the numbers prove.

    make experiment NAME=adam SEEDS=5; make experiment NAME=adam_lr SEEDS=5
    make compare NAMES="adam adam_lr"       -> reports/compare/<slug>/compare.html, statistics.csv
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from harness.atomic import write_with
from harness.errors import UserError
from harness.records import GroupDir
from harness.reporting.compare_runs import (
    Comparison,
    check_one_dataset,
    config_difference,
    difference_html,
    short_names,
    slug,
)
from harness.reporting.figures import new_figure, save_figure
from harness.reporting.group_report import GROUP_METRICS, histories
from harness.reporting.i18n import labels, language
from harness.reporting.pages import write_page
from harness.reporting.stats import GroupDifference, band, corrected_resampled, holm, welch
from harness.reporting.verdicts import SIGNIFICANCE, Adjusted, explanations, group_verdict


@dataclass
class Group:
    label: str  # "<experiment> <group id>"
    path: Path
    config: dict  # of its first run, without the training seed: what every run of the group shares
    values: dict[str, list[float]]  # metric -> the finished runs' values
    finished: int
    runs: int
    history: pd.DataFrame
    folds: int | None = None  # a cross-validation's k
    by_run: dict[str, dict[tuple, float]] | None = None  # metric -> {(seed, fold): value}: folds pair run by run


def load_group(path: Path) -> Group:
    group = GroupDir(path)
    record, members = group.record(), group.members()
    finished = [member for member in members if member["status"] == "finished"]
    runs = group.runs()
    config = runs[0].config_dict() if runs else None
    if config is None:
        raise UserError(f"group {path} has no run that started; it has nothing to compare")
    config["training"].pop("seed", None)
    config["dataset"].pop("fold", None)
    numeric = {key for member in finished for key, value in member["metrics"].items() if _is_number(value)}
    scored = {
        metric: {
            (member.get("seed"), member.get("fold")): member["metrics"][metric]
            for member in finished
            if _is_number(member["metrics"].get(metric))
        }
        for metric in numeric | set(GROUP_METRICS)
    }
    return Group(
        f"{record['experiment']} {path.name}",
        path,
        config,
        {metric: list(values.values()) for metric, values in scored.items()},
        len(finished),
        len(members),
        histories(path, members),
        record.get("folds"),
        scored,
    )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


WELCH, CORRECTED = "Welch t-test", "corrected resampled t-test"


def group_test(candidate: Group, baseline: Group, metric: str) -> tuple[GroupDifference, str]:
    """Two cross-validations on the same folds of the same data: their results pair fold by fold, and the corrected
    resampled t-test allows for the folds' shared training data; any other two groups: Welch's t-test."""
    same_folds = candidate.folds and candidate.folds == baseline.folds
    if same_folds and candidate.config["dataset"] == baseline.config["dataset"]:
        pairs = sorted(set(candidate.by_run[metric]) & set(baseline.by_run[metric]), key=str)
        result = corrected_resampled(
            [candidate.by_run[metric][pair] for pair in pairs],
            [baseline.by_run[metric][pair] for pair in pairs],
            1 / (candidate.folds - 1),
        )
        return result, CORRECTED
    return welch(candidate.values[metric], baseline.values[metric]), WELCH


def statistics_table(groups: list[Group], names: list[str], lang: str = "en") -> pd.DataFrame:
    """Every later group against the first, per metric: means, difference, its interval, p raw and adjusted for
    the comparison's tests of that metric (Holm), whether a difference is shown, n, and the verdict."""
    text = labels(lang)
    rows = []
    for metric in GROUP_METRICS:
        tested = [group_test(group, groups[0], metric) for group in groups[1:]]
        adjusted = holm([result.p_value for result, _ in tested])
        tests = sum(p_value is not None for p_value in adjusted)
        for name, (result, test), p_holm in zip(names[1:], tested, adjusted, strict=True):
            verdict = group_verdict(name, names[0], result, text[metric], lang, Adjusted(p_holm, tests), test)
            row = {"candidate": name, "baseline": names[0], "metric": metric, "test": test}
            row |= vars(result) | {"p_holm": p_holm, "tests": tests}
            rows.append(row | {"shown": p_holm is not None and p_holm < SIGNIFICANCE, "verdict": verdict})
    return pd.DataFrame(rows)


def group_means_table(groups: list[Group]) -> pd.DataFrame:
    rows = []
    for group in groups:
        row = {"group": group.label, "finished": f"{group.finished}/{group.runs}"}
        for metric in GROUP_METRICS:
            series = pd.Series(group.values[metric], dtype=float)
            row |= {f"{metric}_mean": series.mean(), f"{metric}_std": series.std()}
        rows.append(row)
    return pd.DataFrame(rows).set_index("group")


def plot_group_curves(groups: list[Group], names: list[str], path: Path, text: dict) -> None:
    """Validation accuracy and loss: each group's mean over seeds with its 95% interval as a band."""
    frames = [group.history.assign(group=name) for group, name in zip(groups, names, strict=True)]
    history = pd.concat([frame for frame in frames if not frame.empty], ignore_index=True)
    figure, axes = new_figure(1, 2, figsize=(12, 4.3))
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        sns.lineplot(data=history, x="epoch", y=f"val_{metric}", hue="group", errorbar=band, marker="o", ax=axis)
        axis.set(title=text[f"val_{metric}"], xlabel=text["epoch"], ylabel=text[metric])
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(title=None, fontsize=8)
    save_figure(figure, path)


def compare_groups(paths: list[Path], reports_dir: Path) -> Comparison:
    groups = [load_group(path) for path in paths]
    check_one_dataset(groups)
    names = short_names([group.label for group in groups])
    lang = language(groups[0].config.get("report", {}).get("language"))
    text = labels(lang)
    out = reports_dir / "compare" / slug(groups)
    out.mkdir(parents=True, exist_ok=True)
    statistics = statistics_table(groups, names, lang)
    summary = group_means_table(groups)
    differences = config_difference(groups)
    write_with(out / "statistics.csv", lambda path: statistics.to_csv(path, index=False))
    write_with(out / "groups.csv", lambda path: summary.to_csv(path))
    if any(not group.history.empty for group in groups):
        plot_group_curves(groups, names, out / "curves.png", text)
    verdicts = statistics[statistics.metric == "test_accuracy"].verdict.tolist()
    corrected = CORRECTED in set(statistics.test) if len(statistics) else False
    why = explanations(lang, "why_corrected" if corrected else "why_welch", len(groups) - 1)
    write_page(
        "compare_groups.html",
        out / "compare.html",
        reports_dir,
        lang,
        text=text,
        groups=groups,
        names=names,
        verdicts=verdicts,
        statistics=statistics.to_dict("records"),
        why=why,
        links=[os.path.relpath(group.path / GroupDir.PAGE, out.resolve()) for group in groups],
        summary=summary,
        metrics=GROUP_METRICS,
        curves=(out / "curves.png").is_file(),
        differences=difference_html(differences, text),
    )
    return Comparison(out, summary, verdicts, statistics)
