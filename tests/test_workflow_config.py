"""The config schema and the package-level checks, without running Snakemake."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from ppo.config import ConfigError
from ppo.workflow_config import check_config, train_arguments

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
        lambda c: c.update(agents=["dqn"]),
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


def test_a_config_asking_for_sb3_ppo_without_it_says_what_to_install(monkeypatch):
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
