"""The PPO training loop: a function of (env, settings, seed) that returns what the run produced.

Order of one iteration (as in CleanRL's ppo.py): anneal lr, collect n_steps from every env,
bootstrap V(last obs), GAE, then n_epochs of shuffled minibatch updates, then log/evaluate, then
checkpoint when due.

Resuming from a checkpoint restores the networks, the optimizer, the normalization statistics, every
random generator and the logs, then starts new episodes from env seeds derived from (seed, step): env
states (Box2D's above all) cannot be saved, so the episodes running at the checkpoint are dropped. A
resumed run is therefore a valid run of the same settings, not a bit-for-bit copy of an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch

from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.compiled import compile_update
from ppo.agents.ppo.distributions import make_distribution
from ppo.agents.ppo.networks import build_optimizer, build_policy, evaluation_actor, evaluation_policy, make_actor
from ppo.agents.ppo.normalization import RewardScaler
from ppo.agents.ppo.update import ppo_update
from ppo.config import Hyperparameters
from ppo.envs import env_info, make_vec_env
from ppo.run.checkpoint import Checkpointer
from ppo.run.evaluate import Evaluator
from ppo.run.log import EvalSettings, PhaseTimer, Progress, RunLog, RunResult
from ppo.run.seeding import seed_single_threaded
from ppo.run.stop import no_more_checkpoints


def train_ppo(
    env_id: str,
    hp: Hyperparameters,
    seed: int,
    evaluation: EvalSettings,
    progress: Progress,
    checkpoints: Checkpointer | None = None,
) -> RunResult:
    # One seed drives torch (init), the minibatch-shuffling generator, the env (reset(seed=...)) and the
    # actor's action sampling (make_actor(policy, seed)).
    info = env_info(env_id)
    generator = seed_single_threaded(seed)
    distribution = make_distribution(info)
    policy = build_policy(info, hp)  # the MLP for vectors, the CNN for images (networks.py)
    envs = make_vec_env(env_id, hp.n_envs)
    evaluator = Evaluator(env_id, evaluation.width)
    optimizer = build_optimizer(policy, hp)  # Adam, eps=adam_eps (networks.py)
    # Acting (collection, evaluation) runs the same weights: in NumPy for MLPs (see policy.py for why).
    actor = make_actor(policy, seed)
    buffer = RolloutBuffer(
        hp.n_steps, hp.n_envs, policy.obs_shape, distribution.action_shape, distribution.action_dtype, policy.obs_dtype
    )
    scale_rewards = RewardScaler(hp.n_envs, hp.gamma) if hp.normalize_reward else None
    log = RunLog(hp.n_envs, evaluator, evaluation, progress, whole_games=info.atari)
    # The update's minibatch step compiled where it pays (compiled.py); None = eager. Its seconds count as training time.
    compiled_step, compile_record = compile_update(policy, optimizer, hp, info.pixels, warn=progress.notice)
    eval_actor = evaluation_actor(policy, seed)
    act_eval = evaluation_policy(eval_actor, info)  # greedy on vectors, stochastic on pixels (networks.py)

    valid = np.ones(hp.n_envs, dtype=bool)  # False where obs is a final obs awaiting autoreset
    timer = PhaseTimer()
    saved = checkpoints.load() if checkpoints is not None else None
    if saved is None:
        first_iteration, step = 0, 0
        raw_obs = envs.reset(seed=seed)[0]
        log.start(act_eval)
    else:
        first_iteration, step = saved["iteration"], saved["step"]
        _restore(saved, policy, optimizer, generator, (actor, eval_actor), scale_rewards, log, timer)
        raw_obs = envs.reset(seed=resume_seed(seed, step))[0]
        progress.notice(f"resuming from the checkpoint at step {step} (iteration {first_iteration} of {hp.n_iterations})")
    for iteration in range(first_iteration, hp.n_iterations):
        # Detail: learning rate and clip range follow their schedules (constant or annealed linearly to 0).
        remaining = hp.progress_remaining(iteration)  # share of the run still ahead
        optimizer.lr = hp.learning_rate_at(remaining)
        clip_range = hp.clip_range_at(remaining)

        timer.restart()
        for _ in range(hp.n_steps):
            if policy.obs_rms is not None:
                # Detail: observation normalization; the statistics first take in what the policy sees now.
                policy.obs_rms.update(raw_obs)
            obs = actor.normalize(raw_obs)
            actions, log_probs, values = actor.act(obs)
            timer.lap("inference")
            # Detail: continuous actions are clipped to the bounds for the env only; the buffer keeps the sample.
            raw_obs, rewards, terminated, truncated, infos = envs.step(distribution.to_env(actions))
            timer.lap("env")
            step += hp.n_envs
            done = terminated | truncated
            log.track(rewards, done, valid, step, infos)  # raw rewards, or Atari's whole-game scores
            if scale_rewards is not None:
                # Detail: reward scaling by the running std of the discounted return (normalization.py).
                rewards = scale_rewards(rewards, done, valid)
            buffer.add(obs, actions, log_probs, values, rewards, terminated, truncated, valid)
            valid = ~done
            timer.lap("storage")

        if values is None:
            # The actor acted without its critic (NumpyActorCritic.act says why): V(s_t) of the rollout in one pass.
            buffer.fill_values(actor.values)
        # Numerical guard, once per rollout rather than per step: one op over the whole buffer.
        if not (torch.isfinite(buffer.obs).all() and np.isfinite(buffer.rewards).all()):
            raise FloatingPointError(
                f"non-finite observation or reward from the env in steps {step - hp.rollout_size}..{step}"
            )
        # Bootstrap: V(obs after the rollout); under NEXT_STEP autoreset this is V(final obs) for an env
        # whose episode ended on the last step, which is what a truncation needs.
        buffer.compute_returns_and_advantage(
            actor.values(actor.normalize(raw_obs)),
            hp.gamma,
            hp.gae_lambda,
            bootstrap_truncation=hp.bootstrap_truncation,
            bootstrap_rollout_end=hp.bootstrap_rollout_end,
            gae_episode_boundaries=hp.gae_episode_boundaries,
        )
        try:
            rollout = buffer.get().to(policy.flat_parameters.device)
            stats = ppo_update(policy, optimizer, rollout, hp, generator, clip_range, compiled_step)
        except FloatingPointError as err:
            raise FloatingPointError(f"{err} at step {step}") from None
        timer.lap("update")
        log.end_iteration(step, act_eval, stats._asdict())
        if checkpoints is not None and checkpoints.end_iteration():
            checkpoints.save(
                _snapshot(iteration + 1, step, policy, optimizer, generator, (actor, eval_actor), scale_rewards, log, timer)
            )
            timer.restart()  # the save is neither training nor evaluation

    envs.close()
    no_more_checkpoints()  # SIGTERM during the final evaluation (minutes on Atari) stops it at the next step
    result = log.finish(act_eval)
    evaluator.close()
    result.phase_seconds = timer.seconds
    result.compile = dict(compile_record.__dict__)
    result.model = policy.saved(info)
    return result


def resume_seed(seed: int, step: int) -> int:
    """The env seed for the episodes started at a resume: a function of (seed, step), far from `seed`'s stream."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def _snapshot(iteration, step, policy, optimizer, generator, actors, scale_rewards, log, timer) -> dict:
    """Everything a resumed run needs, as tensors and plain containers (checkpoint.pt loads weights_only)."""
    return {
        "iteration": iteration,
        "step": step,
        "policy": {k: v.clone() for k, v in policy.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "shuffle_rng": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "action_rng": actors[0].rng.bit_generator.state,
        "evaluation_rng": actors[1].rng.bit_generator.state,
        "reward_scaler": scale_rewards.state_dict() if scale_rewards is not None else None,
        "log": log.state_dict(),
        "phase_seconds": dict(timer.seconds),
    }


def _restore(saved, policy, optimizer, generator, actors, scale_rewards, log, timer) -> None:
    policy.load_state_dict(saved["policy"])  # copies in place: the flat parameter layout and NumPy views survive
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["shuffle_rng"])
    torch.set_rng_state(saved["torch_rng"])
    actors[0].rng.bit_generator.state = saved["action_rng"]
    actors[1].rng.bit_generator.state = saved["evaluation_rng"]
    if scale_rewards is not None:
        scale_rewards.load_state_dict(saved["reward_scaler"])
    log.load_state_dict(saved["log"])  # records the resume step in the log too
    timer.seconds.update(saved["phase_seconds"])
