"""One run of an external agent: its command, then its logs read and its policy played, as an import.

The program writes into its own fresh directory ({run_dir}: results/outside/ENV/AGENT/seedS), which ppo-bench
reads once the program exits 0: its training episodes (ppo.outside.episodes), its ONNX policy (played by our
evaluator on the fixed evaluation seeds, ppo.outside.onnx_policy) and, if it writes one, its own version record
(`versions.json`). The run directory (results/runs/ENV/AGENT/seedS) is then written by the importer, whole or not
at all; its run.json's `outside` says what was run: the command as run, exit status, wall and CPU seconds, the
hashes of every file the program left.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ppo.config import ConfigError
from ppo.envs import env_info, resolve_env_id
from ppo.outside.agents import ExternalAgent
from ppo.outside.command import render, run_command
from ppo.outside.episodes import EpisodeSource
from ppo.outside.importer import import_logs, sha256

VERSIONS_FILE = "versions.json"  # the program's own version record, if it writes one (any JSON object)


def run_external(
    agent: ExternalAgent,
    env: str,
    seed: int,
    total_timesteps: int,
    out: str | Path,
    program_dir: str | Path,
    *,
    final_episodes: int = 100,
    eval_width: int = 10,
) -> dict[str, Any]:
    """Train `agent` by its command on `env` with `seed` and the budget, then write the run directory `out`;
    returns its run.json. Everything that can be checked is checked before the program starts."""
    env_id, _ = resolve_env_id(env)
    env_info(env_id)  # an env ppo-bench cannot make is refused before the program runs
    source = EpisodeSource.from_config(agent.episodes)
    if agent.source is not None:  # runs that exist: imported as they are, nothing run
        folder = Path(agent.cwd) / agent.source.format(env=env_id, seed=seed)
        return import_logs(
            folder, out, env_id, agent.name, seed, episodes=source, label=agent.label, colour=agent.colour,
            policy=folder / agent.policy if agent.policy is not None else None, find_policy=False,
            final_episodes=final_episodes, eval_width=eval_width, hyperparameters={"total_timesteps": total_timesteps},
        )  # fmt: skip
    program = Path(program_dir).resolve()
    cwd = Path(agent.cwd).resolve()
    if not cwd.is_dir():
        raise ConfigError(f"agents.{agent.name}.cwd={agent.cwd!r} is not a directory; allowed: an existing directory")
    # A fresh directory each attempt: a rerun after a failure never reads what the failed attempt left.
    shutil.rmtree(program, ignore_errors=True)
    program.mkdir(parents=True)
    values = {"env": env_id, "seed": seed, "total_timesteps": total_timesteps, "run_dir": program,
              "threads": agent.threads}  # fmt: skip
    finished = run_command(render(agent.command, values), str(cwd), agent.threads)

    files = sorted(p for p in program.rglob("*") if p.is_file())
    provenance = {
        "kind": "command",
        "command": finished.command,
        "template": agent.command,
        "cwd": str(cwd),
        "exit_status": finished.exit_status,
        "wall_seconds": finished.wall_seconds,
        "cpu_seconds": finished.cpu_seconds,
        "threads": agent.threads,
        "files": {str(p.relative_to(program)): sha256(p) for p in files},
        "program_versions": _program_versions(program / VERSIONS_FILE),
    }
    return import_logs(
        program,
        out,
        env_id,
        agent.name,
        seed,
        episodes=source,
        label=agent.label,
        colour=agent.colour,
        policy=program / agent.policy if agent.policy is not None else None,
        find_policy=False,
        final_episodes=final_episodes,
        eval_width=eval_width,
        provenance=provenance,
        hyperparameters={"total_timesteps": total_timesteps},
    )


def _program_versions(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not JSON ({err}); expected the program's version record, a JSON object") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds a {type(record).__name__}; expected the program's version record, a JSON object")
    return record


def not_a_trainer(*args, **kwargs):
    """The external agents' registry record names no trainer of ours: their program trains (run_external)."""
    raise TypeError("an external agent trains by its own command (python -m ppo run-external), not as a registered agent")
