"""The random baseline: uniform actions, the same env setup, budget, logs and evaluations as PPO."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ppo.config import Hyperparameters
from ppo.envs import EnvInfo, env_info, make_vec_env
from ppo.run.evaluate import Evaluator, PolicyFn
from ppo.run.log import EvalSettings, Progress, RunLog, RunResult
from ppo.run.seeding import seed_single_threaded


def uniform_random_policy(info: EnvInfo, seed: int) -> PolicyFn:
    """Uniform actions from a seeded generator: any of the n actions, or uniform within a Box's bounds."""
    rng = np.random.default_rng(seed)
    if info.continuous:
        low, high = np.asarray(info.action_low, np.float32), np.asarray(info.action_high, np.float32)
        return lambda obs: rng.uniform(low, high, size=(len(obs), len(low))).astype(np.float32)
    return lambda obs: rng.integers(info.n_actions, size=len(obs))


def saved_random_policy(run_dir: str | Path, info: EnvInfo, seed: int) -> PolicyFn:
    """The registry's `actor` of the random agent: it saves no model, so its "policy" is seeded uniform actions."""
    return uniform_random_policy(info, seed)


def run_random(
    env_id: str, hp: Hyperparameters, seed: int, evaluation: EvalSettings, progress: Progress, checkpoints=None
) -> RunResult:
    """Play uniformly random actions for hp.total_timesteps (whole rollouts, as PPO does), evaluating the
    same way at the same steps. Training and evaluation actions come from separate seeded streams.
    No checkpoints: the run is short (a step costs only the env's time) and simply starts over."""
    seed_single_threaded(seed)
    info = env_info(env_id)
    envs = make_vec_env(env_id, hp.n_envs)
    evaluator = Evaluator(env_id, evaluation.width)
    log = RunLog(hp.n_envs, evaluator, evaluation, progress, whole_games=info.atari)
    act_train = uniform_random_policy(info, seed)
    act_eval = uniform_random_policy(info, seed + 1_000_003)

    obs, _ = envs.reset(seed=seed)
    valid = np.ones(hp.n_envs, dtype=bool)
    step = 0
    log.start(act_eval)
    for _ in range(hp.n_iterations):
        for _ in range(hp.n_steps):
            obs, rewards, terminated, truncated, infos = envs.step(act_train(obs))
            step += hp.n_envs
            done = terminated | truncated
            log.track(rewards, done, valid, step, infos)
            valid = ~done
        log.end_iteration(step, act_eval)
    envs.close()
    result = log.finish(act_eval)
    evaluator.close()
    return result
