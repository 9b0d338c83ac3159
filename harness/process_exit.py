"""End a process that has loaded TensorFlow without Python's teardown of every module.

After a run, the interpreter's own shutdown (freeing every module and object of TensorFlow and Keras) takes a
large share of a short command's time (the README's Speed section), and it does nothing for the run: every file
the harness writes is complete and closed by then. `exit_now` runs the exit handlers (atexit: the console
filter's, logging's, thread pools') and flushes the standard streams as a normal exit would, then ends the
process at once.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    atexit._run_exitfuncs()  # what Python runs at exit before it frees the modules
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head) or a closed stream
            stream.flush()
    os._exit(code)
