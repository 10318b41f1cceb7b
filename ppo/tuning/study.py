"""One Optuna study: the objective (a trial trains the base agent on each tuning seed), the worker loop that
runs trials until the study holds its number of finished trials, and the export of what the study found.

Reproducibility. The sampler is TPE (multivariate), seeded with sampler_seed + worker: one worker proposes
the same trials again, and each trial's score is a deterministic function of its settings and seeds (same
machine). With several workers, each trial is still reproducible from its recorded settings, but which
settings get proposed depends on the order in which the workers' trials finish: that order is timing.

Finished means COMPLETE or PRUNED. A trial whose training diverges (the loop's numerical guard) counts as
pruned: its settings are bad, which is what pruning records. A worker killed mid-trial loses that trial only:
it stays RUNNING in a journal file (no heartbeat), and the worker's next start fails it and queues its
settings again; RDB storages do the same through Optuna's heartbeat.

Pruning compares like with like. Every trial evaluates at the same points of its budget (every `eval_every`
env steps, checked at its rollout boundaries) and reports each evaluation by the index of the last point it has
passed, not by its env step: Optuna's median pruner compares values reported at the same step only, and env
steps differ with the rollout size (as rl-baselines3-zoo does, which reports by evaluation index).

A study's settings belong to its storage. They are stored with the study when it is created; a rerun with
other settings (budget, space, seeds, ...) is refused, naming the study and how to start afresh: its trials
would otherwise mix two searches, and best.yaml could hold a point outside the space the config declares.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ppo.agents import get_agent, preset_for, resolve
from ppo.config import ConfigError, Hyperparameters
from ppo.envs import env_info
from ppo.run.log import EvalSettings, Progress
from ppo.run.stop import stop_at_safe_points
from ppo.tuning.space import SearchSpace, base_point, fit_constraints, not_applicable, sample_settings

if TYPE_CHECKING:
    import optuna

TUNABLE_TRAINER = "ppo.agents.ppo.train:train_ppo"  # the agents a study can tune: ours, not the peer or random
# What a study's trials report to the pruner; stored with the study, so a study made by code that reported
# otherwise (env steps, before 2 was introduced) is refused rather than mixed.
REPORTS = 2  # evaluation point indices


@dataclass(frozen=True)
class StudySettings:
    """Everything that defines a study. `base_overrides`: a variant base's hyperparameters on its agent's preset."""

    name: str
    env_id: str
    agent: str  # the registered agent every trial trains
    base_overrides: dict[str, Any]
    trials: int  # finished (complete or pruned) trials the study ends with
    total_timesteps: int  # per trial and seed
    seeds: tuple[int, ...]  # tuning seeds, disjoint from the seeds that judge
    space: SearchSpace
    storage: str
    sampler_seed: int = 0
    eval_every: int = 0  # 0: a tenth of the budget
    eval_episodes: int = 5
    final_eval_episodes: int = 20
    startup_trials: int = 5  # trials before the pruner may prune (and TPE's random start, twice this)
    prune_after: float = 1 / 3  # share of the first seed's budget before a trial may be pruned
    base_label: str = ""
    label: str | None = None  # the tuned variant's display name and colour (None: a default / a palette's)
    colour: str | None = None

    @property
    def evaluation(self) -> EvalSettings:
        every = self.eval_every or max(1, self.total_timesteps // 10)
        return EvalSettings(every, self.eval_episodes, self.final_eval_episodes, min(10, self.eval_episodes))

    def base_settings(self) -> dict[str, Any]:
        """The base's preset with its overrides, the space's fixed keys and the trial budget: what every trial
        starts from (constraints fitted, as for a trial)."""
        settings = {**preset_for(self.agent, self.env_id)[0], **self.base_overrides, **self.space.fixed}
        settings["total_timesteps"] = self.total_timesteps
        fit_constraints(settings, {})
        return settings

    def base_hyperparameters(self) -> Hyperparameters:
        return resolve(self.agent, self.env_id, self.base_settings())[0]

    @property
    def policy(self) -> tuple[bool, bool]:
        """(continuous actions, image observations): which of the space's keys the env's policy takes."""
        info = env_info(self.env_id)
        return info.continuous, info.pixels

    @property
    def points_per_seed(self) -> int:
        """Evaluation points of one seed's run after the start (0): every `evaluation.every` steps of the budget.
        A run ends at whole rollouts at most the budget, so it never passes a point beyond this."""
        return self.total_timesteps // self.evaluation.every

    @property
    def warmup_points(self) -> int:
        """The first point at or past `prune_after` of the first seed's budget: the pruner waits until then.
        (round: 0.6 * 50000 / 5000 must be 6, not 6.000000000000001 rounded up to 7.)"""
        return math.ceil(round(self.prune_after * self.total_timesteps / self.evaluation.every, 9))

    def stored(self) -> dict[str, Any]:
        """What the study's trials depend on, as stored with it (JSON's types): a rerun must match it. Not the
        number of trials (a rerun may add some), nor labels, colours or the storage."""
        space = {key: {k: v for k, v in vars(d).items() if v is not None} for key, d in self.space.dimensions.items()}
        stored = {  # in the order a refusal names the first difference: what a user changes first
            "reports": REPORTS,
            "env": self.env_id,
            "agent": self.agent,
            "base_overrides": self.base_overrides,
            "total_timesteps": self.total_timesteps,
            "seeds": list(self.seeds),
            "space": space,
            "fixed": self.space.fixed,
            "eval_every": self.evaluation.every,
            "eval_episodes": self.eval_episodes,
            "final_eval_episodes": self.final_eval_episodes,
            "startup_trials": self.startup_trials,
            "prune_after": self.prune_after,
            "sampler_seed": self.sampler_seed,
        }
        return json.loads(json.dumps(stored))


def check_study(settings: StudySettings, judging_seeds: list[int] | None, where: str = "tuning") -> None:
    """ConfigError (one line) for a study that cannot run, before any trial: a base that is not our PPO, tuning
    seeds that overlap the seeds that judge, fixed values the agent refuses, an unusable storage."""
    from ppo.tuning.storage import check_storage

    if get_agent(settings.agent).trainer != TUNABLE_TRAINER:
        raise ConfigError(f"{where}.base={settings.agent!r} cannot be tuned; allowed: an agent or variant of ppo-bench's PPO")
    overlap = sorted(set(settings.seeds) & set(judging_seeds or ()))
    if overlap:
        raise ConfigError(
            f"{where}.seeds: {overlap} are also the config's seeds, which judge the tuned variant; "
            "allowed: tuning seeds disjoint from them (default 1000 and up)"
        )
    if settings.trials < 1:
        raise ConfigError(f"{where}.trials={settings.trials}; allowed: >= 1")
    if not 0 <= settings.prune_after <= 1:
        raise ConfigError(f"{where}.prune_after={settings.prune_after}; allowed: 0 .. 1 (a share of the budget)")
    try:
        settings.base_hyperparameters()
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    continuous, pixels = settings.policy
    for key in settings.space.configured:  # a range the config wrote and the policy would silently ignore
        why = not_applicable(key, settings.space.dimensions[key], continuous, pixels)
        if why is not None:
            raise ConfigError(f"{where}.space.{key}: {why} ({settings.env_id}); allowed: leave it out of the space")
    check_storage(settings.storage)


def check_workers(storage: str, workers: int, where: str = "tuning", what: str = "") -> None:
    """ConfigError (one line) for several workers on SQLite: concurrent writers get "database is locked"."""
    if workers > 1 and storage.split("://", 1)[0].split("+", 1)[0] == "sqlite":
        raise ConfigError(
            f"{where}: {what or f'workers={workers}'} on SQLite storage {storage!r}, which takes one writer at a "
            "time; allowed: one worker, or a journal file path (the default) or a server database URL (postgresql://...)"
        )


class TrialProgress(Progress):
    """Reports each periodic evaluation of a trial's run to the pruner, by evaluation point: an evaluation at env
    step s (the first rollout boundary at or past a point) reports at `first + s // every`, the index of the last
    point it has passed. Seeds run one after another, each from its own first index: index i x (points + 1) + k
    is point k of seed i for every trial of the study, whatever its rollout size. A rollout longer than `every`
    passes several points at once and reports at the last of them only (its value is from there)."""

    def __init__(self, trial: optuna.Trial, every: int, first: int = 0):
        super().__init__(0, "", enabled=False)
        self.trial, self.every, self.first = trial, every, first

    def evaluated(self, phase: str, step: int, mean: float) -> None:
        import optuna

        if phase != "periodic":
            return
        index = self.first + step // self.every
        self.trial.report(mean, index)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at evaluation point {index}, step {step} (mean return {mean:.1f})")


def trial_settings(trial: optuna.Trial, settings: StudySettings) -> tuple[dict[str, Any], Hyperparameters]:
    """A trial's sampled settings (the overrides a variant would carry) and the hyperparameters it trains with.
    Raises ConfigError for a combination the agent refuses."""
    base = settings.base_settings()
    sampled = sample_settings(trial, settings.space, base, *settings.policy)
    # Trials run eagerly unless the study fixes `compile`: every trial's settings are new shapes and constants,
    # so each would compile cold (tens of seconds), more than a trial's budget saves.
    hp, _ = resolve(settings.agent, settings.env_id, {"compile": "off", **base, **sampled})
    return sampled, hp


def objective(trial: optuna.Trial, settings: StudySettings) -> float:
    """The mean over tuning seeds of the final evaluation's mean return (the value Optuna maximizes)."""
    import optuna

    try:
        sampled, hp = trial_settings(trial, settings)
    except ConfigError as err:  # a sampled combination the agent refuses: a bad point, not a crash
        trial.set_user_attr("refused", str(err))
        raise optuna.TrialPruned(str(err)) from None
    trial.set_user_attr("hyperparameters", json.loads(json.dumps(sampled)))
    agent = get_agent(settings.agent)
    scores = []
    for i, seed in enumerate(settings.seeds):
        progress = TrialProgress(trial, settings.evaluation.every, i * (settings.points_per_seed + 1))
        try:
            # SIGTERM (preemption) stops the trial at the next env step, not inside a storage write of
            # trial.report (a database transaction, the journal's file lock): ppo.run.stop
            with stop_at_safe_points(saves_checkpoints=False):
                result = agent.train(settings.env_id, hp, seed, settings.evaluation, progress)
        except FloatingPointError as err:
            trial.set_user_attr("diverged", str(err))
            raise optuna.TrialPruned(f"diverged: {err}") from None
        scores.append(float(result.final_eval.returns.mean()))
        trial.set_user_attr("seed_scores", scores)
    return float(np.mean(scores))


def _worker_id(worker: int) -> dict[str, Any]:
    return {"worker": worker, "host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


ORPHAN_SECONDS = 60  # a trial this old that names no worker was left by a kill


def _age_seconds(trial) -> float:
    import datetime

    start = trial.datetime_start
    return (datetime.datetime.now() - start).total_seconds() if start else 0.0


def _counts_towards_total(trial) -> bool:
    """Finished, running or queued: a trial that is, or will be, one of the study's."""
    return trial.state.name in ("COMPLETE", "PRUNED", "RUNNING", "WAITING")


def _queue_retry(study: optuna.Study, trial) -> None:
    """Queue a trial's settings again (its run was stopped from outside: a kill, a preemption)."""
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)


def recover_killed_trials(study: optuna.Study, worker: int) -> list[int]:
    """Fail the trials a killed earlier run of this worker left RUNNING, and queue their settings again.
    A trial of this worker slot still held by a live process on this host is left alone. (Optuna's public API
    changes only the caller's own trials; a dead worker's goes through the storage, as Optuna's own
    fail_stale_trials does for heartbeats.)"""
    from optuna.trial import TrialState

    me = _worker_id(worker)
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if "worker" not in attrs and _age_seconds(trial) > ORPHAN_SECONDS:
            # Killed between asking for it and naming its worker (a few microseconds): nothing sampled, no retry.
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            continue
        if attrs.get("worker") != worker:
            continue
        if attrs.get("host") == me["host"] and attrs.get("pid") != me["pid"] and _alive(attrs.get("pid", -1)):
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "failed_because", "its worker was killed")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        _queue_retry(study, trial)
        recovered.append(trial.number)
    return recovered


def open_study(settings: StudySettings, worker: int = 0) -> optuna.Study:
    """The study in its storage, created with its settings if new. ConfigError (one line) if the storage holds
    the study under other settings, or more finished trials than `settings.trials`."""
    import optuna

    from ppo.tuning.storage import open_storage

    sampler = optuna.samplers.TPESampler(
        seed=settings.sampler_seed + worker, multivariate=True, n_startup_trials=2 * settings.startup_trials
    )
    # The zoo's pruner: the median of the other trials' evaluations at the same point, after a warm-up (a third of
    # the budget by default: early evaluations say little; later where every curve starts flat, as Pendulum's),
    # once `startup_trials` trials have finished.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=settings.warmup_points)
    study = optuna.create_study(
        study_name=settings.name,
        storage=open_storage(settings.storage),
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )
    # Trials first, then the settings: a worker starting beside another one that has just stored the settings and
    # enqueued the base trial sees either nothing at all, or the settings (read in the other order, it could see the
    # trial without the settings, and refuse an honest study as one made by older code).
    has_trials = bool(study.get_trials(deepcopy=False))
    stored = study.user_attrs.get("settings")
    if stored is None and not has_trials:
        study.set_user_attr("settings", settings.stored())  # a new study (or one a kill left before its first trial)
    else:
        _check_same_study(settings, stored, len(_finished(study)))
    return study


def check_stored_study(settings: StudySettings) -> None:
    """open_study's refusal, for the workflow's config check: only for a journal file that exists (reading it
    creates nothing; a database is only reached by the jobs)."""
    from pathlib import Path

    import optuna

    from ppo.tuning.storage import is_url, open_storage

    if is_url(settings.storage) or not Path(settings.storage).is_file():
        return
    try:
        study = optuna.load_study(study_name=settings.name, storage=open_storage(settings.storage))
    except KeyError:
        return  # the journal holds no such study yet
    stored = study.user_attrs.get("settings")
    if stored is not None or study.get_trials(deepcopy=False):
        _check_same_study(settings, stored, len(_finished(study)))


def _finished(study: optuna.Study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _check_same_study(settings: StudySettings, stored: dict[str, Any] | None, finished: int) -> None:
    afresh = _how_to_start_afresh(settings)
    if stored is None:
        raise ConfigError(
            f"study {settings.name!r} in {_where(settings)} has trials but no stored settings (made before studies "
            f"stored them, its pruning compared env steps); {afresh}"
        )
    now = settings.stored()
    if stored != now:
        key, old, new = _first_difference(stored, now)
        raise ConfigError(
            f"study {settings.name!r} in {_where(settings)} was made with {key}={_short(old)}, now {_short(new)}: "
            f"its trials would mix two searches; {afresh}"
        )
    if finished > settings.trials:
        raise ConfigError(
            f"study {settings.name!r} in {_where(settings)} already holds {finished} finished trials, more than "
            f"trials={settings.trials}; allowed: trials >= {finished}; or, {afresh}"
        )


def _where(settings: StudySettings) -> str:
    from ppo.tuning.storage import is_url

    return "its database" if is_url(settings.storage) else settings.storage  # a URL may hold a password


def _how_to_start_afresh(settings: StudySettings) -> str:
    from pathlib import Path

    from ppo.tuning.storage import is_url

    if is_url(settings.storage):
        delete = f"delete it from its database (optuna delete-study --study-name {settings.name} --storage URL)"
    else:
        journal = Path(settings.storage)
        delete = f"delete {journal.parent}/" if journal.name == "study.journal" else f"delete {journal}"
    return f"to start it afresh, {delete}, or give the study a new name"


def _first_difference(old: Any, new: Any, key: str = "") -> tuple[str, Any, Any]:
    """The first nested key whose value differs, and both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in [*new, *(k for k in old if k not in new)]:
            if old.get(k) != new.get(k):
                return _first_difference(old.get(k), new.get(k), f"{key}.{k}" if key else k)
    return key, old, new


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True) if value is not None else "(none)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _awaits_running_trials(study: optuna.Study, trials: int) -> bool:
    """With a heartbeat (RDB storages): when the finished and running trials make the study's total and none is
    queued, wait a few seconds and say so, rather than leave: a running trial's worker may be dead, and its retry
    needs a worker. (A journal has no heartbeat: the killed worker's restart queues its trial again.)"""
    from ppo.tuning.storage import heartbeat_interval

    interval = heartbeat_interval(study)
    if interval is None:
        return False
    trials_now = study.get_trials(deepcopy=False)
    if any(t.state.name == "WAITING" for t in trials_now):
        return False
    # A trial killed before it named its worker may have no heartbeat to go stale: not worth waiting for.
    running = [
        t for t in trials_now if t.state.name == "RUNNING" and ("worker" in t.user_attrs or _age_seconds(t) < ORPHAN_SECONDS)
    ]
    finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials_now)
    if not running or finished + len(running) < trials:
        return False
    time.sleep(min(interval, 5))
    return True


def run_worker(settings: StudySettings, worker: int = 0, log: Callable[[str], None] = print) -> list[int]:
    """Run trials until the study holds settings.trials finished trials; returns the numbers of the trials this
    worker finished. Safe to run in several processes at once on one storage, and to rerun after a kill."""
    import optuna
    from optuna.trial import TrialState

    from ppo.tuning.storage import fail_stale_trials, start_heartbeat

    check_workers(settings.storage, worker + 1, f"study {settings.name!r}", f"worker {worker} (a second worker at least)")
    study = open_study(settings, worker)
    for number in recover_killed_trials(study, worker):
        log(f"trial {number} was left running by a killed run of worker {worker}: failed, and queued again")
    if worker == 0 and not any(t.user_attrs.get("base_point") for t in study.get_trials(deepcopy=False)):
        # The search starts from the base: its settings are the first trial worker 0 runs.
        point = base_point(settings.space, settings.base_settings(), *settings.policy)
        study.enqueue_trial(point, user_attrs={"base_point": True}, skip_if_exists=False)
    done = []
    while True:
        for number in fail_stale_trials(study):  # RDB storages: a dead worker's trial, failed and queued again
            log(f"trial {number}: its worker stopped sending heartbeats: failed, and queued again")
        if len(_finished(study)) >= settings.trials:
            break
        if _awaits_running_trials(study, settings.trials):
            continue
        trial = study.ask()
        start_heartbeat(study, trial)
        for key, value in _worker_id(worker).items():
            trial.set_user_attr(key, value)
        # Several workers can ask at once: of the trials numbered below this one, the first `trials` that are
        # finished, running or queued are the study's; a trial beyond them is surplus and ends unrun.
        ahead = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and _counts_towards_total(t)]
        if len(ahead) >= settings.trials:
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
            break
        started = time.perf_counter()
        try:
            value = objective(trial, settings)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            log(f"trial {trial.number}: pruned ({pruned}) after {time.perf_counter() - started:.0f} s")
        except (KeyboardInterrupt, SystemExit):  # stopped from outside (SIGTERM: preemption): run it again later
            study.tell(trial, state=TrialState.FAIL)
            _queue_retry(study, trial)
            raise
        except BaseException:  # a bug or a broken env: the job fails and says why
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            study.tell(trial, value)
            log(f"trial {trial.number}: {value:.2f} after {time.perf_counter() - started:.0f} s")
        done.append(trial.number)
    return done
