"""The PPO training loop: a function of (env, settings, seed) that returns what the run produced.

Order of one iteration (as in CleanRL's ppo.py): anneal lr, collect n_steps from every env,
bootstrap V(last obs), GAE, then n_epochs of shuffled minibatch updates, then log/evaluate.
"""

from __future__ import annotations

import numpy as np
import torch

from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic, NumpyActorCritic
from ppo.agents.ppo.update import ppo_update
from ppo.config import Hyperparameters
from ppo.envs import env_info, make_vec_env
from ppo.run.evaluate import Evaluator
from ppo.run.log import EvalSettings, PhaseTimer, Progress, RunLog, RunResult
from ppo.run.seeding import seed_single_threaded


def train_ppo(env_id: str, hp: Hyperparameters, seed: int, evaluation: EvalSettings, progress: Progress) -> RunResult:
    # One seed drives torch (init), the minibatch-shuffling generator, the env (reset(seed=...)) and the
    # actor's action sampling (NumpyActorCritic(policy, seed)).
    generator = seed_single_threaded(seed)
    info = env_info(env_id)
    envs = make_vec_env(env_id, hp.n_envs)
    evaluator = Evaluator(env_id, evaluation.width)
    policy = ActorCritic(info.obs_dim, info.n_actions, hp.net_arch, hp.activation)
    # Detail: Adam with eps=1e-5 (the PPO reference implementation's value, not PyTorch's 1e-8).
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=hp.learning_rate, eps=1e-5)
    # Acting (collection, evaluation) runs the same weights in NumPy: see networks.py for why.
    actor = NumpyActorCritic(policy, seed)
    buffer = RolloutBuffer(hp.n_steps, hp.n_envs, info.obs_dim)
    log = RunLog(hp.n_envs, evaluator, evaluation, progress)
    act_greedy = actor.greedy

    obs = envs.reset(seed=seed)[0].astype(np.float32, copy=False)
    valid = np.ones(hp.n_envs, dtype=bool)  # False where obs is a final obs awaiting autoreset
    step = 0
    log.start(act_greedy)
    timer = PhaseTimer()
    for iteration in range(hp.n_iterations):
        remaining = 1.0 - iteration / hp.n_iterations  # share of the run still ahead
        if hp.lr_schedule == "linear":
            # Detail: linear learning-rate annealing from learning_rate to 0 over the run.
            optimizer.lr = hp.learning_rate * remaining
        # rl-zoo's lin_ clip range: epsilon annealed to 0 the same way (constant by default).
        clip_range = hp.clip_range * remaining if hp.clip_range_schedule == "linear" else hp.clip_range

        timer.restart()
        for _ in range(hp.n_steps):
            actions, log_probs, values = actor.act(obs)
            timer.lap("inference")
            next_obs, rewards, terminated, truncated, _ = envs.step(actions)
            timer.lap("env")
            step += hp.n_envs
            buffer.add(obs, actions, log_probs, values, rewards, terminated, truncated, valid)
            log.track(rewards, terminated, truncated, valid, step)
            valid = ~(terminated | truncated)
            obs = next_obs.astype(np.float32, copy=False)
            timer.lap("storage")

        # Numerical guard, once per rollout rather than per step: one op over the whole buffer.
        if not (torch.isfinite(buffer.obs).all() and np.isfinite(buffer.rewards).all()):
            raise FloatingPointError(
                f"non-finite observation or reward from the env in steps {step - hp.rollout_size}..{step}"
            )
        # Bootstrap: V(obs after the rollout); under NEXT_STEP autoreset this is V(final obs) for an env
        # whose episode ended on the last step, which is what a truncation needs.
        buffer.compute_returns_and_advantage(actor.values(obs), hp.gamma, hp.gae_lambda)
        try:
            stats = ppo_update(policy, optimizer, buffer.get(), hp, generator, clip_range)
        except FloatingPointError as err:
            raise FloatingPointError(f"{err} at step {step}") from None
        timer.lap("update")
        log.end_iteration(step, act_greedy, stats._asdict())

    envs.close()
    result = log.finish(act_greedy)
    evaluator.close()
    result.phase_seconds = timer.seconds
    result.model = policy.saved(env_id)
    return result
