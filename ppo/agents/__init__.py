"""The agent registry: every agent name, what it stands for, and how it trains (rl-baselines3-zoo's ALGOS).

Everything that lists agents reads AGENTS: the CLI's choices, the workflow's wildcard constraints and
cluster runtimes, the check of agent names in a config (the schema leaves them to the package), aggregation
order, the plots' palette and the report's rows. A new agent is one module plus one entry here.

Importing this module is cheap (no torch, no env): a trainer is named as "module:function" and imported
only when a run starts, so `snakemake` and `--help` do not pay for the RL stack.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ppo.agents import article, presets
from ppo.config import ConfigError, Hyperparameters, check_known_keys

if TYPE_CHECKING:
    from ppo.envs import EnvInfo
    from ppo.run.checkpoint import Checkpointer
    from ppo.run.evaluate import PolicyFn
    from ppo.run.log import EvalSettings, Progress, RunResult


class Trainer(Protocol):
    """What every agent's `trainer` is: settings and a seed in, what the run produced out (no files written).
    tests/test_agents.py holds every registered trainer to this signature."""

    def __call__(
        self,
        env_id: str,
        hp: Hyperparameters,
        seed: int,
        evaluation: EvalSettings,
        progress: Progress,
        checkpoints: Checkpointer | None = None,
    ) -> RunResult: ...


@dataclass(frozen=True)
class Agent:
    name: str
    label: str  # display name in figures and tables
    colour: str  # one colour per agent, the same in every figure
    description: str  # one line for --help and the docs
    trainer: str  # "module:function", a Trainer
    actor: str  # "module:function" (run_dir, env info, seed) -> the evaluation policy of a finished run
    model_file: str | None  # the model it leaves in its run directory (the actor reads it), None for none
    resumable: bool  # saves checkpoints and resumes from them (and so stops at a safe point on SIGTERM)
    # Training-loop env steps per second assumed for cluster runtimes: deliberately below the measured speeds,
    # for slower cluster cores and evaluation time (the values' basis: docs/cluster.md).
    steps_per_second: int
    # The same for image envs (Atari's frame stacks through the Nature CNN: an update costs ~100x an MLP's).
    pixel_steps_per_second: int
    presets: presets.Table  # env id -> settings; "default" for any other env
    # An optional package the agent needs: (module to import, what to install), checked before any job starts.
    requires: tuple[str, str] | None = None
    # "module:function" (Hyperparameters) -> None raising ConfigError for settings the agent cannot run.
    settings_check: str | None = None
    # "module:function" (Hyperparameters, EnvInfo, preset=agent name, overrides=names set on the preset) -> None
    # raising ConfigError for settings the agent cannot run on that env (checked by resolve, before any job or file).
    env_settings_check: str | None = None
    # More files of the run directory the actor needs besides the model (sb3-ppo: its normalization statistics).
    sidecar_files: tuple[str, ...] = ()

    @property
    def has_model(self) -> bool:
        return self.model_file is not None

    @property
    def actor_files(self) -> tuple[str, ...]:
        """Every file the actor reads from a finished run: the training rule declares them as outputs."""
        return ((self.model_file,) if self.model_file else ()) + self.sidecar_files

    def cluster_speed(self, env_id: str) -> int:
        """The steps/s a cluster runtime assumes for this agent on env_id (steps_per_second or its pixel one)."""
        from ppo.envs import env_info  # here: listing agents must not import Gymnasium

        return self.pixel_steps_per_second if env_info(env_id).pixels else self.steps_per_second

    def check_installed(self) -> None:
        """ConfigError naming what to install when the agent's optional package is missing."""
        if self.requires is None:
            return
        module, install = self.requires
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"agent {self.name!r} needs {module}, which is not installed: {install}")

    @property
    def train(self) -> Trainer:
        """The agent's trainer function (imported on first use)."""
        return _load(self.trainer)

    def evaluation_policy(self, run_dir: str | Path, info: EnvInfo, seed: int) -> PolicyFn:
        """The policy that evaluation scores and videos show (greedy, or stochastic on pixels: EnvInfo.evaluation_policy)."""
        return _load(self.actor)(run_dir, info, seed)


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _ppo_agent(name: str, label: str, colour: str, description: str, steps_per_second: int, table: presets.Table) -> Agent:
    """An agent that is our PPO with one preset table."""
    return Agent(
        name=name,
        label=label,
        colour=colour,
        description=description,
        trainer="ppo.agents.ppo.train:train_ppo",
        actor="ppo.agents.ppo.networks:saved_evaluation_policy",
        model_file="model.pt",
        resumable=True,
        env_settings_check="ppo.agents.ppo.checks:check_settings",
        steps_per_second=steps_per_second,
        pixel_steps_per_second=150,
        presets=table,
    )


# In display order: tables and legends list agents in this order.
AGENTS: dict[str, Agent] = {
    agent.name: agent
    for agent in (
        Agent(
            name="random",
            label="Random",
            colour="#8c8c8c",
            description="uniformly random actions, same budget and evaluations",
            trainer="ppo.agents.random:run_random",
            actor="ppo.agents.random:saved_random_policy",
            model_file=None,
            resumable=False,
            steps_per_second=5000,
            pixel_steps_per_second=800,
            presets=presets.RANDOM,
        ),
        _ppo_agent(
            "ppo-article",
            "PPO (article settings)",
            "#dd8452",
            "the article's settings, implemented correctly",
            450,
            presets.ARTICLE,
        ),  # fmt: skip
        _ppo_agent(
            "ppo-article-as-written",
            "PPO (article as written)",
            "#a6761d",
            "the article's listing as printed: its settings and its implementation mistakes (ppo/agents/article.py)",
            450,
            article.AS_WRITTEN,
        ),
        _ppo_agent("ppo-zoo", "PPO (rl-zoo settings)", "#55a868", "rl-baselines3-zoo's settings", 1500, presets.ZOO),
        _ppo_agent("ppo", "PPO (tuned)", "#4c72b0", "ours, tuned per env", 1500, presets.TUNED),
        _ppo_agent(
            "ppo-defaults",
            "PPO (general defaults)",
            "#bcbd22",
            "ours with the general defaults on every env (what a tuning study starts from)",
            1500,
            presets.DEFAULTS,
        ),
        Agent(
            name="sb3-ppo",
            label="Stable-Baselines3 PPO",
            colour="#c44e52",
            description="Stable-Baselines3's PPO with rl-baselines3-zoo's settings (the peer of ppo-zoo)",
            trainer="ppo.agents.sb3:train_sb3",
            actor="ppo.agents.sb3:saved_evaluation_policy",
            model_file="model.zip",
            resumable=False,
            steps_per_second=700,
            pixel_steps_per_second=100,
            presets=presets.ZOO,
            requires=("stable_baselines3", "pip install -e '.[peers]'"),
            settings_check="ppo.agents.sb3:check_settings",
            sidecar_files=("vec_normalize.pkl",),
        ),
    )
}


# An external program (config `agents:` entries with a `command:`, ppo/outside): not a registered agent, so no
# `--agent` choice, but the record the workflow and the report read for its runs. It is trained by its own command
# (the workflow's train_external rule) and its actor plays the ONNX policy the program left.
EXTERNAL = Agent(
    name="external",
    label="External program",
    colour="#937860",
    description="a program of the user's own, run by its command (docs/bring-your-own.md)",
    trainer="ppo.outside.runner:not_a_trainer",
    actor="ppo.outside.onnx_policy:saved_evaluation_policy",
    model_file=None,
    resumable=False,
    steps_per_second=300,  # unknown programs: a cluster runtime assumes a slow one (a config entry's runtime overrides)
    pixel_steps_per_second=50,
    presets=presets.RANDOM,  # only the budget applies; the program keeps its own settings
)


def player(run: dict[str, Any]) -> Agent:
    """The agent whose actor plays a finished run's policy (rollout videos; `evaluate` for runs that saved a model):
    a variant's base, our own agents themselves, and the ONNX player for a run from outside (an external
    command's, imported logs'), whose final evaluation the import already played."""
    name = (run.get("variant") or {}).get("base", run["agent"])
    return AGENTS[name] if name in AGENTS else EXTERNAL


def get_agent(name: str) -> Agent:
    try:
        return AGENTS[name]
    except KeyError:
        raise ConfigError(f"agent={name!r} is unknown; allowed: {', '.join(AGENTS)}") from None


def label(name: str) -> str:
    """The display name of an agent (the name itself for one not registered)."""
    return AGENTS[name].label if name in AGENTS else name


def preset_for(agent: str, env_id: str) -> tuple[dict[str, Any], bool]:
    """The preset of `agent` for `env_id`, and whether it was tuned for that env (False = general defaults)."""
    table = get_agent(agent).presets
    if env_id in table:
        return dict(table[env_id]), True
    from ppo.envs import env_info  # here, not at the top: listing agents must not import Gymnasium

    info = env_info(env_id)
    if info.pixels and "atari" in table:  # other image envs (CarRacing) take the Atari settings, untuned for them
        return dict(table["atari"]), info.atari
    default = "default-continuous" if "default-continuous" in table and info.continuous else "default"
    return dict(table[default]), False


def resolve(agent: str, env_id: str, overrides: dict[str, Any] | None = None) -> tuple[Hyperparameters, bool]:
    """Preset for (agent, env) with overrides applied and validated."""
    settings, tuned = preset_for(agent, env_id)
    overrides = dict(overrides or {})
    check_known_keys(list(overrides))
    settings.update(overrides)
    try:
        hp = Hyperparameters(**settings)
    except TypeError as err:  # e.g. a dataclass field received something unhashable
        raise ConfigError(str(err)) from None
    check = get_agent(agent).settings_check
    if check is not None:
        _load(check)(hp)
    env_check = get_agent(agent).env_settings_check
    if env_check is not None:
        from ppo.envs import env_info

        _load(env_check)(hp, env_info(env_id), preset=agent, overrides=list(overrides))
    return hp, tuned
