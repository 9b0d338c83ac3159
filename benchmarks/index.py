"""How the index scales: refreshing reports/index.html after one run, with thousands of runs in reports/.

    make bench-index [RUNS=10000]      (python -m benchmarks index [--runs N] [--repeats 5])

Makes one real run on digits, copies its record files (config, status, metrics, history, environment) into
RUNS run directories in a temporary reports folder (half of them members of sweep groups, across the reference
experiments' names, each with its own test accuracy), and times write_index, the call that follows every run:
the first build, a refresh with nothing changed, with one new run, one changed run and one vanished run (median
of the repeats each). Then the whole `python -m harness report --index-only` command, and, where Chromium is
installed, how long index.html takes to open and to filter. Writes ``reports/bench/index-<time>/bench_index.json``
and ``bench_index.md``.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks.suite import REFERENCE_EXPERIMENTS
from harness.atomic import write_json, write_text
from harness.config.experiments import resolve
from harness.records import GroupDir, RunDir, new_run_dir
from harness.reporting.index import DATA_FILE, write_index

RECORD_FILES = (RunDir.CONFIG, RunDir.STATUS, RunDir.METRICS, RunDir.HISTORY, RunDir.ENVIRONMENT)
GROUP_SIZE = 250


def template_run(experiments_dir: Path, folder: Path) -> Path:
    """A real run to copy: adam on digits, one epoch, no report."""
    from harness.training.runner import run_experiment

    config = resolve("adam", experiments_dir, dataset="digits", epochs=1)
    return run_experiment(config, folder, reporter=None).run_dir


def copy_run(template: Path, run_dir: Path, accuracy: float) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (template / name).is_file():
            shutil.copyfile(template / name, run_dir / name)
    RunDir(run_dir).write_metrics(RunDir(template).metrics() | {"test_accuracy": accuracy})


def make_runs(template: Path, reports: Path, count: int, rng: random.Random) -> list[Path]:
    """`count` run directories: half on their own, half in sweep groups of GROUP_SIZE."""
    start = datetime(2026, 1, 1)
    runs = []
    for number in range(count):
        experiment = REFERENCE_EXPERIMENTS[number % len(REFERENCE_EXPERIMENTS)]
        stamp = start + timedelta(minutes=number)
        if number % 2:
            run_dir = reports / experiment / f"{stamp:%Y%m%d-%H%M%S}-{number % 65536:04x}"
        else:
            group = reports / experiment / f"sweep-{start + timedelta(days=number // GROUP_SIZE):%Y%m%d-%H%M%S}-0000"
            if not GroupDir(group).is_group():
                group.mkdir(parents=True, exist_ok=True)
                GroupDir(group).write_record({"kind": "sweep", "members": []})
            run_dir = group / f"point-{number:05d}-seed-0"
        copy_run(template, run_dir, round(rng.uniform(0.8, 0.95), 4))
        runs.append(run_dir)
    return runs


def median_seconds(action, repeats: int) -> float:
    """Median wall time of `action()` followed by write_index; action prepares the change being measured."""
    times = []
    for _ in range(repeats):
        reports = action()
        started = time.perf_counter()
        write_index(reports)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def command_seconds(reports: Path, repeats: int) -> float:
    command = [sys.executable, "-m", "harness", "report", "--index-only", "--reports-dir", str(reports)]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def browser_seconds(index: Path) -> dict | None:
    """Open index.html in headless Chromium: seconds until its rows show, and to filter them by one word."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return None
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        started = time.perf_counter()
        driver.get(index.as_uri())
        shown = len(driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr"))
        opened = time.perf_counter() - started
        started = time.perf_counter()
        driver.execute_script(
            "var box = document.getElementById('filter'); box.value = 'diverged';box.dispatchEvent(new Event('input'));"
        )
        filtered = time.perf_counter() - started
    finally:
        driver.quit()
    return {"open_seconds": round(opened, 3), "rows_drawn": shown, "filter_seconds": round(filtered, 3)}


def refresh_timings(template: Path, reports: Path, runs: list[Path], repeats: int) -> dict:
    """The median time of a refresh after each kind of change: none, one new run, one changed, one vanished."""

    def unchanged() -> Path:
        return reports

    def one_new() -> Path:
        copy_run(template, new_run_dir(reports, "adam"), 0.9)
        return reports

    def one_changed() -> Path:  # as a resumed run rewrites its metrics
        RunDir(runs[-1]).write_metrics(RunDir(template).metrics() | {"test_accuracy": 0.91})
        return reports

    def one_vanished() -> Path:
        shutil.rmtree(runs.pop(0))
        return reports

    actions = {
        "unchanged": unchanged,
        "one_new_run": one_new,
        "one_changed_run": one_changed,
        "one_vanished_run": one_vanished,
    }
    return {f"refresh_{name}_seconds": median_seconds(action, repeats) for name, action in actions.items()}


def run_bench_index(experiments_dir: Path, reports_dir: Path, count: int, repeats: int = 5) -> Path:
    with tempfile.TemporaryDirectory(prefix="bench-index-") as scratch:
        scratch = Path(scratch)
        template = template_run(experiments_dir, scratch / "template")
        reports = scratch / "reports"
        print(f"making {count} run directories", flush=True)
        runs = make_runs(template, reports, count, random.Random(0))
        started = time.perf_counter()
        write_index(reports)
        results = {"runs": count, "repeats": repeats, "first_build_seconds": round(time.perf_counter() - started, 3)}
        results |= refresh_timings(template, reports, runs, repeats)
        results["report_index_only_command_seconds"] = command_seconds(reports, 3)
        results["index_html_mb"] = round((reports / "index.html").stat().st_size / 1e6, 2)
        results["index_data_js_mb"] = round((reports / DATA_FILE).stat().st_size / 1e6, 2)
        results["browser"] = browser_seconds(reports / "index.html")
    out = reports_dir / "bench" / f"index-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench_index.json", results)
    write_text(out / "bench_index.md", summary(results))
    return out


def summary(results: dict) -> str:
    lines = [f"index refresh with {results['runs']} runs (median of {results['repeats']}):", ""]
    for key, value in results.items():
        if key.endswith("_seconds") or key.endswith("_mb"):
            lines.append(f"  {key.replace('_', ' ')}: {value}")
    browser = results["browser"]
    if browser:
        lines.append(
            f"  browser: opens in {browser['open_seconds']} s with {browser['rows_drawn']} rows drawn, "
            f"filters in {browser['filter_seconds']} s"
        )
    else:
        lines.append("  browser: not measured (apt-get install chromium chromium-driver)")
    return "\n".join(lines) + "\n"
