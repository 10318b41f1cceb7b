"""Making environments: id resolution with friendly aliases, env metadata, vectorized envs.

Every vector env here uses Gymnasium's NEXT_STEP autoreset (the default, and the only mode of the fast
built-in CartPole vector env): the step that ends an episode returns the *final* observation, and the
next step ignores its action, returns reward 0 and the reset observation. Training masks those reset
steps out (see buffer.py); evaluation (run/evaluate.py) steps single envs instead.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from functools import cache

# MuJoCo picks its OpenGL backend when it is first imported: headless EGL (software rendering through Mesa
# here) unless the user chose one (MUJOCO_GL=osmesa is the fallback where EGL is missing).
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

# Names users know from older Gym/Gymnasium releases, mapped to the id that exists today.
# LunarLander-v2 (the article's env) raises DeprecatedEnv in Gymnasium 1.x; v3 changed wind and reset
# determinism, so v2 numbers compare only roughly.
ENV_ALIASES = {"LunarLander-v2": "LunarLander-v3", "CartPole-v0": "CartPole-v1"}

# Envs that ship a NumPy-vectorized implementation, much faster than N copies in a SyncVectorEnv.
_NATIVE_VECTOR = {"CartPole-v1"}

# First seed of the fixed evaluation episodes: episode k of every evaluation uses EVAL_SEED_BASE + k,
# for every agent and training seed, so evaluation curves are comparable. Far from training seeds.
EVAL_SEED_BASE = 1_000_000


class EnvError(ValueError):
    """An env id is unknown or not supported; the message is one line."""


# Gymnasium's extras, by the entry point's module: which `pip install` a missing dependency needs.
_EXTRAS = {
    "box2d": "box2d",
    "mujoco": "mujoco",
    "atari": "atari",
    "toy_text": "toy-text",
    "classic_control": "classic-control",
}


@dataclass(frozen=True)
class EnvInfo:
    env_id: str
    obs_dim: int
    n_actions: int | None  # Discrete: the number of actions; None for Box actions
    action_dim: int | None  # Box: the size of the action vector; None for Discrete
    action_low: tuple[float, ...] | None  # Box: the bounds every action is clipped to before env.step
    action_high: tuple[float, ...] | None
    solved_threshold: float | None
    max_episode_steps: int | None

    @property
    def continuous(self) -> bool:
        return self.action_dim is not None

    @property
    def action_text(self) -> str:
        """The action space in words, for reports and errors."""
        return action_space_text(self.n_actions, self.action_dim, self.action_low, self.action_high)


def action_space_text(n_actions: int | None, action_dim: int | None, low, high) -> str:
    """'4 discrete' or '3-dim continuous in [-1, 1]'."""
    if n_actions is not None:
        return f"{n_actions} discrete"
    return f"{action_dim}-dim continuous in [{min(low):g}, {max(high):g}]"


def resolve_env_id(name: str) -> tuple[str, str | None]:
    """(registered id, notice or None). Unknown ids raise EnvError listing close matches."""
    if name in ENV_ALIASES:
        target = ENV_ALIASES[name]
        return target, f"note: {name} is not in Gymnasium {gym.__version__}; using {target} instead"
    if name in gym.registry:
        return name, None
    close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
    raise EnvError(f"unknown env id {name!r}; {hint}")


@cache
def env_info(env_id: str) -> EnvInfo:
    """Check that the env is supported (flat Box observations; Discrete or bounded Box actions) and describe it."""
    try:
        env = gym.make(env_id)
    except gym.error.DependencyNotInstalled as err:
        raise EnvError(f"cannot make env {env_id!r}: {_missing_extra(env_id, err)}") from None
    except Exception as err:  # bad kwargs, broken installs: report in one line
        raise EnvError(f"cannot make env {env_id!r}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    try:
        act, obs = env.action_space, env.observation_space
        if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
            kind = "image observations" if isinstance(obs, gym.spaces.Box) and len(obs.shape) >= 2 else "observations"
            raise EnvError(f"env {env_id!r} has {kind} {obs}; supported: flat Box (1-D) observations")
        continuous = isinstance(act, gym.spaces.Box) and len(act.shape) == 1
        if not (isinstance(act, gym.spaces.Discrete) or continuous):
            raise EnvError(f"env {env_id!r} has action space {act}; supported: Discrete or a 1-D Box")
        if continuous and not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
            raise EnvError(f"env {env_id!r} has unbounded actions {act}; supported: a Box with finite bounds")
        spec = env.spec
        threshold = spec.reward_threshold if spec is not None else None
        return EnvInfo(
            env_id=env_id,
            obs_dim=int(obs.shape[0]),
            n_actions=None if continuous else int(act.n),
            action_dim=int(act.shape[0]) if continuous else None,
            action_low=tuple(float(x) for x in act.low) if continuous else None,
            action_high=tuple(float(x) for x in act.high) if continuous else None,
            solved_threshold=None if threshold is None else float(threshold),
            max_episode_steps=spec.max_episode_steps if spec is not None else None,
        )
    finally:
        env.close()


def _missing_extra(env_id: str, err: Exception) -> str:
    entry = str(gym.spec(env_id).entry_point)
    extra = next((name for module, name in _EXTRAS.items() if f".{module}." in entry or entry.startswith(module)), None)
    hint = f"pip install 'gymnasium[{extra}]'" if extra else "install the env's dependencies"
    return f"a dependency is missing ({str(err).splitlines()[0]}); {hint}"


def make_vec_env(env_id: str, n_envs: int, render_mode: str | None = None) -> gym.vector.VectorEnv:
    """A vector env with NEXT_STEP autoreset. render_mode stays None unless a rollout is recorded:
    rendering every step (SB3's make_vec_env default) is several times slower (docs/speed.md)."""
    if env_id in _NATIVE_VECTOR and render_mode is None:
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point")
    else:
        envs = gym.make_vec(
            env_id,
            num_envs=n_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
            **({"render_mode": render_mode} if render_mode else {}),
        )
    assert envs.metadata.get("autoreset_mode") == AutoresetMode.NEXT_STEP, "buffer masking assumes NEXT_STEP autoreset"
    return envs
