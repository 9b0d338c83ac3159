"""Bad input as the README's first screen promises it: one line that names the problem and the fix, exit status 2, no
traceback, and no run directory (`make test-fast`; tests/test_bad_input_properties.py tries any broken file)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_dirs, run_harness

BAD_INPUT = [
    (["run", "adamm"], "unknown experiment 'adamm' (did you mean 'adam'?)"),
    (["run", "adam", "--set", "optimizer.learnig_rate=0.1"], "did you mean 'learning_rate'?"),
    (["run", "adam", "--set", "model.dropout=1.5"], "model.dropout: must be less than 1"),
    (["run", "adam", "--epochs", "0"], "training.epochs: must be greater than or equal to 1"),
    (["run", "broken"], "broken.yaml line 2, column 1: YAML syntax error"),
    (["run", "adam", "--dataset", "digits", "--set", "dataset.train_size=5000"], "fewer than train_size 5000"),
    (["run", "adam", "--dataset", "mnist"], "put mnist.npz in"),
    (["run", "adam", "--seeds", "2", "--jobs", "-1"], "give how many runs to make at a time, at least 1 (or 0"),
]


@pytest.mark.fast
@pytest.mark.parametrize(("args", "expected"), BAD_INPUT, ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_bad_input_gives_one_line_exit_2_and_no_run_directory(experiments, reports, tmp_path, args, expected):
    (experiments / "broken.yaml").write_text("description: [unclosed\n")
    offline = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = run_harness(*args, reports=reports, experiments=experiments, env=offline)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not reports.exists() or run_dirs(reports) == []
    assert "\n" not in errors[0]
    assert os.path.isdir(experiments)


def test_a_mistake_in_the_data_settings_is_said_before_tensorflow_loads(reports):
    """The data are checked before Keras is imported: the line comes in about a second, not after TensorFlow's start."""
    script = (
        "import sys\nfrom harness.cli import main\n"
        f"code = main(['run', 'adam', '--dataset', 'digits', '--set', 'dataset.train_size=5000', '--reports-dir', "
        f"{str(reports)!r}])\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert "fewer than train_size 5000" in result.stderr
