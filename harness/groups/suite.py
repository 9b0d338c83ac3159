"""Every experiment (or those named) in warm worker processes: what `make all` runs.

    make all [JOBS=2] [FORCE=1] [EPOCHS=3 DATASET=digits SET="..."]    python -m harness all [NAME ...]

Every config is resolved before anything trains, so a bad file or override is one line and no run. An
experiment with a finished run of the same fingerprint (config, code, data) is skipped unless FORCE=1.
A run that fails does not stop the others; the command exits 1 if any did not finish.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.config.experiments import resolve
from harness.groups.in_process import check_jobs, pool
from harness.groups.workers import RunRequest, RunResult
from harness.records import RunDir, reason_text, scores_text
from harness.training.fingerprint import finished_run_like


def run_all(
    names: list[str],
    experiments_dir: Path,
    reports_dir: Path,
    jobs: int,
    skip_done: bool,
    overrides: list[str] = (),
    dataset: str | None = None,
    epochs: int | None = None,
) -> int:
    check_jobs(jobs)
    configs = [resolve(name, experiments_dir, list(overrides), dataset, epochs) for name in names]
    command = (Path(sys.executable).name, "-m", "harness", *sys.argv[1:])
    requests = []
    for config in configs:
        done = finished_run_like(config, reports_dir) if skip_done else None
        if done:
            print(f"{config.name}: up to date, finished run {done} has the same config, code and data (FORCE=1 reruns)")
            continue
        # One worker: its runs print to the terminal. Several: each run's output goes to a log of its own.
        log = reports_dir / "logs" / f"{config.name}.log" if jobs > 1 else None
        folders = {"log": log, "experiments_dir": experiments_dir}
        requests.append(RunRequest(config.name, config.to_dict(), reports_dir, command=command, **folders))
    results = pool(jobs).run(requests, _progress(len(requests))) if requests else []
    from harness.reporting.index import write_index

    if reports_dir.is_dir():
        print(f"index: {write_index(reports_dir)}")
    unfinished = [result for result in results if result.status != "finished"]
    return 1 if unfinished else 0


def _progress(total: int):
    def report(result: RunResult, done: int) -> None:
        outcome = result.status
        if result.status == "finished":
            outcome += f", {scores_text(RunDir(result.run_dir).metrics())}"
        else:
            where = f"; log: {result.request.log}" if result.request.log else ""
            outcome += f" ({reason_text(result.reason)}){where}"
        where = f"\n  {result.run_dir}" if result.run_dir else ""
        print(f"[{done}/{total}] {result.request.label}: {outcome}{where}", flush=True)

    return report
