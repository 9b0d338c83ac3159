"""`make table`: experiments x datasets (or any two config keys), each cell a group of seeds or folds as its mean with
its interval, the best in each column in bold and the cells not significantly behind it marked: a table for a paper.

    make experiment NAME=adam SEEDS=5 DATASET=digits; make experiment NAME=sgd SEEDS=5 DATASET=digits; ...
    make table NAMES="adam sgd" FORMAT=latex        reports/tables/<slug>.tex (also .md and .csv), printed

An experiment's name stands for its groups of seeds or folds (a finalize's group, trained on more data, counts where
it is named by its id; a sweep's points are not repeats of one config); where two groups fall in one cell the newest
counts. Each column's other cells are
tested against its best: Welch's t-test, or for two cross-validations on the same folds the corrected resampled
t-test (harness.reporting.compare_groups.group_test); Holm's adjustment over the column's tests. The LaTeX needs only
booktabs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.atomic import write_text, write_with
from harness.config.experiments import flat_config
from harness.errors import UserError
from harness.records import GroupDir, RunDir, find_target, group_directories, is_group
from harness.reporting.compare_groups import CORRECTED, Group, group_test, load_group
from harness.reporting.stats import Interval, holm, t_interval
from harness.reporting.verdicts import SIGNIFICANCE
from harness.surface import setting, warn

FORMATS = ("markdown", "latex", "csv")
SPREADS = ("ci", "sd")
REPEATED = ("seeds", "folds", "final")  # the kinds of group whose runs repeat one config
BY_NAME = ("seeds", "folds")  # those an experiment's name stands for (a finalize's, trained on more data, when named)


@dataclass
class Cell:
    row: str
    column: str
    group: Group
    mean: float | None
    spread: float | None  # the interval's half-width, or the standard deviation
    n: int
    best: bool = False
    not_behind: bool = False  # not significantly behind the column's best
    p_holm: float | None = None
    test: str | None = None
    interval: Interval | None = None  # the mean's t interval, from which mean, spread and n come


@dataclass
class Table:
    """What `make table` made: the text in the format asked for, the cells as a DataFrame, the files written."""

    text: str
    frame: pd.DataFrame
    files: list[Path]

    def _repr_markdown_(self) -> str:
        return self.files[0].read_text() if self.files and self.files[0].suffix == ".md" else self.text


def make_table(
    names: list[str], rows: str, columns: str, metric: str, form: str, spread: str, reports_dir: Path
) -> Table:
    """Write the table of the groups `names` stand for as Markdown, LaTeX and CSV under reports/tables/; return it,
    its text in `form`."""
    if form not in FORMATS:
        raise UserError(f"{setting('format', form)}: choose one of {', '.join(FORMATS)}")
    if spread not in SPREADS:
        raise UserError(f"{setting('spread', spread)}: ci (the 95% interval's half-width) or sd (standard deviation)")
    cells = _cells(_groups(names, reports_dir), rows, columns, metric, spread)
    _mark(cells, metric)
    row_names = list(dict.fromkeys(cell.row for cell in cells))
    column_names = list(dict.fromkeys(cell.column for cell in cells))
    texts = {
        "markdown": _markdown(cells, rows, row_names, column_names, metric, spread),
        "latex": _latex(cells, rows, row_names, column_names, metric, spread),
    }
    frame = _frame(cells, metric)
    out = reports_dir / "tables"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / _slug(names, rows, columns, metric, spread)
    files = [stem.with_suffix(".md"), stem.with_suffix(".tex"), stem.with_suffix(".csv")]
    write_text(files[0], texts["markdown"])
    write_text(files[1], texts["latex"])
    write_with(files[2], lambda path: frame.to_csv(path, index=False))
    text = frame.to_csv(index=False) if form == "csv" else texts[form]
    return Table(text, frame, files)


def _groups(names: list[str], reports_dir: Path) -> list[Group]:
    """The groups of seeds, folds or finalize runs each name stands for: an experiment's all, or the one named."""
    found = []
    for name in names:
        folder = reports_dir / name
        if folder.is_dir() and not is_group(folder) and not RunDir(folder).is_run():
            groups = [
                path
                for path in group_directories(reports_dir)
                if path.parent.name == name and GroupDir(path).record()["kind"] in BY_NAME
            ]
            if not groups:
                raise UserError(
                    f"{name} has no group of seeds or folds to average: run {setting('seeds', 5)} (or "
                    f"{setting('folds', 5)}) first, e.g. make experiment NAME={name} SEEDS=5"
                )
            found += groups
            continue
        path = find_target(reports_dir, name)
        kind = GroupDir(path).record()["kind"] if is_group(path) else "run"
        if kind not in REPEATED:
            raise UserError(
                f"{name} is a {kind}, not repeats of one config: a table's cell is a group of seeds or folds "
                f"({setting('seeds', 5)} or {setting('folds', 5)})"
            )
        found.append(path)
    ordered = sorted(
        dict.fromkeys(path.resolve() for path in found), key=lambda path: GroupDir(path).record()["created"]
    )
    return [load_group(path) for path in ordered]


def key_value(group: Group, key: str) -> str:
    """What a group is by `key`: its experiment, its dataset (a file of your own by its name), or a config key."""
    if key == "experiment":
        return group.config["name"]
    if key == "dataset":
        dataset = group.config["dataset"]
        return Path(dataset["path"]).name if dataset.get("path") else dataset["name"]
    flat = flat_config(group.config)
    if key not in flat:
        raise UserError(
            f"{key!r} is not a config key of {group.label}: give experiment, dataset or a key such as optimizer.name"
        )
    return str(flat[key])


def _cells(groups: list[Group], rows: str, columns: str, metric: str, spread: str) -> list[Cell]:
    """A cell per (row, column), from the newest group that falls in it (groups come oldest first)."""
    cells = {}
    for group in groups:
        if metric not in group.values:
            known = ", ".join(sorted(group.values)) or "none"
            raise UserError(f"{group.label} has no metric {metric!r} in its finished runs: its metrics are {known}")
        values = group.values[metric]
        interval = t_interval(values)
        width = (
            interval.std if spread == "sd" else (interval.high - interval.mean if interval.high is not None else None)
        )
        where = (key_value(group, rows), key_value(group, columns))
        if where in cells:
            warn(
                f"{cells[where].group.label} and {group.label} fall in one cell ({rows} {where[0]}, {columns} "
                f"{where[1]}): the newer counts; name the groups, or choose rows and columns that tell them apart"
            )
        cells[where] = Cell(*where, group, interval.mean, width, interval.n, interval=interval)
    return list(cells.values())


def lower_is_better(metric: str) -> bool:
    return "loss" in metric or "seconds" in metric


def _mark(cells: list[Cell], metric: str) -> None:
    """In each column, the best mean in bold, and each other cell tested against it (Holm over the column's tests):
    not significantly behind where its adjusted p is at least 0.05."""
    sign = -1 if lower_is_better(metric) else 1
    for column in dict.fromkeys(cell.column for cell in cells):
        scored = [cell for cell in cells if cell.column == column and cell.mean is not None]
        if not scored:
            continue
        best = max(scored, key=lambda cell: sign * cell.mean)
        best.best = True
        others = [cell for cell in scored if cell is not best]
        tested = [group_test(cell.group, best.group, metric) for cell in others]
        for cell, p_holm, (_, test) in zip(others, holm([result.p_value for result, _ in tested]), tested, strict=True):
            cell.p_holm, cell.test = p_holm, test
            cell.not_behind = p_holm is not None and p_holm >= SIGNIFICANCE


def _number(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"


def _cell_text(cell: Cell | None, plus_minus: str) -> str:
    if cell is None or cell.mean is None:
        return "–"
    text = _number(cell.mean)
    return text + (f"{plus_minus}{_number(cell.spread)}" if cell.spread is not None else "")


def footnote(cells: list[Cell], metric: str, spread: str) -> str:
    """What the numbers are and what the marks mean, naming the tests."""
    counts = sorted({cell.n for cell in cells})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    kinds = {cell.group.folds is not None for cell in cells}
    unit = {frozenset({True}): "folds", frozenset({False}): "seeds"}.get(frozenset(kinds), "seeds or folds")
    what = "the half-width of the mean's 95% t interval" if spread == "ci" else "the standard deviation"
    direction = "lowest" if lower_is_better(metric) else "highest"
    tests = {cell.test for cell in cells if cell.test}
    named = " or ".join(
        sorted(
            "Welch's t-test"
            if test != CORRECTED
            else "the corrected resampled t-test of Nadeau and Bengio (2003), for cross-validations on the same folds"
            for test in tests
        )
    )
    text = f"{metric}: mean over {n} {unit} ± {what}. Bold: the best in its column ({direction} mean)"
    if tests:
        text += (
            f"; marked †: not significantly behind it ({named} against the best, p adjusted by Holm's method over the "
            f"column's comparisons, α = {SIGNIFICANCE})"
        )
    if any(cell.n < 2 for cell in cells):
        text += "; a cell of one run has no spread and is not tested"
    return text + "."


def _markdown(cells, rows: str, row_names, column_names, metric: str, spread: str) -> str:
    at = {(cell.row, cell.column): cell for cell in cells}
    lines = [f"| {rows} | " + " | ".join(column_names) + " |", "|---|" + "---:|" * len(column_names)]
    for row in row_names:
        shown = []
        for column in column_names:
            cell, text = at.get((row, column)), _cell_text(at.get((row, column)), " ± ")
            shown.append(f"**{text}**" if cell and cell.best else f"{text} †" if cell and cell.not_behind else text)
        lines.append(f"| {row} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + f"\n\n{footnote(cells, metric, spread)}\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escaped(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)


def _latex(cells, rows: str, row_names, column_names, metric: str, spread: str) -> str:
    at = {(cell.row, cell.column): cell for cell in cells}
    body = []
    for row in row_names:
        shown = []
        for column in column_names:
            cell = at.get((row, column))
            text = _cell_text(cell, r" $\pm$ ").replace("–", "--")
            shown.append(
                rf"\textbf{{{text}}}"
                if cell and cell.best
                else rf"{text}$^\dagger$"
                if cell and cell.not_behind
                else text
            )
        body.append(latex_escaped(row) + " & " + " & ".join(shown) + r" \\")
    note = latex_escaped(footnote(cells, metric, spread)).replace("±", r"$\pm$").replace("†", r"$^\dagger$")
    note = note.replace("α", r"$\alpha$")
    header = latex_escaped(rows) + " & " + " & ".join(latex_escaped(column) for column in column_names) + r" \\"
    return "\n".join(
        [
            "% make table: needs \\usepackage{booktabs}",
            r"\begin{table}[ht]",
            r"\centering",
            r"\begin{tabular}{l" + "r" * len(column_names) + "}",
            r"\toprule",
            header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\par\smallskip\footnotesize " + note,
            r"\caption{" + latex_escaped(metric.replace("_", " ")) + "}",
            r"\end{table}",
            "",
        ]
    )


def _frame(cells: list[Cell], metric: str) -> pd.DataFrame:
    rows = []
    for cell in cells:
        interval = cell.interval
        rows.append(
            {
                "row": cell.row,
                "column": cell.column,
                "metric": metric,
                "n": cell.n,
                "mean": cell.mean,
                "std": interval.std,
                "ci95_low": interval.low,
                "ci95_high": interval.high,
                "best": cell.best,
                "not_significantly_behind": cell.not_behind,
                "p_holm": cell.p_holm,
                "test": cell.test,
                "group": str(cell.group.path),
            }
        )
    return pd.DataFrame(rows)


def _slug(names: list[str], rows: str, columns: str, metric: str, spread: str) -> str:
    words = "-".join(Path(name).name for name in names)[:60]
    digest = hashlib.sha1("|".join([*names, rows, columns, metric, spread]).encode()).hexdigest()[:6]
    return f"{words}-{metric}-{digest}"
