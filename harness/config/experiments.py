"""Find, read and resolve experiment files: ``extends:`` chains, command-line overrides, validation.

    python -m harness run l2 --set optimizer.learning_rate=0.01 --epochs 3

resolves ``experiments/l2.yaml`` into one validated ``ExperimentConfig``; every problem a user can
cause becomes a one-line ``UserError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.config.schedules import SCHEDULES
from harness.config.schema import ExperimentConfig
from harness.errors import UserError, did_you_mean

# A section is replaced rather than merged when a variant changes its kind: an sgd variant of an adam experiment
# must not inherit beta_1, a cnn variant of an MLP its hidden_units, nor a table variant of an image set its sizes.
KIND_KEYS = {"dataset": "name", "model": "builder", "optimizer": "name", "schedule": "name"}
# The experiments that come with the harness, beside its package in the checkout: a file in a folder of your own
# (--experiments-dir, EXPERIMENTS=) may extend them.
BUILT_IN = Path(__file__).resolve().parents[2] / "experiments"


def available(experiments_dir: Path) -> list[str]:
    return sorted(path.stem for path in experiments_dir.glob("*.yaml"))


def experiment_path(name: str, experiments_dir: Path) -> Path:
    path = experiments_dir / f"{name}.yaml"
    if not path.is_file():
        names = available(experiments_dir)
        listing = ", ".join(names) if names else f"none (no .yaml files in {experiments_dir})"
        raise UserError(f"unknown experiment {name!r}{did_you_mean(name, names)}; available: {listing}")
    return path


def read_yaml(path: Path) -> dict:
    """The file's mapping, or a UserError naming the file (and line, for syntax errors)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file; an experiment file is YAML text") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{path}{where}: YAML syntax error: {problem}") from None
    if data is None:
        raise UserError(f"{path}: the file is empty; it needs description, dataset, model, optimizer and training")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of keys (description:, dataset:, ...), got {type(data).__name__}")
    return data


def merge(parent: dict, child: dict) -> dict:
    """The child's values over the parent's, section by section (see KIND_KEYS)."""
    merged = dict(parent)
    for key, value in child.items():
        base = merged.get(key)
        kind = KIND_KEYS.get(key)
        same_kind = kind is None or not isinstance(value, dict) or kind not in value
        if isinstance(base, dict) and isinstance(value, dict) and (same_kind or value[kind] == base.get(kind)):
            merged[key] = merge(base, value)
        else:
            merged[key] = value
    return merged


def load_raw(name: str, experiments_dir: Path, chain: tuple[str, ...] = ()) -> dict:
    """The experiment's file merged over its ``extends:`` ancestors, not yet validated."""
    if name in chain:
        raise UserError(f"experiment {chain[0]!r} extends itself through {' -> '.join(chain + (name,))}")
    path = experiment_path(name, experiments_dir)
    data = _factory_as_builder(read_yaml(path))
    if "name" in data:
        raise UserError(f"{path}: remove the key 'name'; an experiment's name is its file name ({name!r})")
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise UserError(f"{path}: extends must be the name of another experiment, got {parent!r}")
    try:
        base = load_raw(parent, _folder_of(parent, experiments_dir), chain + (name,))
    except UserError as error:
        raise UserError(f"{path}: extends {parent!r}: {error}") from None
    base.pop("description", None)  # each file describes itself
    return merge(base, data) | {"extends": parent}


def _folder_of(parent: str, experiments_dir: Path) -> Path:
    """Where the experiment a file extends is: beside it, else among the harness's own."""
    if (experiments_dir / f"{parent}.yaml").is_file() or not (BUILT_IN / f"{parent}.yaml").is_file():
        return experiments_dir
    return BUILT_IN


def _factory_as_builder(data: dict) -> dict:
    """`model: {factory: ...}` (a synonym) as `builder`, so that a variant naming either replaces its parent's model."""
    model = data.get("model")
    if isinstance(model, dict) and "factory" in model and "builder" not in model:
        data = data | {"model": {("builder" if key == "factory" else key): value for key, value in model.items()}}
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'optimizer.learning_rate=0.01' -> (['optimizer', 'learning_rate'], 0.01); values are YAML."""
    key, sep, raw_value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise UserError(f"override {text!r} is not key=value; write e.g. optimizer.learning_rate=0.01")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        raise UserError(f"override {text!r}: the value {raw_value!r} is not valid YAML; quote it") from None
    return [part.strip() for part in parts], value


def apply_override(config: dict, keys: list[str], value: Any, text: str) -> dict:
    """A copy of config with the dotted key set; sections along the path must already be mappings."""
    if len(keys) == 1:
        return config | {keys[0]: value}
    section = config.get(keys[0])
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise UserError(f"override {text!r}: {keys[0]!r} is a value ({section!r}), not a section with keys")
    return config | {keys[0]: apply_override(section, keys[1:], value, text)}


def _location(error: dict) -> str:
    parts = [str(part) for part in error["loc"]]
    if parts[:1] == ["schedule"] and len(parts) > 1:
        del parts[1]  # the schedule kind pydantic adds to the path of a tagged union
    return ".".join(parts)


def _value_problem(problem: dict) -> str:
    message = problem["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    value = problem["input"]
    if isinstance(value, dict | list) or repr(value) in message:
        return message
    return f"{message} (got {value!r})"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem (joined with '; '), each naming the key and what is allowed."""
    messages = []
    for problem in error.errors():
        location = _location(problem)
        if problem["type"] == "extra_forbidden":
            known = _known_keys(problem["loc"][:-1])
            messages.append(f"{location}: unknown key{did_you_mean(problem['loc'][-1], known)}")
        elif problem["type"] == "missing":
            messages.append(f"{location}: required key is missing")
        elif problem["type"] == "union_tag_invalid":
            tag = problem["ctx"]["tag"]
            expected = problem["ctx"]["expected_tags"].replace("'", "")
            options = [option.strip() for option in expected.split(",")]
            messages.append(
                f"{location}.name: unknown schedule {tag!r}{did_you_mean(tag, options)}; choose one of {expected}"
            )
        else:
            message = _value_problem(problem)
            named = not location or message.startswith(f"{location}.")  # the model's parameters name themselves
            messages.append(message if named else f"{location}: {message}")
    return "; ".join(messages)


def _known_keys(location: tuple) -> list[str]:
    """Field names of the schema section at this location."""
    from harness.config import schema

    sections = {
        (): schema.ExperimentConfig,
        ("dataset",): schema.DatasetConfig,
        ("optimizer",): schema.OptimizerConfig,
        ("training",): schema.TrainingConfig,
        ("training", "early_stopping"): schema.EarlyStoppingConfig,
        ("report",): schema.ReportConfig,
    }
    path = tuple(str(part) for part in location)
    if path[:1] == ("schedule",):
        return sorted({name for _, kind in SCHEDULES.items() for name in kind.model_fields})
    model = sections.get(path)
    return list(model.model_fields) if model else []


def _kind_change(raw: dict, keys: list[str], value: Any) -> tuple[list[str], Any]:
    """An override of the model (model.builder, or its synonym model.factory) to another replaces the section, as a
    variant's file would: a cnn override of an MLP experiment drops its hidden_units."""
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    if len(keys) == 2 and keys[0] == "model" and keys[1] in ("builder", "factory") and model.get("builder") != value:
        return ["model"], {"builder": value}
    return keys, value


def resolve(
    name: str,
    experiments_dir: Path,
    overrides: list[str] = (),
    dataset: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
) -> ExperimentConfig:
    """The validated experiment: file, ancestors, then shortcuts and ``--set`` overrides, in that order.

    ``dataset`` replaces the whole dataset section, because sizes chosen for one dataset rarely fit
    another; ``--set dataset.name=...`` changes only the name.
    """
    raw = load_raw(name, experiments_dir)
    if dataset is not None:
        raw["dataset"] = {"name": dataset}
    if epochs is not None:
        raw = apply_override(raw, ["training", "epochs"], epochs, "EPOCHS")
    if seed is not None:
        raw = apply_override(raw, ["training", "seed"], seed, "SEED")
    for text in overrides:
        keys, value = parse_override(text)
        raw = apply_override(raw, *_kind_change(raw, keys, value), text)
    source = str(experiment_path(name, experiments_dir)) + (
        " with overrides" if overrides or dataset or epochs or seed is not None else ""
    )
    try:
        return ExperimentConfig.model_validate(raw | {"name": name})
    except ValidationError as error:
        raise UserError(f"{source}: {describe_validation_error(error)}") from None


def touched_keys(overrides: list[str], dataset: str | None, epochs: int | None, seed: int | None) -> list[str]:
    """The dotted config keys (or sections) a command's options set."""
    keys = [".".join(parse_override(text)[0]) for text in overrides]
    shortcuts = {"dataset": dataset, "training.epochs": epochs, "training.seed": seed}
    return keys + [key for key, value in shortcuts.items() if value is not None]


def resume_conflicts(stored: ExperimentConfig, requested: ExperimentConfig, touched: list[str]) -> list[str]:
    """'key: a in the run, b in the command' for each key the command set to another value than the run has,
    training.epochs aside (more epochs continue the run)."""
    old, new = flat_config(stored.to_dict()), flat_config(requested.to_dict())

    def set_by_command(key: str) -> bool:
        return key != "training.epochs" and any(key == t or key.startswith(t + ".") for t in touched)

    keys = sorted(key for key in set(old) | set(new) if set_by_command(key) and old.get(key) != new.get(key))
    return [f"{key} is {old.get(key)!r} in the run, {new.get(key)!r} in the command" for key in keys]


def flat_config(config: dict, prefix: str = "") -> dict:
    """{'optimizer': {'name': 'adam'}} -> {'optimizer.name': 'adam'}; lists stay values."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= flat_config(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
