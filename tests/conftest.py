import os

import gymnasium as gym
import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


class EndlessEnv(gym.Env):
    """Reward 1 forever from one constant observation; only a TimeLimit ends an episode (truncation).
    Its true value is 1 / (1 - gamma); a critic that treats truncation as termination learns less."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(2, np.float32), {}

    def step(self, action):
        return np.ones(2, np.float32), 1.0, False, False, {}


class BoxActionEnv(EndlessEnv):
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


class MultiDiscreteActionEnv(EndlessEnv):
    action_space = gym.spaces.MultiDiscrete([2, 3])


class UnboundedActionEnv(EndlessEnv):
    action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


class DictObservationEnv(EndlessEnv):
    observation_space = gym.spaces.Dict({"position": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})


class NaNAfterTenStepsEnv(EndlessEnv):
    """A broken simulator: its observation turns to NaN on the 10th step of an episode."""

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed)

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t >= 10 else 1.0, np.float32)
        return obs, 1.0, False, False, {}


gym.register("PPOBenchNaN-v0", entry_point=NaNAfterTenStepsEnv, max_episode_steps=50)
gym.register("PPOBenchEndless-v0", entry_point=EndlessEnv, max_episode_steps=20)
gym.register("PPOBenchBoxAction-v0", entry_point=BoxActionEnv, max_episode_steps=20)
gym.register("PPOBenchMultiDiscrete-v0", entry_point=MultiDiscreteActionEnv, max_episode_steps=20)
gym.register("PPOBenchUnbounded-v0", entry_point=UnboundedActionEnv, max_episode_steps=20)
gym.register("PPOBenchDictObs-v0", entry_point=DictObservationEnv, max_episode_steps=20)


@pytest.fixture
def tmp_run(tmp_path):
    return tmp_path / "run"


@pytest.fixture
def zoo_venv(tmp_path, monkeypatch):
    """The working directory holds what config/peers.yaml's zoo-cli agent requires (.venv-zoo, built by `make
    zoo-venv`), so its config passes the check without building rl-zoo3's environment."""
    python = tmp_path / ".venv-zoo/bin/python"
    python.parent.mkdir(parents=True)
    python.touch()
    monkeypatch.chdir(tmp_path)
