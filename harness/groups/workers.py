"""Long-lived worker processes that run run after run, so that a group pays for its imports once.

    make all [JOBS=2]                          every experiment, in JOBS workers
    make experiment NAME=adam SEEDS=5 JOBS=2   five seeds, in two workers

Starting Python, importing TensorFlow, Keras and the plotting libraries and loading a dataset cost about
four seconds, more than training one reference experiment. A worker pays that once and then runs the runs it
is given one at a time, each isolated as a run made alone would be: a fresh Keras session, its own seeds
(harness.training.train.seed_everything), its own dtype policy and op-determinism setting. In deterministic mode
a run's history and predictions equal those of the same run made alone, bit for bit (tests check it).

Each worker has its own share of the cores (harness.groups.parallel), set before TensorFlow loads. A run's report
is drawn by a thread of its worker while the worker's next run trains. A worker that dies (a segfault,
out of memory, SIGKILL) costs only its current run, which is marked `interrupted`; a new worker takes
the remaining runs. Ctrl-C or SIGTERM stops the running runs as `interrupted` and starts no more.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from harness.errors import UserError
from harness.groups.parallel import core_slots, thread_environment
from harness.native_logs import filter_native_logs
from harness.process_exit import exit_now
from harness.records import EXIT_CODES, RunDir, reason
from harness.shortcuts import Reusables

STOP_WAIT_SECONDS = 120  # for running runs to end after Ctrl-C
PROGRESS_SECONDS = 2.0  # how often a pool with on_progress calls it while its runs train
ASK_AGAIN = "ask again"  # what a source of requests yields when it has none yet but may have soon


@dataclass
class RunRequest:
    label: str  # how progress lines and results name the run
    config: dict  # the resolved config (ExperimentConfig.to_dict())
    reports_dir: Path
    run_dir: Path | None = None  # a group's member directory; None: a new run under reports/<name>/
    log: Path | None = None  # where the run's console output goes; None: the worker's own output
    command: tuple[str, ...] = ()  # the command line that asked for the run, for env.json
    trial: dict | None = None  # its sweep's trial (harness.groups.study.trial_reference), to report epochs to
    note: str | None = None  # the user's note and tags for the run
    tags: tuple[str, ...] = ()
    experiments_dir: Path | None = None  # where its experiment file is (env.json records its commit)


@dataclass
class RunResult:
    request: RunRequest
    status: str
    run_dir: Path | None
    reason: dict | None = None
    lost: bool = False  # its worker process died under it (not the run's own doing)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)


# ---------------------------------------------------------------- the worker process


def serve(connection: Connection, cores: set[int]) -> None:
    """A worker's life: limit its threads and cores, import the frameworks once, say it is ready, run requests
    until told to stop."""
    os.setsid()  # Ctrl-C in the terminal reaches the pool, which stops each running run once
    os.environ.update(thread_environment(len(cores)))  # before TensorFlow loads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_native_logs()  # TensorFlow's C++ start-up notices, which a notebook would show
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    from harness.training import runner

    # Every run builds its own model, so TensorFlow's warning that functions are traced again is expected here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    connection.send(("ready", None))

    reports = ReportThread()
    reusables = Reusables()  # what this worker's runs may reuse from each other (harness.shortcuts)

    def started(run_dir: Path) -> None:
        reports.started(run_dir)
        connection.send(("started", run_dir))

    try:
        while True:
            if reports.waiting and not connection.poll(NEXT_RUN_WAIT_SECONDS):
                reports.write_waiting()  # no run follows at once: the last report now
            if (request := _next_request(connection)) is None:
                break
            result = run_request(request, runner, started, reusables)
            reports.finished(result.run_dir)
            connection.send(("finished", result))
    finally:
        reports.close()  # every report written before the pool goes on to the group's page
    exit_now(0)  # the pool waits for its workers to end; Python's teardown would add most of a second


NEXT_RUN_WAIT_SECONDS = 0.5


class ReportThread:
    """A worker's reports, drawn in a thread of their own. A finished run's report waits until the next run has
    started training, so that the next run's setup has the core to itself and the report is drawn while its
    compiled epochs run (about 0.1 s of every gap between runs), or until no run follows at once."""

    def __init__(self):
        from harness.reporting.report import warm_up

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
        self.pool.submit(warm_up)
        self.waiting: Path | None = None

    def started(self, run_dir: Path) -> None:
        from harness.reporting.report import write_running_page_safely

        self.write_waiting()
        self.pool.submit(write_running_page_safely, run_dir, index=False)  # the page that follows it while it trains

    def finished(self, run_dir: Path | None) -> None:
        self.write_waiting()
        self.waiting = run_dir

    def write_waiting(self) -> None:
        from harness.reporting.report import write_report_safely

        if self.waiting is not None:
            self.pool.submit(write_report_safely, self.waiting, index=False)
            self.waiting = None

    def close(self) -> None:
        self.write_waiting()
        self.pool.shutdown(wait=True)


def _next_request(connection: Connection) -> RunRequest | None:
    try:
        return connection.recv()
    except (EOFError, KeyboardInterrupt):
        return None


def run_request(request: RunRequest, runner, on_start: Callable[[Path], None], reusables: Reusables) -> RunResult:
    """One run, isolated from the runs before it; an exception fails the run, not the worker (or the process that
    runs it: harness.groups.in_process)."""
    from harness.config.schema import ExperimentConfig
    from harness.groups.study import epoch_judge
    from harness.training.isolation import isolated_run

    run_dir = None

    def started(path: Path) -> None:
        nonlocal run_dir
        run_dir = path
        on_start(path)

    with isolated_run(), output_to(request.log):
        try:
            config = ExperimentConfig.model_validate(request.config)
            judge = epoch_judge(request.trial) if request.trial else None
            outcome = runner.run_experiment(
                config,
                request.reports_dir,
                run_dir=request.run_dir,
                on_start=started,
                command=list(request.command),
                epoch_judge=judge,
                note=request.note,
                tags=request.tags,
                reusables=reusables,
                experiments_dir=request.experiments_dir,
            )
            return RunResult(request, outcome.status, outcome.run_dir, outcome.reason)
        except Exception as error:  # noqa: BLE001 - reported as the run's failure, with its traceback in the log
            traceback.print_exc()
            return RunResult(
                request, "failed", run_dir, reason("error", error=f"{type(error).__name__}: {error}".splitlines()[0])
            )


@contextmanager
def output_to(log: Path | None) -> Iterator[None]:
    """Send this process's standard output and error to `log` for a while: file descriptors 1 and 2 (what native
    code writes), and sys.stdout and sys.stderr (in a notebook or under a test's capture, not those descriptors), a line
    at a time so that the log can be followed while the run trains."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8", buffering=1) as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            with contextlib.redirect_stdout(file), contextlib.redirect_stderr(file):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# ---------------------------------------------------------------- the pool, in the process that asked


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: Connection
    cores: set[int]
    request: RunRequest | None = None
    run_dir: Path | None = None
    ready: bool = False  # its imports are done: a death after this is its run's, not the worker's start-up


class WorkerPool:
    """`jobs` workers, each on its own cores; `run` hands them requests and reports each result as it comes."""

    def __init__(self, jobs: int):
        self.context = multiprocessing.get_context("spawn")  # a clean interpreter, nothing inherited but files
        self.slots = core_slots(jobs)
        self.workers: list[_Worker] = []

    def _start(self, cores: set[int]) -> _Worker:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(target=serve, args=(theirs, cores), name="harness-worker")
        with _main_module_hidden():
            process.start()
        theirs.close()
        return _Worker(process, mine, cores)

    def run(
        self,
        requests: Iterable[RunRequest],
        on_finish: Callable[[RunResult, int], None],
        expected: int | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> list[RunResult]:
        """Run every request; on_finish(result, done_count) as each ends. `requests` is taken one at a time as a
        worker frees up (a generator may decide the next run from the results so far); `expected`, how many
        there will be when it is not a list; ASK_AGAIN from it means none yet: it is asked again after
        PROGRESS_SECONDS. on_progress() is called once the runs are handed out and every PROGRESS_SECONDS while
        they train. Ctrl-C (or SIGTERM to this process) interrupts the running runs,
        starts no more, and raises KeyboardInterrupt once they have stopped."""
        expected = len(requests) if isinstance(requests, list) else expected
        waiting, results = iter(requests), []

        def done(result: RunResult) -> None:
            results.append(result)
            on_finish(result, len(results))

        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            count = len(self.slots) if expected is None else max(1, min(len(self.slots), expected))
            self.workers = [self._start(cores) for cores in self.slots[:count]]
            more = True
            while more or any(worker.request for worker in self.workers):
                more, later = self._hand_out(waiting)
                if on_progress is not None:
                    on_progress()
                if any(worker.request for worker in self.workers):
                    self._collect(done, timeout=PROGRESS_SECONDS if on_progress is not None or later else None)
                elif later:
                    time.sleep(PROGRESS_SECONDS)
        except KeyboardInterrupt:
            self._stop_running(done)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()
        return results

    def _hand_out(self, waiting: Iterator[RunRequest]) -> tuple[bool, bool]:
        """Give each free worker the next request. Returns whether more may come, and whether the source said
        ASK_AGAIN (none yet)."""
        for worker in self.workers:
            if worker.request is None:
                request = next(waiting, None)
                if request is None or request is ASK_AGAIN:
                    return request is not None, request is ASK_AGAIN
                worker.request, worker.run_dir = request, None
                worker.connection.send(worker.request)
        return True, False

    def _collect(self, done: Callable[[RunResult], None], timeout: float | None = None) -> None:
        """Wait for a message or a dead worker; replace a dead worker with a new one on the same cores."""
        busy = [worker for worker in self.workers if worker.request is not None]
        ready = wait([worker.connection for worker in busy] + [worker.process.sentinel for worker in busy], timeout)
        for worker in busy:
            if worker.connection in ready and worker.connection.poll():
                try:
                    kind, value = worker.connection.recv()
                except (EOFError, OSError):
                    kind, value = "died", None
                if kind == "ready":
                    worker.ready = True
                    continue
                if kind == "started":
                    worker.run_dir = value
                    continue
                if kind == "finished":
                    worker.request = None
                    done(value)
                    continue
            if worker.process.sentinel in ready and not worker.process.is_alive():
                done(self._worker_died(worker))

    def _worker_died(self, worker: _Worker) -> RunResult:
        worker.process.join()
        code = worker.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"
        if not worker.ready:  # nothing of a run's doing: the next worker would fail the same way
            raise UserError(
                f"a worker process failed while starting ({how}), before any run began; its error is printed above"
            )
        why = reason("worker_died", how=how)
        request, run_dir = worker.request, worker.run_dir or (worker.request.run_dir if worker.request else None)
        if run_dir is not None and run_dir.is_dir():
            RunDir(run_dir).mark_interrupted(why)
        index = self.workers.index(worker)
        worker.connection.close()
        self.workers[index] = self._start(worker.cores)
        return RunResult(request, "interrupted" if run_dir and run_dir.is_dir() else "failed", run_dir, why, lost=True)

    def _stop_running(self, done: Callable[[RunResult], None]) -> None:
        for worker in self.workers:
            if worker.request is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGINT)
        deadline = STOP_WAIT_SECONDS
        while any(worker.request for worker in self.workers) and deadline > 0:
            self._collect(done, timeout=1.0)
            deadline -= 1

    def close(self) -> None:
        """Tell every worker to stop once its reports are written, and wait for it."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):  # a worker that died has nothing to stop
                worker.connection.send(None)
        for worker in self.workers:
            worker.process.join(timeout=STOP_WAIT_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
            worker.connection.close()
        self.workers = []


def interrupt(number, frame):
    raise KeyboardInterrupt


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without it importing the main module of this process. Spawning re-imports `__main__` in
    the child, so a script that calls harness.run(..., seeds=3) without `if __name__ == "__main__":` would run
    itself again in every worker; a worker needs nothing from it (its work arrives through the pipe)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
