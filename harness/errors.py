"""The one exception a user can cause; the command line prints it as one line and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(ValueError):
    """Bad input from the user: an unknown name, an invalid config, a missing dataset file."""

    def _render_traceback_(self) -> list[str]:
        """In IPython and Jupyter, the one line the command line would print, not a traceback."""
        return [f"UserError: {self}"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists (or the word is a choice's initials: lr for learning_rate,
    bs for batch_size), else ''."""
    choices = [str(choice) for choice in choices]
    initials = [
        choice for choice in choices if "_" in choice and "".join(part[:1] for part in choice.split("_")) == word
    ]
    matches = initials or difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
