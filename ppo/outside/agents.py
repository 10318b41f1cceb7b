"""External agents declared in the config: an `agents:` entry whose training is a command instead of a
registered trainer.

    agents:
      - my-ppo:
          command: "../my-ppo/.venv/bin/python ../my-ppo/train.py --env-id {env} --seed {seed} --out {run_dir}"
          label: My PPO
          colour: "#1b9e77"
          episodes: {format: tensorboard}     # how to read its training episodes (ppo.outside.episodes)
          policy: policy.onnx                 # its ONNX policy inside {run_dir}; null: none, not evaluated by ppo-bench
          threads: 1                          # and mem_mb, runtime (minutes) for the job's resources
      - my-ppo-v1:                            # or runs that already exist, imported per (env, seed): no command
          import: "../old-results/{env}/seed{seed}"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ppo.config import ConfigError
from ppo.outside.command import check_template
from ppo.outside.episodes import EpisodesError, EpisodeSource

EXTERNAL_KEYS = (
    "command", "import", "label", "colour", "episodes", "policy", "threads", "mem_mb", "runtime", "cwd", "requires",
)  # fmt: skip
SOURCE_PLACEHOLDERS = ("env", "seed")  # what an `import:` path may ask for
DEFAULT_POLICY = "policy.onnx"
PROGRAM_DIR = "results/outside/{env}/{agent}/seed{seed}"  # {run_dir}: the program's own files, kept and hashed


@dataclass(frozen=True)
class ExternalAgent:
    name: str
    command: str | None  # the training command; None for runs imported from `source`
    label: str
    colour: str | None
    episodes: dict[str, Any]  # the episode source's config (EpisodeSource.from_config)
    policy: str | None  # its ONNX policy, relative to {run_dir}; None: the program leaves none
    threads: int = 1
    mem_mb: int = 2000
    runtime: int | None = None  # minutes on a cluster; None: from the budget at a conservative speed
    cwd: str = "."  # where the command runs (relative paths in it are relative to this; default the workflow's)
    source: str | None = None  # `import:`: the folder of an existing run, a path with {env} and {seed}
    requires: tuple[str, ...] = ()  # paths (relative to cwd) that must exist before any job: its environment, say

    @property
    def evaluated(self) -> bool:
        """Whether ppo-bench plays its policy (the final evaluation every other agent gets)."""
        return self.policy is not None

    def to_dict(self) -> dict[str, Any]:
        """The config entry's body, every default filled in (what a job receives: the workflow's param)."""
        entry = {key: value for key, value in self.__dict__.items() if key not in ("name", "command", "source")}
        entry["requires"] = list(self.requires)
        return {**entry, **({"command": self.command} if self.command is not None else {"import": self.source})}


def is_external(spec: Any) -> bool:
    """An `agents:` entry's body declares an external agent when it has a command (or runs to import)."""
    return isinstance(spec, dict) and ("command" in spec or "import" in spec)


def external_agent(name: str, spec: dict[str, Any], where: str) -> ExternalAgent:
    """The entry checked: ConfigError (one line, naming the key) for an unknown key, a placeholder typo, a bad
    policy path or episode source, before any job."""
    unknown = sorted(set(spec) - set(EXTERNAL_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed for an external agent: {', '.join(EXTERNAL_KEYS)}")
    if ("command" in spec) == ("import" in spec):
        raise ConfigError(f"{where}: give either command (a program to run) or import (runs that exist), not both")
    if "command" in spec:
        check_template(spec["command"], f"{where}.command")
    else:
        check_template(spec["import"], f"{where}.import", allowed=SOURCE_PLACEHOLDERS)
    # A program is asked for a policy by default; runs that exist are curves only unless the entry names one.
    policy = spec.get("policy", DEFAULT_POLICY if "command" in spec else None)
    if policy is not None and (not isinstance(policy, str) or not policy or policy.startswith("/") or ".." in policy):
        raise ConfigError(f"{where}.policy={policy!r} is not a path inside {{run_dir}}; allowed: a relative path, or null")
    try:
        EpisodeSource.from_config(spec.get("episodes"))
    except EpisodesError as err:
        raise ConfigError(f"{where}.episodes: {err}") from None
    for key in ("threads", "mem_mb", "runtime"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{where}.{key}={value!r} is not allowed; allowed: a positive integer")
    colour = spec.get("colour")
    if colour is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", str(colour)):
        raise ConfigError(f"{where}.colour={colour!r} is not allowed; allowed: '#rrggbb'")
    return ExternalAgent(
        name=name,
        command=spec.get("command"),
        source=spec.get("import"),
        label=str(spec.get("label", name)),
        colour=colour,
        episodes=dict(spec.get("episodes") or {}),
        policy=policy,
        threads=spec.get("threads", 1),
        mem_mb=spec.get("mem_mb", 2000),
        runtime=spec.get("runtime"),
        cwd=str(spec.get("cwd", ".")),
        requires=tuple(_paths(spec.get("requires", []), f"{where}.requires")),
    )


def _paths(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"{where}={value!r} is not allowed; allowed: a list of paths")
    return value
