"""Where a group's Optuna study is kept: a file journal in the group's folder, or a database that several
machines share (postgresql://...).

    make sweep NAME=l2 GRID="..."                                   reports/l2/sweep-<id>/study.journal
    make sweep NAME=l2 GRID="..." STORAGE=postgresql://user:pw@host/db     every machine's workers join it
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from harness.errors import UserError
from harness.masking import masked
from harness.records import GroupDir
from harness.surface import option

# A trial in a database whose machine has been silent for three of these is taken up again by another.
HEARTBEAT_SECONDS = int(os.environ.get("HARNESS_HEARTBEAT_SECONDS", "10"))


DATABASES = ("postgresql", "sqlite", "mysql")  # SQLAlchemy's dialects that Optuna's RDBStorage takes
EXAMPLES = "postgresql://user:password@host/db, sqlite:///path/to/study.db, or journal:/path/to/study.journal"


def checked_storage(spec: str | None) -> str | None:
    """A storage the harness can open, or one line before anything runs: a database URL of a scheme the harness
    supports whose driver is installed, or journal:PATH, an Optuna journal file in a folder that exists. The line
    never repeats a string that is not a URL: it may hold a password."""
    if spec is None:
        return None
    if spec.startswith("journal:"):
        path = Path(spec.removeprefix("journal:")).expanduser()
        if not path.parent.is_dir():
            raise UserError(f"{option('storage')}=journal:{path}: the folder {path.parent} does not exist")
        return str(path)
    scheme, separator, _ = spec.partition("://")
    if not separator or not scheme.replace("+", "").isalnum():
        raise UserError(
            f"{option('storage')} is not a database URL ({len(spec)} characters, not shown: it may hold a password): "
            f"give {EXAMPLES}"
        )
    if scheme.split("+")[0] not in DATABASES:
        raise UserError(
            f"{option('storage')}: the harness keeps studies in {', '.join(DATABASES)} or a journal, not "
            f"{scheme}://; give {EXAMPLES}"
        )
    _check_driver(spec, scheme)
    return spec


def _check_driver(spec: str, scheme: str) -> None:
    """The database's Python driver, imported now: a missing one is one line, not a traceback after the runs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(spec).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise UserError(
            f"{option('storage')}={masked(spec)} is not a URL SQLAlchemy reads ({masked(str(error))})"
        ) from None
    except ImportError as error:
        raise UserError(
            f"{option('storage')}: the driver for {scheme}:// ({error.name}) is not installed: install it into the "
            "harness's environment (for MySQL, pip install pymysql and give mysql+pymysql://...)"
        ) from None


def open_storage(spec: str):
    """A group's Optuna storage: a database URL (postgresql://...), or the path of a file journal."""
    import optuna

    # Optuna marks the heartbeat and its retry callback experimental, and warns that heartbeats are meant for
    # Study.optimize: the harness records them itself, for the trials it asked for (harness.groups.ledger).
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    if "://" in spec:
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        return optuna.storages.RDBStorage(
            spec,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=3 * HEARTBEAT_SECONDS,
            heartbeat_stale_trial_callback=retry,
        )
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(spec))


def default_storage(group_dir: Path) -> str:
    return str(GroupDir(group_dir).study_path)


def group_study(group_dir: Path):
    """The group's study, or None: a group made before groups were studies, or one in a database that STORAGE
    does not name (a database is recorded without its password, which STORAGE gives again)."""
    group = GroupDir(group_dir)
    where = group.record().get("study")
    if not where:
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = str(group.path / where["storage"])
    if "://" in where["storage"]:
        storage = os.environ.get("STORAGE", "")
        if masked(storage) != where["storage"]:
            return None
    return optuna.load_study(study_name=where["name"], storage=open_storage(storage))
