"""The index agrees with the run directories: every run, newest first, incomplete ones included, and a refresh
reads only the runs that changed."""

import random
import shutil

import pandas as pd
import pytest

from benchmarks.index import copy_run, make_runs
from harness.records import RunDir
from harness.reporting import index
from harness.reporting.index import DATA_FILE, runs_table, terminal_table, write_index
from tests.conftest import run_dirs, run_harness
from tests.test_compare import make_run


def test_every_run_is_a_row_newest_first(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    make_run(tmp_path, "sgd", "20260102-000000-bbbb", metrics={"test_accuracy": 0.8})
    table = runs_table(tmp_path)
    assert table["run_id"].tolist() == ["20260102-000000-bbbb", "20260101-000000-aaaa"]
    assert table["test_accuracy"].tolist() == [0.8, 0.9]
    assert table.loc[0, "optimizer"] == "sgd" and table.loc[0, "epochs"] == 3 and table.loc[0, "epochs_planned"] == 3
    assert str(table["date"].dtype).startswith("datetime64") and table.loc[0, "date"].day == 2
    assert table["test_accuracy"].dtype == float and terminal_table(table).count(" 3/3 ") == 2


def test_incomplete_and_unreadable_runs_are_listed_with_their_status(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa")
    crashed = tmp_path / "adam" / "20260102-000000-cccc"
    crashed.mkdir()
    (crashed / "config.yaml").write_text("name: adam\n")
    garbled = make_run(tmp_path, "sgd", "20260103-000000-dddd")
    (garbled / "metrics.json").write_text("{not json")
    running = make_run(tmp_path, "sgd", "20260104-000000-eeee")
    RunDir(running).write_status("running")
    rows = runs_table(tmp_path).set_index("run_id")
    assert rows.loc["20260102-000000-cccc", "status"] == "incomplete"
    assert "status.json is missing" in rows.loc["20260102-000000-cccc", "reason"]
    assert rows.loc["20260103-000000-dddd", "status"] == "unreadable"
    assert rows.loc["20260104-000000-eeee", "status"] == "running"  # this process is alive
    assert rows.loc["20260101-000000-aaaa", "status"] == "finished"


def test_bench_and_compare_folders_are_not_runs(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa")
    (tmp_path / "compare" / "x").mkdir(parents=True)
    (tmp_path / "compare" / "x" / "config.yaml").write_text("name: x\n")
    assert runs_table(tmp_path)["experiment"].tolist() == ["adam"]


def test_list_runs_prints_the_table(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9123, "macro_f1": 0.9})
    result = run_harness("list", "--runs", reports=tmp_path)
    assert result.returncode == 0
    assert "20260101-000000-aaaa" in result.stdout and "0.9123" in result.stdout and "finished" in result.stdout
    assert terminal_table(runs_table(tmp_path / "nothing")).startswith("no runs yet")


def test_a_folder_named_like_a_run_id_but_not_one_gets_a_row_without_a_date(tmp_path):
    assert run_harness("run", "adam", "--dataset", "digits", "--epochs", "1", reports=tmp_path).returncode == 0
    (run_dir,) = run_dirs(tmp_path)
    shutil.copytree(run_dir, tmp_path / "adam" / "20261124-990001-aaaa")  # a copy; an hour of 99 is not a time
    rows = runs_table(tmp_path).set_index("run_id")
    copy = rows.loc["20261124-990001-aaaa"]
    assert pd.isna(copy["date"]) and copy["status"] == "finished"
    result = run_harness("report", reports=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "20261124-990001-aaaa" in (tmp_path / "index-data.js").read_text()


@pytest.fixture
def many_runs(tmp_path, monkeypatch):
    """300 run directories (half of them members of sweep groups) indexed once, and the list of the runs that
    each later refresh reads."""
    template = make_run(tmp_path / "template", "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    reports = tmp_path / "reports"
    runs = make_runs(template, reports, 300, random.Random(0))
    write_index(reports)
    reads = []
    read_row = index.run_row
    monkeypatch.setattr(index, "run_row", lambda run_dir, *rest: reads.append(run_dir) or read_row(run_dir, *rest))
    return template, reports, runs, reads


def test_one_new_run_is_the_only_one_a_refresh_reads(many_runs):
    template, reports, runs, reads = many_runs
    new = reports / "adam" / "20270101-000000-ffff"
    copy_run(template, new, 0.97)
    write_index(reports)
    assert reads == [new]
    table = runs_table(reports)
    assert len(table) == 301 and table.loc[0, "run_id"] == new.name and table.loc[0, "test_accuracy"] == 0.97
    assert reads == [new]  # the table read after it needed nothing again


def test_a_run_that_starts_adds_its_row_without_listing_the_others(many_runs, monkeypatch):
    template, reports, runs, reads = many_runs
    new = reports / "adam" / "20270101-000000-eeee"
    copy_run(template, new, 0.97)
    RunDir(new).write_status("running")
    listed = []
    monkeypatch.setattr(index.records, "run_folders", lambda *args: listed.append(args) or ([], []))
    index.add_index_row(reports, new)
    assert reads == [new] and listed == []  # its own row read; no folder listed
    monkeypatch.undo()
    kept = index._kept_rows(reports)["runs"]
    assert len(kept) == 301 and kept[str(new.relative_to(reports))][1][index.COLUMNS.index("status")] == "running"


def test_a_changed_run_is_read_again_and_a_vanished_one_is_gone(many_runs):
    template, reports, runs, reads = many_runs
    changed, vanished = runs[10], runs[11]
    RunDir(changed).write_metrics(RunDir(changed).metrics() | {"test_accuracy": 0.123})
    shutil.rmtree(vanished)
    rows = runs_table(reports).set_index("path")
    assert reads == [changed]
    assert rows.loc[str(changed.relative_to(reports)), "test_accuracy"] == 0.123
    assert str(vanished.relative_to(reports)) not in rows.index and len(rows) == 299


def test_a_running_run_is_read_every_time_since_its_process_can_die_without_a_word(many_runs):
    _, reports, runs, reads = many_runs
    RunDir(runs[0]).write_status("running")
    write_index(reports)
    write_index(reports)
    assert reads == [runs[0], runs[0]]


def test_a_damaged_data_file_is_rebuilt_and_make_report_reads_every_run(many_runs):
    _, reports, runs, reads = many_runs
    (reports / DATA_FILE).write_text("window.INDEX_DATA = {not json")
    assert len(runs_table(reports)) == 300 and len(reads) == 300
    reads.clear()
    assert run_harness("report", "--index-only", reports=reports).returncode == 0  # incremental: nothing changed
    assert len(runs_table(reports)) == 300 and reads == []
    write_index(reports, everything=True)
    assert len(reads) == 300
