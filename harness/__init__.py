"""A Keras experiment harness: experiments as files, runs by name, reports to compare.

python -m harness run adam_lr      (or: make experiment NAME=adam_lr)

From Python (a notebook): harness.run, harness.sweep, harness.finalize, harness.load, harness.runs, harness.compare,
harness.table, harness.prune and harness.disk_usage (harness/api.py, docs/python-api.md); bad input raises
harness.UserError, a ValueError.
"""

import warnings as _warnings

from harness.caches import enable_compile_caches as _enable_compile_caches
from harness.errors import UserError

_enable_compile_caches()  # before TensorFlow or JAX loads: XLA's compiled steps are kept across runs and commands

# In Jupyter, Optuna's import of tqdm.auto warns that ipywidgets is missing: the harness draws no progress bars.
_warnings.filterwarnings("ignore", message="IProgress not found")

API = (
    "run",
    "sweep",
    "join_sweep",
    "finalize",
    "load",
    "runs",
    "compare",
    "table",
    "prune",
    "disk_usage",
    "Run",
    "Group",
    "Comparison",
)
__all__ = [*API, "UserError"]


def __getattr__(name: str):
    """The API on first use, so that `python -m harness` does not import pandas and Keras before it must."""
    if name in API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What completion offers: the API, though it is imported only when first used."""
    return sorted(__all__)
