"""The index is rebuilt from the run directories: every run, newest first, incomplete ones included."""

import shutil

from harness.records import write_status
from harness.reporting.index import runs_table, terminal_table
from tests.conftest import run_dirs, run_harness
from tests.test_compare import make_run


def test_every_run_is_a_row_newest_first(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    make_run(tmp_path, "sgd", "20260102-000000-bbbb", metrics={"test_accuracy": 0.8})
    table = runs_table(tmp_path)
    assert table["run_id"].tolist() == ["20260102-000000-bbbb", "20260101-000000-aaaa"]
    assert table["test_accuracy"].tolist() == [0.8, 0.9]
    assert table.loc[0, "optimizer"] == "sgd" and table.loc[0, "epochs"] == "3/3"


def test_incomplete_and_unreadable_runs_are_listed_with_their_status(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa")
    crashed = tmp_path / "adam" / "20260102-000000-cccc"
    crashed.mkdir()
    (crashed / "config.yaml").write_text("name: adam\n")
    garbled = make_run(tmp_path, "sgd", "20260103-000000-dddd")
    (garbled / "metrics.json").write_text("{not json")
    running = make_run(tmp_path, "sgd", "20260104-000000-eeee")
    write_status(running, "running")
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
    assert rows.loc["20261124-990001-aaaa", "date"] == "" and rows.loc["20261124-990001-aaaa", "status"] == "finished"
    result = run_harness("report", reports=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "20261124-990001-aaaa" in (tmp_path / "index.html").read_text()
