"""Your own model and your own data get everything the reference notebook's models get: runs and their pages, groups
of seeds, sweeps, comparisons, resume; bad data is one line and no run. The model is a builder written in a folder
outside the harness; the data are a CSV and a folder of PNG images written here from scikit-learn's bundled sets."""

import pickle
import tarfile
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.records import GroupDir, RunDir
from tests.conftest import forget_modules, run_dirs, run_harness

BUILDER = '''
import keras


def tiny_cnn(input_shape, num_classes, filters: int = 4, dense: int = 16):
    """A conv layer, pooling and a small dense head."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's folder outside the harness: a package with a builder, a CSV, a folder of PNG images, experiments."""
    package = tmp_path / "mynets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(BUILDER)
    monkeypatch.syspath_prepend(str(tmp_path))  # as PYTHONPATH would; workers inherit it
    forget_modules(monkeypatch, "mynets")
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    _write_wine_csv(tmp_path / "wine.csv")
    _write_digit_pngs(tmp_path / "photos")
    (experiments / "wine.yaml").write_text(
        textwrap.dedent(f"""
        description: An MLP on scikit-learn's wine table, with a text column.
        dataset: {{name: table, path: {tmp_path / "wine.csv"}, target: cultivar, test_fraction: 0.25, val_size: 20}}
        model: {{builder: mlp, hidden_units: [16]}}
        optimizer: {{name: adam, learning_rate: 0.01}}
        training: {{epochs: 3, batch_size: 16}}
        """)
    )
    (experiments / "photos.yaml").write_text(
        textwrap.dedent(f"""
        description: A small conv net of my own on a folder of digit images.
        dataset: {{name: images, path: {tmp_path / "photos"}, val_size: 12}}
        model: {{builder: mynets.tiny.tiny_cnn, filters: 6}}
        optimizer: {{name: adam, learning_rate: 0.01}}
        training: {{epochs: 3, batch_size: 16}}
        """)
    )
    return tmp_path


def _write_wine_csv(path):
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    frame = wine.data.copy()
    frame["region"] = np.array(["north", "south", "east"])[np.arange(len(frame)) % 3]  # text, one-hot encoded
    frame["cultivar"] = np.array(["barolo", "grignolino", "barbera"])[wine.target]
    frame.to_csv(path, index=False)


def _write_digit_pngs(folder, classes=(0, 1, 7), per_class=30, sizes=None):
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in classes:
        (folder / f"digit_{label}").mkdir(parents=True, exist_ok=True)
        images = digits.images[digits.target == label][:per_class]
        for index, image in enumerate(images):
            picture = Image.fromarray((image * 16).astype(np.uint8))
            if sizes:
                picture = picture.resize(sizes[index % len(sizes)])
            picture.save(folder / f"digit_{label}" / f"{index:03d}.png")


def test_my_builder_on_my_images_gets_a_run_a_page_and_its_class_names(project):
    reports = project / "reports"
    result = run_harness("run", "photos", reports=reports, experiments=project / "experiments")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(reports)
    run = RunDir(run_dir)
    assert run.data()["class_names"] == ["digit_0", "digit_1", "digit_7"] and run.data()["input_shape"] == [8, 8, 1]
    assert run.config().model.parameters == {"filters": 6, "dense": 16}  # the builder's defaults written in
    assert run.metrics()["test_accuracy"] > 0.5  # three classes
    assert run.has(RunDir.MISCLASSIFIED) or run.metrics()["test_accuracy"] == 1.0
    page = run.file(RunDir.PAGE).read_text()
    assert "digit_7" in page and "mynets.tiny.tiny_cnn" in page
    assert "digit_7" in run.file(RunDir.CLASSIFICATION_TEXT).read_text()


LOGITS_BUILDER = """
import keras


def logits_mlp(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))  # no softmax: logits
"""


def test_a_builder_that_outputs_logits_trains_from_logits_and_says_so(project):
    (project / "mynets" / "logits.py").write_text(LOGITS_BUILDER)
    reports = project / "reports"
    overrides = ("--set", "model.builder=mynets.logits.logits_mlp", "--set", "optimizer.learning_rate=0.01")
    overrides += ("--dataset", "digits", "--epochs", "5")
    result = run_harness("run", "adam", *overrides, reports=reports)
    assert result.returncode == 0, result.stderr
    assert "are not probabilities (no softmax at the end): it trains with a loss from logits" in result.stderr
    (run_dir,) = run_dirs(reports)
    run = RunDir(run_dir)
    assert run.metrics()["outputs"] == "logits" and run.metrics()["test_accuracy"] > 0.8  # not chance (0.1)
    confidence = run.predictions()["confidence"]
    assert confidence.between(0, 1).all() and confidence.mean() > 0.3
    assert 0 < run.metrics()["test_loss"] < 2.3  # the loss of the logits, not of logits read as probabilities


def test_my_table_trains_compares_groups_sweeps_and_resumes(project):
    reports, experiments = project / "reports", project / "experiments"
    first = run_harness("run", "wine", reports=reports, experiments=experiments)
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(reports)
    run = RunDir(run_dir)
    assert run.data()["class_names"] == ["barbera", "barolo", "grignolino"] and run.data()["kind"] == "table"
    assert "region_north" in run.data()["features"]  # the text column, one-hot encoded
    assert run.metrics()["test_accuracy"] > 0.6
    longer = run_harness("run", "wine", "--resume", "latest", "--epochs", "5", reports=reports, experiments=experiments)
    assert longer.returncode == 0, longer.stderr
    assert len(run.history()) == 5 and run.status()["extended_from_epochs"] == 3
    other = run_harness("run", "wine", "--set", "model.hidden_units=[32, 16]", reports=reports, experiments=experiments)
    assert other.returncode == 0, other.stderr
    compared = run_harness("compare", str(run_dir), "wine", reports=reports, experiments=experiments)
    assert compared.returncode == 0 and "McNemar" in compared.stdout, compared.stderr
    grid = run_harness(
        "sweep",
        "wine",
        "--grid",
        "model.hidden_units=[8],[24]",
        "--seeds",
        "2",
        "--jobs",
        "0",
        reports=reports,
        experiments=experiments,
    )
    assert grid.returncode == 0, grid.stderr
    (sweep,) = reports.glob("wine/sweep-*")
    summary = GroupDir(sweep).summary()
    assert summary["finished"] == 4 and [point["parameters"] for point in summary["points"]] == [
        {"model.hidden_units": [8]},
        {"model.hidden_units": [24]},
    ]


def test_a_table_shows_its_most_confident_mistakes_as_rows(project):
    reports = project / "reports"
    result = run_harness(
        "run",
        "wine",
        "--set",
        "training.epochs=1",
        "--set",
        "optimizer.learning_rate=0.0001",
        reports=reports,
        experiments=project / "experiments",
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(reports)
    mistakes = pd.read_csv(RunDir(run_dir).file(RunDir.MISCLASSIFIED_TABLE))
    assert list(mistakes.columns[:4]) == ["line", "true", "predicted", "confidence"]
    assert {"alcohol", "region"} <= set(mistakes.columns) and "Unnamed: 0" not in mistakes.columns
    assert (mistakes["true"] != mistakes["predicted"]).all()
    lines = (project / "wine.csv").read_text().splitlines()  # each mistake is the row on its line of the file
    for mistake in mistakes.itertuples():
        assert lines[mistake.line - 1].split(",")[0] == f"{mistake.alcohol:g}" or float(
            lines[mistake.line - 1].split(",")[0]
        ) == pytest.approx(mistake.alcohol)
    assert "The most confident mistakes" in RunDir(run_dir).file(RunDir.PAGE).read_text()


def test_rows_without_a_target_are_left_out_and_counted(project):
    frame = pd.read_csv(project / "wine.csv")
    frame.loc[[3, 50, 100], "cultivar"] = None
    frame.to_csv(project / "gaps.csv", index=False)
    reports = project / "reports"
    settings = ("--set", f"dataset.path={project / 'gaps.csv'}", "--set", "training.epochs=1")
    result = run_harness("run", "wine", *settings, reports=reports, experiments=project / "experiments")
    assert result.returncode == 0, result.stderr
    assert "3 rows of gaps.csv have no value in the target column 'cultivar' (lines 5, 52, 102): left out" in (
        result.stderr
    )
    (run_dir,) = run_dirs(reports)
    data = RunDir(run_dir).data()
    assert data["left_out"] == {"rows_without_target": 3} and sum(data["examples"].values()) == len(frame) - 3


def _bad(project, experiment: str, dataset: str, tmp_name="bad") -> str:
    (project / "experiments" / f"{tmp_name}.yaml").write_text(
        textwrap.dedent(f"""
        description: bad data
        extends: {experiment}
        dataset: {dataset}
        """)
    )
    reports = project / "reports"
    result = run_harness("run", tmp_name, reports=reports, experiments=project / "experiments")
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.stderr
    assert not list(reports.glob(f"{tmp_name}/*"))  # no run directory
    return line


def test_bad_data_is_one_line_and_no_run(project):
    csv = project / "wine.csv"
    frame = pd.read_csv(csv)
    assert "is not a file here" in _bad(project, "wine", f"{{name: table, path: {project / 'nothing.csv'}, target: x}}")
    assert "has no column 'cultivr' (did you mean 'cultivar'?)" in _bad(
        project, "wine", f"{{name: table, path: {csv}, target: cultivr}}"
    )
    frame.assign(note=[f"free text {index}" for index in range(len(frame))]).to_csv(project / "notes.csv", index=False)
    assert "column 'note'" in _bad(project, "wine", f"{{name: table, path: {project / 'notes.csv'}, target: cultivar}}")
    frame.iloc[:10].assign(cultivar="nebbiolo").to_csv(project / "test.csv", index=False)
    assert "class 'nebbiolo' is in the test set but never in the training set" in _bad(
        project,
        "wine",
        f"{{name: table, path: {csv}, target: cultivar, test_fraction: null, test_path: {project / 'test.csv'}}}",
    )
    frame.iloc[:-1].assign(cultivar=["barolo"] * (len(frame) - 2) + ["single"]).to_csv(
        project / "rare.csv", index=False
    )
    assert "has 1 example" in _bad(project, "wine", f"{{name: table, path: {project / 'rare.csv'}, target: cultivar}}")
    _write_digit_pngs(project / "mixed", sizes=[(8, 8), (10, 12)])
    assert "mixed sizes" in _bad(project, "photos", f"{{name: images, path: {project / 'mixed'}}}")
    assert "is not a folder here" in _bad(project, "photos", f"{{name: images, path: {project / 'none'}}}")
    _write_digit_pngs(project / "cut")
    cut = project / "cut" / "digit_1" / "004.png"
    cut.write_bytes(cut.read_bytes()[:-30])  # a copy that stopped short
    line = _bad(project, "photos", f"{{name: images, path: {project / 'cut'}}}")
    assert str(cut) in line and "cannot be read as an image" in line
    np.savez(project / "partial.npz", x_train=np.zeros((4, 3)), y_train=np.zeros(4))
    assert "has no x_test, y_test" in _bad(project, "wine", f"{{name: npz, path: {project / 'partial.npz'}}}")
    assert "the dataset table needs target" in _bad(project, "photos", f"{{name: table, path: {csv}}}")


def test_mixed_sizes_are_resized_when_image_size_is_given_and_npz_brings_its_class_names(project):
    _write_digit_pngs(project / "mixed", sizes=[(8, 8), (10, 12)])
    from harness.config.schema import DatasetConfig
    from harness.data.datasets import load_dataset

    images = load_dataset(DatasetConfig(name="images", path=str(project / "mixed"), image_size=(12, 10), val_size=12))
    assert images.input_shape == (12, 10, 1) and images.class_names == ("digit_0", "digit_1", "digit_7")
    rng = np.random.default_rng(0)
    np.savez(
        project / "mine.npz",
        x_train=rng.integers(0, 255, (60, 6, 6, 3), dtype=np.uint8),
        y_train=np.arange(60) % 2,
        x_test=rng.integers(0, 255, (20, 6, 6, 3), dtype=np.uint8),
        y_test=np.arange(20) % 2,
        class_names=np.array(["cat", "dog"]),
    )
    arrays = load_dataset(DatasetConfig(name="npz", path=str(project / "mine.npz"), val_size=10))
    assert arrays.class_names == ("cat", "dog") and arrays.input_shape == (6, 6, 3)
    pixels = arrays.floats(arrays.x_train)
    assert arrays.x_train.dtype == np.uint8 and pixels.min() >= 0.0 and pixels.max() <= 1.0


def test_an_npz_of_feature_rows_trains_as_a_table(project):
    """Rows of numbers saved with numpy.savez (no image shape): standardised as a table's columns, and trained."""
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    features = rng.normal(size=(120, 5)) + labels[:, None]  # learnable: each class shifted
    np.savez(project / "rows.npz", x_train=features[:90], y_train=labels[:90], x_test=features[90:], y_test=labels[90:])
    overrides = ["--set", f"dataset={{name: npz, path: {project / 'rows.npz'}, val_size: 15}}", "--epochs", "3"]
    result = run_harness("run", "adam", *overrides, reports=project / "reports")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(project / "reports")
    data = RunDir(run).data()
    assert data["kind"] == "table" and data["input_shape"] == [5] and RunDir(run).metrics()["examples"]["val"] == 15


def _fake_cifar10(cache):
    """Keras's CIFAR-10 archive in miniature: five training batches and a test batch of 10 images each."""
    folder = cache / "build" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    for name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    with tarfile.open(cache / "cifar-10-python.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="cifar-10-batches-py")


def test_kerass_cifar10_comes_from_its_archive_in_kerass_cache_or_says_where_it_goes(tmp_path, monkeypatch):
    from harness.config.schema import DatasetConfig
    from harness.data.datasets import load_dataset
    from harness.errors import UserError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # no network, whatever this machine has
    with pytest.raises(UserError, match=f"put cifar-10-python.tar.gz in {tmp_path}/datasets/"):
        load_dataset(DatasetConfig(name="cifar10"))
    _fake_cifar10(tmp_path / "datasets")
    data = load_dataset(DatasetConfig(name="cifar10", val_size=10))
    assert data.input_shape == (32, 32, 3) and data.class_names[:2] == ("airplane", "automobile")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (40, 10, 10)


def test_the_gradient_check_takes_any_builders_model(project):
    result = run_harness("gradcheck", "photos", reports=project / "reports", experiments=project / "experiments")
    assert "conv2d" in result.stdout and "max relative error" in result.stdout, result.stderr
    assert result.returncode == 0, result.stdout
