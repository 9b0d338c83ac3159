"""End to end, as a user feels it: the seed notebook's code for the ten seed experiments against `make all`.

    make bench-suite [JOBS=2]      (python -m harness bench-suite [--rounds 1] [--dataset fashion_mnist])

In one session, each side as a user starts it, reports included: the notebook's way in one Python process
(harness.tools.seed_notebook: its plots, confusion matrices and classification reports saved) on TensorFlow and on
JAX (KERAS_BACKEND=jax, the one setting a user would change), and `make all` on the same ten experiments, data and
epochs into a fresh reports folder; the harness is measured against the faster seed way. Then one `make experiment
NAME=adam_lr` three times, the single run a user makes most, against the seed's code for that one experiment on
the faster backend, as many times. Wall times are measured around the whole commands; peak memory is the largest
resident set of any process of a command (wait4's rusage). Writes ``reports/bench/<time>/suite.json`` and
``suite.md``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from harness.atomic import write_json, write_text
from harness.errors import UserError
from harness.records import RunDir, run_directories

# The seed notebook's ten models and optimizers (not the textbook's NumPy network).
SEED_EXPERIMENTS = ("basic_dnn", "l1", "l2", "dropout", "combined", "sgd", "momentum", "rmsprop", "adam", "adam_lr")
SUITE_DATASETS = ("fashion_mnist", "mnist")  # large enough for every experiment's 10,000 + 2,000 split
SINGLE_RUN = "adam_lr"
SINGLE_RUN_REPEATS = 3


SEED_BACKENDS = ("tensorflow", "jax")


def timed(command: list[str], log: Path, environment: dict | None = None) -> dict:
    """Wall seconds and peak resident memory (MB, the largest process of the command's tree) of one command."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ | (environment or {}),
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}; see {log}")
    return {"seconds": round(seconds, 2), "peak_memory_mb": round(usage.ru_maxrss / 1024, 1)}


def make_command(target: str, reports: Path, **variables: str) -> list[str]:
    settings = [f"{key}={value}" for key, value in variables.items() if value]
    return ["make", "--no-print-directory", target, f"PYTHON={sys.executable}", f"REPORTS={reports}", *settings]


def seed_side(out: Path, dataset: str, experiments_dir: Path, backend: str, names=SEED_EXPERIMENTS, tag="") -> dict:
    """The seed notebook's code for `names` in one process on `backend`."""
    folder = out / f"seed_notebook_{backend}{tag}"
    command = [
        sys.executable,
        "-m",
        "harness.tools.seed_notebook",
        str(folder),
        *names,
        "--dataset",
        dataset,
        "--experiments-dir",
        str(experiments_dir),
    ]
    log = out / f"seed_notebook_{backend}{tag}.log"
    result = timed(command, log, {"KERAS_BACKEND": backend})
    accuracies = {}
    for line in log.read_text().splitlines():
        name, _, rest = line.partition(": test accuracy ")
        if rest:
            accuracies[name] = float(rest)
    return result | {"test_accuracy": accuracies}


def harness_side(out: Path, dataset: str, jobs: int | None) -> dict:
    reports = out / "harness_reports"
    shutil.rmtree(reports, ignore_errors=True)
    names = " ".join(SEED_EXPERIMENTS)
    command = make_command(
        "all", reports, NAMES=names, SET=f"dataset.name={dataset}", FORCE="1", JOBS=str(jobs) if jobs else ""
    )
    result = timed(command, out / "make_all.log")
    accuracies = {
        run_dir.parent.name: RunDir(run_dir).metrics()["test_accuracy"] for run_dir in run_directories(reports)
    }
    return result | {"test_accuracy": accuracies}


def single_run(out: Path, dataset: str, experiments_dir: Path, seed_backend: str) -> dict:
    """One `make experiment NAME=adam_lr`, and the seed's code for adam_lr alone on the faster backend, taking turns."""
    reports = out / "single_run_reports"
    harness, seed = [], []
    for index in range(SINGLE_RUN_REPEATS):
        command = make_command("experiment", reports, NAME=SINGLE_RUN, SET=f"dataset.name={dataset}")
        harness.append(timed(command, out / f"single_run_{index}.log")["seconds"])
        alone = seed_side(out, dataset, experiments_dir, seed_backend, (SINGLE_RUN,), tag=f"_single_{index}")
        seed.append(alone["seconds"])
    return {
        "seconds": harness,
        "median_seconds": statistics.median(harness),
        "seed_backend": seed_backend,
        "seed_seconds": seed,
        "seed_median_seconds": statistics.median(seed),
        "ratio": round(statistics.median(harness) / statistics.median(seed), 3),
    }


def check_dataset(dataset: str) -> None:
    from harness.data.sources import DATASETS

    if dataset not in SUITE_DATASETS:
        raise UserError(
            f"--dataset {dataset}: the notebook's protocol (10,000 + 2,000 training images) needs "
            f"a 60,000-image set: {' or '.join(SUITE_DATASETS)}"
        )
    if not any(path.is_file() for path in DATASETS[dataset].files()):
        hint = (
            "apt-get install dataset-fashion-mnist"
            if dataset == "fashion_mnist"
            else "put mnist.npz in the Keras cache"
        )
        raise UserError(f"{dataset} is not on this machine: {hint}")


def one_round(out: Path, dataset: str, experiments_dir: Path, jobs: int | None) -> dict:
    """The seed's code on each backend, then make all: wall times, memory and accuracies; the faster seed way."""
    sides = {f"seed_{backend}": seed_side(out, dataset, experiments_dir, backend) for backend in SEED_BACKENDS}
    faster = min(sides, key=lambda side: sides[side]["seconds"])
    sides["make_all"] = harness_side(out, dataset, jobs)
    return sides | {"faster_seed": faster, "ratio": round(sides["make_all"]["seconds"] / sides[faster]["seconds"], 3)}


def run_bench_suite(experiments_dir: Path, reports_dir: Path, dataset: str, jobs: int | None, rounds: int) -> Path:
    check_dataset(dataset)
    out = reports_dir / "bench" / f"suite-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    pairs = []
    for round_number in range(1, rounds + 1):
        print(f"round {round_number}/{rounds}: the seed notebook's code on TensorFlow and on JAX, then make all")
        pairs.append(one_round(out, dataset, experiments_dir, jobs))
    seed_backend = pairs[-1]["faster_seed"].removeprefix("seed_")
    print(
        f"one make experiment NAME={SINGLE_RUN} and the seed's code for it ({seed_backend}), {SINGLE_RUN_REPEATS} times"
    )
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "dataset": dataset,
        "experiments": list(SEED_EXPERIMENTS),
        "jobs": jobs,
        "cpu_count": os.cpu_count(),
        "rounds": pairs,
        "ratio_make_all_over_faster_seed_way": round(statistics.median(pair["ratio"] for pair in pairs), 3),
        "single_run": single_run(out, dataset, experiments_dir, seed_backend),
    }
    write_json(out / "suite.json", results)
    write_text(out / "suite.md", suite_markdown(results))
    return out


def suite_markdown(results: dict) -> str:
    rows = "\n".join(
        f"| {index} | {pair['seed_tensorflow']['seconds']} s | {pair['seed_jax']['seconds']} s | "
        f"{pair['make_all']['seconds']} s | {pair['ratio']:.3f} | "
        f"{pair[pair['faster_seed']]['peak_memory_mb']:,.0f} / {pair['make_all']['peak_memory_mb']:,.0f} MB |"
        for index, pair in enumerate(results["rounds"], start=1)
    )
    last = results["rounds"][-1]
    accuracies = "\n".join(
        f"| {name} | {last['seed_tensorflow']['test_accuracy'].get(name, float('nan')):.4f} | "
        f"{last['seed_jax']['test_accuracy'].get(name, float('nan')):.4f} | "
        f"{last['make_all']['test_accuracy'][name]:.4f} |"
        for name in results["experiments"]
    )
    single = results["single_run"]
    return f"""# End to end: the ten seed experiments on {results["dataset"]}, reports included

{results["cpu_count"]} CPUs, {results["date"]}; `make all` with {results["jobs"] or "the default number of"} workers.

| round | seed's code, TensorFlow | on JAX | `make all` | ratio to the faster | peak memory (faster seed / harness) |
|---|---|---|---|---|---|
{rows}

Ratio `make all` / the faster seed way: **{results["ratio_make_all_over_faster_seed_way"]}** (median over rounds).

One `make experiment NAME={SINGLE_RUN}` (wall, whole command): {single["seconds"]} s, median
**{single["median_seconds"]} s**; the seed's code for {SINGLE_RUN} alone on {single["seed_backend"]}:
{single["seed_seconds"]} s, median {single["seed_median_seconds"]} s; ratio **{single["ratio"]}**.

| experiment | test accuracy, seed's code on TensorFlow | on JAX | harness |
|---|---|---|---|
{accuracies}
"""
