"""The README's promises, by running every command it shows as a newcomer would type it (into a reports folder of the
test's own): set-up, a run and its page, a group, a comparison, a sweep, `make all`, data and a model of one's own,
the Python API. The first command runs as the process a newcomer starts; the others run what make says it would run
(`make -n`) in the test's process (a process that imports TensorFlow costs about 8 s of CPU). `make test` and
`make test-fast` are CI's own commands (.ci/run), not run from a test. The first screen's (set-up, a run and its page,
a sweep, groups and a comparison) are `make test-fast`, with bad input."""

from __future__ import annotations

import re
import socket
import subprocess
import textwrap
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from harness.records import GroupDir
from harness.training.isolation import isolated_run
from tests.conftest import ROOT, forget_modules, run_make

README = (ROOT / "README.md").read_text()
NOT_RUN = ("make test", "make test-fast")  # CI runs these itself


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def commands(block: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and line not in NOT_RUN]


def make(command: str, reports, **smaller: str) -> subprocess.CompletedProcess:
    """A README command, as typed, with the test's reports folder, its runs made in the command's own process (JOBS=0:
    worker processes are tests/test_groups.py's and tests/test_workers.py's), and made smaller by `smaller` (make
    variables that override the command's own: EPOCHS, TRIALS, ...)."""
    return subprocess.run(
        make_words(command, reports, **smaller), cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def make_words(command: str, reports, **smaller: str) -> list[str]:
    words = command.split(maxsplit=2)
    arguments = [f"{key}={value}" for key, value in ({"REPORTS": str(reports), "JOBS": "0"} | smaller).items()]
    full = [*words[:2], *(re.findall(r'\S+="[^"]*"|\S+', words[2]) if len(words) > 2 else []), *arguments]
    return [part.replace('"', "") if "=" in part else part for part in full]  # make's VAR="a b" as one word


def make_here(command: str, reports, **smaller: str) -> subprocess.CompletedProcess:
    """make(...) with what make would run, run in this process (conftest's run_make); the README's first command is
    run as a process of its own (test_set_up_run_and_look)."""
    return run_make(make_words(command, reports, **smaller)[1:])


@pytest.mark.fast
def test_set_up_run_and_look(tmp_path):
    setup, run, serve = commands(blocks("sh")[0])
    assert (setup, run) == ("make setup", "make experiment NAME=adam_lr DATASET=digits")
    assert make(setup, tmp_path).returncode == 0  # an environment that is up to date is left as it is
    result = make(run, tmp_path / "reports")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^epoch 10/10  loss ", result.stdout, re.MULTILINE)
    assert re.search(r"adam_lr: test accuracy 0\.9\d+, macro F1 .* \(epoch \d+\), trained in", result.stdout)
    assert serve == "make serve"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["make", "serve", f"REPORTS={tmp_path / 'reports'}", f"PORT={port}"], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    try:
        page = _get(f"http://127.0.0.1:{port}/index.html")
        assert "adam_lr" in _get(f"http://127.0.0.1:{port}/index-data.js") and "<table" in page
    finally:
        server.terminate()
        server.wait(timeout=30)


def _get(url: str, attempts: int = 50) -> str:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing served at {url}")


def _experiments_block() -> tuple[list[str], list[str]]:
    """The README's second block: its commands on their own, and the chain of a group, a comparison and make all."""
    shown = commands(blocks("sh")[1])
    chain = shown[[index for index, line in enumerate(shown) if "SEEDS=3" in line][0] :]
    return [line for line in shown if line not in chain], chain


@pytest.mark.fast
def test_the_list_a_run_with_its_settings_and_a_sweep(tmp_path):
    alone, _ = _experiments_block()
    assert alone[0] == "make list" and any(line.startswith("make sweep") for line in alone)
    for command in alone:
        result = make_here(command, tmp_path / "reports", EPOCHS="3")
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


@pytest.mark.fast
def test_groups_a_comparison_and_make_all(tmp_path):
    reports = tmp_path / "reports"
    _, chain = _experiments_block()
    for command in chain:
        result = make_here(command, reports, EPOCHS="3")
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        if command.startswith("make compare"):
            assert "sgd is behind adam" in result.stdout and "Welch's t-test" in result.stdout
        if command.startswith("make all"):
            assert result.stdout.count("up to date") == 2  # both were run just before, unchanged


def test_a_model_and_data_of_ones_own(tmp_path, monkeypatch):
    """The README's own-data example, with its folder of photos and its module of models made here."""
    (yaml,) = blocks("yaml")
    command = re.search(r"# \S+: (make .*)", yaml).group(1)
    mine = tmp_path / "mine"
    mine.mkdir()
    photos = tmp_path / "data" / "photos"
    for label in ("cat", "dog"):
        (photos / label).mkdir(parents=True)
        for index in range(12):
            pixels = np.full((20, 24, 3), 40 + 150 * (label == "dog") + index, np.uint8)
            Image.fromarray(pixels).save(photos / label / f"{index}.png")
    (mine / "photos.yaml").write_text(yaml.replace("data/photos", str(photos)))
    (tmp_path / "mynets.py").write_text(
        textwrap.dedent("""
        import keras

        def small_cnn(input_shape, num_classes, filters: int = 8):
            inputs = keras.Input(shape=input_shape)
            x = keras.layers.Conv2D(filters, 3, activation="relu")(inputs)
            x = keras.layers.GlobalAveragePooling2D()(x)
            return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # as PYTHONPATH would
    forget_modules(monkeypatch, "mynets")  # another test's, imported in this process
    result = make_here(command.replace("EXPERIMENTS=mine", f"EXPERIMENTS={mine}"), tmp_path / "reports", EPOCHS="2")
    assert result.returncode == 0, result.stderr
    assert "photos: test accuracy" in result.stdout


def test_the_python_api(tmp_path, monkeypatch, capsys):
    """The README's Python block, as a notebook's cells would run it (in this process; its groups in workers)."""
    (code,) = blocks("python")
    *lines, last = code.strip().splitlines()
    script = "\n".join([*lines, f"print({last.split('#')[0].strip()})"])  # what a notebook would show
    monkeypatch.setenv("REPORTS", str(tmp_path / "reports"))
    monkeypatch.chdir(tmp_path)
    with isolated_run():
        exec(compile(script, "README.md", "exec"), {"__name__": "readme"})
    assert "sgd is behind adam" in capsys.readouterr().out
    assert len({path.resolve() for path in (tmp_path / "reports").rglob("metrics.json")}) == 1 + 2 * 3  # and no more


def test_from_a_search_to_a_table(tmp_path):
    """The README's publishing block: a cross-validated search, its finalize, two cross-validations and their table
    (the commands as shown, smaller: two epochs a run, two folds, two trials, two seeds)."""
    (block,) = [block for block in blocks("sh") if "make finalize" in block]
    reports = tmp_path / "reports"
    outputs = {}
    for command in commands(block):
        seeds = {"SEEDS": "2"} if command.startswith("make finalize") else {}
        result = make_here(command, reports, EPOCHS="2", FOLDS="2", TRIALS="2", **seeds)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        outputs[command.split()[1]] = result.stdout
    (sweep,) = reports.glob("adam/sweep-*")
    folds = {}
    for member in GroupDir(sweep).record()["members"]:
        trial, _, fold = member["run"].partition("-fold-")
        folds.setdefault(trial, set()).add(int(fold))
    assert len(folds) == 2 and all(ran == set(range(2)) for ran in folds.values())  # each point, all its folds
    assert "final test accuracy" in outputs["finalize"] and "over 2 seeds" in outputs["finalize"]
    assert len(list(reports.glob("*/folds-*"))) == 2
    assert "| momentum |" in outputs["table"] and "| rmsprop |" in outputs["table"]
    assert "**" in outputs["table"] and "corrected resampled" in outputs["table"]
    assert {path.suffix for path in (reports / "tables").iterdir()} == {".md", ".tex", ".csv"}
