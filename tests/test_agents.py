"""The agent registry is the one list of agents: the schema, the workflow and the CLI agree with it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ppo.agents import AGENTS, get_agent, label, preset_for, resolve
from ppo.cli import build_parser, main
from ppo.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_the_schema_names_every_registered_agent_and_the_package_checks_them():
    """Agent names are strings in the schema (variants are the config's own); its description lists the
    registry, and check_config refuses a name that is neither registered nor a variant."""
    from ppo.workflow_config import check_config

    description = " ".join(SCHEMA["properties"]["agents"]["description"].split())
    # Compare whole names, in order: a substring test finds "ppo" inside "ppo-zoo".
    listed = re.search(r"registered agent names \(([^;)]*)", description)
    assert listed, description
    assert [name.strip() for name in listed.group(1).split(",")] == list(AGENTS)
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["agents"].append("ppo-turbo")
    with pytest.raises(ConfigError, match="agents: 'ppo-turbo' is neither a registered agent nor a variant; allowed: random"):
        check_config(config)


def test_cli_choices_are_the_registry():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    agent_action = next(a for a in train._actions if a.dest == "agent")
    assert list(agent_action.choices) == list(AGENTS)


def test_every_agent_entry_is_complete_and_loadable():
    colours = [agent.colour for agent in AGENTS.values()]
    assert len(set(colours)) == len(colours), "one colour per agent"
    for agent in AGENTS.values():
        assert agent.label and agent.description and agent.steps_per_second > 0
        assert "default" in agent.presets
        for target in (agent.trainer, agent.actor):
            module, _, name = target.partition(":")
            assert callable(getattr(__import__(module, fromlist=[name]), name)), target


def test_lookups_and_unknown_agents():
    assert label("ppo") == "PPO (tuned)" and label("not-registered") == "not-registered"
    assert preset_for("ppo", "CartPole-v1")[1] is True and preset_for("ppo", "Acrobot-v1")[1] is False
    assert resolve("ppo-zoo", "CartPole-v1")[0].n_steps == 32
    # The message lists the whole registry, in order (a hard-coded list here goes stale with every new agent).
    with pytest.raises(ConfigError, match=re.escape(f"agent='dqn' is unknown; allowed: {', '.join(AGENTS)}") + "$"):
        get_agent("dqn")


def test_listing_agents_does_not_import_torch_or_envs():
    """The workflow reads the registry on every `snakemake` call; it must stay cheap."""
    heavy = "('torch', 'gymnasium', 'matplotlib')"
    code = f"import sys, ppo.agents, ppo.analysis; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_file_an_actor_reads_has_a_train_rule_that_writes_it():
    """Snakemake itself (a dry run) finds the rule writing each agent's model and sidecar files, and the agent's
    own train rule: a file no rule declares would be a MissingRuleException, another agent's rule a wrong run."""
    from ppo.workflow_config import RUN_DIR

    expected_rule = {"model.pt": "train", "model.zip": "train_sb3", "vec_normalize.pkl": "train_sb3"}
    targets = [
        f"{RUN_DIR.format(env='CartPole-v1', agent=agent.name, seed=0)}/{name}"
        for agent in AGENTS.values()
        for name in agent.actor_files
    ]
    assert {t.rsplit("/", 1)[1] for t in targets} == set(expected_rule)
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", *targets, "--configfile", "config/smoke.yaml"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = re.findall(r"^rule (\w+):\n(?:.*\n)*?    output: (.*)$", dry.stdout, flags=re.M)
    for target in targets:
        rules = [rule for rule, outputs in planned if target in outputs.split(", ")]
        assert rules == [expected_rule[target.rsplit("/", 1)[1]]], (target, rules)


def test_every_trainer_has_the_trainer_signature():
    """One signature for every agent's trainer (ppo.agents.Trainer): the same parameters, in order, with the
    same defaults, so the CLI and tuning can call any of them alike."""
    import inspect

    from ppo.agents import Trainer

    expected = list(inspect.signature(Trainer.__call__).parameters.values())[1:]  # without self
    for agent in AGENTS.values():
        got = list(inspect.signature(agent.train).parameters.values())
        assert [(p.name, p.default) for p in got] == [(p.name, p.default) for p in expected], agent.name


def test_an_mlp_setting_from_the_preset_on_an_image_env_is_refused_as_the_presets(tmp_path, capsys):
    """ppo-article's preset sets net_arch and activation, which the CNN does not have: on Breakout the refusal, one
    line, says the setting is the preset's and names the agents with image-env settings, which are accepted there;
    a setting the user wrote is refused as theirs."""
    pytest.importorskip("ale_py")
    breakout = "BreakoutNoFrameskip-v4"
    out = tmp_path / "run"
    assert main(["train", "--agent", "ppo-article", "--env", breakout, "--seed", "0", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not out.exists()
    assert err == (
        f"error: net_arch=(256, 256) comes from ppo-article's preset, for MLP policies; {breakout} uses the Nature CNN "
        "and ppo-article has no settings for image envs: use an agent that has them (ppo-zoo, ppo)"
    )
    for agent in ("ppo-zoo", "ppo"):
        resolve(agent, breakout)
    theirs = f"net_arch=(32,) applies to MLP policies; {breakout} uses the Nature CNN"
    with pytest.raises(ConfigError, match=re.escape(theirs) + "$"):
        resolve("ppo", breakout, {"net_arch": (32,)})
