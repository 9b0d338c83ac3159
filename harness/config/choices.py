"""What an experiment file may name, read from the registries: for `make list`, the command line's help and the
README's tables (a test checks that the README shows exactly these).

    python -m harness list              the experiments, then the names of every choice
    python -m harness list --choices    every choice with what it takes, as the README's tables
"""

from __future__ import annotations

from harness.config.model_section import parameters_of
from harness.config.optimizers import OPTIMIZERS
from harness.config.schedules import SCHEDULES, settings_of
from harness.data.sources import DATASETS
from models.registry import MODELS, find_builder

KINDS = ("dataset", "model", "optimizer", "schedule")
HEADINGS = {
    "dataset": ("`dataset.name`", "offline", "what it is"),
    "model": ("`model.builder`", "settings", "what it is"),
    "optimizer": ("`optimizer.name`", "settings", "what it is"),
    "schedule": ("`schedule.name`", "settings", "what it does"),
}


def choices() -> dict[str, list[tuple[str, str, str]]]:
    """Every registry's entries as (name, what it takes or needs, what it is), in the order they were declared."""
    return {
        "dataset": [(name, source.offline or "bundled", source.description) for name, source in DATASETS.items()],
        "model": [
            (name, ", ".join(parameters_of(find_builder(name)[0]).model_fields), entry.description)
            for name, entry in MODELS.items()
        ],
        "optimizer": [
            (name, ", ".join(("learning_rate", *entry.takes)), entry.description) for name, entry in OPTIMIZERS.items()
        ],
        "schedule": [(name, ", ".join(settings_of(kind)), kind.description) for name, kind in SCHEDULES.items()],
    }


def names(kind: str) -> list[str]:
    return [name for name, _, _ in choices()[kind]]


def markdown_tables() -> str:
    """One table per kind, as the README shows them."""
    tables = []
    for kind, rows in choices().items():
        heading = HEADINGS[kind]
        lines = [f"| {' | '.join(heading)} |", "|---|---|---|"]
        lines += [f"| `{name}` | {takes} | {description} |" for name, takes, description in rows]
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"


def terminal_lines() -> str:
    """The names of every choice, one kind a line."""
    return "\n".join(f"{kind + 's:':<12}{', '.join(names(kind))}" for kind in KINDS)
