"""Disk in check: `make du` shows what each experiment, group and sweep takes; `make prune KEEP=best:K` (a dry run
unless CONFIRM=1) and a sweep's KEEP remove the heavy files of all but the best by validation, never their results,
and the index, the run's page and the API say which runs have no model file any more."""

import pandas as pd
import pytest

from harness.errors import UserError
from harness.records import GroupDir, RunDir, tensorboard_dir
from harness.reporting.index import runs_table
from tests.conftest import run_harness

DIGITS = ("--dataset", "digits", "--epochs", "2")


def test_a_sweep_keeps_the_files_of_only_its_best_points_and_says_which_runs_lost_theirs(reports):
    grid = "optimizer.learning_rate=0.03,0.001,0.0001"
    result = run_harness("sweep", "adam", *DIGITS, "--grid", grid, "--keep", "best:1", "--jobs", "0", reports=reports)
    assert result.returncode == 0, result.stderr
    (sweep,) = reports.glob("adam/sweep-*")
    summary = GroupDir(sweep).summary()
    best = f"p{summary['best_point']:02d}"
    assert f"keep their files ({best})" in result.stdout and "removed the models" in result.stdout
    for run in GroupDir(sweep).runs():
        kept = run.name == best
        assert run.model_path.exists() == kept and tensorboard_dir(run.path).exists() == kept
        assert run.has(RunDir.PREDICTIONS) and run.has(RunDir.HISTORY) and run.has(RunDir.PAGE)  # never removed
        assert ("TensorBoard events were removed to save disk" in run.file(RunDir.PAGE).read_text()) != kept
    table = runs_table(reports).set_index("run_id")
    assert table["files"].eq("model removed").sum() == 2 and pd.isna(table.loc[best, "files"])
    import harness

    removed = next(run for run in harness.load(str(sweep), reports_dir=reports).runs if run.path.name != best)
    with pytest.raises(UserError, match="model was removed to save disk"):
        removed.model()


def test_make_du_shows_each_experiment_and_group_and_make_prune_is_a_dry_run_until_confirmed(reports):
    for seed in ("0", "1"):
        assert run_harness("run", "adam", *DIGITS, "--seed", seed, reports=reports).returncode == 0
    assert run_harness("run", "adam", *DIGITS, "--seeds", "2", "--jobs", "0", reports=reports).returncode == 0
    usage = run_harness("du", reports=reports)
    assert usage.returncode == 0 and "adam" in usage.stdout and "(seeds)" in usage.stdout and " MB" in usage.stdout
    dry = run_harness("prune", "adam", "--keep", "best:1", reports=reports)
    assert dry.returncode == 0 and "would remove" in dry.stdout and "a dry run" in dry.stdout
    models = sorted(reports.glob("adam/**/model.keras"))
    assert len(models) == 4  # nothing removed
    done = run_harness("prune", "adam", "--keep", "best:1", "--confirm", reports=reports)
    assert done.returncode == 0 and "removed the models" in done.stdout
    assert len(sorted(reports.glob("adam/**/model.keras"))) == 1
    wrong = run_harness("prune", "adam", "--keep", "all", reports=reports)
    assert wrong.returncode == 2 and "give best:K" in wrong.stderr
