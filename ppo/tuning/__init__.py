"""Tuning as a reproducible stage: Optuna studies that search a preset's settings on tuning seeds of their own,
whose best trial becomes a variant judged on the config's (fresh) seeds like any agent.

  space.py    the search space (the zoo's PPO space by default) and the sampling of one trial's settings
  storage.py  the study's storage: a journal file by default, any database URL passed through
  study.py    the objective, the worker loop (kills and several workers), the study's settings and checks
  export.py   best.yaml (a pasteable variant), trials.csv, importances.csv, study.json

Above agents/ in the package's stack: a trial trains through the agent registry like any run.
"""

from __future__ import annotations

from typing import Any

from ppo.agents import get_agent
from ppo.tuning.space import build_space
from ppo.tuning.study import StudySettings

DEFAULT_TUNING_SEEDS = (1000, 1001)


def make_study_settings(
    name: str,
    env_id: str,
    base: str,
    base_overrides: dict[str, Any],
    base_label: str,
    *,
    trials: int,
    total_timesteps: int,
    storage: str,
    seeds: tuple[int, ...] = DEFAULT_TUNING_SEEDS,
    space: dict[str, Any] | None = None,
    fixed: dict[str, Any] | None = None,
    where: str = "tuning",
    **options: Any,
) -> StudySettings:
    """A study's settings from config-shaped values; `base` is a registered agent (a variant base passes its
    agent and its hyperparameters as base_overrides). Space errors are ConfigErrors naming `where`."""
    return StudySettings(
        name=name,
        env_id=env_id,
        agent=get_agent(base).name,
        base_overrides=dict(base_overrides),
        trials=trials,
        total_timesteps=total_timesteps,
        seeds=tuple(seeds),
        space=build_space(space, fixed, where),
        storage=storage,
        base_label=base_label,
        **options,
    )
