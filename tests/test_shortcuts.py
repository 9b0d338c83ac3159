"""Nothing stale, ever: each shortcut the harness takes (harness.shortcuts.SHORTCUTS) is keyed on everything that can
change its result. Each test here changes each part of one shortcut's key and sees the work done again."""

from __future__ import annotations

import importlib
import linecache
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config.experiments import resolve
from harness.records import RunDir
from harness.shortcuts import SHORTCUTS, Reusables, markdown_table
from harness.training import fingerprint
from harness.training.isolation import isolated_run
from harness.training.runner import run_experiment
from tests.conftest import ROOT, run_dirs

MY_MODELS = """
import keras


class Scale(keras.layers.Layer):
    def call(self, x):
        return x * 1.0


def mine(input_shape, num_classes, units: int = 32):
    inputs = keras.Input(input_shape)
    x = Scale()(keras.layers.Flatten()(inputs))
    x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
"""
MINE = """
description: my own model, from a module of my own
dataset: {name: digits}
model: {builder: mymodels.mine}
optimizer: {name: adam, learning_rate: 0.01}
training: {epochs: 3, deterministic: true}
"""


def test_every_shortcut_names_a_test_that_changes_its_key_and_the_docs_list_them():
    missing = []
    for shortcut in SHORTCUTS:
        file, _, name = shortcut.test.partition("::")
        if f"def {name}(" not in (ROOT / file).read_text():
            missing.append(shortcut.test)
    assert missing == []
    assert markdown_table() in (ROOT / "docs" / "reliability.md").read_text()


@pytest.fixture
def my_models(tmp_path, monkeypatch):
    """A module of the user's own (mymodels.py, importable) and an experiment that names its builder; returns a
    function that edits the module as a user would (the text replaced) and reloads it, as autoreload does."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mymodels.py").write_text(MY_MODELS)
    (folder / "experiments").mkdir()
    (folder / "experiments" / "mine.yaml").write_text(MINE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit of the same length within a second reloads
    sys.modules.pop("mymodels", None)

    def edit(old: str, new: str) -> None:
        path = folder / "mymodels.py"
        path.write_text(path.read_text().replace(old, new))
        importlib.reload(importlib.import_module("mymodels"))

    yield folder, edit
    sys.modules.pop("mymodels", None)


def _trained(config, reports: Path, reusables: Reusables) -> tuple[pd.DataFrame, pd.DataFrame]:
    with isolated_run():
        run_dir = run_experiment(config, reports, reusables=reusables).run_dir
    run = RunDir(run_dir)
    return run.history().drop(columns="seconds"), run.predictions()


def test_an_edited_builder_trains_the_fresh_model(my_models, tmp_path):
    folder, edit = my_models
    config = resolve("mine", folder / "experiments")
    kept = Reusables()
    relu, _ = _trained(config, tmp_path / "reports", kept)
    first_model = kept.model.value
    edit('activation="relu"', 'activation="tanh"')  # the same shapes, another computation
    tanh, tanh_predictions = _trained(config, tmp_path / "reports", kept)
    assert kept.model.value is not first_model
    fresh, fresh_predictions = _trained(config, tmp_path / "reports", Reusables())
    assert tanh.equals(fresh) and tanh_predictions.equals(fresh_predictions)
    assert not tanh.equals(relu)
    # A layer class of the user's whose code changed, its config the same: another computation too.
    tanh_model = kept.model.value
    edit("return x * 1.0", "return x * 0.5")
    _trained(config, tmp_path / "reports", kept)
    assert kept.model.value is not tanh_model


@pytest.fixture
def fingerprinted(my_models, tmp_path, monkeypatch):
    """A finished run of `mine` on an .npz of the user's, fingerprinted with copies of the harness's and the models'
    packages (so that a test can edit them)."""
    folder, _ = my_models
    packages = {}
    for name, source in fingerprint.PACKAGES.items():
        packages[name] = tmp_path / "packages" / name
        shutil.copytree(source, packages[name], ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PACKAGES", packages)
    rows = np.random.default_rng(0)
    data = folder / "mine.npz"
    labels = np.arange(40) % 4
    np.savez(
        data,
        x_train=rows.integers(0, 255, (40, 6, 6), np.uint8),
        y_train=labels,
        x_test=rows.integers(0, 255, (12, 6, 6), np.uint8),
        y_test=labels[:12],
    )
    overrides = ["dataset.name=npz", f"dataset.path={data}", "dataset.val_size=8", "training.epochs=1"]
    config = resolve("mine", folder / "experiments", overrides)
    reports = tmp_path / "reports"
    with isolated_run():
        run_experiment(config, reports)
    assert fingerprint.finished_run_like(config, reports) is not None
    return config, reports, packages, folder


def _edited(path: Path, text: str):
    """Append `text` to a file; return a function that puts the file back."""
    original = path.read_bytes()
    path.write_bytes(original + text.encode())
    return lambda: path.write_bytes(original)


def test_make_all_runs_again_after_any_change_of_what_it_is_keyed_on(fingerprinted, monkeypatch):
    config, reports, packages, folder = fingerprinted
    files = {
        "the harness's source": packages["harness"] / "training" / "train.py",
        "a template": packages["harness"] / "reporting" / "templates" / "base.html",
        "the models' source": packages["models"] / "mlp.py",
        "the builder's module, outside the checkout": folder / "mymodels.py",
        "the data": folder / "mine.npz",
    }
    for what, path in files.items():
        put_back = _edited(path, "\n# edited\n" if path.suffix in (".py", ".html") else "\0")
        assert fingerprint.finished_run_like(config, reports) is None, what
        put_back()
        assert fingerprint.finished_run_like(config, reports) is not None, what
    other = resolve("mine", folder / "experiments", [*_overrides(config), "optimizer.learning_rate=0.02"])
    assert fingerprint.finished_run_like(other, reports) is None  # the config
    with monkeypatch.context() as patch:
        patch.setenv("KERAS_BACKEND", "jax" if fingerprint.backend() == "tensorflow" else "tensorflow")
        assert fingerprint.finished_run_like(config, reports) is None  # the backend
    with monkeypatch.context() as patch:
        real = fingerprint.metadata.version
        patch.setattr(fingerprint.metadata, "version", lambda name: "0.0" if name == "numpy" else real(name))
        assert fingerprint.finished_run_like(config, reports) is None  # a library's version
    assert fingerprint.finished_run_like(config, reports) is not None


def _overrides(config) -> list[str]:
    dataset = config.dataset
    return ["dataset.name=npz", f"dataset.path={dataset.path}", "dataset.val_size=8", "training.epochs=1"]


def test_a_builder_defined_in_a_notebook_is_fingerprinted_by_its_source_or_never_skipped(monkeypatch, capsys):
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    cell = "def nbmine(input_shape, num_classes):\n    return None\n"
    linecache.cache["<cell-1>"] = (len(cell), None, cell.splitlines(True), "<cell-1>")  # as IPython keeps a cell
    exec(compile(cell, "<cell-1>", "exec"), main.__dict__)
    first = fingerprint.builder_source("__main__.nbmine")
    edited = cell.replace("None", "0")
    linecache.cache["<cell-2>"] = (len(edited), None, edited.splitlines(True), "<cell-2>")
    exec(compile(edited, "<cell-2>", "exec"), main.__dict__)
    assert first is not None and fingerprint.builder_source("__main__.nbmine") not in (None, first)
    exec(compile(cell, "<typed>", "exec"), main.__dict__)  # no source kept anywhere
    assert fingerprint.builder_source("__main__.nbmine") is None
    config = resolve("adam", ROOT / "experiments", ["model.builder=__main__.nbmine"], "digits", 1)
    assert fingerprint.finished_run_like(config, Path("/nonexistent")) is None
    assert "cannot be fingerprinted: it runs again" in capsys.readouterr().err


def test_make_all_in_a_copy_of_the_checkout_sees_its_own_edited_source(tmp_path):
    """The code part found from the packages themselves, whatever the checkout: no hash of nothing."""
    checkout = tmp_path / "checkout"
    for part in ("harness", "models", "experiments"):
        shutil.copytree(ROOT / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "harness", "all", "adam", "--skip-done", "--dataset", "digits", "--epochs", "1"]
    environment = os.environ | {"PYTHONPATH": str(checkout)}

    def make_all() -> str:
        result = subprocess.run(command, cwd=checkout, capture_output=True, text=True, env=environment, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout

    make_all()
    assert "up to date" in make_all()
    with open(checkout / "models" / "mlp.py", "a") as file:
        file.write("\n# edited\n")
    assert "up to date" not in make_all()
    (run_dir, *_), code = run_dirs(checkout / "reports"), fingerprint.NOT_FINGERPRINTED
    assert RunDir(run_dir).file(RunDir.FINGERPRINT).read_text().count(code) == 0


def test_the_decoded_cache_is_decoded_again_when_its_source_changes(tmp_path):
    from PIL import Image

    from harness.config.schema import DatasetConfig
    from harness.data.datasets import load_dataset

    for label in ("a", "b"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for index in range(10):
            Image.fromarray(np.full((4, 4), 10 * index, np.uint8)).save(tmp_path / "photos" / label / f"{index}.png")
    settings = DatasetConfig(name="images", path=str(tmp_path / "photos"), test_fraction=0.5, val_size=2)
    reusables = Reusables()
    before = load_dataset(settings, reusables)
    identities = [_folder_identities(tmp_path / "photos")]
    changed = tmp_path / "photos" / "a" / "0.png"
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    after = load_dataset(settings, reusables)
    identities.append(_folder_identities(tmp_path / "photos"))
    assert all(from_entry == hashed for from_entry, hashed in identities)
    brightest = lambda data: max(data.floats(x).max() for x in (data.x_train, data.x_val, data.x_test))  # noqa: E731
    assert brightest(before) < 1.0 and brightest(after) == 1.0  # the new pixels, from memory and disk alike
    assert brightest(load_dataset(settings, Reusables())) == 1.0
    assert identities[0] != identities[1]  # the fingerprint's identity of the folder, from the entry, changed too
    Image.fromarray(np.full((4, 4), 99, np.uint8)).save(tmp_path / "photos" / "b" / "3.png")
    from_entry, hashed = _folder_identities(tmp_path / "photos")  # changed since the entry: found before a load
    assert from_entry == hashed and from_entry != identities[1][0]


def _folder_identities(root):
    """A folder's identity as a run's fingerprint takes it (from its cache entry) and as every file hashed now."""
    from harness.data import images

    hashed = images._identity((stamp.path, images._sha256(root / stamp.path)) for stamp in images.listing(root)[1])
    return images.folder_identity(root, None), hashed


def test_the_prepared_dataset_is_prepared_again_when_a_setting_or_its_source_changes():
    from harness.config.schema import DatasetConfig
    from harness.data.datasets import load_dataset

    reusables = Reusables()
    first = load_dataset(DatasetConfig(name="digits"), reusables)
    assert load_dataset(DatasetConfig(name="digits"), reusables) is first
    assert len(load_dataset(DatasetConfig(name="digits", val_size=300), reusables).y_val) == 300
    assert load_dataset(DatasetConfig(name="digits", split_seed=1), reusables) is not first
    reusables.decoded.clear()  # the source's arrays read anew (as after a change of its files): prepared anew
    assert load_dataset(DatasetConfig(name="digits"), reusables) is not first


def test_the_compile_cache_is_keyed_on_the_libraries_and_the_cpu(monkeypatch):
    from harness import caches

    first = caches.compile_cache_dir()
    real = caches.metadata.version
    with monkeypatch.context() as patch:
        patch.setattr(caches.metadata, "version", lambda name: "9.9" if name == "keras" else real(name))
        assert caches.compile_cache_dir() != first
    with monkeypatch.context() as patch:
        patch.setattr(caches, "_cpu_model", lambda: "another CPU")
        assert caches.compile_cache_dir() != first
    assert caches.compile_cache_dir() == first


def test_an_index_row_is_read_again_when_its_run_changes(tmp_path):
    from harness.reporting.index import runs_table
    from tests.test_compare import make_run

    run_dir = make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    assert runs_table(tmp_path).loc[0, "tags"] is None
    RunDir(run_dir).write_notes(tags=["keep"])
    assert runs_table(tmp_path).loc[0, "tags"] == "keep"
    run = RunDir(run_dir)
    run.write_metrics(run.metrics() | {"test_accuracy": 0.5})
    assert runs_table(tmp_path).loc[0, "test_accuracy"] == 0.5
    run.write_status("failed", {"code": "error", "error": "boom"})
    assert runs_table(tmp_path).loc[0, "status"] == "failed"


def test_an_edited_builders_parameters_are_read_again():
    from harness.config.model_section import parameters_of

    namespace = {}
    exec(textwrap.dedent("def mine(input_shape, num_classes, units: int = 32):\n    pass\n"), namespace)
    builder = namespace["mine"]
    assert list(parameters_of(builder).model_fields) == ["units"]
    exec("def edited(input_shape, num_classes, units: int = 32, dropout: float = 0.1):\n    pass\n", namespace)
    edited = namespace["edited"]
    builder.__code__, builder.__defaults__ = edited.__code__, edited.__defaults__  # autoreload edits in place
    builder.__annotations__ = edited.__annotations__
    assert list(parameters_of(builder).model_fields) == ["units", "dropout"]
