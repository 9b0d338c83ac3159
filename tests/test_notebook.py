"""The notebook is a first-class home: the tour runs every cell with quiet outputs and the user's own plots, a kernel
interrupt stops a run cleanly, completion offers the API, and a script without a main guard still works."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.records import reason_text
from tests.conftest import EXPERIMENTS, ROOT

NOISE = ("absl::InitializeLog", "oneDNN custom operations", "IProgress")


@pytest.fixture
def harness_kernel(tmp_path, monkeypatch):
    """The kernel `make setup` registers (keras-harness), here for this checkout's interpreter: the user-wide
    registration names the last checkout that ran `make setup`, which may be another one."""
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name="keras-harness", display_name="Python (keras-harness)", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))  # searched before the user's own


def _text(output) -> str:
    return str(output.get("text", "")) + str(output.get("data", {}).get("text/html", ""))


def _edited_line(notebook) -> str:
    """What the tour's cell that runs an edited builder printed."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and "edited = harness.run(" in cell.source]
    return _printed(cell).splitlines()[-1]


def _printed(cell) -> str:
    return "".join(_text(output) for output in cell.outputs if output.get("name") == "stdout").strip()


def _cell(notebook, starts: str):
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.startswith(starts)]
    return cell


@pytest.mark.usefixtures("harness_kernel")
def test_the_tour_runs_every_cell_quietly_and_the_users_own_plots_keep_working(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("REPORTS", str(tmp_path / "reports"))  # the kernel's harness writes here
    monkeypatch.setenv("HARNESS_TOUR_DATASET", "digits")
    monkeypatch.setenv("HARNESS_TOUR_EPOCHS", "2")
    monkeypatch.setenv("HARNESS_TOUR_JOBS", "0")  # in the kernel; a group's workers from a kernel: the test below
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a user's kernel has it
    notebook = nbformat.read(ROOT / "notebooks" / "tour.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # committed clean
    NotebookClient(
        notebook, kernel_name="keras-harness", timeout=300, resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    shown = "\n".join(_text(output) for output in outputs)
    assert not [word for word in NOISE if word in shown]
    assert "of 3 runs finished" in shown and "best_val_accuracy" in shown  # the groups' cards
    assert "sgd is behind adam by" in shown and "Welch" in shown  # the comparison's verdict: a real difference
    plot = _cell(notebook, "older = adam.runs[0]")
    assert any("image/png" in output.get("data", {}) for output in plot.outputs)  # drawn after harness.run
    edited = _edited_line(notebook)
    assert edited.startswith("relu: test accuracy") and "tanh" in edited
    sweep_card = _text(_cell(notebook, "sweep = harness.sweep(").outputs[-1])
    assert "p00" in sweep_card and "p01" in sweep_card and "best point by validation accuracy" in sweep_card
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
        reply = client.get_shell_msg(timeout=60)["content"]
        assert reply["status"] == "ok", reply  # the cell ended, not with an error

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


def test_completion_offers_the_api():
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("import harness")
    with provisionalcompleter():  # what Jupyter's kernel asks for on <TAB>
        offered = {completion.text for completion in shell.Completer.completions("harness.", len("harness."))}
    assert {"run", "load", "compare", "runs", "sweep", "Run", "Group", "UserError"} <= offered


def test_a_script_without_a_main_guard_runs_its_group_once(tmp_path):
    script = tmp_path / "experiment.py"
    script.write_text(
        textwrap.dedent(f"""
        import harness
        group = harness.run("adam", seeds=2, jobs=1, epochs=1, dataset="digits", reports_dir={str(tmp_path)!r},
                            experiments_dir={str(EXPERIMENTS)!r})
        print("group", group.status, len(group.runs))
        """)
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("group finished 2") == 1  # not run again by each worker
    assert len(list(tmp_path.glob("adam/seeds-*"))) == 1 and time.monotonic() - started < 120
    assert "worker process" not in result.stderr


EDITED_BUILDER_CELLS = [
    "%load_ext autoreload\n%autoreload 2",
    "import harness\nimport mymodels\nsettings = dict(epochs=3, dataset='digits', overrides={OVERRIDES}, "
    "reports_dir={REPORTS!r}, experiments_dir={EXPERIMENTS!r})",
    "relu = harness.run('adam', **settings)",
    "from pathlib import Path\nsource = Path('mymodels.py')\n"
    "source.write_text(source.read_text().replace('relu', 'tanh'))",
    "tanh = harness.run('adam', **settings)",
    "in_workers = harness.run('adam', seeds=2, jobs=1, **settings)\n"
    "same = in_workers.runs[0].history.drop(columns='seconds').equals(tanh.history.drop(columns='seconds'))\n"
    "print(in_workers.status, same)",
    "import keras\n\ndef nbmine(input_shape, num_classes):\n    inputs = keras.Input(input_shape)\n"
    "    x = keras.layers.Dense(16, activation='relu')(keras.layers.Flatten()(inputs))\n"
    "    return keras.Model(inputs, keras.layers.Dense(num_classes, activation='softmax')(x))",
    "cell_relu = harness.run('adam', **(settings | {'overrides': settings['overrides'] | "
    "{'model.builder': '__main__.nbmine'}}))",
    "def nbmine(input_shape, num_classes):\n    inputs = keras.Input(input_shape)\n"
    "    x = keras.layers.Dense(16, activation='tanh')(keras.layers.Flatten()(inputs))\n"
    "    return keras.Model(inputs, keras.layers.Dense(num_classes, activation='softmax')(x))",
    "cell_tanh = harness.run('adam', **(settings | {'overrides': settings['overrides'] | "
    "{'model.builder': '__main__.nbmine'}}))",
    "print([run.path.name for run in (relu, tanh, cell_relu, cell_tanh)])",
]
MYMODELS = """import keras


def mine(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
"""


@pytest.mark.usefixtures("harness_kernel")
def test_a_builder_edited_between_runs_in_one_kernel_trains_the_edited_model(tmp_path):
    """autoreload takes an edit of a builder's file, or a cell defines the builder again: the next run trains the
    edited model, to the numbers a fresh process gets (deterministic runs, compared with runs made here), and so does
    a group's worker process started from the kernel, its start-up notices kept out of the cells."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    from harness.config.experiments import resolve
    from harness.training.runner import run_experiment

    (tmp_path / "mymodels.py").write_text(MYMODELS)
    reports = tmp_path / "reports"
    overrides = {"model.builder": "mymodels.mine", "training.deterministic": True}
    cells = [
        cell.replace("{OVERRIDES}", repr(overrides))
        .replace("{REPORTS!r}", repr(str(reports)))
        .replace("{EXPERIMENTS!r}", repr(str(EXPERIMENTS)))
        for cell in EDITED_BUILDER_CELLS
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
    NotebookClient(
        notebook, kernel_name="keras-harness", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown = "\n".join(_text(output) for cell in notebook.cells for output in cell.outputs)
    assert not [word for word in NOISE if word in shown]  # TensorFlow's start-up notices stay out of the cells
    assert "</pre>" not in shown  # nor an empty block from Keras's model summary
    names = json.loads(notebook.cells[-1].outputs[0]["text"].replace("'", '"'))
    relu, tanh, cell_relu, cell_tanh = (pd.read_csv(reports / "adam" / name / "history.csv") for name in names)
    assert not tanh.drop(columns="seconds").equals(relu.drop(columns="seconds"))
    assert not cell_tanh.drop(columns="seconds").equals(cell_relu.drop(columns="seconds"))
    assert _printed(_cell(notebook, "in_workers = ")).endswith("\nfinished True")  # seed 0 in a worker: edited
    sys.path.insert(0, str(tmp_path))  # the edited file, now with tanh, as a fresh process imports it
    try:
        config = resolve("adam", EXPERIMENTS, [f"{key}={value}" for key, value in overrides.items()], "digits", 3)
        fresh = run_experiment(config, tmp_path / "fresh").run_dir
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mymodels", None)
    assert pd.read_csv(fresh / "history.csv").drop(columns="seconds").equals(tanh.drop(columns="seconds"))


def test_make_setup_registers_the_kernel_in_this_environment_so_each_checkout_runs_its_own_code():
    if not (ROOT / ".venv" / ".installed").is_file() or Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("make setup has not made this checkout's environment, or the tests run outside it")
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("keras-harness")
    assert Path(spec.resource_dir).resolve().is_relative_to(Path(sys.prefix).resolve())
    assert Path(spec.argv[0]) == Path(sys.executable)
