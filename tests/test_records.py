"""Run directories are read and written in one place, and the reason a run ended is a code whose sentences, in
English and Japanese, are made from it."""

import re
import string

import pandas as pd
import pytest

from harness.config.experiments import resolve
from harness.records import GroupDir, RunDir, reason, reason_text
from harness.records.reasons import TEXTS, parameters_of
from harness.reporting.report import write_report
from tests.conftest import EXPERIMENTS, ROOT, history_frame, write_run

RUN_FILES = ("metrics.json", "config.yaml", "history.csv", "status.json", "predictions.csv")
SAMPLE = {
    "epoch": 3,
    "signal": "SIGTERM",
    "error": "ValueError: bad",
    "pruner": "median",
    "val_accuracy": 0.8123,
    "exit_code": 1,
    "how": "signal SIGKILL",
    "file": "metrics.json",
    "trials": 8,
    "best": 0.9312,
    "value": 0.9412,
    "target": 0.93,
    "limit": "2h",
    "rule": "plateau:8",
}


def test_no_module_but_the_records_names_a_run_file():
    offenders = []
    for path in (ROOT / "harness").rglob("*.py"):
        if "records" in path.relative_to(ROOT / "harness").parts:
            continue
        offenders += [f"{path.name}: {name}" for name in RUN_FILES if name in path.read_text()]
    assert offenders == []


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_every_reason_reads_in_english_and_in_japanese(code):
    recorded = reason(code, **{name: SAMPLE[name] for name in parameters_of(code)})
    english, japanese = reason_text(recorded, "en"), reason_text(recorded, "ja")
    assert english and japanese and english != japanese
    assert not re.search(r"[{}]", english + japanese)
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese)  # kana or kanji
    fields = {field for _, field, _, _ in string.Formatter().parse(TEXTS[code][1]) if field}
    assert {field.split(":")[0] for field in fields} == parameters_of(code)  # both sentences take the same


def test_a_reason_with_an_unknown_code_or_a_missing_parameter_is_refused_where_it_is_made():
    with pytest.raises(ValueError, match="unknown reason code"):
        reason("exploded")
    with pytest.raises(ValueError, match="needs epoch"):
        reason("diverged")


def test_a_run_written_before_reasons_were_codes_still_shows_its_sentence(tmp_path, monkeypatch):
    config = resolve("adam", EXPERIMENTS, dataset="digits", epochs=2)
    old = "the loss became NaN or infinite in epoch 1"
    run = write_run(
        tmp_path / "adam" / "20260101-000000-aaaa", config, history_frame([0.5, 0.6], [0.5, 0.55]), {}, "diverged", old
    )
    assert reason_text(run.status()["reason"]) == old
    write_report(run.path)
    assert old in run.file(RunDir.PAGE).read_text()
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    write_report(run.path)
    assert old in run.file(RunDir.PAGE).read_text()  # not translated, but shown


def test_a_run_directory_reads_back_what_was_written(tmp_path):
    config = resolve("adam_lr", EXPERIMENTS, dataset="digits", epochs=2)
    history = history_frame([0.5, 0.6], [0.45, 0.58])
    run = write_run(tmp_path / "run", config, history, {"test_accuracy": 0.61}, "diverged", reason("diverged", epoch=1))
    assert run.config() == config and run.config_dict()["name"] == "adam_lr"
    pd.testing.assert_frame_equal(run.history(), history)
    assert run.metrics()["test_accuracy"] == 0.61 and run.epochs_done() == 2
    assert run.status()["reason"] == {"code": "diverged", "epoch": 1}
    assert run.predictions() is None
    run.write_status("running")
    assert run.status()["status"] == "running"  # this process: alive
    group = GroupDir(tmp_path)
    group.write_record({"experiment": "adam_lr", "kind": "seeds", "members": [{"run": "run"}, {"run": "gone"}]})
    first, missing = group.members()
    assert first["status"] == "running" and first["metrics"]["test_accuracy"] == 0.61
    assert missing["status"] == "failed" and reason_text(missing["reason"]).startswith("the run did not start")
