"""End to end, as a user feels it: the reference notebook's code for the ten reference experiments against `make all`.

    make bench-suite [JOBS=2]      (python -m benchmarks suite [--rounds 1] [--dataset fashion_mnist])

In one session, each side as a user starts it, reports included: the notebook's way in one Python process
(benchmarks.reference_notebook: its plots, confusion matrices and classification reports saved) on TensorFlow and on
JAX (KERAS_BACKEND=jax, the one setting a user would change); then `make all` on the same ten experiments, data and
epochs into a fresh reports folder, on TensorFlow (the default) and on JAX, first with an empty compilation cache
(harness.caches; the bench's own, in its folder) and again with what that run cached. Each harness way is measured
against the faster reference way. Then three seeds of adam_lr in one worker on each backend (the time from a
run's end to the next one's start of training, and what each first epoch took beyond the others), and one `make
experiment NAME=adam_lr` on each backend three times (after a first one, timed apart), the single run a user makes
most, taking turns with the reference code for that one experiment on the faster reference way. Wall times are
measured around the whole commands; peak memory is the largest resident set of any process of a command (wait4's
rusage). Writes
``reports/bench/<time>/suite.json`` and ``suite.md``.
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

# The reference notebook's ten models and optimizers (not the textbook's NumPy network).
REFERENCE_EXPERIMENTS = (
    "basic_dnn",
    "l1",
    "l2",
    "dropout",
    "combined",
    "sgd",
    "momentum",
    "rmsprop",
    "adam",
    "adam_lr",
)
SUITE_DATASETS = ("fashion_mnist", "mnist")  # large enough for every experiment's 10,000 + 2,000 split
SINGLE_RUN = "adam_lr"
SINGLE_RUN_REPEATS = 3


BACKENDS = ("tensorflow", "jax")  # the reference code and the harness, each on both
# make all's runs: the default backend, then JAX with a new compilation cache, then again with what it cached
HARNESS_WAYS = {"make_all_tensorflow": "tensorflow", "make_all_jax_cold": "jax", "make_all_jax_warm": "jax"}
SEED_GAP_RUNS = 3


def timed(command: list[str], log: Path, environment: dict | None = None, preexec=None) -> dict:
    """Wall seconds and peak resident memory (MB, the largest process of the command's tree) of one command;
    `preexec` runs in its process before it starts (a resource limit)."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ | (environment or {}),
            cwd=CHECKOUT,  # where `make` and `python -m benchmarks...` are found
            preexec_fn=preexec,
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}; see {log}")
    return {"seconds": round(seconds, 2), "peak_memory_mb": round(usage.ru_maxrss / 1024, 1)}


CHECKOUT = Path(__file__).resolve().parents[1]


def make_command(target: str, reports: Path, **variables: str) -> list[str]:
    settings = [f"{key}={value}" for key, value in variables.items() if value]
    return ["make", "--no-print-directory", target, f"PYTHON={sys.executable}", f"REPORTS={reports}", *settings]


def reference_side(
    out: Path, dataset: str, experiments_dir: Path, backend: str, names=REFERENCE_EXPERIMENTS, tag=""
) -> dict:
    """The reference notebook's code for `names` in one process on `backend`."""
    folder = out / f"reference_notebook_{backend}{tag}"
    command = [
        sys.executable,
        "-m",
        "benchmarks.reference_notebook",
        str(folder),
        *names,
        "--dataset",
        dataset,
        "--experiments-dir",
        str(experiments_dir),
    ]
    log = out / f"reference_notebook_{backend}{tag}.log"
    result = timed(command, log, {"KERAS_BACKEND": backend})
    accuracies = {}
    for line in log.read_text().splitlines():
        name, _, rest = line.partition(": test accuracy ")
        if rest:
            accuracies[name] = float(rest)
    return result | {"test_accuracy": accuracies}


def harness_environment(backend: str, cache: Path) -> dict[str, str]:
    """The harness on `backend`, its compilation caches (harness.caches) in `cache`: a new folder is a cold cache."""
    return {
        "KERAS_BACKEND": backend,
        "JAX_COMPILATION_CACHE_DIR": str(cache / "jax"),
        "TF_XLA_FLAGS": f"--tf_xla_persistent_cache_directory={cache / 'xla'}",
    }


def folder_megabytes(folder: Path) -> float:
    return round(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6, 1)


def epoch_seconds(run_dir: Path) -> list[float]:
    return RunDir(run_dir).history()["seconds"].tolist()


def first_epoch_overhead(seconds: list[float]) -> float:
    """What a run's first epoch took beyond its typical epoch: tracing, compiling or loading the compiled steps."""
    return max(0.0, seconds[0] - statistics.median(seconds[1:])) if len(seconds) > 1 else 0.0


def harness_side(out: Path, dataset: str, jobs: int | None, backend: str, cache: Path, tag: str) -> dict:
    """`make all` on the ten experiments on `backend`, its compilation cache in `cache`."""
    reports = out / f"harness_reports_{tag}"
    shutil.rmtree(reports, ignore_errors=True)
    names = " ".join(REFERENCE_EXPERIMENTS)
    command = make_command(
        "all", reports, NAMES=names, SET=f"dataset.name={dataset}", FORCE="1", JOBS=str(jobs) if jobs else ""
    )
    result = timed(command, out / f"{tag}.log", harness_environment(backend, cache))
    runs = {run_dir.parent.name: run_dir for run_dir in run_directories(reports)}
    epochs = [epoch_seconds(run_dir) for run_dir in runs.values()]
    return result | {
        "backend": backend,
        "test_accuracy": {name: RunDir(run_dir).metrics()["test_accuracy"] for name, run_dir in runs.items()},
        "epoch_seconds_sum": round(sum(map(sum, epochs)), 2),
        "first_epoch_overhead_mean": round(statistics.mean(map(first_epoch_overhead, epochs)), 3),
        "compile_cache_mb": folder_megabytes(cache),
    }


def seeds_in_one_worker(out: Path, dataset: str, backend: str, cache: Path) -> dict:
    """SEED_GAP_RUNS seeds of adam_lr in one worker: from one run's end (its results written) to the next one's start
    of training (its model built and compiled for Keras), and what each first epoch took beyond the others."""
    reports = out / f"seeds_reports_{backend}"
    command = make_command(
        "experiment", reports, NAME=SINGLE_RUN, SET=f"dataset.name={dataset}", SEEDS=str(SEED_GAP_RUNS), JOBS="1"
    )
    timed(command, out / f"seeds_{backend}.log", harness_environment(backend, cache))
    members = sorted(
        ((RunDir(run_dir).status(), run_dir) for run_dir in run_directories(reports)),
        key=lambda member: member[0]["started"],
    )
    statuses = [status for status, _ in members]
    gaps = [later["started"] - earlier["ended"] for earlier, later in zip(statuses, statuses[1:], strict=False)]
    return {
        "backend": backend,
        "gaps_seconds": [round(gap, 3) for gap in gaps],
        "first_epoch_overheads": [round(first_epoch_overhead(epoch_seconds(run_dir)), 3) for _, run_dir in members],
    }


def single_run(out: Path, dataset: str, experiments_dir: Path, reference_backend: str, cache: Path) -> dict:
    """One `make experiment NAME=adam_lr` on each backend, and the reference code for adam_lr alone on the faster
    reference way, taking turns. A first command on each backend, timed apart, compiles what the commands before it
    did not (a single run's steps are not a worker's), so the timed ones find the compilation cache warm."""
    reports = out / "single_run_reports"
    command = make_command("experiment", reports, NAME=SINGLE_RUN, SET=f"dataset.name={dataset}")

    def harness_run(backend: str, tag) -> float:
        return timed(command, out / f"single_run_{backend}_{tag}.log", harness_environment(backend, cache))["seconds"]

    first = {backend: harness_run(backend, "first") for backend in BACKENDS}
    harness = {backend: [] for backend in BACKENDS}
    reference = []
    for index in range(SINGLE_RUN_REPEATS):
        for backend in BACKENDS:
            harness[backend].append(harness_run(backend, index))
        alone = reference_side(out, dataset, experiments_dir, reference_backend, (SINGLE_RUN,), tag=f"_single_{index}")
        reference.append(alone["seconds"])
    reference_median = statistics.median(reference)
    return {
        "reference_backend": reference_backend,
        "reference_seconds": reference,
        "reference_median_seconds": reference_median,
        "harness": {
            backend: {
                "first_seconds": first[backend],
                "seconds": times,
                "median_seconds": statistics.median(times),
                "ratio": round(statistics.median(times) / reference_median, 3),
            }
            for backend, times in harness.items()
        },
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


def one_round(out: Path, dataset: str, experiments_dir: Path, jobs: int | None, cache: Path) -> dict:
    """The reference code on each backend, then make all on TensorFlow, and on JAX with a cold then a warm compilation
    cache: wall times, memory, accuracies, epoch times; the faster reference way and each harness way's ratio to it."""
    sides = {f"reference_{backend}": reference_side(out, dataset, experiments_dir, backend) for backend in BACKENDS}
    faster = min(sides, key=lambda side: sides[side]["seconds"])
    shutil.rmtree(cache, ignore_errors=True)
    for tag, backend in HARNESS_WAYS.items():
        sides[tag] = harness_side(out, dataset, jobs, backend, cache, tag)
    ratios = {tag: round(sides[tag]["seconds"] / sides[faster]["seconds"], 3) for tag in HARNESS_WAYS}
    return sides | {"faster_reference": faster, "ratios": ratios}


def run_bench_suite(experiments_dir: Path, reports_dir: Path, dataset: str, jobs: int | None, rounds: int) -> Path:
    check_dataset(dataset)
    out = reports_dir / "bench" / f"suite-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "compile_cache"
    pairs = []
    for round_number in range(1, rounds + 1):
        print(f"round {round_number}/{rounds}: the reference notebook's code on TensorFlow and on JAX, then make all")
        pairs.append(one_round(out, dataset, experiments_dir, jobs, cache))
    reference_backend = faster_backend(pairs[-1])
    print(f"{SEED_GAP_RUNS} seeds of {SINGLE_RUN} in one worker, on each backend")
    seeds = [seeds_in_one_worker(out, dataset, backend, cache) for backend in BACKENDS]
    print(
        f"one make experiment NAME={SINGLE_RUN} on each backend, and the reference code for it on {reference_backend}"
    )
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "dataset": dataset,
        "experiments": list(REFERENCE_EXPERIMENTS),
        "jobs": jobs,
        "cpu_count": os.cpu_count(),
        "rounds": pairs,
        "ratios_to_faster_reference_way": {
            tag: round(statistics.median(pair["ratios"][tag] for pair in pairs), 3) for tag in HARNESS_WAYS
        },
        "seeds_in_one_worker": seeds,
        "single_run": single_run(out, dataset, experiments_dir, reference_backend, cache),
    }
    write_json(out / "suite.json", results)
    write_text(out / "suite.md", suite_markdown(results))
    return out


def faster_backend(round_: dict) -> str:
    """The backend (KERAS_BACKEND) on which the reference notebook's code was the faster in a round."""
    return round_["faster_reference"].removeprefix("reference_")


def row(*cells) -> str:
    """A Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(header: tuple[str, ...], rows: list[str]) -> str:
    return "\n".join([row(*header), row(*["---"] * len(header)), *rows])


def _rounds_table(results: dict) -> str:
    header = ("round", "reference code, TensorFlow", "on JAX", "`make all` (TensorFlow)", "on JAX, cold cache", "warm")
    rows = [
        row(
            index,
            f"{pair['reference_tensorflow']['seconds']} s",
            f"{pair['reference_jax']['seconds']} s",
            *(f"{pair[tag]['seconds']} s ({pair['ratios'][tag]:.3f})" for tag in HARNESS_WAYS),
        )
        for index, pair in enumerate(results["rounds"], start=1)
    ]
    return table(header, rows)


def _compile_lines(results: dict) -> str:
    last = results["rounds"][-1]
    tensorflow, cold, warm = (last[tag] for tag in HARNESS_WAYS)
    saved = cold["first_epoch_overhead_mean"] - warm["first_epoch_overhead_mean"]
    reference_memory, jax_memory = last[last["faster_reference"]]["peak_memory_mb"], warm["peak_memory_mb"]
    return (
        "First epoch beyond a run's typical epoch (tracing, compiling or loading its steps), mean of the ten runs: "
        f"TensorFlow {tensorflow['first_epoch_overhead_mean']} s; JAX {cold['first_epoch_overhead_mean']} s with a "
        f"cold compilation cache, {warm['first_epoch_overhead_mean']} s warm: **{saved:.2f} s saved per run**. "
        f"Sum of the runs' epoch times: TensorFlow {tensorflow['epoch_seconds_sum']} s, JAX cold "
        f"{cold['epoch_seconds_sum']} s, warm {warm['epoch_seconds_sum']} s. The compilation cache after `make all`: "
        f"**{cold['compile_cache_mb']} MB** ({warm['compile_cache_mb']} MB after the warm run). Peak memory of the "
        f"largest process: the faster reference way {reference_memory:,.0f} MB, the harness on JAX "
        f"{jax_memory:,.0f} MB, "
        f"on TensorFlow {tensorflow['peak_memory_mb']:,.0f} MB."
    )


def _seeds_table(results: dict) -> str:
    header = ("backend", "from a run's end to the next one's start of training", "first epoch beyond the others")
    rows = [
        row(
            seeds["backend"],
            ", ".join(f"{gap:.2f} s" for gap in seeds["gaps_seconds"]),
            ", ".join(f"{overhead:.2f} s" for overhead in seeds["first_epoch_overheads"]),
        )
        for seeds in results["seeds_in_one_worker"]
    ]
    return table(header, rows)


def _single_table(results: dict) -> str:
    single = results["single_run"]
    header = (
        "harness on",
        "first command",
        "then",
        "median",
        f"reference code on {single['reference_backend']}, median",
        "ratio",
    )
    rows = [
        row(
            backend,
            f"{way['first_seconds']} s",
            way["seconds"],
            f"**{way['median_seconds']} s**",
            f"{single['reference_median_seconds']} s",
            f"**{way['ratio']}**",
        )
        for backend, way in single["harness"].items()
    ]
    return table(header, rows)


def _accuracy_table(results: dict) -> str:
    last = results["rounds"][-1]
    sides = ("reference_tensorflow", "reference_jax", *HARNESS_WAYS)
    header = ("experiment", "reference code on TensorFlow", "on JAX", "`make all`", "on JAX, cold", "warm")
    rows = [
        row(name, *(f"{last[side]['test_accuracy'].get(name, float('nan')):.4f}" for side in sides))
        for name in results["experiments"]
    ]
    return table(header, rows)


def suite_markdown(results: dict) -> str:
    ratios = ", ".join(f"{tag} **{ratio}**" for tag, ratio in results["ratios_to_faster_reference_way"].items())
    seeds = f"`make experiment NAME={SINGLE_RUN} SEEDS={SEED_GAP_RUNS} JOBS=1`"
    return f"""# End to end: the ten reference experiments on {results["dataset"]}, reports included

{results["cpu_count"]} CPUs, {results["date"]}; `make all` with {results["jobs"] or "the default number of"} workers.

{_rounds_table(results)}

Ratio to the faster reference way (median over rounds): {ratios}.

{_compile_lines(results)}

{SEED_GAP_RUNS} seeds of {SINGLE_RUN} in one worker ({seeds}, compilation cache warm):

{_seeds_table(results)}

One `make experiment NAME={SINGLE_RUN}` (wall time of the whole command; after a first one, timed apart, that
compiles what the worker's runs had not) against the reference code for {SINGLE_RUN}
alone ({results["single_run"]["reference_seconds"]} s):

{_single_table(results)}

Test accuracies:

{_accuracy_table(results)}
"""
