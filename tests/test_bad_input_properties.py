"""Property: any broken experiment file or override ends with status 2, one line, no traceback, no run."""

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from harness.cli import main
from harness.config.optimizers import OPTIMIZERS
from harness.config.schedules import SCHEDULES
from harness.config.schema import ExperimentConfig
from harness.data.sources import DATASETS
from harness.training import runner
from models.registry import MODELS
from tests.conftest import EXPERIMENTS

VALID = yaml.safe_load((EXPERIMENTS / "adam.yaml").read_text()) | {"description": "plain one-line text"}


def _keys(model) -> set[str]:
    """Every key a section of the schema knows, in it and in the sections below it."""
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        for section in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(section, type) and issubclass(section, BaseModel):
                keys |= _keys(section)
    return keys


KNOWN_KEYS = _keys(ExperimentConfig) | {key for _, kind in SCHEDULES.items() for key in kind.model_fields}
FACTORY_NAMES = tuple(MODELS)
OPTIMIZER_NAMES = tuple(OPTIMIZERS)

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
unknown_keys = words.filter(lambda word: word not in KNOWN_KEYS and not word.startswith("_"))
huge = st.integers(min_value=10**10, max_value=10**30)  # beyond every bound: epochs, batch size, seed
not_a_number = st.one_of(words, st.lists(st.integers(), max_size=3), st.dictionaries(words, st.integers(), max_size=2))
# Values each key can never take, so a mutated file is broken by construction.
INVALID = {
    ("optimizer", "learning_rate"): st.one_of(
        st.floats(max_value=0), st.floats(min_value=1e7, allow_infinity=False), not_a_number
    ),
    ("training", "epochs"): st.one_of(st.integers(max_value=0), huge, not_a_number, st.floats(0.1, 0.9)),
    ("training", "batch_size"): st.one_of(st.integers(max_value=0), huge, not_a_number),
    ("training", "seed"): st.one_of(st.integers(max_value=-1), huge, not_a_number),
    ("dataset", "name"): words.filter(lambda word: word not in DATASETS),
    ("dataset", "train_size"): st.one_of(st.integers(max_value=0), not_a_number),
    ("model", "factory"): words.filter(lambda word: word not in FACTORY_NAMES),
    ("model", "dropout"): st.one_of(st.floats(min_value=1.0, allow_infinity=False), st.floats(max_value=-0.001)),
    ("optimizer", "name"): words.filter(lambda word: word not in OPTIMIZER_NAMES),
}


@st.composite
def broken_files(draw) -> bytes:
    kind = draw(st.sampled_from(["invalid value", "unknown key", "garbage", "malformed", "empty", "missing"]))
    config = {key: dict(value) if isinstance(value, dict) else value for key, value in VALID.items()}
    if kind == "invalid value":
        (section, key), values = draw(st.sampled_from(sorted(INVALID.items())))
        config[section][key] = draw(values)
    elif kind == "unknown key":
        section = draw(st.sampled_from([None, "dataset", "model", "optimizer", "training"]))
        (config if section is None else config[section])[draw(unknown_keys)] = draw(st.integers())
    elif kind == "missing":
        del config[draw(st.sampled_from(["description", "dataset", "model", "optimizer", "training"]))]
    elif kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200))
    elif kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"# only a comment\n"]))
    text = yaml.safe_dump(config)
    if kind == "malformed":  # an unclosed bracket or quote, or a tab, at the start of a line
        lines = text.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines)))
        return "".join(lines[:at] + [draw(st.sampled_from(["[", "{", "'", "\t- x"])) + "\n"] + lines[at:]).encode()
    return text.encode()


@st.composite
def broken_overrides(draw) -> str:
    kind = draw(st.sampled_from(["invalid value", "unknown key", "no equals", "into a value"]))
    if kind == "invalid value":
        (section, key), values = draw(st.sampled_from(sorted(INVALID.items())))
        value = yaml.safe_dump(draw(values), default_flow_style=True).strip().removesuffix("...").strip()
        return f"{section}.{key}={value}"
    if kind == "unknown key":
        return f"{draw(st.sampled_from(['', 'dataset.', 'optimizer.', 'training.']))}{draw(unknown_keys)}=1"
    if kind == "no equals":
        return draw(words)
    return f"training.epochs.{draw(words)}=1"


@pytest.fixture(autouse=True)
def training_must_not_start(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("bad input reached training")

    monkeypatch.setattr(runner, "run_experiment", refuse)


def _expect_clean_refusal(args, reports: Path, capsys) -> None:
    assert main([*args, "--reports-dir", str(reports)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not reports.exists()


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(content=broken_files())
def test_any_broken_experiment_file_is_refused_cleanly(tmp_path, capsys, content):
    experiments = tmp_path / "experiments"
    experiments.mkdir(exist_ok=True)
    (experiments / "broken.yaml").write_bytes(content)
    _expect_clean_refusal(["run", "broken", "--experiments-dir", str(experiments)], tmp_path / "reports", capsys)


@SETTINGS
@given(override=broken_overrides())
def test_any_broken_override_is_refused_cleanly(tmp_path, capsys, override):
    _expect_clean_refusal(
        ["run", "adam", "--set", override, "--experiments-dir", str(EXPERIMENTS)], tmp_path / "reports", capsys
    )
