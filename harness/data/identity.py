"""What a dataset of your own files is, for a run's fingerprint: the SHA-256 of their content, each file hashed once
for each size and modification time it has had (a file's record in the cache's digests/, a folder's in its entry).

    make all        runs an experiment again when its data changed: another file, or the same file edited
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from harness.atomic import write_text
from harness.data.cache import datasets_dir
from harness.data.cache import file_digest as sha256_of
from harness.data.images import folder_identity


def file_digest(path: Path) -> str:
    """A file's SHA-256, hashed once for each (size, modification time) it has had: kept in the cache's digests/."""
    stat = path.stat()
    record = datasets_dir() / "digests" / f"{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]}.json"
    try:
        known = json.loads(record.read_text())
        if known["stamp"] == [stat.st_size, stat.st_mtime_ns]:
            return known["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_of(path)
    with contextlib.suppress(OSError):  # a read-only cache: hashed again next time
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text(record, json.dumps({"stamp": [stat.st_size, stat.st_mtime_ns], "sha256": digest}))
    return digest


def user_files_identity(settings) -> str:
    """What a dataset of your own files is: the SHA-256 of their content (a folder's: of each file's, by its path in
    the folder, hashed once and kept in the folder's cache entry), and the settings that decide its examples."""
    parts = []
    for path in (settings.path, getattr(settings, "test_path", None)):
        if path:
            found = Path(path).expanduser()
            if found.is_dir():
                parts.append(folder_identity(found, getattr(settings, "image_size", None)))
            elif found.is_file():
                parts.append(file_digest(found))
    chosen = {key: getattr(settings, key, None) for key in ("target", "test_fraction", "image_size", "split_seed")}
    return f"{settings.name} sha256 {' '.join(parts)} {chosen}"
