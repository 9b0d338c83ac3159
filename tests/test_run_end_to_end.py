"""The README's promises, run as a user runs them: `make experiment NAME=adam_lr` writes a full report."""

import json
import subprocess

import keras
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.data.sources import DEBIAN_FASHION_MNIST
from tests.conftest import ROOT, run_dirs, run_harness, run_make, tensorboard_curves

HISTORY_COLUMNS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
METRICS_KEYS = {
    "status",
    "reason",
    "test_loss",
    "test_accuracy",
    "macro_f1",
    "best_val_accuracy",
    "best_epoch",
    "final_val_accuracy",
    "epochs_run",
    "stopped_early",
    "parameters",
    "train_seconds",
    "examples",
    "outputs",  # probabilities, or logits (a builder without a softmax)
}


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """`make experiment NAME=adam_lr DATASET=digits EPOCHS=2` into a temporary reports folder (in this process: the
    README's test runs it as a process)."""
    reports = tmp_path_factory.mktemp("made") / "reports"
    result = run_make(["experiment", "NAME=adam_lr", "DATASET=digits", "EPOCHS=2", f"REPORTS={reports}"])
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = run_dirs(reports)
    return result, run_dir


def test_make_experiment_prints_a_summary_and_the_report_path(made_run):
    result, run_dir = made_run
    assert "epoch 2/2  loss " in result.stdout  # one line per epoch
    assert "adam_lr: test accuracy 0." in result.stdout
    assert f"report: {run_dir}" in result.stdout


def test_the_run_lives_under_the_experiment_name_with_a_latest_link(made_run):
    _, run_dir = made_run
    assert run_dir.parent.name == "adam_lr"
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()


def test_config_yaml_is_the_resolved_config_after_overrides(made_run):
    _, run_dir = made_run
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["name"] == "adam_lr" and config["extends"] == "adam"
    assert config["dataset"] == {"name": "digits", "split_seed": 0}
    assert config["training"]["epochs"] == 2
    assert config["schedule"] == {"name": "step", "boundaries": [5, 8], "factors": [1.0, 0.5, 0.1]}
    assert config["model"]["hidden_units"] == [256, 128]


def test_history_csv_has_one_row_per_epoch_with_the_learning_rate(made_run):
    _, run_dir = made_run
    history = pd.read_csv(run_dir / "history.csv")
    assert set(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [0, 1]
    assert history["learning_rate"].tolist() == pytest.approx([0.001, 0.001])
    assert (history["seconds"] > 0).all()
    assert history["val_accuracy"].between(0, 1).all()


def test_metrics_json_agrees_with_history_and_predictions(made_run):
    _, run_dir = made_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == METRICS_KEYS
    assert metrics["status"] == "finished" and metrics["epochs_run"] == 2
    assert metrics["parameters"] == 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    history = pd.read_csv(run_dir / "history.csv")
    assert metrics["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max())
    assert history.loc[metrics["best_epoch"], "val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])
    predictions = pd.read_csv(run_dir / "predictions.csv")
    correct = (predictions["true_label"] == predictions["predicted_label"]).mean()
    assert metrics["test_accuracy"] == pytest.approx(correct, abs=1e-6)
    assert metrics["test_accuracy"] > 0.5  # two epochs on digits learn far more than chance (0.1)


def test_predictions_csv_pairs_every_test_example(made_run):
    _, run_dir = made_run
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert list(predictions.columns) == ["index", "true_label", "predicted_label", "confidence"]
    assert predictions["index"].tolist() == list(range(360))
    assert predictions["confidence"].between(0.1, 1.0).all()


def test_classification_report_has_ten_classes_and_averages(made_run):
    _, run_dir = made_run
    table = pd.read_csv(run_dir / "classification_report.csv", index_col="class")
    assert [str(label) for label in table.index[:10]] == list("0123456789")
    assert {"macro avg", "weighted avg", "accuracy"} <= set(table.index)
    assert list(table.columns) == ["precision", "recall", "f1-score", "support"]
    assert table.loc[[str(d) for d in range(10)], "support"].sum() == 360
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert table.loc["macro avg", "f1-score"] == pytest.approx(metrics["macro_f1"])
    text = (run_dir / "classification_report.txt").read_text()
    assert "macro avg" in text and all(f"\n           {digit} " in text for digit in range(10))


@pytest.mark.parametrize("name", ["learning_curves.png", "confusion_matrix.png"])
def test_plots_are_real_images(made_run, name):
    _, run_dir = made_run
    image = matplotlib.image.imread(run_dir / name)
    height, width = image.shape[:2]
    assert height > 300 and width > 500
    assert image.std() > 0.05  # not a blank canvas


def test_model_keras_reloads_and_reproduces_the_predictions(made_run):
    _, run_dir = made_run
    from harness.config.schema import DatasetConfig
    from harness.data.datasets import load_dataset

    model = keras.saving.load_model(run_dir / "model.keras")
    data = load_dataset(DatasetConfig(name="digits"))
    predicted = model.predict(data.floats(data.x_test), verbose=0).argmax(axis=1)  # pixels in [0, 1]
    saved = pd.read_csv(run_dir / "predictions.csv")["predicted_label"].to_numpy()
    assert np.array_equal(predicted, saved)
    assert "dense_1" in (run_dir / "model_summary.txt").read_text()


def test_env_json_records_what_produced_the_run(made_run):
    _, run_dir = made_run
    env = json.loads((run_dir / "env.json").read_text())
    assert env["versions"]["tensorflow"] == "2.21.0"
    assert {"python", "keras", "numpy"} <= set(env["versions"])
    assert env["backend"] == "tensorflow" and env["devices"] and env["seed"] == 0
    assert env["xla"] is False  # 2 epochs of digits: too short for XLA's compile time to pay
    assert {"git_commit", "git_dirty", "cpu_count", "processor"} <= set(env)
    assert env["command"][-5:] == ["run", "adam_lr", "--epochs", "2", "--dataset", "digits"][-5:]


def test_make_experiment_without_a_name_explains_itself():
    result = subprocess.run(["make", "--no-print-directory", "experiment"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "give an experiment, e.g. make experiment NAME=adam_lr" in result.stderr


def test_list_shows_every_experiment(reports):
    result = run_harness("list", reports=reports)
    assert result.returncode == 0
    lines = result.stdout.split("\n\n")[0].splitlines()  # the experiments; then the choices they may name
    assert lines[0].split() == ["experiment", "model", "optimizer", "dataset", "epochs"]
    assert any(line.split()[:2] == ["adam_lr", "simple"] and "step schedule" in line for line in lines)
    assert len(lines) == 1 + 13  # a heading, the ten reference experiments, the textbook network and two showcases
    assert any(
        line.split()[:2] == ["scratch_two_layer", "two_layer_net"] and "10000 iterations" in line for line in lines
    )


def _history_without_time(run_dir):
    return pd.read_csv(run_dir / "history.csv").drop(columns="seconds")


def test_two_deterministic_runs_with_one_seed_are_identical(reports):
    args = [
        "run",
        "sgd",
        "--dataset",
        "digits",
        "--epochs",
        "3",
        "--set",
        "training.deterministic=true",
        "--reports-dir",
        str(reports),
    ]
    assert main(args) == 0
    assert main(args) == 0
    assert main(args + ["--seed", "1"]) == 0
    first, second, other_seed = run_dirs(reports)
    pd.testing.assert_frame_equal(_history_without_time(first), _history_without_time(second))
    assert (first / "predictions.csv").read_text() == (second / "predictions.csv").read_text()
    assert not _history_without_time(first).equals(_history_without_time(other_seed))


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_one_epoch_on_a_slice_of_real_fashion_mnist(reports):
    result = run_harness(
        "run",
        "basic_dnn",
        "--dataset",
        "fashion_mnist",
        "--epochs",
        "1",
        "--set",
        "dataset.train_size=3000",
        "--set",
        "dataset.val_size=1000",
        reports=reports,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(reports)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["examples"] == {"train": 3000, "val": 1000, "test": 10000}
    assert metrics["parameters"] == 575_050
    assert metrics["test_accuracy"] > 0.6
    report = pd.read_csv(run_dir / "classification_report.csv", index_col="class")
    assert "Ankle boot" in report.index


def test_make_experiment_writes_the_run_page_tensorboard_logs_and_refreshes_the_index(made_run):
    _, run_dir = made_run
    assert "adam_lr" in (run_dir / "report.html").read_text()
    reports = run_dir.parent.parent
    assert list((reports / "tensorboard" / "adam_lr" / run_dir.name).rglob("events.out.tfevents.*"))
    assert '<script src="index-data.js">' in (reports / "index.html").read_text()  # the rows, drawn by the page
    assert f'"adam_lr/{run_dir.name}"' in (reports / "index-data.js").read_text()


def test_tensorboard_finds_each_run_once_though_latest_links_to_it(made_run):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    _, run_dir = made_run
    reports = run_dir.parent.parent
    assert (reports / "adam_lr" / "latest").resolve() == run_dir.resolve()
    runs = EventMultiplexer().AddRunsFromDirectory(str(reports)).Runs()  # as `tensorboard --logdir reports` does
    parts = ("hparams", "train", "validation")  # the run's settings and scores for the HParams dashboard, its curves
    assert sorted(runs) == [f"tensorboard/adam_lr/{run_dir.name}/{part}" for part in parts]


def test_tensorboard_shows_each_epochs_losses_as_the_history_has_them(made_run):
    _, run_dir = made_run
    history = pd.read_csv(run_dir / "history.csv")
    curves = tensorboard_curves(run_dir.parent.parent / "tensorboard" / "adam_lr" / run_dir.name)
    assert curves["train", "epoch_loss"] == pytest.approx(history["loss"].tolist(), rel=1e-6)
    assert curves["validation", "epoch_accuracy"] == pytest.approx(history["val_accuracy"].tolist(), rel=1e-6)
    assert curves["train", "epoch_learning_rate"] == pytest.approx(history["learning_rate"].tolist(), rel=1e-6)


def test_env_json_records_the_harnesss_commit_and_the_experiments_folders_apart_from_the_current_directory(
    tmp_path, monkeypatch
):
    """Run from a folder that is a git repository of its own, with experiments from another: env.json names the
    harness's checkout's commit (not the current directory's) and, apart, the experiments folder's."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("the harness is not a git checkout here")
    elsewhere, mine = tmp_path / "elsewhere", tmp_path / "mine"
    for folder in (elsewhere, mine):
        folder.mkdir()
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (mine / "tiny.yaml").write_text("description: tiny\nextends: adam\ntraining: {epochs: 1}\n")
    for folder in (elsewhere, mine):
        subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
        git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty"]
        subprocess.run([*git, "-m", "x"], check=True)
    monkeypatch.chdir(elsewhere)
    result = run_harness("run", "tiny", "--dataset", "digits", reports=tmp_path / "reports", experiments=mine)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path / "reports")
    env = json.loads((run_dir / "env.json").read_text())

    def head(folder):
        return subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True).stdout

    assert env["git_commit"] == head(ROOT).strip() and env["experiments_commit"] == head(mine).strip()
    assert env["experiments_dirty"] is False and env["harness_version"] and env["experiments_dir"] == str(mine)
