"""Where a study lives: an Optuna storage from a path or a URL, checked before any trial runs.

- A path (the default, `<out>/study.journal`): Optuna's journal file. It needs nothing started, and several
  processes append to it at once under a file lock (a symlink lock, safe on NFS): the right default for
  workers on one machine or on a cluster's shared filesystem. SQLite is not: concurrent writers get
  "database is locked". The journal has no heartbeat, so a worker killed mid-trial leaves its trial RUNNING;
  the restarted worker fails it and queues it again (ppo/tuning/study.py).
- An RDB URL (`postgresql://...`, `mysql+pymysql://...`, `sqlite:///...` for one worker): passed to Optuna's
  RDBStorage with a heartbeat, so Optuna itself fails a dead worker's trial and retries it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ppo.config import ConfigError

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
# A RUNNING trial whose worker sent no heartbeat for grace seconds is failed and retried (RDB storages only).
HEARTBEAT_SECONDS, GRACE_SECONDS, MAX_RETRIES = 60, 180, 3


def is_url(spec: str) -> bool:
    return "://" in spec


def check_storage(spec: str) -> None:
    """ConfigError (one line) for a storage that cannot work: an unknown URL scheme, a malformed URL, a missing
    database driver, or a journal path whose directory cannot be created or written."""
    if is_url(spec):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        scheme = spec.split("://", 1)[0]
        if scheme.split("+", 1)[0] not in RDB_SCHEMES:
            raise ConfigError(
                f"storage {spec!r}: unknown scheme {scheme!r}; allowed: a journal file path, or a database URL "
                f"({', '.join(s + '://' for s in RDB_SCHEMES)})"
            )
        try:
            make_url(spec).get_dialect()
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as err:
            raise ConfigError(f"storage {spec!r} is not usable: {str(err).splitlines()[0]}") from None
        return
    path = Path(spec)
    if path.is_dir():
        raise ConfigError(f"storage {spec!r} is a directory; allowed: a journal file path or a database URL")
    parent = path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not _writable(existing):
        raise ConfigError(f"storage {spec!r}: {existing or parent} is not a writable directory; allowed: a writable path")


def _writable(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK | os.X_OK)


def open_storage(spec: str) -> Any:
    """The Optuna storage for `spec` (check_storage first)."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage, RetryFailedTrialCallback
    from optuna.storages.journal import JournalFileBackend

    check_storage(spec)
    if is_url(spec):
        return RDBStorage(
            spec,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            failed_trial_callback=RetryFailedTrialCallback(max_retry=MAX_RETRIES),
        )
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return JournalStorage(JournalFileBackend(spec))
