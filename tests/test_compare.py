"""Comparison data: exactly the differing config keys, differences from the first run, refusals."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config.experiments import resolve
from harness.errors import UserError
from harness.records import RunDir, find_target, point_latest, reason
from harness.reporting.compare import compare
from harness.reporting.compare_runs import config_difference, load_run, summary_table
from tests.conftest import EXPERIMENTS, history_frame, run_harness, write_run


def make_run(reports: Path, name: str, run_id: str, overrides=(), metrics=None, dataset="digits") -> Path:
    """A run directory written with the records' writers, with chosen results (no training)."""
    run_dir = reports / name / run_id
    config = resolve(name, EXPERIMENTS, list(overrides), dataset=dataset, epochs=3)
    write_run(run_dir, config, history_frame([0.6, 0.8, 0.9], [0.55, 0.85, 0.8]), metrics or {})
    point_latest(run_dir)
    return run_dir


def test_config_difference_lists_exactly_the_keys_that_differ(tmp_path):
    first = make_run(tmp_path, "adam", "20260101-000000-aaaa")
    second = make_run(tmp_path, "sgd", "20260101-000001-bbbb", ["training.batch_size=64"])
    differences = config_difference([load_run(first), load_run(second)])
    assert list(differences.columns) == ["extends", "optimizer.learning_rate", "optimizer.name", "training.batch_size"]
    assert differences.loc["sgd 20260101-000001-bbbb"].tolist() == ["adam", 0.01, "sgd", 64]
    assert differences.loc["adam 20260101-000000-aaaa", "extends"] == "—"  # a key one run lacks


def test_identical_configs_have_no_difference(tmp_path):
    first = make_run(tmp_path, "adam", "20260101-000000-aaaa")
    second = make_run(tmp_path, "adam", "20260101-000001-bbbb")
    assert config_difference([load_run(first), load_run(second)]).empty


def test_deltas_are_from_the_first_run(tmp_path):
    scores = [(0.90, 0.89, 0.91), (0.93, 0.925, 0.90), (0.85, 0.80, 0.86)]
    runs = [
        load_run(
            make_run(
                tmp_path,
                "adam",
                f"2026010{i}-000000-aaaa",
                metrics={
                    "test_accuracy": accuracy,
                    "macro_f1": f1,
                    "best_val_accuracy": val,
                    "best_epoch": 1,
                    "final_val_accuracy": 0.8,
                },
            )
        )
        for i, (accuracy, f1, val) in enumerate(scores)
    ]
    table = summary_table(runs)
    assert table["test_accuracy_delta"].tolist() == pytest.approx([0.0, 0.03, -0.05])
    assert table["macro_f1_delta"].tolist() == pytest.approx([0.0, 0.035, -0.09])
    assert table["best_val_accuracy_delta"].tolist() == pytest.approx([0.0, -0.01, -0.05])


def test_a_failed_run_is_shown_with_its_status_not_a_crash(tmp_path):
    good = make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9, "macro_f1": 0.9})
    bad = make_run(tmp_path, "sgd", "20260101-000001-bbbb")
    diverged = reason("diverged", epoch=0)
    RunDir(bad).write_status("diverged", diverged)
    RunDir(bad).write_metrics({"status": "diverged", "reason": diverged, "epochs_run": 1})
    comparison = compare([str(good), str(bad)], tmp_path)
    out, table = comparison.out, comparison.table
    assert table.loc["sgd 20260101-000001-bbbb", "status"] == "diverged"
    assert pd.isna(table.loc["sgd 20260101-000001-bbbb", "test_accuracy"])
    assert (out / "compare.html").is_file() and (out / "metrics.csv").is_file()
    assert "the loss became NaN" in (out / "compare.html").read_text()


def test_a_damaged_metrics_file_is_one_line_naming_it_with_exit_2(tmp_path):
    good = make_run(tmp_path, "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    damaged = make_run(tmp_path, "sgd", "20260101-000001-bbbb", metrics={"test_accuracy": 0.8})
    text = (damaged / "metrics.json").read_text()
    (damaged / "metrics.json").write_text(text[: len(text) // 2])  # cut short, as by a kill mid-write
    result = run_harness("compare", str(good), str(damaged), reports=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {damaged / 'metrics.json'} is damaged (")
    assert line.endswith("rerun that run, or delete its directory")


def test_runs_on_different_datasets_are_refused(tmp_path):
    make_run(tmp_path, "adam", "20260101-000000-aaaa")
    make_run(tmp_path, "sgd", "20260101-000001-bbbb", dataset="mnist")
    with pytest.raises(UserError, match="runs on different datasets cannot be compared"):
        compare(["adam", "sgd"], tmp_path)


def test_runs_are_found_by_experiment_run_id_or_path(tmp_path):
    older = make_run(tmp_path, "adam", "20260101-000000-aaaa")
    newer = make_run(tmp_path, "adam", "20260101-000001-bbbb")
    assert find_target(tmp_path, "adam") == newer.resolve()  # the latest
    assert find_target(tmp_path, "20260101-000000-aaaa") == older
    assert find_target(tmp_path, str(older)) == older.resolve()
    with pytest.raises(UserError, match="no run named 'adamm'.*adam"):
        find_target(tmp_path, "adamm")
    with pytest.raises(UserError, match="at least two runs"):
        compare(["adam"], tmp_path)


def test_japanese_labels_render_without_missing_glyphs(tmp_path):
    from harness.reporting.i18n import labels
    from harness.reporting.report import plot_learning_curves

    history = pd.DataFrame(
        {
            "epoch": [0, 1],
            "loss": [1.0, 0.5],
            "accuracy": [0.5, 0.8],
            "val_loss": [1.1, 0.6],
            "val_accuracy": [0.45, 0.75],
        }
    )
    text = labels("ja")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_learning_curves(history, "テスト", tmp_path / "curves.png", text)
    assert text["learning_curves"] == "学習曲線"
    assert not [w for w in caught if "missing from font" in str(w.message)]  # tofu boxes warn like this
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def with_predictions(run_dir: Path, right: np.ndarray) -> None:
    """predictions.csv for the digits test set's first len(right) examples: right where `right`, else off by one."""
    truth = np.arange(len(right)) % 10
    predicted = np.where(right, truth, (truth + 1) % 10)
    pd.DataFrame(
        {"index": np.arange(len(right)), "true_label": truth, "predicted_label": predicted, "confidence": 0.9}
    ).to_csv(run_dir / "predictions.csv", index=False)


def test_three_runs_adjust_mcnemar_for_two_comparisons(tmp_path):
    baseline = np.arange(360) < 280  # right on the first 280 of the digits test set's 360 examples
    better = baseline.copy()
    better[280:300], better[:8] = True, False  # 20 examples only it gets right, 8 only the baseline: p = 0.036
    other = baseline.copy()
    other[280:290], other[:10] = True, False  # 10 and 10: p = 1
    for name, run_id, right in (
        ("adam", "20260101-000000-aaaa", baseline),
        ("sgd", "20260101-000001-bbbb", better),
        ("momentum", "20260101-000002-cccc", other),
    ):
        with_predictions(make_run(tmp_path, name, run_id, metrics={"test_accuracy": right.mean()}), right)
    assert compare(["adam", "sgd"], tmp_path).verdicts[0].startswith("sgd is ahead of adam by 3.33 points")
    comparison = compare(["adam", "sgd", "momentum"], tmp_path)
    assert comparison.verdicts[0].startswith("no difference shown on the same 360 test examples once adjusted for 2")
    assert "McNemar's exact test p = 0.036, Holm-adjusted for 2 comparisons p = 0.071" in comparison.verdicts[0]
    statistics = pd.read_csv(comparison.out / "statistics.csv").set_index("candidate")
    assert statistics.p_holm.tolist() == pytest.approx([2 * statistics.p_value.iloc[0], 1.0])
    assert statistics.tests.tolist() == [2, 2] and not statistics.shown.any()
    assert "p, Holm-adjusted" in (comparison.out / "compare.html").read_text()


def test_a_run_compared_with_itself_is_one_line_that_says_it_proves_nothing(tmp_path):
    run_dir = make_run(tmp_path, "adam", "20260101-000000-aaaa")
    for names in (["adam", "adam"], ["adam", "20260101-000000-aaaa"], ["adam", str(run_dir)]):
        result = run_harness("compare", *names, reports=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "a run compared with itself proves nothing" in line, line
    import harness

    run = harness.load(str(run_dir))
    with pytest.raises(UserError, match="compared with itself proves nothing"):
        harness.compare(run, run, reports_dir=tmp_path)
