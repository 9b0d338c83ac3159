"""A Keras experiment harness: experiments as files, runs by name, reports to compare.

python -m harness run adam_lr      (or: make experiment NAME=adam_lr)

From Python (a notebook): harness.run, harness.sweep, harness.load, harness.runs and harness.compare
(harness/api.py, the README's "Python API"); bad input raises harness.UserError, a ValueError.
"""

from harness.errors import UserError

API = ("run", "sweep", "load", "runs", "compare", "Run", "Group", "Comparison")
__all__ = [*API, "UserError"]


def __getattr__(name: str):
    """The API on first use, so that `python -m harness` does not import pandas and Keras before it must."""
    if name in API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
