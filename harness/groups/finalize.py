"""make finalize SWEEP=<id> [SEEDS=5]: hand over a sweep's best configuration, trained on all the training data and
scored once on the test set.

    make sweep NAME=adam GRID="optimizer.learning_rate=1e-4:1e-1:log" SEARCH=tpe TRIALS=20
    make finalize SWEEP=sweep-20261205-101500-ab12 SEEDS=5      reports/adam/final-<id>/: 5 runs, group.html

The point is the sweep's best by mean validation accuracy (never by test accuracy); its epochs are the epochs its
runs chose (the median of their best epochs); it trains on training + validation data (val_size 0), with no early
stopping, as its runs recorded their config, over SEEDS seeds. The test set then scores it, once: the
use is recorded (harness.records.test_uses), and a later finalize on the same test set says it was used before.
The models are kept (model.keras in each run).
"""

from __future__ import annotations

import statistics
from datetime import datetime
from pathlib import Path

from harness.config.grid import point_label
from harness.data.datasets import data_identity
from harness.errors import UserError
from harness.groups.plan import GroupPlan, RunArguments, parse_seeds, recorded_config
from harness.records import GroupDir, RunDir, find_target, is_group
from harness.records.test_uses import earlier_uses, record_use
from harness.surface import setting

SELECTED_BY = "best_val_accuracy"


def final_plan(sweep: str, seeds: str, reports_dir: Path) -> GroupPlan:
    """The plan of a finalize: the sweep's best point as its runs recorded it, for the epochs it chose, on training +
    validation data, over `seeds`; what it came from in the plan's `final`."""
    group = _sweep(sweep, reports_dir)
    summary = group.summary(missing={})
    if not summary:
        raise UserError(f"{group.path} has no summary: it did not end (make report writes it for what ran)")
    if summary.get("best_point") is None:
        raise UserError(f"no point of {group.path.name} finished: there is no best point to finalize")
    point = summary["points"][summary["best_point"]]
    runs = [
        group.member(member["run"])
        for member in group.members()
        if member["point"] == point["point"] and member["status"] == "finished" and group.member(member["run"]).is_run()
    ]
    if not runs:
        raise UserError(f"the runs of {group.path.name}'s best point are not on this machine: finalize where they are")
    best_epochs = [run.metrics()["best_epoch"] + 1 for run in runs]  # counted from 1
    epochs = round(statistics.median(best_epochs))
    config = final_config(runs[0], epochs)
    validated = recorded_config(config, None)  # a config this version cannot read any more: one line, before any run
    final = {
        "sweep": group.path.name,
        "sweep_path": str(group.path),
        "point": point["point"],
        "parameters": point["parameters"],
        "label": point_label(point["parameters"]),
        "validation": point["metrics"][SELECTED_BY],
        "selected_by": SELECTED_BY,
        "best_epochs": best_epochs,
        "epochs": epochs,
        "examples": runs[0].metrics()["examples"],
        "data": data_identity(validated.dataset),
    }
    plan = GroupPlan(config["name"], "final", [{}], parse_seeds(seeds), RunArguments(), base=config)
    plan.final = final | {"earlier_uses": earlier_uses(reports_dir, final["data"])}
    return plan


def final_config(run: RunDir, epochs: int) -> dict:
    """The run's recorded config, to train on training + validation data for `epochs` epochs, without early stopping
    (there is no validation set to watch)."""
    config = run.config_dict()
    dataset = {key: value for key, value in config["dataset"].items() if key not in ("val_size", "folds", "fold")}
    if dataset.get("train_size"):  # a sample of the training data: as large again as its validation set
        examples = run.metrics()["examples"]
        dataset["train_size"] = examples["train"] + examples["val"]
    training = {key: value for key, value in config["training"].items() if key != "early_stopping"}
    return config | {"dataset": dataset | {"val_size": 0}, "training": training | {"epochs": epochs}}


def _sweep(name: str, reports_dir: Path) -> GroupDir:
    folder = reports_dir / name  # an experiment's name: its newest sweep
    sweeps = sorted(path for path in folder.glob("sweep-*") if is_group(path)) if not is_group(folder) else []
    group = GroupDir(sweeps[-1] if sweeps else find_target(reports_dir, name))
    if not group.is_group() or group.record()["kind"] != "sweep":
        raise UserError(
            f"{name} is not a sweep: finalize takes a sweep's id or path "
            f"({setting('sweep', 'sweep-<time>-<id>', True)})"
        )
    if group.is_running():
        raise UserError(f"{group.path.name} is still running: finalize it once it has ended")
    return group


def record_final_use(group_dir: Path, reports_dir: Path) -> None:
    """The finalize's test-set use, once at least one of its runs was scored."""
    group = GroupDir(group_dir)
    scored = [member for member in group.members() if member["status"] == "finished"]
    if not scored:
        return
    record = group.record()
    final = record["final"]
    record_use(
        reports_dir,
        {
            "data": final["data"],
            "dataset": group.member(scored[0]["run"]).config_dict()["dataset"]["name"],
            "experiment": record["experiment"],
            "final": str(group.path),
            "sweep": final["sweep"],
            "when": datetime.now().isoformat(timespec="seconds"),
            "test_accuracy": statistics.fmean(member["metrics"]["test_accuracy"] for member in scored),
        },
    )
