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
"""

from __future__ import annotations

import json
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
from ppo.tuning.space import SearchSpace, base_point, fit_constraints, sample_settings

if TYPE_CHECKING:
    import optuna

TUNABLE_TRAINER = "ppo.agents.ppo.train:train_ppo"  # the agents a study can tune: ours, not the peer or random


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
    check_storage(settings.storage)


class TrialProgress(Progress):
    """Reports each periodic evaluation of a trial's run to the pruner. Seeds run one after another; seed i's
    evaluation at env step s is the trial's step i * (budget + 1) + s, the same step for every trial of the study."""

    def __init__(self, trial: optuna.Trial, offset: int):
        super().__init__(0, "", enabled=False)
        self.trial, self.offset = trial, offset

    def evaluated(self, phase: str, step: int, mean: float) -> None:
        import optuna

        if phase != "periodic":
            return
        self.trial.report(mean, self.offset + step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {self.offset + step} (mean return {mean:.1f})")


def objective(trial: optuna.Trial, settings: StudySettings) -> float:
    """The mean over tuning seeds of the final evaluation's mean return (the value Optuna maximizes)."""
    import optuna

    base = settings.base_settings()
    sampled = sample_settings(trial, settings.space, base, env_info(settings.env_id).continuous)
    # Trials run eagerly unless the study fixes `compile`: every trial's settings are new shapes and constants,
    # so each would compile cold (tens of seconds), more than a trial's budget saves.
    overrides = {"compile": "off", **base, **sampled}
    try:
        hp, _ = resolve(settings.agent, settings.env_id, overrides)
    except ConfigError as err:  # a sampled combination the agent refuses: a bad point, not a crash
        trial.set_user_attr("refused", str(err))
        raise optuna.TrialPruned(str(err)) from None
    trial.set_user_attr("hyperparameters", json.loads(json.dumps(sampled)))
    agent = get_agent(settings.agent)
    scores = []
    for i, seed in enumerate(settings.seeds):
        # Seed i's steps follow seed i - 1's last evaluation (at its budget): offset by budget + 1 each.
        progress = TrialProgress(trial, i * (hp.trained_timesteps + 1))
        try:
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
    import optuna

    from ppo.tuning.storage import open_storage

    sampler = optuna.samplers.TPESampler(
        seed=settings.sampler_seed + worker, multivariate=True, n_startup_trials=2 * settings.startup_trials
    )
    # The zoo's pruner: the median of the other trials' evaluations at the same step, after a warm-up (a third of
    # the budget by default: early evaluations say little; later where every curve starts flat, as Pendulum's),
    # once `startup_trials` trials have finished.
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=settings.startup_trials, n_warmup_steps=int(settings.prune_after * settings.total_timesteps)
    )
    return optuna.create_study(
        study_name=settings.name,
        storage=open_storage(settings.storage),
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )


def run_worker(settings: StudySettings, worker: int = 0, log: Callable[[str], None] = print) -> list[int]:
    """Run trials until the study holds settings.trials finished trials; returns the numbers of the trials this
    worker finished. Safe to run in several processes at once on one storage, and to rerun after a kill."""
    import optuna
    from optuna.trial import TrialState

    study = open_study(settings, worker)
    for number in recover_killed_trials(study, worker):
        log(f"trial {number} was left running by a killed run of worker {worker}: failed, and queued again")
    if worker == 0 and not any(t.user_attrs.get("base_point") for t in study.get_trials(deepcopy=False)):
        # The search starts from the base: its settings are the first trial worker 0 runs.
        point = base_point(settings.space, settings.base_settings(), env_info(settings.env_id).continuous)
        study.enqueue_trial(point, user_attrs={"base_point": True}, skip_if_exists=False)
    done = []
    while True:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if len(finished) >= settings.trials:
            break
        trial = study.ask()
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
