"""Where a study lives: an Optuna storage from a path or a URL, checked before any trial runs.

- A path (the default, `<out>/study.journal`): Optuna's journal file. It needs nothing started, and several
  processes append to it at once under a file lock (a symlink lock, safe on NFS): the right default for
  workers on one machine or on a cluster's shared filesystem. SQLite is not: concurrent writers get
  "database is locked". The journal has no heartbeat, so a worker killed mid-trial leaves its trial RUNNING;
  the restarted worker fails it and queues it again (ppo/tuning/study.py).
- An RDB URL (`postgresql+psycopg2://...`, `mysql+pymysql://...`, `sqlite:///...` for one worker): Optuna's
  RDBStorage with a heartbeat: the path for workers on many nodes (a PostgreSQL server, docs/cluster.md). A
  worker's trial records a heartbeat every HEARTBEAT_SECONDS from a thread (start_heartbeat); a RUNNING trial
  silent for GRACE_SECONDS belonged to a dead worker, and any worker that finds it (fail_stale_trials, before
  each trial) fails it and queues its settings again (Optuna's retry callback, `retry_of` as in the journal
  path). Optuna runs both only inside `study.optimize`; our workers ask and tell, so they run them here.
  `PPO_TUNING_HEARTBEAT=interval,grace` (seconds) overrides both, e.g. for a test. Workers that start at once
  on an empty database race to create Optuna's tables; the losers connect again (_create_tables_once).
"""

from __future__ import annotations

import copy
import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppo.config import ConfigError

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
# A RUNNING trial whose worker sent no heartbeat for grace seconds is failed and retried (RDB storages only),
# at most MAX_RETRIES times (a trial that kills every worker that runs it is not retried forever).
HEARTBEAT_SECONDS, GRACE_SECONDS, MAX_RETRIES = 60, 180, 3
HEARTBEAT_ENV = "PPO_TUNING_HEARTBEAT"


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace) in seconds: the defaults, or `PPO_TUNING_HEARTBEAT=interval,grace`."""
    raw = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return HEARTBEAT_SECONDS, GRACE_SECONDS
    try:
        interval, grace = (int(part) for part in raw.split(","))
    except ValueError:
        interval = grace = 0
    if not 0 < interval < grace:
        raise ConfigError(f"{HEARTBEAT_ENV}={raw!r}: expected 'interval,grace' in whole seconds, 0 < interval < grace")
    return interval, grace


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
            dialect = make_url(spec).get_dialect()
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as err:
            raise ConfigError(f"storage {spec!r} is not usable: {str(err).splitlines()[0]}") from None
        try:  # the driver itself: SQLAlchemy imports it only when the first connection is made
            dialect.import_dbapi()
        except ImportError as err:
            raise ConfigError(
                f"storage {spec!r}: its driver is not installed ({err}); for PostgreSQL, `pip install -e '.[postgres]'` "
                "installs psycopg2 (postgresql+psycopg2://)"
            ) from None
        heartbeat_settings()
        return
    path = Path(spec)
    if path.is_dir():
        raise ConfigError(f"storage {spec!r} is a directory; allowed: a journal file path or a database URL")
    parent = path.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not _writable(existing):
        raise ConfigError(f"storage {spec!r}: {existing or parent} is not a writable directory; allowed: a writable path")


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def open_storage(spec: str) -> Any:
    """The Optuna storage for `spec` (check_storage first)."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    check_storage(spec)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if is_url(spec):
        interval, grace = heartbeat_settings()
        # Heartbeats are experimental in Optuna, and meant for study.optimize: we run them ourselves (below).
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
            return _create_tables_once(
                lambda: RDBStorage(
                    spec,
                    # A connection idle for a whole trial may have been closed by the server or a firewall.
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=interval,
                    grace_period=grace,
                    heartbeat_stale_trial_callback=_as_retry_of(retry),
                )
            )
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(spec))


def _create_tables_once(connect: Callable[[], Any], attempts: int = 5) -> Any:
    """Workers started at once on an empty database race to create Optuna's tables (SQLAlchemy checks, then
    creates): the losers get a duplicate key (IntegrityError) or "already exists" (ProgrammingError), each in a
    transaction rolled back whole. Connect again a moment later, when the tables exist."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return connect()
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())


def _as_retry_of(retry: Any) -> Any:
    """Optuna's retry callback, its queued copy marked as the journal path marks one (user attr `retry_of`, no
    other user attrs of the dead run); Optuna's own record (system attrs `failed_trial`, `retry_history`) is kept."""

    def queue_again(study: Any, trial: Any) -> None:
        trial = copy.copy(trial)
        trial.user_attrs = {"retry_of": trial.number}
        retry(study, trial)

    return queue_again


def heartbeat_interval(study: Any) -> int | None:
    """Seconds between heartbeats if the study's storage has them (RDB: a dead worker's trial is failed and
    retried by any worker), else None (journal: by the dead worker's restart)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    storage = study._storage
    return storage.get_heartbeat_interval() if is_heartbeat_enabled(storage) else None


def start_heartbeat(study: Any, trial: Any) -> None:
    """RDB storages: record the trial's heartbeat now, then every interval from a daemon thread, until the trial
    is no longer RUNNING (told, or failed by another worker). A journal storage has no heartbeat: nothing."""
    interval = heartbeat_interval(study)
    if interval is None:
        return
    storage, trial_id = study._storage, trial._trial_id
    storage.record_heartbeat(trial_id)  # before any training: a trial that runs has a heartbeat to go stale

    def beat() -> None:
        while True:
            time.sleep(interval)
            try:
                if storage.get_trial(trial_id).state.name != "RUNNING":
                    return
                storage.record_heartbeat(trial_id)
            except Exception:  # the server out of reach for a moment: the next beat tries again
                continue

    threading.Thread(target=beat, name=f"heartbeat-trial-{trial.number}", daemon=True).start()


def fail_stale_trials(study: Any) -> list[int]:
    """RDB storages: fail the RUNNING trials whose worker stopped sending heartbeats (killed, its node lost) and
    queue their settings again (the retry callback); returns their numbers. Several workers may look at once:
    the storage lets one of them fail each trial. (Optuna's own fail_stale_trials, returning what it failed.)"""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    if heartbeat_interval(study) is None:
        return []
    storage = study._storage
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        try:
            storage.set_trial_user_attr(trial_id, "failed_because", "its worker stopped sending heartbeats")
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except UpdateFinishedTrialError:  # another worker failed it first (or its own worker just told it)
            pass
    retry = storage.get_heartbeat_stale_trial_callback()
    numbers = []
    for trial_id in failed:
        trial = copy.deepcopy(storage.get_trial(trial_id))
        if retry is not None:
            retry(study, trial)
        numbers.append(trial.number)
    return numbers
