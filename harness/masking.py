"""Credentials never shown: a database URL's password is replaced by *** wherever a URL is printed or recorded."""

from __future__ import annotations

import re


def masked(url: str) -> str:
    """A URL as it may be shown or recorded: its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)
