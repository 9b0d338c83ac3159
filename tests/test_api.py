"""The Python API keeps the command line's promises: same runs, same files, same one-line errors, and a
notebook that runs every cell."""

import pandas as pd
import pytest

import harness
from tests.conftest import EXPERIMENTS, run_dirs, run_harness

DETERMINISTIC = {"training.deterministic": True, "optimizer.learning_rate": 0.002}


def _files(run_dir):
    return sorted(path.name for path in run_dir.iterdir())


def test_a_run_from_python_equals_the_command_lines_run(tmp_path):
    api_reports, cli_reports = tmp_path / "api", tmp_path / "cli"
    run = harness.run(
        "adam",
        epochs=2,
        dataset="digits",
        seed=1,
        overrides=DETERMINISTIC,
        reports_dir=api_reports,
        experiments_dir=EXPERIMENTS,
    )
    settings = [f"--set={key}={str(value).lower()}" for key, value in DETERMINISTIC.items()]
    result = run_harness(
        "run", "adam", "--epochs", "2", "--dataset", "digits", "--seed", "1", *settings, reports=cli_reports
    )
    assert result.returncode == 0, result.stderr
    (cli_dir,) = run_dirs(cli_reports)
    assert isinstance(run, harness.Run) and run.status == "finished"
    assert _files(run.path) == _files(cli_dir)
    assert run.config.optimizer.learning_rate == 0.002 and run.config.training.seed == 1
    pd.testing.assert_frame_equal(
        run.history.drop(columns="seconds"), pd.read_csv(cli_dir / "history.csv").drop(columns="seconds")
    )
    assert run.predictions.equals(pd.read_csv(cli_dir / "predictions.csv"))
    assert run.metrics["test_accuracy"] == pytest.approx(
        (run.predictions["true_label"] == run.predictions["predicted_label"]).mean()
    )


def test_a_run_reads_back_as_dataframes_labelled_with_class_names_and_shows_itself(tmp_path):
    run = harness.run("adam", epochs=1, dataset="digits", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    confusion = run.confusion_matrix
    assert list(confusion.index) == list(confusion.columns) == [str(digit) for digit in range(10)]
    assert confusion.to_numpy().sum() == len(run.predictions)
    assert confusion.to_numpy().trace() == (run.predictions["true_label"] == run.predictions["predicted_label"]).sum()
    assert run.classification_report.loc["macro avg", "f1-score"] == pytest.approx(run.metrics["macro_f1"], abs=1e-4)
    assert run.model().count_params() == run.metrics["parameters"]
    assert "accuracy" not in run.classification_report.index  # its row has only one number: metrics has it
    card = run._repr_html_()
    assert f"{run.metrics['test_accuracy']:.4f}" in card and "finished" in card
    assert card.count('src="data:image/png;base64,') == 2  # learning curves and confusion matrix, inline
    assert str(run.path / "report.html") in card and len(card) < 60_000


def test_runs_lists_every_run_and_load_finds_the_latest(tmp_path):
    first = harness.run("sgd", epochs=1, dataset="digits", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    second = harness.run("sgd", epochs=1, dataset="digits", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    table = harness.runs(tmp_path)
    assert sorted(table["run_id"]) == sorted([first.path.name, second.path.name])
    assert {"experiment", "status", "test_accuracy", "macro_f1", "optimizer"} <= set(table.columns)
    assert harness.load("sgd", reports_dir=tmp_path).path == second.path
    assert harness.load(first.path, reports_dir=tmp_path).path == first.path


def test_bad_input_raises_a_value_error_with_the_command_lines_message(tmp_path):
    with pytest.raises(ValueError) as raised:
        harness.run("adamm", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    assert isinstance(raised.value, harness.UserError)
    cli = run_harness("run", "adamm", reports=tmp_path)
    assert cli.returncode == 2 and cli.stderr.strip() == f"error: {raised.value}"
    with pytest.raises(ValueError, match="compare needs at least two runs"):
        harness.compare("adam", reports_dir=tmp_path)


def test_common_mistakes_get_one_line_in_the_apis_own_words(tmp_path):
    def message(call) -> str:
        with pytest.raises(harness.UserError) as raised:
            call()
        (line,) = str(raised.value).splitlines()
        return line

    folders = {"reports_dir": tmp_path, "experiments_dir": EXPERIMENTS}
    assert message(lambda: harness.run("adam", seeds="abc", **folders)).startswith("seeds='abc': give a count")
    assert "add seeds=N" in message(lambda: harness.run("adam", jobs=2, **folders))
    assert "did you mean 'learning_rate'" in message(
        lambda: harness.run("adam", overrides={"optimizer.lr": 0.1}, **folders)
    )
    assert message(lambda: harness.run("adam", overrides=5, **folders)).startswith("overrides=5: give")
    assert "is not a run directory" in message(lambda: harness.Run(tmp_path).metrics)
    assert message(lambda: harness.sweep("adam", "optimizer.learning_rate=1e-4:1e-2", **folders)).endswith(
        "a range needs random sampling; add random=N (e.g. random=20)"
    )
    assert harness.UserError("bad thing")._render_traceback_() == ["UserError: bad thing"]  # IPython shows one line


def test_objects_the_api_returns_are_accepted_wherever_a_name_is(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTS", str(tmp_path))  # read at each call, not at import
    first = harness.run("adam", epochs=1, dataset="digits", overrides="optimizer.learning_rate=0.01")
    second = harness.run("sgd", epochs=1, dataset="digits", experiments_dir=EXPERIMENTS)
    assert first.config.optimizer.learning_rate == 0.01  # a string of key=value items, as SET takes them
    comparison = harness.compare(first, second)
    assert len(comparison.verdicts) == 1 and comparison.page.is_file()
    assert repr(comparison).startswith("Comparison(") and "verdicts=" in repr(comparison)
    assert set(harness.runs()["run_id"]) == {first.path.name, second.path.name}
    assert harness.load("adam").path == first.path and repr(first).endswith("name='adam', status='finished')")


def test_settings_that_cannot_take_effect_are_said_in_one_line(tmp_path, capsys):
    harness.run("adam_lr", epochs=2, dataset="digits", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: schedule.boundaries: the steps at epochs 5, 8 never come in a run of 2 epochs (epochs count from 0)"
    ]
