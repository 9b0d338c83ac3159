"""Groups of runs as the README promises them: `SEEDS=3` gives a summary with intervals and banded curves,
a 2x2 sweep gives 4 runs and picks its best point by validation, JOBS=2 gives what JOBS=0 (this process) gives,
Ctrl-C stops a group, a failed run stops nothing, `make all` skips what is up to date, and groups compare by their
distributions."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.config.experiments import resolve
from harness.errors import UserError
from harness.records import GroupDir, RunDir, reason, reason_text
from harness.reporting.compare import compare
from harness.reporting.stats import t_interval
from tests.conftest import EXPERIMENTS, ROOT, harness_command, history_frame, run_harness, wait_for_epochs, write_run

DIGITS = ["--dataset", "digits"]


def the_group(reports: Path, experiment: str) -> Path:
    (group,) = [
        path for path in (reports / experiment).iterdir() if (path / "group.json").is_file() and not path.is_symlink()
    ]
    return group


def test_three_seeds_give_a_summary_with_intervals_and_banded_curves(reports):
    result = run_harness("run", "adam", *DIGITS, "--epochs", "2", "--seeds", "3", "--jobs", "0", reports=reports)
    assert result.returncode == 0, result.stderr
    group = the_group(reports, "adam")
    assert sorted(path.name for path in group.glob("seed-*")) == ["seed-0", "seed-1", "seed-2"]
    summary = json.loads((group / "summary.json").read_text())
    assert (summary["runs"], summary["finished"], summary["seeds"]) == (3, 3, [0, 1, 2])
    accuracies = [
        json.loads((group / f"seed-{seed}" / "metrics.json").read_text())["test_accuracy"] for seed in range(3)
    ]
    expected = t_interval(accuracies)
    measured = summary["metrics"]["test_accuracy"]
    assert measured["mean"] == pytest.approx(expected.mean) and measured["ci95_low"] == pytest.approx(expected.low)
    assert measured["ci95_low"] < measured["mean"] < measured["ci95_high"]
    assert set(summary["metrics"]) == {"test_accuracy", "macro_f1", "best_val_accuracy"}
    assert (
        len(
            {
                yaml.safe_load((group / f"seed-{seed}" / "config.yaml").read_text())["training"]["seed"]
                for seed in range(3)
            }
        )
        == 3
    )
    assert (group / "curves.png").stat().st_size > 10_000
    assert "adam: 3 of 3 runs finished" in result.stdout and "test_accuracy" in result.stdout
    page = (group / "group.html").read_text()
    assert "curves.png" in page and "3/3" in page
    assert '<th class="text">values</th>' in page and "built-in method" not in page  # the column's own name
    assert group.name in (reports / "index-data.js").read_text()  # the groups table the index draws
    assert (reports / "adam" / "latest").resolve() == group.resolve()


def test_a_two_by_two_sweep_runs_four_points_and_picks_the_best_by_validation(reports):
    grid = "optimizer.learning_rate=0.001,0.01 training.batch_size=32,64"
    result = run_harness("sweep", "adam", *DIGITS, "--epochs", "1", "--grid", grid, "--jobs", "0", reports=reports)
    assert result.returncode == 0, result.stderr
    group = the_group(reports, "adam")
    summary = json.loads((group / "summary.json").read_text())
    assert [point["parameters"] for point in summary["points"]] == [
        {"optimizer.learning_rate": 0.001, "training.batch_size": 32},
        {"optimizer.learning_rate": 0.001, "training.batch_size": 64},
        {"optimizer.learning_rate": 0.01, "training.batch_size": 32},
        {"optimizer.learning_rate": 0.01, "training.batch_size": 64},
    ]
    runs = sorted(group.glob("p0*"))
    validation = {
        int(run.name[1:]): json.loads((run / "metrics.json").read_text())["best_val_accuracy"] for run in runs
    }
    assert len(validation) == 4
    assert summary["best_point"] == max(validation, key=validation.get)
    config = yaml.safe_load((group / f"p{summary['best_point']:02d}" / "config.yaml").read_text())
    best = summary["points"][summary["best_point"]]["parameters"]
    assert config["optimizer"]["learning_rate"] == best["optimizer.learning_rate"]
    assert config["training"]["batch_size"] == best["training.batch_size"]
    assert "best point by validation" in result.stdout
    assert (group / "parameters.png").is_file() and (group / "curves.png").is_file()
    live = GroupDir(group).live()  # what its page followed while it ran (tests/test_live_pages.py)
    assert (live["status"], live["finished"], live["runs"]) == ("ended", 4, 4)
    assert [(member["run"], member["status"], member["epochs_done"]) for member in live["members"]] == [
        (f"p{point:02d}", "finished", 1) for point in range(4)
    ]
    tested = {member["run"]: member["test_accuracy"] for member in live["members"]}
    assert tested == {run.name: json.loads((run / "metrics.json").read_text())["test_accuracy"] for run in runs}
    assert 'data-live="running"' not in (group / "group.html").read_text()  # the final page replaced it


def histories_and_predictions(group: Path) -> dict:
    results = {}
    for run in sorted(path for path in group.iterdir() if (path / "history.csv").is_file()):
        history = pd.read_csv(run / "history.csv").drop(columns="seconds")
        results[run.name] = (history, pd.read_csv(run / "predictions.csv"))
    return results


def test_two_at_a_time_in_workers_gives_what_one_after_another_in_this_process_gives(tmp_path):
    deterministic = ["--epochs", "2", "--seeds", "2", "--set", "training.deterministic=true"]
    groups, said = {}, {}
    for jobs in ("0", "2"):
        reports = tmp_path / f"jobs{jobs}"
        result = run_harness("run", "adam", *DIGITS, *deterministic, "--jobs", jobs, reports=reports)
        assert result.returncode == 0, result.stderr
        groups[jobs], said[jobs] = histories_and_predictions(the_group(reports, "adam")), result.stdout
    assert "2 runs one after another in this process" in said["0"] and "2 runs in 2 worker processes" in said["2"]
    assert sorted(groups["0"]) == sorted(groups["2"]) == ["seed-0", "seed-1"]
    for run in groups["0"]:
        pd.testing.assert_frame_equal(groups["0"][run][0], groups["2"][run][0])
        pd.testing.assert_frame_equal(groups["0"][run][1], groups["2"][run][1])
    assert not groups["0"]["seed-0"][0].equals(groups["0"]["seed-1"][0])  # the seeds did differ
    assert (the_group(tmp_path / "jobs0", "adam") / "logs" / "seed-1.log").read_text().startswith("epoch 1/2")


def test_ctrl_c_in_a_group_made_in_this_process_stops_its_run_and_starts_no_more(reports):
    command = harness_command("run adam --dataset digits --epochs 300 --seeds 3 --jobs 0", reports)
    group = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = wait_for_epochs(reports, "adam/seeds-*/seed-0", 3, group, timeout=180)
    group.send_signal(signal.SIGINT)
    stdout, stderr = group.communicate(timeout=120)
    assert group.returncode != 0 and "Traceback" not in stderr
    status = RunDir(first).status()
    assert status["status"] == "interrupted" and "stopped by SIGINT" in reason_text(status["reason"])
    assert not (first.parent / "seed-1").exists()  # no run started after it
    assert GroupDir(first.parent).record()["interrupted"] is True


def test_a_run_that_fails_does_not_stop_the_others(reports):
    grid = "optimizer.learning_rate=0.1,100000"  # plain SGD at 1e5 diverges in its first epoch
    result = run_harness("sweep", "sgd", *DIGITS, "--epochs", "2", "--grid", grid, "--jobs", "0", reports=reports)
    assert result.returncode == 1
    summary = json.loads((the_group(reports, "sgd") / "summary.json").read_text())
    assert (summary["runs"], summary["finished"]) == (2, 1)
    assert summary["not_finished"][0]["run"] == "p01" and summary["not_finished"][0]["status"] == "diverged"
    assert summary["best_point"] == 0
    assert "sgd: 1 of 2 runs finished" in result.stdout and "p01: diverged" in result.stdout


def test_an_experiment_with_a_finished_run_of_the_same_fingerprint_is_skipped(reports):
    first = run_harness("run", "adam", *DIGITS, "--epochs", "1", "--skip-done", reports=reports)
    assert first.returncode == 0, first.stderr
    again = run_harness("run", "adam", *DIGITS, "--epochs", "1", "--skip-done", reports=reports)
    assert again.returncode == 0 and "adam: up to date" in again.stdout
    changed = run_harness("run", "adam", *DIGITS, "--epochs", "2", "--skip-done", reports=reports)
    assert changed.returncode == 0 and "up to date" not in changed.stdout
    assert len(list((reports / "adam").glob("2*"))) == 2


def test_make_all_runs_the_named_experiments_in_workers_skips_what_is_done_and_force_reruns(reports):
    def make_all(*variables: str) -> subprocess.CompletedProcess:
        command = [
            "make",
            "--no-print-directory",
            "all",
            f"PYTHON={sys.executable}",
            f"REPORTS={reports}",
            "NAMES=adam sgd",
            "DATASET=digits",
            "EPOCHS=1",
            "JOBS=2",
            *variables,
        ]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)

    first = make_all()
    assert first.returncode == 0, first.stderr
    assert "adam: finished" in first.stdout and "sgd: finished" in first.stdout
    assert (reports / "logs" / "adam.log").is_file() and (reports / "index.html").is_file()
    again = make_all()
    assert "adam: up to date" in again.stdout and "sgd: up to date" in again.stdout
    forced = make_all("FORCE=1", "JOBS=0")  # this time in the command's own process
    assert forced.returncode == 0 and "up to date" not in forced.stdout
    assert len(list((reports / "adam").glob("2*"))) == 2


def test_a_run_in_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_output(reports):
    config = resolve("basic_dnn", EXPERIMENTS, ["training.precision=mixed_bfloat16"], "digits", 1)
    from harness.training.train import build_compiled_model

    model = build_compiled_model(config, (8, 8, 1), 10)
    hidden, output = model.get_layer("dense_1"), model.get_layer("softmax")
    assert (hidden.compute_dtype, hidden.variable_dtype) == ("bfloat16", "float32")
    assert output.compute_dtype == "float32"
    assert build_compiled_model(resolve("adam", EXPERIMENTS), (64,), 10).get_layer("dense_1").compute_dtype == "float32"
    result = run_harness(
        "run", "basic_dnn", *DIGITS, "--epochs", "2", "--set", "training.precision=mixed_bfloat16", reports=reports
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = [path for path in (reports / "basic_dnn").glob("2*")]
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] > 0.5


def constructed_group(reports: Path, experiment: str, accuracies: list[float], statuses=None) -> Path:
    """A seeds group written with the records' writers, with chosen results (no training)."""
    group = reports / experiment / f"seeds-20260101-00000{len(list(reports.glob('*/seeds-*')))}-aaaa"
    members = [{"run": f"seed-{seed}", "point": 0, "seed": seed, "parameters": {}} for seed in range(len(accuracies))]
    group.mkdir(parents=True)
    record = {
        "experiment": experiment,
        "kind": "seeds",
        "members": members,
        "points": [{}],
        "seeds": list(range(len(accuracies))),
    }
    GroupDir(group).write_record(record)
    for member, accuracy, status in zip(members, accuracies, statuses or ["finished"] * len(accuracies), strict=True):
        config = resolve(experiment, EXPERIMENTS, dataset="digits", epochs=2, seed=member["seed"])
        scores = {"test_accuracy": accuracy, "macro_f1": accuracy - 0.002, "best_val_accuracy": accuracy - 0.01}
        why = None if status == "finished" else reason("diverged", epoch=1)
        write_run(
            group / member["run"], config, history_frame([0.7, accuracy], [0.65, accuracy - 0.01]), scores, status, why
        )
    (reports / experiment / "latest").symlink_to(group.name)
    return group


def test_groups_with_a_clear_difference_get_a_verdict_with_interval_p_and_runs(tmp_path):
    constructed_group(tmp_path, "adam", [0.8812, 0.8840, 0.8825, 0.8831, 0.8819])
    constructed_group(tmp_path, "adam_lr", [0.8835, 0.8861, 0.8842, 0.8858, 0.8840])
    comparison = compare(["adam", "adam_lr"], tmp_path)
    assert comparison.verdicts == [
        "adam_lr is ahead of adam by 0.22 points of test accuracy (95% CI 0.05 to 0.38, p = 0.015, 5 runs each; "
        "Welch's t-test)"
    ]
    statistics = pd.read_csv(comparison.out / "statistics.csv")
    assert set(statistics.metric) == {"test_accuracy", "macro_f1", "best_val_accuracy"}
    page = (comparison.out / "compare.html").read_text()
    assert "adam_lr is ahead of adam by 0.22 points" in page and "curves.png" in page


def test_groups_without_a_clear_difference_say_so_and_count_only_finished_runs(tmp_path):
    constructed_group(tmp_path, "adam", [0.8812, 0.8840, 0.8825, 0.8831, 0.8819])
    constructed_group(
        tmp_path, "adam_lr", [0.8830, 0.8790, 0.8870, 0.8801, 0.8852, 0.1], ["finished"] * 5 + ["diverged"]
    )
    (verdict,) = compare(["adam", "adam_lr"], tmp_path).verdicts
    assert verdict.startswith("no difference shown at 5 runs each: adam_lr - adam = +0.03 points of test accuracy")


def test_a_group_is_not_compared_with_a_single_run(tmp_path):
    constructed_group(tmp_path, "adam", [0.88, 0.89])
    from tests.test_compare import make_run

    make_run(tmp_path, "sgd", "20260101-000001-bbbb")
    with pytest.raises(UserError, match="compare groups with groups or runs with runs"):
        compare(["adam", "sgd"], tmp_path)


def test_three_groups_adjust_for_two_comparisons_and_a_raw_p_below_005_is_not_enough(tmp_path):
    constructed_group(tmp_path, "adam", [0.8812, 0.8840, 0.8825, 0.8831, 0.8819])
    constructed_group(tmp_path, "adam_lr", [0.8830, 0.8858, 0.8838, 0.8854, 0.8837])  # Welch p = 0.038 alone
    constructed_group(tmp_path, "momentum", [0.8815, 0.8842, 0.8822, 0.8836, 0.8817])  # p = 0.89
    alone = compare(["adam", "adam_lr"], tmp_path).verdicts
    assert alone[0].startswith("adam_lr is ahead of adam by 0.18 points")
    comparison = compare(["adam", "adam_lr", "momentum"], tmp_path)
    assert comparison.verdicts[0].startswith("no difference shown at 5 runs each once adjusted for 2 comparisons")
    assert "p = 0.038, Holm-adjusted for 2 comparisons p = 0.075" in comparison.verdicts[0]
    statistics = pd.read_csv(comparison.out / "statistics.csv")
    accuracy = statistics[statistics.metric == "test_accuracy"].set_index("candidate")
    assert accuracy.loc["adam_lr", "p_value"] == pytest.approx(0.0375, abs=1e-4)
    assert accuracy.loc["adam_lr", "p_holm"] == pytest.approx(2 * accuracy.loc["adam_lr", "p_value"])
    assert accuracy.tests.tolist() == [2, 2] and not accuracy.shown.any()
    page = (comparison.out / "compare.html").read_text()
    assert "Holm" in page and "p, Holm-adjusted" in page
