"""Options named in the words of the surface a user typed them on: `SEEDS=5` on the command line, `seeds=5` in Python.

    raise UserError(f"{setting('seeds', text)}: give a count ...")   # "SEEDS=abc: ..." or "seeds='abc': ..."

The command line says it speaks in make's words (harness.cli.main); anywhere else, the API's words are used.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

_COMMAND_LINE = ContextVar("command_line", default=False)


@contextmanager
def command_line_words():
    """Within the block, messages name options as make's variables (SEEDS=5), not as the API's arguments."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def option(name: str) -> str:
    """An option's name: SEEDS on the command line, seeds in Python."""
    return name.upper() if _COMMAND_LINE.get() else name


def setting(name: str, value, example: bool = False) -> str:
    """An option with a value: SEEDS=5 or seeds=5; a value the user gave is shown as Python writes it (seeds='x'),
    an example (N, "3 7 11") as it is."""
    if _COMMAND_LINE.get():
        return f"{name.upper()}={value}"
    return f"{name}={value if example or not isinstance(value, str) else repr(value)}"
