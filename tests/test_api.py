"""The Python API keeps the command line's promises: same runs, same files, same one-line errors, and a
notebook that runs every cell."""

import json
import time

import pandas as pd
import pytest

import harness
from harness.records import reason_text
from tests.conftest import EXPERIMENTS, ROOT, run_dirs, run_harness

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
    card = run._repr_html_()
    assert f"{run.metrics['test_accuracy']:.4f}" in card and "finished" in card
    assert card.count('src="data:image/png;base64,') == 2  # learning curves and confusion matrix, inline
    assert "report.html" in card


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


@pytest.fixture
def harness_kernel(tmp_path, monkeypatch):
    """The kernel `make setup` registers (keras-harness), here for this checkout's interpreter: the user-wide
    registration names the last checkout that ran `make setup`, which may be another one."""
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name="keras-harness", display_name="Python (keras-harness)", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))  # searched before the user's own


@pytest.mark.usefixtures("harness_kernel")
def test_the_tour_notebook_runs_every_cell_and_shows_the_runs_metrics(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("REPORTS", str(tmp_path / "reports"))  # the kernel's harness writes here
    monkeypatch.setenv("HARNESS_TOUR_DATASET", "digits")
    monkeypatch.setenv("HARNESS_TOUR_EPOCHS", "2")
    notebook = nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # committed clean
    # The kernel inherits this process's environment (the settings above).
    NotebookClient(
        notebook, kernel_name="keras-harness", timeout=300, resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    shown = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/html", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "test_accuracy" in shown and "best_val_accuracy" in shown  # the groups' and runs' cards
    assert "difference shown" in shown and "Welch" in shown  # the comparison's verdict
    groups = sorted(path.name.split("-")[0] for path in (tmp_path / "reports").glob("*/*-*") if path.is_dir())
    assert groups.count("seeds") == 2 and groups.count("sweep") == 1


@pytest.mark.usefixtures("harness_kernel")
def test_interrupting_the_kernel_stops_the_run_cleanly_as_interrupted(tmp_path):
    """A notebook user presses "interrupt" (SIGINT to the kernel) while harness.run trains: the run ends with
    status interrupted, its epochs so far kept, and the kernel lives on with the Run in hand."""
    pytest.importorskip("nbclient")
    from jupyter_client.manager import start_new_kernel

    reports = tmp_path / "reports"
    manager, client = start_new_kernel(kernel_name="keras-harness", cwd=str(ROOT))
    printed = []
    try:
        client.execute(
            f"import harness\nrun = harness.run('adam', epochs=100000, dataset='digits', "
            f"reports_dir={str(reports)!r}, experiments_dir={str(EXPERIMENTS)!r})"
        )
        deadline = time.monotonic() + 120
        while not _epochs_on_disk(reports, 3) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _epochs_on_disk(reports, 3), "the run never trained three epochs"
        manager.interrupt_kernel()
        assert client.get_shell_msg(timeout=60)["content"]["status"] == "ok"  # the cell ended, not with an error

        def keep_output(message):
            printed.append(message["content"].get("text", ""))

        client.execute_interactive("print(run.status)", timeout=60, output_hook=keep_output)
    finally:
        manager.shutdown_kernel(now=True)
    assert "interrupted" in "".join(printed)
    (run_dir,) = [path.parent for path in reports.glob("adam/2*/status.json")]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "interrupted" and "SIGINT" in reason_text(status["reason"])
    assert len(pd.read_csv(run_dir / "history.csv")) >= 3 and (run_dir / "report.html").is_file()


def _epochs_on_disk(reports, count: int) -> bool:
    histories = list(reports.glob("adam/2*/history.csv"))  # Keras's CSVLogger appends a line per epoch
    return bool(histories) and len(histories[0].read_text().splitlines()) > count
