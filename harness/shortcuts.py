"""Every shortcut the harness takes, each with what it is keyed on, and the state a process's runs may reuse.

The rule: a result is reused only when everything that can change it is part of its key; anything else does the
work again. For each entry below, the test it names changes each part of its key and sees the work done again
(tests/test_shortcuts.py fails if a named test is missing). docs/reliability.md shows this table.

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
    test: str  # the test that changes each part of the key: "tests/<file>.py::<test>"


SHORTCUTS = (
    Shortcut(
        "kept model",
        "harness.training.reuse",
        "a worker's last compiled model: the next run with the same model trains it with its own starting state",
        "what the fresh model is: its architecture and every layer's config and dtype, the source of any class of "
        "your own in it, the optimizer's config (the learning rate, a variable the steps read, is copied with the "
        "weights), loss and compile settings, batch size, data path, the data's shapes and dtype, the backend",
        "tests/test_shortcuts.py::test_an_edited_builder_trains_the_fresh_model",
    ),
    Shortcut(
        "finished run (make all, --skip-done)",
        "harness.training.fingerprint",
        "a finished run with the same fingerprint: the experiment is not run again",
        "the resolved config, the harness's and models' source files, the source of the module that defines the "
        "builder (a notebook's builder: its own source, else never skipped), the backend and the versions of the "
        "libraries that compute, the data's identity",
        "tests/test_shortcuts.py::test_make_all_runs_again_after_any_change_of_what_it_is_keyed_on",
    ),
    Shortcut(
        "decoded dataset",
        "harness.data.cache",
        "a built-in source's decoded arrays, mapped from the harness's cache folder",
        "the cache's format, the source's identity (its published digests), the settings that decide its examples, "
        "each source file's path, size and modification time; its files' SHA-256 checked before a run's results count",
        "tests/test_workers.py::test_a_damaged_dataset_cache_is_rebuilt_not_trusted",
    ),
    Shortcut(
        "decoded image folder",
        "harness.data.images",
        "a folder's decoded pixels, and each file's row in them",
        "the folder's path and image_size; within, each file's path, size and modification time (its SHA-256, "
        "hashed once, for the fingerprint): a changed, added or removed file is decoded or dropped alone",
        "tests/test_data_at_size.py::test_a_changed_added_or_removed_file_is_found_and_only_its_work_is_done",
    ),
    Shortcut(
        "encoded table",
        "harness.data.tables",
        "a table file's columns, and its encoded splits",
        "the columns: the file's path, size and modification time; the encoded splits: those columns (and a test "
        "file's) and every dataset setting (target, test set, split seed and sizes)",
        "tests/test_data_at_size.py::test_a_table_is_encoded_once_per_file_and_settings_and_read_back_from_the_cache",
    ),
    Shortcut(
        "dataset in memory",
        "harness.data.cache (Reusables.decoded)",
        "the entries read from the cache, for the process's next run",
        "the same keys as the cache's entries; an image folder is listed again at every run",
        "tests/test_shortcuts.py::test_the_decoded_cache_is_decoded_again_when_its_source_changes",
    ),
    Shortcut(
        "prepared dataset",
        "harness.data.datasets (Reusables.prepared)",
        "a worker's last split dataset",
        "every dataset setting and the decoded arrays it was split from",
        "tests/test_shortcuts.py::test_the_prepared_dataset_is_prepared_again_when_a_setting_or_its_source_changes",
    ),
    Shortcut(
        "a folder's identity",
        "harness.data.images",
        "an image folder's SHA-256 (of each file's path and SHA-256), for the fingerprint, kept in its cache entry",
        "the folder's listing: each file's path, class, size and modification time",
        "tests/test_shortcuts.py::test_the_decoded_cache_is_decoded_again_when_its_source_changes",
    ),
    Shortcut(
        "a file's digest",
        "harness.data.identity",
        "the SHA-256 of a table or .npz file, for the fingerprint",
        "the file's path, size and modification time",
        "tests/test_shortcuts.py::test_make_all_runs_again_after_any_change_of_what_it_is_keyed_on",
    ),
    Shortcut(
        "compiled steps (XLA, JAX)",
        "harness.caches",
        "executables XLA and JAX compiled, on disk",
        "the versions of TensorFlow, Keras, JAX and jaxlib and the CPU model; within, XLA's and JAX's own key, the "
        "computation itself",
        "tests/test_shortcuts.py::test_the_compile_cache_is_keyed_on_the_libraries_and_the_cpu",
    ),
    Shortcut(
        "index rows",
        "harness.reporting.index",
        "each run's row of reports/index.html from the last refresh",
        "the size and modification time of the run's status, metrics and notes files (every write the harness "
        "makes to a run changes one); a running run is read every time",
        "tests/test_shortcuts.py::test_an_index_row_is_read_again_when_its_run_changes",
    ),
    Shortcut(
        "a builder's schema",
        "harness.config.model_section",
        "the parameters a builder function takes, read from its signature",
        "the function and its code, defaults and annotations (an edited builder in a notebook is read again)",
        "tests/test_shortcuts.py::test_an_edited_builders_parameters_are_read_again",
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


def markdown_table() -> str:
    """The shortcuts as docs/reliability.md shows them (a test keeps the two in step)."""
    lines = ["| shortcut | what is reused | keyed on | where |", "|---|---|---|---|"]
    lines += [f"| {item.name} | {item.keeps} | {item.key} | `{item.where}` |" for item in SHORTCUTS]
    return "\n".join(lines) + "\n"
