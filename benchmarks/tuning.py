"""Tuning as a user feels it: KerasTuner's introduction against the harness's sweep over the same space.

    make bench-tuning [JOBS=2]    (python -m benchmarks tuning [--trials 12] [--dataset fashion_mnist])

Both search one dense layer's width (32 to 512 by 32) and Adam's learning rate (1e-2, 1e-3, 1e-4) on Fashion-MNIST's
60,000 training images split 48,000 / 12,000 (KerasTuner's validation_split=0.2), batch 32, at most 10 epochs a run:
KerasTuner with Hyperband, as its tutorial runs it (benchmarks.kerastuner_intro), and the harness with
`make sweep SEARCH=tpe PRUNE=hyperband` on the same space. Each side's wall time is that of its whole command
(start-up, data and, for the harness, every run's report and the sweep's page), one after the other on this machine.
Then each side's chosen point is trained again the same way, with the same 3 seeds, and tested on the 10,000 test
images: a faster search is worth it only if what it chose is as good. Writes reports/bench/tuning-<time>/tuning.json
and tuning.md.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

from benchmarks.suite import timed
from harness.atomic import write_json, write_text
from harness.config.grid import point_label
from harness.errors import UserError
from harness.records import GroupDir

BASE = "adam"  # the reference notebook's Adam experiment, its network made one dense layer by the swept width
RETRAIN_SEEDS = 3
WIDTHS = (32, 512, 32)  # min, max, step: the tutorial's hp.Int("units", ...)
LEARNING_RATES = (1e-2, 1e-3, 1e-4)  # its hp.Choice("learning_rate", ...)


def space() -> str:
    """KerasTuner's space as a GRID: each width a one-layer network, each rate Adam's."""
    low, high, step = WIDTHS
    widths = ",".join(f"[{width}]" for width in range(low, high + 1, step))
    return f"model.hidden_units={widths} optimizer.learning_rate={','.join(str(rate) for rate in LEARNING_RATES)}"


def settings(dataset: str, max_epochs: int) -> list[str]:
    """The protocol both sides train by, as harness options."""
    split = ["--set", "dataset.train_size=48000", "--set", "dataset.val_size=12000"] if dataset != "digits" else []
    return ["--dataset", dataset, "--epochs", str(max_epochs), "--set", "training.batch_size=32", *split]


def harness_command(words: list[str], reports: Path, experiments_dir: Path) -> list[str]:
    folders = ["--reports-dir", str(reports), "--experiments-dir", str(experiments_dir)]
    return [sys.executable, "-m", "harness", *words, *folders]


def kerastuner_side(out: Path, dataset: str, max_epochs: int) -> dict:
    folder = out / "kerastuner"
    command = [sys.executable, "-m", "benchmarks.kerastuner_intro", str(folder), "--dataset", dataset]
    result = timed([*command, "--max-epochs", str(max_epochs)], out / "kerastuner.log")
    chosen = json.loads((folder / "kerastuner.json").read_text())
    point = {"model.hidden_units": [chosen["units"]], "optimizer.learning_rate": chosen["learning_rate"]}
    return result | {key: chosen[key] for key in ("best_val_accuracy", "trials", "epochs_trained")} | {"point": point}


def harness_side(out: Path, options: list[str], trials: int, jobs: int, experiments_dir: Path) -> dict:
    reports = out / "harness"
    search = ["--search", "tpe", "--trials", str(trials), "--prune", "hyperband", "--jobs", str(jobs)]
    words = ["sweep", BASE, *options, *search, "--grid", space()]
    result = timed(harness_command(words, reports, experiments_dir), out / "harness_sweep.log")
    summary = GroupDir(reports / BASE / "latest").summary()
    best = summary["points"][summary["best_point"]]
    return result | {
        "best_val_accuracy": best["metrics"]["best_val_accuracy"]["mean"],
        "trials": summary["runs"],
        "pruned": summary["pruned"],
        "epochs_trained": summary["epochs_trained"],
        "point": best["parameters"],
    }


def retrained(out: Path, side: str, point: dict, options: list[str], jobs: int, experiments_dir: Path) -> dict:
    """The chosen point trained again, RETRAIN_SEEDS seeds, and tested: mean test accuracy and its interval."""
    reports = out / f"retrain_{side}"
    overrides = [item for key, value in point.items() for item in ("--set", f"{key}={json.dumps(value)}")]
    words = ["run", BASE, *options, *overrides, "--seeds", str(RETRAIN_SEEDS), "--jobs", str(jobs)]
    timed(harness_command(words, reports, experiments_dir), out / f"retrain_{side}.log")
    test = GroupDir(reports / BASE / "latest").summary()["metrics"]["test_accuracy"]
    return {key: test[key] for key in ("mean", "ci95_low", "ci95_high", "values")}


def run_bench_tuning(
    experiments_dir: Path, reports_dir: Path, dataset: str, trials: int, jobs: int, max_epochs: int
) -> Path:
    try:
        import keras_tuner  # noqa: F401
    except ImportError:
        raise UserError("KerasTuner is not installed: make bench-tuning installs requirements-bench.txt") from None
    out = reports_dir / "bench" / f"tuning-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    options = settings(dataset, max_epochs)
    print("KerasTuner's introduction (Hyperband), then the harness's sweep (TPE, Hyperband pruning)", flush=True)
    sides = {"kerastuner": kerastuner_side(out, dataset, max_epochs)}
    sides["harness"] = harness_side(out, options, trials, jobs, experiments_dir)
    print(f"each chosen point again, {RETRAIN_SEEDS} seeds, tested", flush=True)
    for side, result in sides.items():
        result["retrained_test_accuracy"] = retrained(out, side, result["point"], options, jobs, experiments_dir)
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "dataset": dataset,
        "max_epochs": max_epochs,
        "trials": trials,
        "jobs": jobs,
        "cpu_count": os.cpu_count(),
        "sides": sides,
        "ratio_harness_over_kerastuner": round(sides["harness"]["seconds"] / sides["kerastuner"]["seconds"], 3),
    }
    write_json(out / "tuning.json", results)
    write_text(out / "tuning.md", tuning_markdown(results))
    return out


def tuning_markdown(results: dict) -> str:
    names = {"kerastuner": "KerasTuner, Hyperband", "harness": "harness, TPE + Hyperband pruning"}
    rows = []
    for side, result in results["sides"].items():
        test = result["retrained_test_accuracy"]
        interval = f"{test['ci95_low']:.4f} to {test['ci95_high']:.4f}" if test["ci95_low"] is not None else "-"
        rows.append(
            f"| {names[side]} | {result['seconds']} s | {result['trials']} | {result['epochs_trained']} | "
            f"{result['best_val_accuracy']:.4f} | {point_label(result['point'])} | {test['mean']:.4f} ({interval}) |"
        )
    table = "\n".join(rows)
    return f"""# Tuning, side by side: KerasTuner's introduction and the harness's sweep on {results["dataset"]}

{results["cpu_count"]} CPUs, {results["date"]}; the harness with {results["trials"]} trials in {results["jobs"]}
workers; at most {results["max_epochs"]} epochs a run, batch 32. The chosen points were trained again with
{RETRAIN_SEEDS} seeds each and tested (mean test accuracy, 95% CI).

| search | wall time | trials | epochs trained | best val accuracy | chosen point | test accuracy, again |
|---|---|---|---|---|---|---|
{table}

Wall time, harness / KerasTuner: **{results["ratio_harness_over_kerastuner"]}**.
"""
