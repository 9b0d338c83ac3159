"""Every shortcut the harness takes, each with what it is keyed on, and the state a process's runs may reuse.

The rule: a result is reused only when everything that can change it is part of its key; anything else does the
work again. tests/test_shortcuts.py changes each part of each key and sees the work done again (each entry below
names its test, and a test fails if one is missing).

What runs may reuse in one process is not kept in module globals: it is a `Reusables` object that its owner makes and
passes down (a worker keeps one for its life, `python -m harness run` and each `harness.run` call make a fresh one),
so a reader sees what a run may reuse and a test can hand a run a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Shortcut:
    name: str
    where: str  # the module that takes it
    keeps: str  # what is reused
    key: str  # everything it is keyed on: a change of any part does the work again
    test: str  # the test in tests/test_shortcuts.py that changes each part


SHORTCUTS = (
    Shortcut(
        "kept model",
        "harness.training.reuse",
        "a worker's last compiled model: the next run with the same model trains it with its own starting state",
        "what the fresh model is: its architecture and every layer's config and dtype, the source of any class of "
        "your own in it, the optimizer's config (the learning rate, a variable the steps read, is copied with the "
        "weights), loss and compile settings, batch size, data path, the data's shapes and dtype, the backend",
        "test_an_edited_builder_trains_the_fresh_model",
    ),
    Shortcut(
        "finished run (make all, --skip-done)",
        "harness.training.fingerprint",
        "a finished run with the same fingerprint: the experiment is not run again",
        "the resolved config, the harness's and models' source files, the source of the module that defines the "
        "builder (a notebook's builder: its own source, else never skipped), the backend and the versions of the "
        "libraries that compute, the data's identity",
        "test_make_all_runs_again_after_any_change_of_what_it_is_keyed_on",
    ),
    Shortcut(
        "decoded dataset on disk",
        "harness.data.cache",
        "a source's decoded arrays, memory-mapped from the harness's cache folder",
        "the cache's format, the source's identity (published digests, or your files' content), the settings that "
        "decide its examples, each source file's path, size and modification time; read only if its digest matches",
        "test_the_decoded_cache_is_decoded_again_when_its_source_changes",
    ),
    Shortcut(
        "decoded dataset in memory",
        "harness.data.cache (Reusables.decoded)",
        "the arrays read from the disk cache, for the process's next run",
        "the same key as the disk cache",
        "test_the_decoded_cache_is_decoded_again_when_its_source_changes",
    ),
    Shortcut(
        "prepared dataset",
        "harness.data.datasets (Reusables.prepared)",
        "a worker's last split and scaled dataset",
        "every dataset setting and the decoded arrays it was prepared from",
        "test_the_prepared_dataset_is_prepared_again_when_a_setting_or_its_source_changes",
    ),
    Shortcut(
        "compiled steps (XLA, JAX)",
        "harness.caches",
        "executables XLA and JAX compiled, on disk",
        "the versions of TensorFlow, Keras, JAX and jaxlib and the CPU model; within, XLA's and JAX's own key, the "
        "computation itself",
        "test_the_compile_cache_is_keyed_on_the_libraries_and_the_cpu",
    ),
    Shortcut(
        "index rows",
        "harness.reporting.index",
        "each run's row of reports/index.html from the last refresh",
        "the size and modification time of the run's status, metrics and notes files (every write the harness "
        "makes to a run changes one); a running run is read every time",
        "test_an_index_row_is_read_again_when_its_run_changes",
    ),
    Shortcut(
        "a builder's schema",
        "harness.config.model_section",
        "the parameters a builder function takes, read from its signature",
        "the function and its code, defaults and annotations (an edited builder in a notebook is read again)",
        "test_an_edited_builders_parameters_are_read_again",
    ),
)


@dataclass
class Kept:
    """One kept value and the key it was made for."""

    key: Any = None
    value: Any = None

    def get(self, key) -> Any:
        """The value, if it was made for `key` (None never matches)."""
        return self.value if key is not None and self.key == key else None

    def put(self, key, value) -> Any:
        self.key, self.value = key, value
        return value

    def clear(self) -> None:
        self.key = self.value = None


@dataclass
class Reusables:
    """What a run may reuse from the runs before it in the same process (see SHORTCUTS for each key)."""

    decoded: dict = field(default_factory=dict)  # cache key -> a source's decoded arrays (harness.data.cache)
    prepared: Kept = field(default_factory=Kept)  # the last prepared dataset (harness.data.datasets)
    model: Kept = field(default_factory=Kept)  # the last compiled model (harness.training.reuse)
