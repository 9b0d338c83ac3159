"""Keep TensorFlow's C++ start-up notices off the console, and let its errors through.

    python -m harness run adam_lr       prints the harness's lines and Keras's, not absl's INFO chatter

TensorFlow prints its INFO and WARNING lines ("All log messages before absl::InitializeLog() ...", the
oneDNN notice, the CPU-instructions notice, CUDA stub notices) from C++ before any setting of
TF_CPP_MIN_LOG_LEVEL is read, straight to file descriptor 2. So file descriptor 2 becomes a pipe into
a small filter process that drops exactly those lines (and the ERROR lines TensorFlow prints, harmlessly, each
time it loads an entry of the harness's XLA cache) and passes everything else on: ERROR and FATAL lines from C++,
Python's warnings and tracebacks, the harness's own messages. The filter is a process of its own, not a thread, so
that whatever a crashing run wrote last still reaches the terminal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys

# Runs with `python -S`: no site-packages, starts in milliseconds.
FILTER = r"""
import os, re, sys
glog = re.compile(rb"^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] ")
noise = (b"WARNING: All log messages before absl::InitializeLog() is called",)
continued = (b"To enable the following instructions:",)  # the second line of the CPU-instructions notice
# Loading an entry of the harness's XLA cache (harness.caches): TensorFlow tries the file as text before reading it as
# the binary it is, and names two tuning preferences of the compiler as missing CPU features (the cache's key holds
# the CPU model, so its entries were compiled for this CPU); a real missing instruction set still shows.
xla_cache = re.compile(
    rb"^E\d{4} [^]]*\] (Error parsing text-format tensorflow\.XlaSerializedCacheEntry"
    rb"|Loading XLA:CPU AOT result\. Target machine feature \+prefer-no-(scatter|gather) is not )"
)
no_gpu = not any(name.startswith("nvidia") for name in os.listdir("/dev")) if os.path.isdir("/dev") else True
dropped = False
for line in sys.stdin.buffer:
    cuda_stub = no_gpu and b"failed call to cuInit" in line
    drop = bool(glog.match(line) or xla_cache.match(line)) or line.startswith(noise) or cuda_stub
    drop = drop or (dropped and line.startswith(continued))
    if not drop:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
    dropped = drop
"""


FILTERED = "HARNESS_NATIVE_LOGS_FILTERED"  # the pipe into FILTER (device:inode), once a process's fd 2 is it


def _descriptor_2() -> str:
    try:
        stat = os.fstat(2)
    except OSError:
        return ""
    return f"{stat.st_dev}:{stat.st_ino}"


def filter_native_logs() -> None:
    """From now on, route file descriptor 2 of this process (and its children) through FILTER; once only: a child
    that inherited its parent's filtered descriptor keeps it (one given another standard error filters its own)."""
    if os.environ.get("HARNESS_NATIVE_LOGS") == "all":  # all: debugging TensorFlow
        return
    if os.environ.get(FILTERED) and os.environ[FILTERED] == _descriptor_2():
        return
    sys.stderr.flush()
    original = os.dup(2)
    try:
        # A session of its own: Ctrl-C stops the run, while the filter passes on its last words.
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", FILTER],
            stdin=subprocess.PIPE,
            stdout=original,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        os.close(original)
        return
    os.dup2(process.stdin.fileno(), 2)
    process.stdin.close()
    os.environ[FILTERED] = _descriptor_2()
    atexit.register(_restore, original, process)


def _restore(original: int, process: subprocess.Popen) -> None:
    """Give file descriptor 2 back and let the filter write what it still holds before the shell prompt."""
    sys.stderr.flush()
    os.dup2(original, 2)
    # A child that outlives us still holds the pipe; the filter then ends with it.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=2)
