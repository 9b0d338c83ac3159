"""From a search to a result you can publish: cross-validation (FOLDS=k) for any experiment, group or sweep, scored
and pruned on the fold mean and compared with the test that fits folds; make finalize, the best point trained on
training + validation data and tested once, with each use of a test set recorded; make table, groups as a paper's
table in Markdown, LaTeX (booktabs) and CSV."""

import os
import shutil
import subprocess

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy import stats

from harness.config.experiments import resolve
from harness.data.datasets import split_train_val
from harness.errors import UserError
from harness.groups.plan import GroupPlan, RunArguments, member_overrides
from harness.groups.stopping import ended_scores
from harness.groups.study import fold_mean
from harness.records import GroupDir
from harness.reporting.stats import corrected_resampled
from tests.conftest import EXPERIMENTS, run_harness

DIGITS = ("--dataset", "digits", "--epochs", "2")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two cross-validations (FOLDS, and dataset.folds in the config), a cross-validated TPE sweep, its finalize."""
    reports = tmp_path_factory.mktemp("reports")
    adam = run_harness("run", "adam", *DIGITS, "--folds", "3", "--jobs", "0", reports=reports)
    sgd = run_harness("run", "sgd", *DIGITS, "--set", "dataset.folds=3", "--jobs", "0", reports=reports)
    grid = "optimizer.learning_rate=0.001:0.05:log"
    sweep = run_harness(
        "sweep", "adam", *DIGITS, "--folds", "2", "--grid", grid, "--search", "tpe", "--trials", "2", "--jobs", "0",
        reports=reports,
    )  # fmt: skip
    for result in (adam, sgd, sweep):
        assert result.returncode == 0, result.stdout + result.stderr
    (sweep_dir,) = reports.glob("adam/sweep-*")
    final = run_harness("finalize", sweep_dir.name, "--seeds", "2", "--jobs", "0", reports=reports)
    assert final.returncode == 0, final.stdout + final.stderr
    return {"reports": reports, "sweep": sweep_dir, "stdout": {"final": final.stdout}}


def test_folds_split_the_training_data_into_stratified_disjoint_validation_sets():
    labels = np.repeat(np.arange(4), 30)
    config = resolve("adam", EXPERIMENTS, ["dataset.folds=5"], "digits")
    held_out = []
    for fold in range(5):
        config = config.model_copy(update={"dataset": config.dataset.model_copy(update={"fold": fold})})
        train, _, val, y_val = split_train_val(np.arange(len(labels)), labels, config.dataset)
        assert not set(train) & set(val) and len(train) + len(val) == len(labels)
        assert np.bincount(y_val).tolist() == [6, 6, 6, 6]  # stratified: each class a fifth in each fold
        held_out.append(set(val))
    assert set.union(*held_out) == set(range(len(labels))) and sum(map(len, held_out)) == len(labels)
    reference = resolve("adam", EXPERIMENTS, ["dataset.folds=5"])  # MNIST, 10,000 + 2,000 as the notebook splits it
    assert reference.dataset.val_size is None and reference.dataset.train_size == 10_000  # folds validate instead
    with pytest.raises(UserError, match="folds count from 0"):
        resolve("adam", EXPERIMENTS, ["dataset.folds=5", "dataset.fold=5"], "digits")


def test_a_cross_validation_is_a_group_of_one_run_per_fold_scored_by_the_fold_mean(made):
    for experiment in ("adam", "sgd"):  # FOLDS=3, and dataset.folds: 3 in the config
        (group_dir,) = made["reports"].glob(f"{experiment}/folds-*")
        group = GroupDir(group_dir)
        assert group.record()["folds"] == 3
        assert [member["run"] for member in group.record()["members"]] == ["fold-0", "fold-1", "fold-2"]
        runs = group.runs()
        assert [run.config_dict()["dataset"]["fold"] for run in runs] == [0, 1, 2]
        sizes = [run.metrics()["examples"] for run in runs]
        assert len({size["train"] + size["val"] for size in sizes}) == 1  # every fold splits the same examples
        assert sum(size["val"] for size in sizes) == sizes[0]["train"] + sizes[0]["val"]
        scores = [run.metrics()["best_val_accuracy"] for run in runs]
        summary = group.summary()["metrics"]["best_val_accuracy"]
        assert summary["n"] == 3 and summary["mean"] == pytest.approx(np.mean(scores))
        assert ">fold</th>" in group.file(GroupDir.PAGE).read_text()


def test_two_cross_validations_on_the_same_folds_are_compared_by_the_corrected_resampled_test(made):
    import harness

    (adam,), (sgd,) = (list(made["reports"].glob(f"{name}/folds-*")) for name in ("adam", "sgd"))
    comparison = harness.compare(adam, sgd, reports_dir=made["reports"])
    assert set(comparison.statistics.test) == {"corrected resampled t-test"}
    assert "corrected resampled t-test on paired folds" in comparison.verdicts[0]
    page = comparison.page.read_text()
    assert "Nadeau and Bengio" in page and "not independent seeds" in page


def test_the_corrected_resampled_test_is_the_paired_t_test_widened_for_the_folds_shared_training_data():
    candidate, baseline = [0.91, 0.93, 0.92, 0.95, 0.90], [0.90, 0.91, 0.92, 0.92, 0.89]
    plain = stats.ttest_rel(candidate, baseline)
    assert corrected_resampled(candidate, baseline, 0.0).p_value == pytest.approx(plain.pvalue)
    corrected = corrected_resampled(candidate, baseline, 1 / 4)  # five folds: a fold is a quarter of the rest
    assert corrected.p_value > plain.pvalue
    assert corrected.difference == pytest.approx(0.014)
    assert corrected.low < corrected.difference < corrected.high
    assert corrected_resampled([0.9, 0.9], [0.8, 0.8], 0.5).p_value is None  # no spread: nothing to test


def test_a_sweep_point_runs_all_its_folds_and_a_sweep_chooses_by_their_mean(made):
    group = GroupDir(made["sweep"])
    members = group.record()["members"]
    points = {}
    for member in members:  # t<the trial that chose it>-fold-<k>
        trial, _, fold = member["run"].partition("-fold-")
        points.setdefault(trial, {})[int(fold)] = member["parameters"]
    assert len(points) == 2 and all(sorted(folds) == [0, 1] for folds in points.values())
    assert all(folds[0] == folds[1] for folds in points.values())  # TPE chose the point; its other fold ran it too
    summary = group.summary()
    means = [point["metrics"]["best_val_accuracy"]["mean"] for point in summary["points"]]
    assert all(point["metrics"]["best_val_accuracy"]["n"] == 2 for point in summary["points"])
    assert summary["best_point"] == int(np.argmax(means))


def test_a_grid_sweep_with_folds_plans_every_fold_of_every_point():
    plan = GroupPlan.of_sweep("l2", "model.l2=0.001,0.01", None, 0, None, RunArguments(), folds=2)
    members = plan.members()
    assert [member["run"] for member in members] == ["p00-fold-0", "p00-fold-1", "p01-fold-0", "p01-fold-1"]
    assert member_overrides(plan, members[3])[-2:] == ["dataset.folds=2", "dataset.fold=1"]
    with pytest.raises(UserError, match="2 to 100 folds"):
        GroupPlan.of_seeds("adam", None, RunArguments(), folds=1)


def test_a_fold_is_pruned_on_the_mean_of_its_points_folds_and_stopping_rules_count_points():
    study = optuna.create_study(direction="maximize")
    for fold, accuracies in enumerate(([0.5, 0.7], [0.6, 0.9])):
        study.enqueue_trial({"lr": 0.01}, user_attrs={"seed": None, "fold": fold})
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.0001, 0.1)})
        trial.set_user_attr("val_accuracy", accuracies)
        study.tell(trial, max(accuracies))
    study.enqueue_trial({"lr": 0.01}, user_attrs={"seed": None, "fold": 2})
    third = study.ask({"lr": optuna.distributions.FloatDistribution(0.0001, 0.1)})
    reference = {"trial_id": third._trial_id, "params": {"lr": 0.01}, "seed": None}
    mean, sibling_pruned = fold_mean(study, third, reference, 1, 0.8)
    assert mean == pytest.approx((0.7 + 0.9 + 0.8) / 3) and not sibling_pruned
    assert third.user_attrs["val_accuracy"] == [0.8]  # its own accuracy kept, for its siblings
    study.tell(third, 0.8)
    study.set_user_attr("plan", {"folds": 3})
    assert ended_scores(study) == [pytest.approx((0.7 + 0.9 + 0.8) / 3)]  # one point, once its three folds ended


def test_finalize_trains_the_best_point_on_training_and_validation_data_for_its_epochs_and_tests_once(made):
    sweep = GroupDir(made["sweep"])
    summary = sweep.summary()
    best = summary["points"][summary["best_point"]]
    best_runs = [run for run in sweep.runs() if run.config_dict()["optimizer"] == _optimizer_of(sweep, best)]
    epochs = int(np.median([run.metrics()["best_epoch"] + 1 for run in best_runs]))
    (final_dir,) = made["reports"].glob("adam/final-*")
    final = GroupDir(final_dir)
    record = final.record()
    assert record["kind"] == "final" and record["final"]["sweep"] == made["sweep"].name
    assert record["final"]["point"] == best["point"] and record["final"]["epochs"] == epochs
    for run in final.runs():
        config, metrics = run.config_dict(), run.metrics()
        assert config["dataset"]["val_size"] == 0 and "folds" not in config["dataset"]
        assert config["training"]["epochs"] == epochs and "early_stopping" not in config["training"]
        assert config["optimizer"] == best_runs[0].config_dict()["optimizer"]
        assert metrics["examples"]["val"] == 0 and metrics["best_val_accuracy"] is None
        assert metrics["examples"]["train"] == sum(best_runs[0].metrics()["examples"][key] for key in ("train", "val"))
        assert run.model_path.exists()  # the models are kept
    test = final.summary()["metrics"]["test_accuracy"]
    assert test["n"] == 2 and test["ci95_low"] < test["mean"] < test["ci95_high"]
    assert f"final test accuracy {test['mean']:.4f}" in made["stdout"]["final"]
    page = final.file(GroupDir.PAGE).read_text()
    assert f"{test['mean']:.4f}" in page and made["sweep"].name in page and "used for this one decision" in page
    import harness

    assert "final test accuracy" in harness.load(str(final_dir), reports_dir=made["reports"])._repr_html_()


def _optimizer_of(sweep: GroupDir, point: dict) -> dict:
    member = next(member for member in sweep.record()["members"] if member["point"] == point["point"])
    return sweep.member(member["run"]).config_dict()["optimizer"]


def test_a_test_set_scored_again_by_another_finalize_is_said_to_be_used_before(made):
    reports = made["reports"]
    uses = (reports / "test-uses.json").read_text()
    assert made["sweep"].name in uses and '"dataset": "digits"' in uses
    again = run_harness(
        "finalize", "adam", "--seeds", "1", "--jobs", "0", reports=reports
    )  # the experiment's newest sweep
    assert again.returncode == 0, again.stderr
    assert "the test set of digits was scored before" in again.stderr
    newest = sorted(reports.glob("adam/final-*"))[-1]
    assert "no longer an untouched estimate" in (newest / GroupDir.PAGE).read_text()
    assert len(GroupDir(newest).record()["final"]["earlier_uses"]) == 1


def test_finalize_takes_only_a_sweep_and_a_run_without_validation_takes_no_early_stopping(made):
    (folds,) = made["reports"].glob("sgd/folds-*")
    wrong = run_harness("finalize", folds.name, reports=made["reports"])
    assert wrong.returncode == 2 and "is not a sweep" in wrong.stderr and "Traceback" not in wrong.stderr
    with pytest.raises(UserError, match="early_stopping watches the validation set"):
        resolve("adam", EXPERIMENTS, ["dataset.val_size=0", "training.early_stopping.patience=2"], "digits")


def test_make_table_averages_groups_marks_the_best_and_names_its_test(made):
    reports = made["reports"]
    result = run_harness("table", "adam", "sgd", "--format", "csv", reports=reports)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(next(reports.glob("tables/*.csv")))
    assert list(frame["row"]) == ["adam", "sgd"] and set(frame["column"]) == {"digits"} and set(frame["n"]) == {3}
    for row in frame.itertuples():
        values = [run.metrics()["test_accuracy"] for run in GroupDir(row.group).runs()]
        assert row.mean == pytest.approx(np.mean(values))
    assert frame.loc[frame["mean"].idxmax(), "best"] and frame["best"].sum() == 1
    other = frame[~frame["best"]].iloc[0]
    assert other["test"] == "corrected resampled t-test"  # two cross-validations on the same folds
    assert other["not_significantly_behind"] == (other["p_holm"] >= 0.05)
    markdown = next(reports.glob("tables/*.md")).read_text()
    best = frame[frame["best"]].iloc[0]
    assert f"**{best['mean']:.4f} ± {best['ci95_high'] - best['mean']:.4f}**" in markdown
    assert "mean over 3 folds" in markdown and "Nadeau and Bengio" in markdown
    import harness

    sd = harness.table("adam", "sgd", spread="sd", format="markdown", reports_dir=reports)
    assert f"{best['mean']:.4f} ± {best['std']:.4f}" in sd.text and "the standard deviation" in sd.text


def test_make_table_refuses_what_is_not_a_group_of_repeats_in_one_line(made):
    reports = made["reports"]
    sweep = run_harness("table", made["sweep"].name, reports=reports)
    assert sweep.returncode == 2 and "not repeats of one config" in sweep.stderr
    metric = run_harness("table", "adam", "--metric", "accuracy_typo", reports=reports)
    assert metric.returncode == 2 and "its metrics are" in metric.stderr and "test_accuracy" in metric.stderr


def test_the_latex_table_compiles_with_booktabs(made, tmp_path):
    if shutil.which("pdflatex") is None:
        if os.environ.get("REQUIRE_LATEX"):
            raise RuntimeError(
                "REQUIRE_LATEX is set but pdflatex is missing: apt-get install texlive-latex-recommended"
            )
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended)")
    result = run_harness("table", "adam", "sgd", "--format", "latex", reports=made["reports"])
    assert result.returncode == 0 and r"\toprule" in result.stdout
    (tmp_path / "table.tex").write_text(next(made["reports"].glob("tables/*.tex")).read_text())
    document = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{table}\n\\end{document}\n"
    (tmp_path / "paper.tex").write_text(document)
    compiled = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
