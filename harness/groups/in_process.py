"""A group's runs one after another in the process that asked for them: JOBS=0.

    make experiment NAME=adam SEEDS=3 JOBS=0       three seeds, here, no worker process
    harness.run("adam", seeds=3, jobs=0)           in a notebook's kernel: its debugger and output see each run

No worker to start (a worker's imports cost more than a short run), and the process's own builder functions, output
and debugger reach every run. Each run is isolated as in a worker (harness.groups.workers.run_request) and its report
drawn by a thread while the next one trains; what differs: a run that crashes the process (a segfault, out of
memory) ends the whole command, the runs share this process's threads rather than a share of the cores each, and
the group's page is brought up to date between runs rather than while they train.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable

from harness.errors import UserError
from harness.groups.workers import (
    ASK_AGAIN,
    PROGRESS_SECONDS,
    ReportThread,
    RunRequest,
    RunResult,
    WorkerPool,
    interrupt,
    run_request,
)
from harness.shortcuts import Reusables
from harness.surface import setting


class InProcessPool:
    """WorkerPool's `run`, with the runs made in this process, one at a time."""

    def run(
        self,
        requests: Iterable[RunRequest],
        on_finish: Callable[[RunResult, int], None],
        expected: int | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> list[RunResult]:
        """Run every request in turn; on_finish(result, done_count) as each ends, on_progress() before each (and
        every PROGRESS_SECONDS while the source says ASK_AGAIN). Ctrl-C (or SIGTERM) stops the running run as
        `interrupted`, starts no more, and raises KeyboardInterrupt."""
        from harness.training import runner

        results, reports, reusables = [], ReportThread(), Reusables()
        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            for request in requests:
                if on_progress is not None:
                    on_progress()
                if request is ASK_AGAIN:
                    time.sleep(PROGRESS_SECONDS)
                    continue
                result = run_request(request, runner, reports.started, reusables)
                reports.finished(result.run_dir)
                results.append(result)
                on_finish(result, len(results))
                if "signal" in (result.reason or {}):  # Ctrl-C or SIGTERM stopped it: start no more
                    raise KeyboardInterrupt
        finally:
            signal.signal(signal.SIGTERM, previous)
            reports.close()
        return results


def pool(jobs: int) -> WorkerPool | InProcessPool:
    """Where a group's runs are made: `jobs` worker processes, or this process for jobs=0."""
    return InProcessPool() if jobs == 0 else WorkerPool(jobs)


def check_jobs(jobs: int) -> None:
    """JOBS is a count of worker processes, or 0 for this process."""
    if jobs < 0:
        raise UserError(
            f"{setting('jobs', jobs)}: give how many runs to make at a time, at least 1 (or 0: one after another in "
            "this process)"
        )
