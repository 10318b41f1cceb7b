"""Tuning workers on a real PostgreSQL server, Optuna's path for workers on many nodes (docs/cluster.md).

The test starts its own server, as the SLURM test starts its cluster: Debian's binaries (`make system-deps`), a
cluster initdb'ed in a temporary directory by an unprivileged user (PostgreSQL refuses to run as root), listening
only on a Unix socket in that directory, stopped in a `finally`. Two `python -m ppo tune` workers share a study on
it; one is SIGKILLed in the middle of a trial. Nothing restarts it: the other worker finds the trial's heartbeat
stale, fails it, runs its settings again (the retry callback), and the study ends with exactly its number of trials.
Workers that start at once on an empty database all open it (their race to create Optuna's tables is retried).
"""

import glob
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest

from ppo.config import ConfigError
from ppo.tuning.storage import HEARTBEAT_ENV, check_storage, heartbeat_settings

TRIALS = 4
# Heartbeat every second; a trial silent for 6 s is stale. Generous beside a 1 s beat (the thread beats even while
# the trainer holds the GIL), short beside the test's budget.
HEARTBEAT, GRACE = 1, 6
# Trials of ~2 s (CartPole, 8192 steps, 4 envs, one epoch), so the kill lands well inside one.
FIXED = {"n_envs": 4, "n_epochs": 1, "net_arch": [64]}
SPACE = {"n_steps": {"choices": [32, 64]}}
DATABASES = itertools.count()


def postgres_bindir() -> Path | None:
    """Debian's server binaries (the newest major version installed), else whatever initdb is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgres_server_url():
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's server is not installed (`make system-deps` installs Debian's postgresql)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is in requirements.lock and the extra 'postgres'")
    with postgres_server(bindir) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url):
    """An empty database of its own on the module's server."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url, name = make_url(postgres_server_url), f"study{next(DATABASES)}"
    connection = psycopg2.connect(dbname=url.database, user=url.username, host=url.query["host"])
    try:
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        connection.cursor().execute(f"CREATE DATABASE {name}")
    finally:
        connection.close()
    return url.set(database=name).render_as_string(hide_password=False)


@contextmanager
def postgres_server(bindir: Path) -> Iterator[str]:
    """A PostgreSQL server of its own for the duration of the block; its SQLAlchemy URL."""
    # Under /tmp, short: the unprivileged server user must reach it, and a socket path has at most 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="ppo-pg-"))
    as_user = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(root, "nobody")
    data, log = root / "data", root / "server.log"

    def run(*command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *command], cwd=root, capture_output=True, text=True, timeout=timeout, check=check)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
            "--locale=C")  # fmt: skip
        options = f"-k {root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        started = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120",
                      "start", check=False)  # fmt: skip
        assert started.returncode == 0, f"{started.stdout}{started.stderr}\n{_tail(log)}"
        yield f"postgresql+psycopg2://postgres@/postgres?host={root}"
    finally:
        try:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop", check=False)
        except subprocess.TimeoutExpired:
            pass
        _kill_postmaster(data)
        shutil.rmtree(root, ignore_errors=True)


def _tail(path: Path) -> str:
    return path.read_text()[-2000:] if path.exists() else ""


def _kill_postmaster(data: Path) -> None:
    """The server's own pid (its first line of postmaster.pid), if it outlived pg_ctl stop."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        pass


def tune_command(out: Path, worker: int, storage: str) -> list[str]:
    return [sys.executable, "-m", "ppo", "tune", "--env", "CartPole-v1", "--base", "ppo", "--study", "tiny",
            "--trials", str(TRIALS), "--total-timesteps", "8192", "--seeds", "1000", "--out", str(out),
            "--storage", storage, "--worker", str(worker), "--marker", str(out / f"worker{worker}.json"),
            "--startup-trials", "1", "--fixed", json.dumps(FIXED), "--space", json.dumps(SPACE),
            "--eval-episodes", "2", "--final-eval-episodes", "3", "--configfile", "none"]  # fmt: skip


def load_trials(storage: optuna.storages.BaseStorage) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="tiny", storage=storage).get_trials()
    except KeyError:  # the workers have not created the study yet
        return []


@pytest.mark.parametrize("value", ["5", "5,5", "0,3", "1,x"])
def test_a_heartbeat_setting_that_cannot_work_is_refused_in_one_line(monkeypatch, value):
    monkeypatch.setenv(HEARTBEAT_ENV, value)
    with pytest.raises(ConfigError, match=f"{HEARTBEAT_ENV}=.*0 < interval < grace"):
        check_storage("postgresql+psycopg2://user@/db?host=/tmp")
    monkeypatch.setenv(HEARTBEAT_ENV, "1,6")
    assert heartbeat_settings() == (1, 6)


def test_a_database_url_whose_driver_is_missing_is_refused_in_one_line_before_any_job():
    with pytest.raises(ConfigError, match=r"its driver is not installed \(No module named 'pg8000'\)"):
        check_storage("postgresql+pg8000://optuna@dbhost:5433/optuna")
    check_storage("postgresql+psycopg2://optuna@dbhost:5433/optuna")  # the pinned driver: no connection needed


@pytest.mark.slow
def test_workers_started_at_once_on_an_empty_database_all_open_it(postgres_url):
    # Optuna creates its tables when a storage opens (SQLAlchemy checks, then creates): workers that start at the
    # same moment race, and without a retry the losers fail ("duplicate key value violates unique constraint").
    # Each process imports, says so, and opens the storage when told: all three at one moment.
    code = "import sys; from ppo.tuning.storage import open_storage; print(flush=True); input(); open_storage(sys.argv[1])"
    workers = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    for worker in workers:
        worker.stdout.readline()
    for worker in workers:
        worker.stdin.write("\n")
        worker.stdin.flush()
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    failures = [next((line for line in reversed(e.splitlines()) if "Error" in line), e[-300:]) for e in errors if e]
    assert [worker.returncode for worker in workers] == [0] * 3, failures


@pytest.mark.slow
def test_a_worker_killed_mid_trial_on_postgresql_is_recovered_by_the_heartbeat_and_exactly_n_trials_finish(
    tmp_path, postgres_url
):
    storage = optuna.storages.RDBStorage(postgres_url)  # the test's own view: no heartbeat, no callback
    env = {**os.environ, HEARTBEAT_ENV: f"{HEARTBEAT},{GRACE}"}
    workers = {
        k: subprocess.Popen(tune_command(tmp_path, k, postgres_url), env=env, stderr=subprocess.PIPE, text=True)
        for k in (0, 1)
    }
    try:
        # Kill worker 1 as soon as one of its trials is training (sampled, its hyperparameters recorded): the trial
        # has most of its ~2 s ahead, so it cannot end between this look and the kill.
        started = time.monotonic()
        victim, deadline = None, started + 180
        while victim is None and time.monotonic() < deadline and workers[1].poll() is None:
            time.sleep(0.1)
            running = [t for t in load_trials(storage) if t.state.name == "RUNNING" and "hyperparameters" in t.user_attrs]
            victim = next((t for t in running if t.user_attrs.get("worker") == 1), None)
        if victim is None:
            workers[1].kill()
            pytest.fail(f"worker 1 never ran a trial (exit {workers[1].poll()}): {workers[1].communicate()[1][-3000:]}")
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait(timeout=60)
        killed_at = time.monotonic()
        assert storage.get_trial(victim._trial_id).state.name == "RUNNING"  # killed mid-trial, left running
        # The other worker fails it once its heartbeat is GRACE seconds old, when it next looks (between trials).
        while storage.get_trial(victim._trial_id).state.name == "RUNNING" and workers[0].poll() is None:
            if time.monotonic() > killed_at + 120:
                pytest.fail(f"trial {victim.number} still RUNNING 120 s after its worker was killed")
            time.sleep(0.5)
        _, errors = workers[0].communicate(timeout=240)
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=60)
    assert workers[0].returncode == 0, errors
    trials = load_trials(storage)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == TRIALS  # exactly the study's number: the killed trial is neither lost nor run twice
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    # The killed trial failed by its stale heartbeat, after the grace period, and its settings ran again once.
    dead = trials[victim.number]
    assert dead.state.name == "FAIL" and dead.user_attrs.get("failed_because") == "its worker stopped sending heartbeats"
    assert f"trial {victim.number}: its worker stopped sending heartbeats: failed, and queued again" in errors
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1, [(t.number, t.state.name, t.user_attrs) for t in trials]
    retry = retries[0]
    assert retry.state.name in ("COMPLETE", "PRUNED") and retry.user_attrs["worker"] == 0
    assert retry.params == dead.params == victim.params
    assert retry.system_attrs["failed_trial"] == victim.number  # Optuna's own record of the retry
    assert (dead.datetime_complete - victim.datetime_start).total_seconds() > GRACE
    assert all(t.user_attrs.get("surplus") for t in trials if t.state.name == "FAIL" and t.number != victim.number)
    # Worker 0's marker names every finished trial but worker 1's finished before the kill.
    marker = json.loads((tmp_path / "worker0.json").read_text())["finished_trials"]
    assert sorted(marker) == sorted(t.number for t in finished if t.user_attrs["worker"] == 0)
    print(f"killed {killed_at - started:.1f} s after the start; the study done {time.monotonic() - killed_at:.1f} s later")
