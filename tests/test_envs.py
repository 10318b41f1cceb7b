import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from ppo.envs import EnvError, env_info, make_vec_env, resolve_env_id


def test_article_env_name_maps_to_v3_with_a_notice():
    env_id, notice = resolve_env_id("LunarLander-v2")
    assert env_id == "LunarLander-v3" and "LunarLander-v3" in notice


def test_unknown_env_lists_close_matches():
    with pytest.raises(EnvError, match="unknown env id 'CartPol-v1'; did you mean CartPole-v1"):
        resolve_env_id("CartPol-v1")


def test_continuous_actions_are_refused():
    with pytest.raises(EnvError, match="supported: Discrete"):
        env_info("PPOBenchBoxAction-v0")


def test_env_info():
    info = env_info("LunarLander-v3")
    assert (info.obs_dim, info.n_actions, info.solved_threshold) == (8, 4, 200.0)


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
