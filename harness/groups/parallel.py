"""Shares of the CPU for runs side by side: disjoint cores and thread limits to match.

    make experiment NAME=adam SEEDS=4 JOBS=2     two workers, each with half of the cores
    make -j 2 all                                 the same, taken from make's -j

Two processes that each start one thread per core fight over the cores and both slow down; a share
of cores each keeps the total at one thread per core. Workers (harness.groups.workers) are also pinned to their
own cores (JAX's XLA ignores the thread settings, but not the affinity mask).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import UserError


def usable_cores() -> list[int]:
    """Cores this process may use (the affinity mask, as in a container), not the machine's total."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def cpu_count() -> int:
    return len(usable_cores())


def core_slots(parallel: int) -> list[set[int]]:
    """`parallel` disjoint sets of cores (shared round-robin when there are fewer cores than jobs)."""
    cores = usable_cores()
    if len(cores) < parallel:
        return [{cores[slot % len(cores)]} for slot in range(parallel)]
    share = len(cores) // parallel
    return [set(cores[slot * share : (slot + 1) * share]) for slot in range(parallel)]


def thread_share(jobs: int) -> int:
    return max(1, cpu_count() // jobs)


def make_jobs(makeflags: str | None = None) -> int:
    """N of `make -j N` from MAKEFLAGS (one job when make runs serially; every core for a bare -j)."""
    flags = os.environ.get("MAKEFLAGS", "") if makeflags is None else makeflags
    match = re.search(r"(?:^|\s)-\w*j(\d*)", flags)
    if not match:
        return 1
    return int(match.group(1)) if match.group(1) else cpu_count()


MAX_DEFAULT_WORKERS = 4  # each worker holds its own frameworks and data: about 1 GB


def default_workers() -> int:
    """Workers for `make all` when JOBS is not given: N of make -j N; else one per core (up to four), since
    small models train faster as runs side by side on a core each than one at a time on all cores
    (the README's Speed section); one where there is a GPU, which each TensorFlow process would claim whole."""
    if make_jobs() > 1:
        return make_jobs()
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return 1
    return min(cpu_count(), MAX_DEFAULT_WORKERS)


def parse_threads(text: str) -> int:
    """--threads N, or 'make': the share of the cores for one job of `make -j N`."""
    if text == "make":
        return thread_share(make_jobs())
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--threads {text!r}: give a number of threads of at least 1, or 'make'")
    return int(text)


def thread_environment(threads: int) -> dict[str, str]:
    """Environment that limits TensorFlow, JAX (XLA) and the BLAS/OpenMP libraries to `threads` threads.

    It must be in place before those libraries load, which is why runs get it as a process each.
    """
    count = str(threads)
    xla = os.environ.get("XLA_FLAGS", "")
    xla_threads = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    return {
        "TF_NUM_INTRAOP_THREADS": count,
        "TF_NUM_INTEROP_THREADS": count,
        "OMP_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "XLA_FLAGS": f"{xla} {xla_threads} intra_op_parallelism_threads={count}".strip(),
    }
