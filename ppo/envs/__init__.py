"""Making environments: id resolution with friendly aliases, env metadata, single and vectorized envs.

Image envs (Atari, CarRacing) are made through pixels.py, which holds their preprocessing: every env of
one id, for training, evaluation or a video, comes from make_env / make_vec_env here.

Every vector env here uses Gymnasium's NEXT_STEP autoreset (the default, and the only mode of the fast
built-in CartPole vector env): the step that ends an episode returns the *final* observation, and the
next step ignores its action, returns reward 0 and the reset observation. Training masks those reset
steps out (see buffer.py); evaluation (run/evaluate.py) steps single envs instead.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache

# MuJoCo picks its OpenGL backend when it is first imported: headless EGL (software rendering through Mesa
# here) unless the user chose one (MUJOCO_GL=osmesa is the fallback where EGL is missing).
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

from ppo.envs.pixels import episode_step_cap, is_atari_spec, make_atari, preprocess_image  # noqa: E402

# Names users know from older Gym/Gymnasium releases, mapped to the id that exists today.
# LunarLander-v2 (the article's env) raises DeprecatedEnv in Gymnasium 1.x; v3 changed wind and reset
# determinism, so v2 numbers compare only roughly.
ENV_ALIASES = {"LunarLander-v2": "LunarLander-v3", "CartPole-v0": "CartPole-v1"}

# Atari ids before ale_py has registered them: ALE/<Game>-v5 and <Game>NoFrameskip-v4.
_ATARI_ID = re.compile(r"^ALE/|NoFrameskip-v\d+$")
ATARI_INSTALL = "pip install -e '.[atari]' (ale-py and opencv-python-headless)"

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
    obs_shape: tuple[int, ...]  # what the policy sees: (obs_dim,), or (frames, 84, 84) uint8 for images
    n_actions: int | None  # Discrete: the number of actions; None for Box actions
    action_dim: int | None  # Box: the size of the action vector; None for Discrete
    action_low: tuple[float, ...] | None  # Box: the bounds every action is clipped to before env.step
    action_high: tuple[float, ...] | None
    solved_threshold: float | None
    max_episode_steps: int | None
    atari: bool = False

    @property
    def obs_dim(self) -> int:
        """The size of a flat observation (vector envs)."""
        return int(np.prod(self.obs_shape))

    @property
    def pixels(self) -> bool:
        """Image observations: a CNN policy, uint8 storage, evaluation with the stochastic policy."""
        return len(self.obs_shape) == 3

    @property
    def evaluation_policy(self) -> str:
        """What evaluations score: 'greedy' (the mode) on vector envs, 'stochastic' (a sample) on pixels. A greedy
        Atari policy can stall until the episode cap (Breakout waits for FIRE after a lost life), which is why
        rl-baselines3-zoo evaluates Atari with the stochastic policy too."""
        return "stochastic" if self.pixels else "greedy"

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
    _register_atari(name)
    if name in gym.registry:
        return name, None
    close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
    raise EnvError(f"unknown env id {name!r}; {hint}")


def _register_atari(env_id: str) -> None:
    """Importing ale_py registers the Atari ids (any of them: Breakout-v4 too); an id that looks like Atari's
    without the packages installed is refused, naming what to install."""
    installed = importlib.util.find_spec("ale_py") is not None and importlib.util.find_spec("cv2") is not None
    if not installed:
        if _ATARI_ID.search(env_id):
            raise EnvError(f"env {env_id!r} is an Atari game, and the Atari packages are not installed: {ATARI_INSTALL}")
        return
    if env_id in gym.registry:
        return
    import ale_py

    gym.register_envs(ale_py)


def is_atari(env_id: str) -> bool:
    _register_atari(env_id)
    return env_id in gym.registry and is_atari_spec(gym.spec(env_id))


def make_env(env_id: str, *, training: bool = False, render_mode: str | None = None) -> gym.Env:
    """One env as the agent sees it: preprocessed where it has image observations. `training` turns on
    what only the learner sees (Atari: episodic life and clipped rewards); evaluation and videos play the
    real game."""
    if is_atari(env_id):
        return make_atari(env_id, training=training, render_mode=render_mode)
    env = gym.make(env_id, **({"render_mode": render_mode} if render_mode else {}))
    if isinstance(env.observation_space, gym.spaces.Box) and len(env.observation_space.shape) == 3:
        return preprocess_image(env)
    return env


@cache
def env_info(env_id: str) -> EnvInfo:
    """Check that the env is supported (flat Box or image observations; Discrete or bounded Box actions) and
    describe it."""
    try:
        env = make_env(env_id)
    except EnvError:
        raise
    except gym.error.DependencyNotInstalled as err:
        raise EnvError(f"cannot make env {env_id!r}: {_missing_extra(env_id, err)}") from None
    except Exception as err:  # bad kwargs, broken installs: report in one line
        raise EnvError(f"cannot make env {env_id!r}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    try:
        act, obs = env.action_space, env.observation_space
        if not isinstance(obs, gym.spaces.Box) or len(obs.shape) not in (1, 3):
            raise EnvError(f"env {env_id!r} has observations {obs}; supported: flat Box (1-D) observations or images")
        if len(obs.shape) == 3 and obs.dtype != np.uint8:
            raise EnvError(f"env {env_id!r} has image observations {obs}; supported: uint8 images (the CNN scales them)")
        continuous = isinstance(act, gym.spaces.Box) and len(act.shape) == 1
        if not (isinstance(act, gym.spaces.Discrete) or continuous):
            raise EnvError(f"env {env_id!r} has action space {act}; supported: Discrete or a 1-D Box")
        if continuous and not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
            raise EnvError(f"env {env_id!r} has unbounded actions {act}; supported: a Box with finite bounds")
        spec, atari = env.spec, is_atari(env_id)
        threshold = spec.reward_threshold if spec is not None else None
        return EnvInfo(
            env_id=env_id,
            obs_shape=tuple(int(n) for n in obs.shape),
            n_actions=None if continuous else int(act.n),
            action_dim=int(act.shape[0]) if continuous else None,
            action_low=tuple(float(x) for x in act.low) if continuous else None,
            action_high=tuple(float(x) for x in act.high) if continuous else None,
            solved_threshold=None if threshold is None else float(threshold),
            # Atari: the ALE's frame cap, in agent steps
            max_episode_steps=episode_step_cap(spec) if atari else spec.max_episode_steps if spec else None,
            atari=atari,
        )
    finally:
        env.close()


def evaluation_policy_of(env_id: str) -> str:
    """EnvInfo.evaluation_policy for a report's words: 'greedy' for an id this install cannot make."""
    try:
        return env_info(env_id).evaluation_policy
    except (EnvError, gym.error.Error):
        return "greedy"


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
    elif env_info(env_id).pixels:
        envs = gym.vector.SyncVectorEnv(
            [lambda: make_env(env_id, training=True, render_mode=render_mode)] * n_envs,
            autoreset_mode=AutoresetMode.NEXT_STEP,
        )
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
