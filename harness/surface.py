"""Which surface a user is on, the command line or Python, and the words each uses for an option: `SEEDS=5` on the
command line, `seeds=5` in Python.

    raise UserError(f"{setting('seeds', text)}: give a count ...")   # "SEEDS=abc: ..." or "seeds='abc': ..."

The command line says so (harness.cli.main runs its commands inside `command_line()`); anywhere else, the API's
words are used and the lines meant for a terminal (how many worker processes, ...) are left out.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar

_COMMAND_LINE = ContextVar("command_line", default=False)


@contextmanager
def command_line():
    """Within the block, messages name options as make's variables (SEEDS=5), not as the API's arguments."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def on_command_line() -> bool:
    return _COMMAND_LINE.get()


def option(name: str) -> str:
    """An option's name: SEEDS on the command line, seeds in Python."""
    return name.upper() if _COMMAND_LINE.get() else name


def setting(name: str, value, example: bool = False) -> str:
    """An option with a value: SEEDS=5 or seeds=5; a value the user gave is shown as Python writes it (seeds='x'),
    an example (N, "3 7 11") as it is."""
    if _COMMAND_LINE.get():
        return f"{name.upper()}={value}"
    return f"{name}={value if example or not isinstance(value, str) else repr(value)}"


def warn(message: str) -> None:
    """One line on standard error, on either surface: something valid that will not do what it seems to."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
