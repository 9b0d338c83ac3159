"""One registry per kind of choice: the schema, the command line's help, `make list` and the README all follow it,
and adding an optimizer or a dataset is one entry."""

import numpy as np
import pytest

from harness.config.choices import KINDS, markdown_tables, names, terminal_lines
from harness.config.experiments import resolve
from harness.config.optimizers import OPTIMIZERS, Optimizer
from harness.config.schedules import SCHEDULES
from harness.data.datasets import load_dataset
from harness.data.examples import DatasetSource, Examples
from harness.data.sources import DATASETS
from harness.errors import UserError
from models.registry import MODELS
from tests.conftest import EXPERIMENTS, ROOT, run_harness


def test_the_docs_show_exactly_the_registries_tables():
    assert markdown_tables() in (ROOT / "docs" / "experiments.md").read_text()


def test_make_list_and_the_help_name_every_entry(tmp_path):
    listing = run_harness("list", reports=tmp_path)
    assert listing.returncode == 0 and terminal_lines() in listing.stdout
    help_text = " ".join(run_harness("run", "--help", reports=tmp_path).stdout.split())
    assert f"default split: {', '.join(DATASETS)}" in help_text
    assert run_harness("list", "--choices", reports=tmp_path).stdout == markdown_tables()


def test_the_tables_name_each_registry_in_its_order():
    registries = {"dataset": DATASETS, "model": MODELS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES}
    for kind in KINDS:
        assert names(kind) == list(registries[kind]), kind


@pytest.mark.parametrize(
    ("key", "registry"),
    [("dataset.name", DATASETS), ("optimizer.name", OPTIMIZERS), ("schedule.name", SCHEDULES)],
)
def test_an_unknown_name_lists_exactly_the_registry_and_the_closest(key, registry):
    first = next(iter(registry))
    with pytest.raises(UserError) as raised:
        resolve("adam", EXPERIMENTS, [f"{key}={first}x"])
    message = str(raised.value)
    assert f"(did you mean '{first}'?)" in message and f"choose one of {', '.join(registry)}" in message


def test_every_optimizer_builds_with_every_setting_it_takes():
    from harness.training.optimizers import build_optimizer

    values = {"momentum": 0.5, "rho": 0.8, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "weight_decay": 0.01}
    for name, entry in OPTIMIZERS.items():
        settings = [f"optimizer={{name: {name}, learning_rate: 0.01}}"]
        settings += [f"optimizer.{key}={values[key]}" for key in entry.takes]
        optimizer = build_optimizer(resolve("adam", EXPERIMENTS, settings).optimizer)
        assert type(optimizer).__name__ == entry.keras_class
        for key in entry.takes:
            assert float(getattr(optimizer, key)) == pytest.approx(values[key]), (name, key)


def test_adding_an_optimizer_is_one_entry(monkeypatch):
    from harness.training.optimizers import build_optimizer

    monkeypatch.setitem(OPTIMIZERS._entries, "lion", Optimizer("Lion", 0.001, ("beta_1", "beta_2"), "Lion"))
    config = resolve("adam", EXPERIMENTS, ["optimizer={name: lion, learning_rate: 0.0001, beta_2: 0.98}"])
    optimizer = build_optimizer(config.optimizer)
    assert type(optimizer).__name__ == "Lion" and float(optimizer.beta_2) == pytest.approx(0.98)
    with pytest.raises(UserError, match="epsilon does not apply to the lion optimizer"):
        resolve("adam", EXPERIMENTS, ["optimizer={name: lion, learning_rate: 0.0001, epsilon: 0.1}"])


def _stripes(settings, download: bool) -> Examples:
    """A tiny dataset of vertical against horizontal stripes, 8x8."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    images = np.zeros((300, 8, 8), dtype=np.uint8)
    for image, label, line in zip(images, labels, rng.integers(0, 8, 300), strict=True):
        if label:
            image[:, line] = 255
        else:
            image[line, :] = 255
    return Examples(images[:240], labels[:240], images[240:], labels[240:], ("horizontal", "vertical"), 255.0)


def test_adding_a_dataset_is_one_entry(monkeypatch):
    entry = DatasetSource(_stripes, lambda settings: "stripes v1", "stripes")
    monkeypatch.setitem(DATASETS._entries, "stripes", entry)
    config = resolve("adam", EXPERIMENTS, dataset="stripes")
    data = load_dataset(config.dataset)
    assert data.class_names == ("horizontal", "vertical") and data.input_shape == (8, 8, 1)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (216, 24, 60)
    assert data.x_train.dtype == np.uint8 and float(data.floats(data.x_train).max()) == 1.0
