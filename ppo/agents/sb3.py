"""sb3-ppo: Stable-Baselines3's PPO as a peer agent, run through ppo-bench's envs, seeds, budgets, logs and evaluator.

SB3's own: the algorithm, its policy and rollout buffer, VecNormalize (where the zoo's `normalize: true` asks
for it) and its model format (model.zip, plus vec_normalize.pkl when normalizing). ppo-bench's, so that the
comparison is like for like: the env ids and budgets (total_timesteps rounded down to whole rollouts), the
seeds (PPO(seed=...) and env i reset with seed + i, as our vector env does), the training-episode log
(episodes.csv, raw env rewards; whole games on Atari), the periodic and final evaluations (our Evaluator over
SB3's deterministic policy, stochastic on pixels, on the fixed evaluation seeds), run.json, and wall-clock
time kept apart from evaluation.

Two alignments with our loop (ppo/agents/ppo/train.py):
- Schedules. SB3 updates progress_remaining after collecting a rollout, so its first update already runs at
  1 - 1/n and its last at 0; ours runs at 1 - i/n (1 first, 1/n last). SB3 is given our schedules shifted by
  one rollout, so update i of both runs with the same learning rate and clip range (tests/test_sb3.py).
- Evaluation points. Ours evaluates after each update; SB3's callback sees the start of each rollout, which is
  just after the previous update, and learn() returning, after the last one.

Stable-Baselines3 is an optional extra (`pip install -e '.[peers]'`): this module imports it only inside
functions, and the registry checks it is installed before any run starts.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ppo.config import ConfigError, Hyperparameters
from ppo.envs import EnvInfo, env_info, make_env
from ppo.run.evaluate import Evaluator, PolicyFn
from ppo.run.log import EvalSettings, Progress, RunLog, RunResult
from ppo.run.seeding import seed_single_threaded

MODEL_FILE = "model.zip"  # SB3's format: PPO.load() reads it
# VecNormalize's statistics, as VecNormalize.save() writes them (rl-zoo's name). Every run writes it, a pickled
# None when it does not normalize, so the workflow can declare it and evaluation can tell "no normalization"
# from "statistics lost".
NORMALIZER_FILE = "vec_normalize.pkl"
# Our settings that Stable-Baselines3's PPO has no like-for-like setting for: any value but the default is
# refused. The ablation switches: SB3 always does the correct thing. clip_range_vf: ours is PPO2's (and
# CleanRL's) pessimistic max of the clipped and unclipped squared errors; SB3 clips the prediction and takes
# that one error, so the two agents would differ exactly when it is set.
NO_SB3_EQUIVALENT = (
    "shuffle_minibatches",
    "bootstrap_truncation",
    "bootstrap_rollout_end",
    "gae_episode_boundaries",
    "clip_range_vf",
    "device",  # sb3-ppo runs on the CPU, as the comparison is measured
)


def check_settings(hp: Hyperparameters) -> None:
    """ConfigError naming the first setting SB3 cannot run like ours."""
    defaults = Hyperparameters()
    if hp.compile == "on":
        raise ConfigError("compile='on' compiles our update only; sb3-ppo runs only 'auto' or 'off' (both eager)")
    for name in NO_SB3_EQUIVALENT:
        value, default = getattr(hp, name), getattr(defaults, name)
        if value != default:
            raise ConfigError(
                f"{name}={value!r} has no like-for-like Stable-Baselines3 equivalent; sb3-ppo runs only {default!r}"
            )


def shifted_schedule(value_at, hp: Hyperparameters):
    """SB3's schedule (a function of its progress_remaining) that gives our value at each update: SB3's
    progress at update i is 1 - (i + 1) / n, ours 1 - i / n, one rollout more."""
    one_rollout = hp.rollout_size / hp.trained_timesteps
    return lambda progress_remaining: value_at(progress_remaining + one_rollout)


def build_model(env_id: str, hp: Hyperparameters, seed: int):
    """SB3's PPO with our settings on SB3's vector env of `env_id` (VecNormalize where we normalize)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecNormalize

    check_settings(hp)
    pixels = env_info(env_id).pixels
    if pixels:
        # Images: our preprocessed env (pixels.py: the same frames, lives and clipped rewards as ours; SB3's
        # AtariWrapper does the same steps) under SB3's own vector env, and SB3's CnnPolicy (the Nature CNN).
        envs = make_vec_env(lambda: make_env(env_id, training=True), n_envs=hp.n_envs, seed=seed)
    else:
        # render_mode=None: SB3's make_vec_env otherwise passes rgb_array and renders every step (slower: docs/speed.md).
        envs = make_vec_env(env_id, n_envs=hp.n_envs, seed=seed, env_kwargs={"render_mode": None})
    if hp.normalize_observation or hp.normalize_reward:  # the zoo's `normalize: true`
        envs = VecNormalize(envs, norm_obs=hp.normalize_observation, norm_reward=hp.normalize_reward, gamma=hp.gamma)
    network = {"net_arch": {"pi": list(hp.net_arch), "vf": list(hp.net_arch)}} if not pixels else {}
    model = PPO(
        "CnnPolicy" if pixels else "MlpPolicy",
        envs,
        learning_rate=shifted_schedule(hp.learning_rate_at, hp),
        n_steps=hp.n_steps,
        batch_size=hp.batch_size,
        n_epochs=hp.n_epochs,
        gamma=hp.gamma,
        gae_lambda=hp.gae_lambda,
        clip_range=shifted_schedule(hp.clip_range_at, hp),
        normalize_advantage=hp.normalize_advantage,
        ent_coef=hp.ent_coef,
        vf_coef=hp.vf_coef,
        # SB3 always clips; an infinite norm clips nothing (our max_grad_norm: null).
        max_grad_norm=hp.max_grad_norm if hp.max_grad_norm is not None else float("inf"),
        policy_kwargs={
            **network,
            "activation_fn": {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "identity": torch.nn.Identity}[hp.activation],
            "optimizer_kwargs": {"eps": hp.adam_eps},
            "ortho_init": hp.ortho_init,
            "log_std_init": hp.log_std_init,
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )
    # A logger that keeps the latest values in memory only: SB3's default makes a /tmp/SB3-<date> folder per run.
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def evaluation_policy(model, info: EnvInfo, normalizer=None) -> PolicyFn:
    """SB3's deterministic actions (the Gaussian's mean clipped to the bounds, or the argmax) on raw
    observations, or its samples on pixels (EnvInfo.evaluation_policy): the normalizer's statistics are applied
    first, as SB3's own evaluation does."""
    deterministic = info.evaluation_policy == "greedy"

    def act(obs: np.ndarray) -> np.ndarray:
        if normalizer is not None:
            obs = normalizer.normalize_obs(obs)
        return model.predict(obs, deterministic=deterministic)[0]

    return act


def _logging_callback(log: RunLog, act: PolicyFn, hp: Hyperparameters, seed: int):
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    class RunLogCallback(BaseCallback):
        """Feeds SB3's steps into our RunLog: training episodes from the env's raw rewards, evaluations after
        each update (at the next rollout's start)."""

        def _on_training_start(self) -> None:
            self.valid = np.ones(hp.n_envs, dtype=bool)

        def _on_rollout_start(self) -> None:
            # A stochastic evaluation (pixels) samples from torch's global generator, SB3's training stream too:
            # it draws from a fork seeded by (seed, step), so evaluating leaves training's samples as they were.
            with torch.random.fork_rng():
                torch.manual_seed(int(np.random.SeedSequence([seed, self.num_timesteps]).generate_state(1)[0]))
                if self.num_timesteps == 0:
                    log.start(act)
                else:
                    log.end_iteration(self.num_timesteps, act, last_update(self.model))

        def _on_step(self) -> bool:
            normalizer = self.model.get_vec_normalize_env()
            rewards = normalizer.get_original_reward() if normalizer is not None else self.locals["rewards"]
            # SB3's vector env resets within the step (the final obs goes to info), so every step is valid.
            infos = self.locals["infos"]
            log.track(
                np.asarray(rewards, dtype=np.float64), self.locals["dones"], self.valid, self.num_timesteps, games(infos)
            )
            return True

    return RunLogCallback()


def games(infos: list[dict]) -> dict | None:
    """Whole Atari games ended this step (pixels.GameScore), in a Gymnasium vector env's info layout, or None."""
    ended = np.array(["game_score" in info for info in infos])
    if not ended.any():
        return None
    return {
        "_game_score": ended,
        **{key: np.array([info.get(key, 0) for info in infos]) for key in ("game_score", "game_length")},
    }


def last_update(model) -> dict[str, float] | None:
    """SB3's train/ statistics of its latest update, under SB3's names."""
    values = model.logger.name_to_value
    stats = {key.removeprefix("train/"): float(value) for key, value in values.items() if key.startswith("train/")}
    return stats or None


def train_sb3(
    env_id: str, hp: Hyperparameters, seed: int, evaluation: EvalSettings, progress: Progress, checkpoints=None
) -> RunResult:
    """Train SB3's PPO for hp.trained_timesteps and log it exactly as our runs are logged. No checkpoints:
    SB3 has no resumable state for its envs and schedules (sb3-ppo reruns from scratch when preempted)."""
    seed_single_threaded(seed)
    model = build_model(env_id, hp, seed)
    normalizer = model.get_vec_normalize_env()
    evaluator = Evaluator(env_id, evaluation.width)
    log = RunLog(hp.n_envs, evaluator, evaluation, progress, whole_games=env_info(env_id).atari)
    act = evaluation_policy(model, env_info(env_id), normalizer)
    model.learn(total_timesteps=hp.trained_timesteps, callback=_logging_callback(log, act, hp, seed))
    log.end_iteration(model.num_timesteps, act, last_update(model))
    result = log.finish(act)
    evaluator.close()
    model.get_env().close()

    # What VecNormalize.save() writes, or None: see NORMALIZER_FILE.
    result.files = {MODEL_FILE: _model_bytes(model), NORMALIZER_FILE: pickle.dumps(normalizer)}
    return result


def _model_bytes(model) -> bytes:
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def saved_evaluation_policy(run_dir: str | Path, info: EnvInfo, seed: int) -> PolicyFn:
    """The registry's `actor` of sb3-ppo: model.zip (and vec_normalize.pkl) of a finished run."""
    from stable_baselines3 import PPO

    run_dir = Path(run_dir)
    path = run_dir / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rerun the sb3-ppo training job that writes it")
    model = PPO.load(path, device="cpu")
    expected = info.n_actions if not info.continuous else info.action_dim
    got = model.action_space.n if hasattr(model.action_space, "n") else model.action_space.shape[0]
    if model.observation_space.shape != info.obs_shape or got != expected:
        raise ValueError(
            f"{path} was trained for {model.observation_space} -> {model.action_space}, not this env ({info.action_text})"
        )
    return evaluation_policy(model, info, _load_normalizer(run_dir / NORMALIZER_FILE))


def _load_normalizer(path: Path) -> Any:
    """The run's VecNormalize (None for a run without normalization). A missing file is a broken run: acting
    without the statistics the policy was trained on would score a different policy, silently."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: sb3-ppo cannot act without its normalization statistics; rerun its training job"
        )
    # VecNormalize.load() wants a live vector env only to re-attach it; acting needs the statistics alone.
    with open(path, "rb") as f:
        normalizer = pickle.load(f)
    if normalizer is not None:
        normalizer.training = False
    return normalizer
