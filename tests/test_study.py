"""Every group is an Optuna study: each point runs once, each trial holds its run's parameters, per-epoch
validation accuracy, value, status, host and path; TPE chooses points; a pruner stops runs as `pruned`; the
sweep page says what mattered, drawn from the study."""

import json
import shutil
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.config.experiments import resolve
from harness.errors import UserError
from harness.groups.storage import open_storage
from harness.groups.study import take_queued
from harness.records import GroupDir, RunDir, reason_text
from harness.training.runner import run_experiment
from tests.conftest import EXPERIMENTS, run_harness

DIGITS = ("--dataset", "digits")


def study_of(group_dir):
    group = GroupDir(group_dir)
    return optuna.load_study(study_name=group.record()["study"]["name"], storage=open_storage(str(group.study_path)))


def test_a_grid_sweep_with_two_workers_runs_each_point_once_as_a_trial_and_its_page_comes_from_the_study(reports):
    grid = "optimizer.learning_rate=0.01,0.001 training.batch_size=32,64"
    result = run_harness(
        "sweep", "adam", *DIGITS, "--epochs", "2", "--jobs", "2", "--seeds", "2", "--grid", grid, reports=reports
    )
    assert result.returncode == 0, result.stderr
    (group_dir,) = reports.glob("adam/sweep-*")
    trials = study_of(group_dir).trials
    assert len(trials) == 8 and all(trial.state == TrialState.COMPLETE for trial in trials)
    runs = sorted(trial.user_attrs["run"] for trial in trials)
    assert runs == sorted(f"p{point:02d}-seed-{seed}" for point in range(4) for seed in range(2))  # once each
    for trial in trials:
        run_dir = group_dir / trial.user_attrs["run"]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert trial.value == metrics["best_val_accuracy"]  # validation chooses; the test set only reports
        assert trial.user_attrs["test_accuracy"] == metrics["test_accuracy"]
        assert trial.user_attrs["status"] == "finished" and trial.user_attrs["run_path"] == str(run_dir)
        assert sorted(trial.intermediate_values) == [0, 1]  # one validation accuracy per epoch
        assert trial.params["optimizer.learning_rate"] in (0.01, 0.001)
    page = (group_dir / "group.html").read_text()
    for image in ("importance.png", "history.png", "parallel.png", "epochs.png"):
        assert (group_dir / image).stat().st_size > 10_000 and image in page
    assert "explains the largest share of the variation" in page and "spread between seeds" in page
    shutil.rmtree(group_dir / "p00-seed-0")  # as if it had been made on another machine: the study still has it
    assert run_harness("report", reports=reports).returncode == 0
    summary = json.loads((group_dir / "summary.json").read_text())
    assert summary["finished"] == summary["runs"] == 8 and "p00-seed-0" in (group_dir / "group.html").read_text()


def test_machines_racing_for_the_last_points_take_each_once_and_add_no_trial_of_their_own(tmp_path):
    storage = str(GroupDir(tmp_path).study_path)
    study = optuna.create_study(study_name="race", storage=open_storage(storage))
    for point in range(24):
        study.enqueue_trial({"x": point / 24}, user_attrs={"run": f"p{point:02d}"})
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    taken = []

    def machine():
        its_study = optuna.load_study(study_name="race", storage=open_storage(storage))  # a handle of its own
        while (trial := take_queued(its_study, space)) is not None:
            taken.append((trial.user_attrs["run"], trial.params["x"]))
            its_study.tell(trial, trial.params["x"])

    machines = [threading.Thread(target=machine) for _ in range(6)]
    for thread in machines:
        thread.start()
    for thread in machines:
        thread.join()
    assert sorted(taken) == [(f"p{point:02d}", point / 24) for point in range(24)]  # each point once, as enqueued
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 24  # no empty trial when none was left


def test_tpe_chooses_its_points_and_a_pruner_stops_the_runs_that_fall_behind(reports):
    grid = "optimizer.learning_rate=1e-5:1e-1:log training.batch_size=32,128"
    result = run_harness(
        "sweep",
        "adam",
        *DIGITS,
        "--epochs",
        "4",
        "--jobs",
        "0",
        "--search",
        "tpe",
        "--trials",
        "7",
        "--prune",
        "median",
        "--sample-seed",
        "3",
        "--grid",
        grid,
        reports=reports,
    )
    assert result.returncode == 0, result.stderr  # a pruned run did what its sweep asked
    (group_dir,) = reports.glob("adam/sweep-*")
    trials = study_of(group_dir).trials
    assert len(trials) == 7 and len({trial.params["optimizer.learning_rate"] for trial in trials}) == 7
    pruned = [trial for trial in trials if trial.state == TrialState.PRUNED]
    assert pruned, "with learning rates down to 1e-5, some runs fall behind the median"
    for trial in pruned:
        run_dir = group_dir / trial.user_attrs["run"]
        status = RunDir(run_dir).status()
        assert status["status"] == "pruned"
        assert "pruned by the median pruner after epoch" in reason_text(status["reason"])
        epochs = len((run_dir / "history.csv").read_text().splitlines()) - 1
        assert epochs < 4 and max(trial.intermediate_values) == epochs - 1  # its curve up to where it stopped
    assert "pruned" in result.stdout and "runs finished, " in result.stdout
    page = (group_dir / "group.html").read_text()
    assert 'class="status pruned"' in page


@pytest.mark.parametrize(("epochs", "status", "epochs_run"), [(3, "pruned", 1), (1, "finished", 1)])
def test_a_pruner_stops_a_run_before_its_last_epoch_but_a_run_that_trained_them_all_is_finished(
    reports, epochs, status, epochs_run
):
    config = resolve("adam", EXPERIMENTS, [], dataset="digits", epochs=epochs)
    outcome = run_experiment(config, reports, epoch_judge=lambda epoch, logs: f"pruned after epoch {epoch}")
    assert outcome.status == status and RunDir(outcome.run_dir).status()["status"] == status
    assert json.loads((outcome.run_dir / "metrics.json").read_text())["epochs_run"] == epochs_run


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--search", "random", "--trials", "5"], "SEARCH=random: the search that learns is SEARCH=tpe"),
        (["--trials", "5"], "SEARCH=tpe needs TRIALS=N"),
        (["--search", "tpe", "--trials", "5", "--seeds", "3"], "drop RANDOM and SEEDS"),
        (["--prune", "sometimes"], "PRUNE=sometimes: choose one of hyperband, median"),
    ],
)
def test_search_options_that_do_not_combine_are_one_line_before_anything_runs(reports, options, message):
    result = run_harness(
        "sweep", "adam", *DIGITS, "--grid", "optimizer.learning_rate=0.01,0.001", *options, reports=reports
    )
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(reports.glob("adam/sweep-*"))


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ("not a url hunter2", "is not a database URL (17 characters, not shown: it may hold a password)"),
        ("mysql://user:hunter2@localhost/db", "the driver for mysql:// (MySQLdb) is not installed"),
        ("oracle://user:hunter2@localhost/db", "the harness keeps studies in postgresql, sqlite, mysql or a journal"),
        ("postgresql://user:hunter2@127.0.0.1:9/db", "the sweep's database at postgresql://user:***@127.0.0.1:9/db"),
    ],
)
def test_a_storage_that_cannot_hold_the_study_is_one_line_before_anything_is_made(reports, storage, expected):
    first = run_harness("run", "adam", *DIGITS, "--epochs", "1", reports=reports)
    assert first.returncode == 0, first.stderr
    latest = (reports / "adam" / "latest").resolve()
    result = run_harness(
        "sweep", "adam", *DIGITS, "--grid", "optimizer.learning_rate=0.01,0.1", "--storage", storage, reports=reports
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert expected in line and "hunter2" not in result.stderr + result.stdout
    assert not list(reports.glob("adam/sweep-*")) and (reports / "adam" / "latest").resolve() == latest


def test_a_run_that_ended_while_its_study_could_not_hear_is_recorded_when_its_machine_joins_again(tmp_path):
    """Its machine lost the database while the run trained; the run ended in the machine's folder, its trial still
    `running`. The machine's next sweep-worker records it in that trial, and runs nothing again."""
    from harness.groups.ledger import Ledger
    from harness.groups.plan import GroupPlan, RunArguments
    from harness.groups.study import create_study
    from tests.conftest import history_frame, write_run

    group_dir = tmp_path / "adam" / "sweep-20260101-000000-abcd"
    group_dir.mkdir(parents=True)
    plan = GroupPlan.of_sweep("adam", "optimizer.learning_rate=0.01", None, 0, None, RunArguments(dataset="digits"))
    storage = str(GroupDir(group_dir).study_path)
    study = create_study("adam/sweep", storage, {})
    study.enqueue_trial({"optimizer.learning_rate": 0.01}, user_attrs={"run": "p00", "point": 0, "seed": None})
    take_queued(study, {})  # the first machine took it: running
    member = {"run": "p00", "point": 0, "seed": None, "parameters": plan.points[0]}
    GroupDir(group_dir).write_record({"members": [member]})
    config = resolve("adam", EXPERIMENTS, ["optimizer.learning_rate=0.01"], "digits", 3)
    metrics = {"best_val_accuracy": 0.85, "test_accuracy": 0.8, "macro_f1": 0.8}
    write_run(group_dir / "p00", config, history_frame([0.6, 0.8, 0.9], [0.55, 0.85, 0.8]), metrics)
    ledger = Ledger(plan, group_dir, study, storage, EXPERIMENTS, {}, ["test"], joining=True)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.85 and trial.user_attrs["run"] == "p00"
    assert list(ledger.requests()) == []  # nothing left to run
    assert ledger.members_here() == [member | {"exit_code": 0}]


def test_a_point_that_ended_on_two_machines_counts_once():
    from harness.reporting.group_report import summarize

    record = {"experiment": "adam", "kind": "sweep", "seeds": [None], "points": [{"lr": 0.1}, {"lr": 0.2}]}
    ended = {
        "status": "finished",
        "reason": None,
        "metrics": {"test_accuracy": 0.9, "macro_f1": 0.9, "best_val_accuracy": 0.9, "epochs_run": 3},
    }
    members = [
        {"run": "p00-retry1", "point": 0, "seed": None, "parameters": {"lr": 0.1}} | ended,  # another machine's
        {"run": "p00", "point": 0, "seed": None, "parameters": {"lr": 0.1}} | ended,  # ended here, db away
        {"run": "p01", "point": 1, "seed": None, "parameters": {"lr": 0.2}} | ended,
    ]
    summary = summarize(Path("adam/sweep-x"), record, members)
    assert (summary["runs"], summary["finished"], summary["repeats"]) == (2, 2, ["p00-retry1"])
    assert summary["points"][0]["finished"] == 1


def test_stopping_rules_are_read_against_the_study_and_recorded_once():
    from harness.groups.stopping import STOPPED, parse_stop, stop_reason

    study = optuna.create_study(direction="maximize")
    rules = parse_stop("plateau:2, target:0.95 trials:10")
    for value in (0.5, 0.7, 0.6):
        study.add_trial(optuna.trial.create_trial(value=value))
        assert stop_reason(rules, study) is None
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))  # a pruned trial is no better point
    why = stop_reason(rules, study)
    assert why["code"] == "sweep_plateau" and reason_text(why).startswith("no better point in 2 trials (the best: 0.7")
    assert study.user_attrs[STOPPED] == why and stop_reason([], study) == why  # every machine reads the record
    with pytest.raises(UserError, match="'time:soon' is not a rule"):
        parse_stop("time:soon")
    target = optuna.create_study(direction="maximize")
    target.add_trial(optuna.trial.create_trial(value=0.96))
    assert stop_reason(parse_stop("target:0.95"), target)["code"] == "sweep_target"


def test_a_sweep_stops_taking_points_when_a_rule_is_met_and_its_page_says_why(reports):
    grid = "optimizer.learning_rate=0.02,0.01,0.005,0.002,0.001"
    result = run_harness(
        "sweep", "adam", *DIGITS, "--epochs", "1", "--grid", grid, "--stop", "trials:2", "--jobs", "0", reports=reports
    )
    assert result.returncode == 0, result.stderr
    assert "the sweep takes no new point: 2 trials were run (trials:2)" in result.stdout
    (group_dir,) = reports.glob("adam/sweep-*")
    summary = json.loads((group_dir / "summary.json").read_text())
    assert summary["finished"] == 2 and summary["stopped"]["code"] == "sweep_trials"
    assert "The sweep stopped taking points" in (group_dir / "group.html").read_text()
