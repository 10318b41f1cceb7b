"""The config schema and the package-level checks, without running Snakemake."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from ppo.config import ConfigError
from ppo.workflow_config import check_config, display_arguments, env_agents, train_arguments, variants

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml"])
def test_shipped_configs_pass(name):
    config = load(name)
    validate(copy.deepcopy(config), SCHEMA, set_default=False)
    check_config(config)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(seeds=[-1]),
        lambda c: c.update(seeds=[0, 0]),
        lambda c: c.update(agents=[{"v": {"label": "a variant without a base"}}]),
        lambda c: c.update(typo_key=1),
        lambda c: c["envs"]["CartPole-v1"].update(total_timesteps="many"),
        lambda c: c["envs"]["CartPole-v1"].update(eval_evry=10),
        lambda c: c["envs"].update({"ALE/Pong-v5": c["envs"]["CartPole-v1"]}),
        lambda c: c["evaluation"].update(episodes=0),
    ],
)
def test_schema_rejects_bad_structure(change):
    config = load("config.yaml")
    change(config)
    with pytest.raises(Exception, match="Error validating config file"):
        validate(config, SCHEMA, set_default=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["envs"].update({"CartPol-v1": c["envs"].pop("CartPole-v1")}), "envs.CartPol-v1: unknown env id"),
        (lambda c: c["envs"].update({"LunarLander-v2": c["envs"].pop("LunarLander-v3")}), "write the id Gymnasium knows"),
        (lambda c: c["envs"]["CartPole-v1"]["hyperparameters"].update(ppo={"lr": 1}), "unknown hyperparameter 'lr'"),
        (
            lambda c: c["envs"]["CartPole-v1"]["hyperparameters"].update(ppo={"learning_rate": "fast"}),
            "envs.CartPole-v1.hyperparameters.ppo: learning_rate='fast' has the wrong type",
        ),
        (lambda c: c["rollouts"].update(agents=["ppo-zoo"]), "rollouts.agents: ppo-zoo not run on any env"),
    ],
)
def test_package_checks_name_the_key_and_value(change, message):
    config = load("config.yaml")
    change(config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        check_config(config)


def test_a_config_asking_for_sb3_ppo_without_it_says_what_to_install(monkeypatch, zoo_venv):
    import importlib.util

    config = load("peers.yaml")
    check_config(config)  # the lock installs Stable-Baselines3
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "stable_baselines3" else real(name, *a))
    with pytest.raises(ConfigError, match=r"agent 'sb3-ppo' needs stable_baselines3, which is not installed: pip install"):
        check_config(config)


def test_train_arguments_carry_overrides_and_budget():
    args = train_arguments(load("config.yaml"), "CartPole-v1", "ppo-article")
    assert "--set=total_timesteps=76800" in args and "--eval-every=5000" in args and "--solved-threshold=475" in args


def test_bad_config_stops_snakemake_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "--config", "seeds=[-1]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "config error" in line]
    assert lines == ["config error: seeds[0]: -1 is less than the minimum of 0"]


def test_command_line_seeds_become_integers():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "--config", "seeds=[0,1]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_config_file_that_is_not_yaml_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeds: [0, 1\nagents: : :\n")
    command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "--configfile", str(bad)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Config file is not valid JSON or YAML" in result.stdout + result.stderr


def test_zoo_agent_is_accepted_with_its_own_overrides():
    config = load("config.yaml")
    config["agents"].append("ppo-zoo")
    config["envs"]["LunarLander-v3"]["hyperparameters"]["ppo-zoo"] = {"n_epochs": 2}
    validate(copy.deepcopy(config), SCHEMA, set_default=False)
    check_config(config)
    assert "--set=n_epochs=2" in train_arguments(config, "LunarLander-v3", "ppo-zoo")


VARIANT = {"base": "ppo", "label": "PPO, lr 1e-3", "hyperparameters": {"learning_rate": 0.001}}


def add(variant):
    return lambda c: c["agents"].append(variant)


SWEEP_ELSEWHERE = {"s": {"base": "ppo", "envs": ["Acrobot-v1"], "grid": {"n_epochs": [1]}}}
NO_SHUFFLE = {"shuffle_minibatches": False, "n_envs": 1, "n_steps": 256, "batch_size": 64}
NO_SHUFFLE_SB3 = {"base": "sb3-ppo", "hyperparameters": NO_SHUFFLE}


@pytest.mark.parametrize(
    "change, message",
    [
        (add({"Bad Name": VARIANT}), "agents.Bad Name: name 'Bad Name' is not safe in paths"),
        (add({"ppo": VARIANT}), "agents.ppo: name 'ppo' is already taken"),
        (add({"v": {**VARIANT, "seed": 3}}), "agents.v: unknown key 'seed'; allowed: base"),
        (add({"v": {**VARIANT, "base": "dqn"}}), "agents.v.base='dqn' is not a registered agent"),
        (add({"v": {"base": "ppo", "hyperparameters": {"lr": 1}}}), "agents.v.hyperparameters: unknown hyperparameter 'lr'"),
        (add({"v": {"base": "ppo", "hyperparameters": {"gamma": 2}}}), "agents.v: gamma=2 is out of range"),
        (lambda c: c.update(sweeps=SWEEP_ELSEWHERE), "sweeps.s.envs: 'Acrobot-v1' is not in envs"),
        (lambda c: c.update(ladder=["ppo", "nope"]), "ladder: 'nope' does not run on any env"),
        (add({"v": NO_SHUFFLE_SB3}), "agents.v: shuffle_minibatches=False has no like-for-like Stable-Baselines3 equivalent"),
    ],
)
def test_variants_sweeps_and_ladders_are_checked_in_one_line(change, message):
    config = load("smoke.yaml")
    change(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config)


def test_a_variant_resolves_on_its_base_with_its_settings_then_the_envs():
    config = load("smoke.yaml")
    del config["tuning"]  # its tuned variant is a variant too; tested on its own
    config["agents"].append({"ppo-lr": VARIANT})
    config["envs"]["CartPole-v1"]["agents"].append("ppo-lr")
    config["envs"]["CartPole-v1"]["hyperparameters"]["ppo-lr"] = {"n_epochs": 3}
    args = train_arguments(config, "CartPole-v1", "ppo-lr")
    expected = ("--agent=ppo", "--variant=ppo-lr", "--set=learning_rate=0.001", "--set=n_epochs=3")
    assert all(e in args for e in expected) and "label" not in args, args
    # The label is shown, not trained: it goes to the summary.
    # (with the smoke config's external agent, which takes the palette's colour after the variants')
    display = (
        """--display='{"minimal-ppo": {"colour": "#937860", "label": "Minimal PPO (external)"}, """
        """"ppo-lr": {"colour": "#8172b3", "label": "PPO, lr 1e-3"}}'"""
    )
    assert display_arguments(config, "CartPole-v1") == display
    assert variants(config)["ppo-lr"].colour.startswith("#")


def test_a_sweep_expands_to_one_readable_variant_per_grid_point():
    config = load("smoke.yaml")
    del config["tuning"]
    config["sweeps"] = {
        "lr": {"base": "ppo", "envs": ["CartPole-v1"], "grid": {"learning_rate": [0.0001, 0.001], "n_epochs": [4, 10]}}
    }
    check_config(config)
    names = [v.name for v in variants(config).values()]
    expected = ["lr-learning_rate0.0001-n_epochs4", "lr-learning_rate0.0001-n_epochs10"]
    expected += ["lr-learning_rate0.001-n_epochs4", "lr-learning_rate0.001-n_epochs10"]
    assert names == expected
    assert set(names) <= set(env_agents(config, "CartPole-v1")) and not set(names) & set(env_agents(config, "LunarLander-v3"))
    assert variants(config)["lr-learning_rate0.001-n_epochs4"].label == "lr: learning_rate=0.001, n_epochs=4"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(seeds=[0, 1000]), "tuning.studies.cartpole-study.seeds: [0] are also the config's seeds"),
        (lambda s: s.update(space={"learning_rat": {"low": 1e-4, "high": 1e-3}}),
         "tuning.studies.cartpole-study.space.learning_rat: unknown hyperparameter 'learning_rat'"),
        (lambda s: s.update(storage="redis://localhost/0"), "storage 'redis://localhost/0': unknown scheme 'redis'"),
        (lambda s: s.update(env="Pendulum-v1"), "tuning.studies.cartpole-study.env='Pendulum-v1' is not in envs"),
        (lambda s: s.update(base="sb3-ppo"), "tuning.studies.cartpole-study.base='sb3-ppo' cannot be tuned"),
    ],
)  # fmt: skip
def test_a_bad_tuning_study_is_refused_before_any_job_in_one_line(change, message):
    config = load("smoke.yaml")
    change(config["tuning"]["studies"]["cartpole-study"])
    with pytest.raises(ConfigError) as refused:
        check_config(config)
    assert message in str(refused.value) and "\n" not in str(refused.value)
