"""One registry per kind of choice an experiment names: datasets, optimizers, schedules and models.

    OPTIMIZERS["adam"]            the entry, or a UserError: unknown optimizer 'adamm' (did you mean 'adam'?) ...
    list(OPTIMIZERS)              the names, in the order they were declared

Each entry is declared once, with what it takes; the schema's choices, the command line's help, `make list`, the
README's tables and the tests all read them from the registry, so adding one is one entry in one file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from harness.errors import UserError, did_you_mean

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, entry: Entry) -> Entry:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is declared twice")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> Entry:
        if name not in self._entries:
            raise UserError(self.unknown(name))
        return self._entries[name]

    def known(self, name: str) -> str:
        """`name` if an entry has it, else a ValueError naming the closest and every name (a schema's validator)."""
        if name not in self._entries:
            raise ValueError(self.unknown(name))
        return name

    def unknown(self, name) -> str:
        """The message for a name no entry has: the closest name, and every name."""
        return f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; choose one of {', '.join(self)}"

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        return self._entries.items()
