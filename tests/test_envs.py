import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from ppo.envs import EnvError, env_info, make_vec_env, resolve_env_id

ROOT = Path(__file__).resolve().parent.parent


def test_article_env_name_maps_to_v3_with_a_notice():
    env_id, notice = resolve_env_id("LunarLander-v2")
    assert env_id == "LunarLander-v3" and "LunarLander-v3" in notice


def test_unknown_env_lists_close_matches():
    with pytest.raises(EnvError, match="unknown env id 'CartPol-v1'; did you mean CartPole-v1"):
        resolve_env_id("CartPol-v1")


@pytest.mark.parametrize(
    "env_id, message",
    [
        ("PPOBenchDictObs-v0", "has observations Dict('position': Box(-1.0, 1.0, (2,), float32)); supported: flat Box"),
        ("Blackjack-v1", "has observations Tuple(Discrete(32), Discrete(11), Discrete(2)); supported: flat Box"),
        ("PPOBenchMultiDiscrete-v0", "has action space MultiDiscrete([2 3]); supported: Discrete or a 1-D Box"),
        ("PPOBenchUnbounded-v0", "has unbounded actions Box(-inf, inf, (2,), float32); supported: a Box with finite bounds"),
    ],
)
def test_unsupported_spaces_are_refused_in_one_line(env_id, message):
    with pytest.raises(EnvError) as error:
        env_info(env_id)
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    import gymnasium as gym

    def make(env_id, **kwargs):
        raise gym.error.DependencyNotInstalled('MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`')

    monkeypatch.setattr(gym, "make", make)
    env_info.cache_clear()
    with pytest.raises(
        EnvError, match=r"cannot make env 'Walker2d-v5': a dependency is missing .*; pip install 'gymnasium\[mujoco\]'"
    ):
        env_info("Walker2d-v5")
    env_info.cache_clear()


def test_env_info():
    info = env_info("LunarLander-v3")
    assert (info.obs_dim, info.n_actions, info.solved_threshold, info.continuous) == (8, 4, 200.0, False)
    info = env_info("Hopper-v5")
    assert (info.obs_dim, info.action_dim, info.continuous, info.action_text) == (11, 3, True, "3-dim continuous in [-1, 1]")
    assert info.action_low == (-1.0, -1.0, -1.0) and info.n_actions is None


def test_mujoco_renders_headless_with_the_chosen_backend():
    """MuJoCo picks its OpenGL backend when it is first imported, from MUJOCO_GL; unset, it takes GLFW, which
    needs a display. Importing ppo.envs must choose headless EGL before that, and leave a user's choice alone.
    A subprocess with a clean environment (no MUJOCO_GL, no DISPLAY): this process may have either set."""
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}

    def run(code: str, env: dict[str, str]) -> str:  # from the checkout, so `ppo` imports without PYTHONPATH
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout

    backend = run("import os, ppo.envs, mujoco; print(os.environ.get('MUJOCO_GL'), mujoco.GLContext.__module__)", clean)
    assert backend.split() == ["egl", "mujoco.egl"]
    chosen = run("import os, ppo.envs; print(os.environ.get('MUJOCO_GL'))", {**clean, "MUJOCO_GL": "osmesa"})
    assert chosen.strip() == "osmesa"


@pytest.mark.parametrize("env_id", ["CartPole-v1", "LunarLander-v3"])
def test_vector_envs_autoreset_on_the_next_step(env_id):
    envs = make_vec_env(env_id, 2)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    envs.reset(seed=0)
    for _ in range(2000):
        obs, rewards, terminated, truncated, _ = envs.step(np.zeros(2, dtype=np.int64))
        if (terminated | truncated).any():
            ended = terminated | truncated
            obs, rewards, terminated, truncated, _ = envs.step(np.zeros(2, dtype=np.int64))
            assert (rewards[ended] == 0).all() and not (terminated | truncated)[ended].any()
            break
    else:
        pytest.fail("no episode ended")
