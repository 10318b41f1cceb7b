import pytest

from ppo.agents import AGENTS, resolve
from ppo.config import ConfigError, Hyperparameters, parse_overrides


def test_overrides_are_read_as_yaml():
    got = parse_overrides(["net_arch=[32, 32]", "learning_rate=3e-4", "max_grad_norm=null", "normalize_advantage=false"])
    assert got == {"net_arch": [32, 32], "learning_rate": "3e-4", "max_grad_norm": None, "normalize_advantage": False}
    hp, _ = resolve("ppo", "CartPole-v1", got)
    # YAML 1.1 reads 3e-4 as a string; float fields take it as the number users meant.
    assert hp.net_arch == (32, 32) and hp.max_grad_norm is None and hp.learning_rate == 3e-4


def test_yaml_values_are_never_evaluated_as_code():
    with pytest.raises(ConfigError, match="is not valid YAML"):
        resolve("ppo", "CartPole-v1", parse_overrides(["activation=!!python/object/apply:os.system ['echo hi']"]))


def test_unknown_key_suggests_close_matches():
    with pytest.raises(ConfigError, match=r"unknown hyperparameter 'learning_rat'; did you mean learning_rate\?"):
        parse_overrides(["learning_rat=0.1"])


@pytest.mark.parametrize(
    "override, message",
    [
        ({"learning_rate": "fast"}, "learning_rate='fast' has the wrong type"),
        ({"learning_rate": 0}, "learning_rate=0 is out of range; allowed: > 0"),
        ({"clip_range": 0}, "clip_range=0 is out of range"),
        ({"gamma": 1.5}, "gamma=1.5 is out of range; allowed: 0 < gamma <= 1"),
        ({"gamma": 0}, "gamma=0 is out of range"),
        ({"n_envs": 2, "n_steps": 4, "batch_size": 9}, "batch_size=9 is out of range; allowed: 1 .. n_envs \\* n_steps = 8"),
        ({"n_envs": 2, "n_steps": 4, "batch_size": 8, "total_timesteps": 7}, "total_timesteps=7 is out of range"),
        ({"net_arch": []}, "net_arch=\\(\\) has the wrong type"),
        ({"activation": "gelu"}, "activation='gelu' is out of range; allowed: tanh | relu"),
        ({"n_epochs": True}, "n_epochs=True has the wrong type"),
    ],
)
def test_bad_values_name_the_value_and_what_is_allowed(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve("ppo", "CartPole-v1", override)


def test_presets_are_valid_and_untuned_envs_are_flagged():
    # The tables' catch-all keys stand for an env without its own entry: resolve them on one such env.
    stand_in = {"default": "Acrobot-v1", "default-continuous": "MountainCarContinuous-v0", "atari": "PongNoFrameskip-v4"}
    for agent in AGENTS.values():
        for env in agent.presets:
            resolve(agent.name, stand_in.get(env, env))
    assert resolve("ppo", "Acrobot-v1")[1] is False
    assert resolve("ppo", "CartPole-v1")[1] is True


def test_article_preset_matches_the_article():
    cart, _ = resolve("ppo-article", "CartPole-v1")
    lunar, _ = resolve("ppo-article", "LunarLander-v3")
    assert (cart.n_envs, cart.n_steps, cart.n_iterations) == (1, 256, 300)
    assert (lunar.n_steps, lunar.n_iterations, lunar.clip_range) == (512, 500, 0.15)
    for hp in (cart, lunar):
        assert (hp.n_epochs, hp.batch_size, hp.learning_rate, hp.gamma, hp.gae_lambda) == (3, 16, 3e-4, 0.999, 0.95)
        assert hp.net_arch == (256, 256)


def test_unknown_agent():
    with pytest.raises(
        ConfigError,
        match="agent=.dqn. is unknown; allowed: random, ppo-article, ppo-article-as-written, ppo-zoo, ppo, ppo-defaults, "
        "sb3-ppo",
    ):
        resolve("dqn", "CartPole-v1")


def test_field_help_covers_every_field():
    assert set(Hyperparameters.field_help()) == set(Hyperparameters().to_dict())
