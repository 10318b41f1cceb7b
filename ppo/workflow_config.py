"""The workflow's side of the config: checks the schema cannot express, and the arguments of each job.

The Snakefile validates the structure with snakemake.utils.validate (workflow/schemas), then calls
check_config() here, so a bad env id or hyperparameter stops the run before any job starts.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ppo.agents import get_agent, resolve
from ppo.config import ConfigError, check_known_keys
from ppo.envs import EnvError, env_info, resolve_env_id


def coerce_command_line(config: dict[str, Any]) -> None:
    """`snakemake --config seeds=[0,1]` hands over the list items as strings (Snakemake parses lists with
    YAML's BaseLoader); make integer-looking seeds integers again so the schema sees what users meant."""
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.lstrip("-").isdigit() else s for s in seeds]


def schema_error_line(config: dict[str, Any], schema_path: str | Path) -> str | None:
    """The most relevant schema violation as one line, `key.path: message`, or None if valid.
    (Snakemake's validate reports the same error over many lines; this is what users need to read.)"""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = error.json_path.removeprefix("$").removeprefix(".") or "config"
    return f"{where}: {error.message}"


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError (one line, naming the key and value) for what the JSON schema cannot check."""
    used = {agent for env in config["envs"] for agent in env_agents(config, env)}
    for agent in sorted(used):
        get_agent(agent).check_installed()  # e.g. sb3-ppo without Stable-Baselines3: say what to install
    for env, settings in config["envs"].items():
        try:
            env_id, _ = resolve_env_id(env)
            env_info(env_id)
        except EnvError as err:
            raise ConfigError(f"envs.{env}: {err}") from None
        if env_id != env:
            raise ConfigError(f"envs.{env}: write the id Gymnasium knows, {env_id!r}, so result paths are unambiguous")
        for agent in env_agents(config, env):
            try:
                resolve(agent, env, hyperparameters(config, env, agent))
            except ConfigError as err:
                raise ConfigError(f"envs.{env}.hyperparameters.{agent}: {err}") from None
        for agent, overrides in settings.get("hyperparameters", {}).items():
            try:
                check_known_keys(list(overrides))
            except ConfigError as err:
                raise ConfigError(f"envs.{env}.hyperparameters.{agent}: {err}") from None
    missing = [agent for agent in config["rollouts"]["agents"] if agent not in used]
    if missing:
        raise ConfigError(
            f"rollouts.agents: {', '.join(missing)} not run on any env (agents: {sorted(used)}); allowed: agents that run"
        )


def env_agents(config: dict[str, Any], env: str) -> list[str]:
    """The agents trained on `env`: its own `agents` list when it has one, else the config's."""
    return config["envs"][env].get("agents", config["agents"])


def rollout_agents(config: dict[str, Any], env: str) -> list[str]:
    """The agents recorded on `env`: rollouts.agents, as far as they run on it."""
    return [agent for agent in config["rollouts"]["agents"] if agent in env_agents(config, env)]


def hyperparameters(config: dict[str, Any], env: str, agent: str) -> dict[str, Any]:
    """The overrides of (env, agent): the env's budget, then the agent's own overrides."""
    settings = config["envs"][env]
    overrides = {"total_timesteps": settings["total_timesteps"]}
    overrides.update(settings.get("hyperparameters", {}).get(agent, {}) or {})
    return overrides


def train_arguments(config: dict[str, Any], env: str, agent: str) -> str:
    """The `python -m ppo train` options of one job, shell-quoted. Snakemake stores this string as a
    param, so editing one env's or agent's settings reruns exactly the jobs it changes."""
    settings = config["envs"][env]
    args = [f"--eval-every={settings['eval_every']}"]
    if settings.get("solved_threshold") is not None:
        args.append(f"--solved-threshold={settings['solved_threshold']}")
    args.append(f"--eval-episodes={config['evaluation']['episodes']}")
    checkpoints = config.get("checkpoints", {})
    if "minutes" in checkpoints:
        args.append(f"--checkpoint-minutes={checkpoints['minutes']}")
    if "iterations" in checkpoints:
        args.append(f"--checkpoint-iterations={checkpoints['iterations']}")
    args.append(f"--final-eval-episodes={config['evaluation']['final_episodes']}")
    for key, value in sorted(hyperparameters(config, env, agent).items()):
        args.append(f"--set={key}={_yaml_scalar(value)}")
    return " ".join(shlex.quote(arg) for arg in args)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_yaml_scalar(v) for v in value) + "]"
    return str(value)
