"""Runs that already exist, imported as ppo-bench run directories without rerunning them.

Two sources:
- a program's logs (`import_logs`): TensorBoard events, SB3 monitor.csv files or an episodes.csv (episodes.py)
  become one run directory. Its training curve joins the report; its final evaluation exists only when the
  folder holds a policy.onnx (or one is given), which ppo-bench itself plays on the fixed evaluation seeds.
  Without one, evals.csv is empty and run.json's final_eval null: the run is kept out of the final scores.
- another ppo-bench results tree (`import_results_tree`), e.g. an older checkout's: every complete run directory
  is copied as it is, optionally under a new agent name (`ppo` -> `ppo@v1`), so an older version of the code sits
  beside today's in one report (regression tracking between versions).

Every imported run.json carries `outside`: {"kind": "imported", "source", "files" (relative path: sha256 of each
file read or copied), "imported_at", "evaluated_by_ppo_bench"}. A run directory is built in a hidden temporary
directory beside its final name and renamed into place whole: a failure leaves nothing under the final name, and
a rerun replaces the earlier import.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ppo.agents import AGENTS
from ppo.envs import EVAL_SEED_BASE, env_info, resolve_env_id
from ppo.outside.episodes import EpisodesError, EpisodeSource, find_episode_files, read_episodes
from ppo.run.directory import ResultsError, read_run, write_run, write_run_json
from ppo.run.log import RunResult

POLICY_FILE = "policy.onnx"  # the contract's policy file in a run directory (docs/bring-your-own.md)
RUN_FILES = frozenset({"run.json", "episodes.csv", "evals.csv", POLICY_FILE})  # what an import writes
# An agent name becomes a directory and a label in tables: no path separators, no spaces.
AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
FALLBACK_COLOUR = "#937860"  # ppo.analysis.styles' colour for agents without one


@dataclass(frozen=True)
class ImportedTree:
    """What import_results_tree did: the run directories written, and the directories skipped as incomplete
    (no run.json: a run that was still training or failed)."""

    written: list[Path]
    skipped: list[Path]


def check_agent_name(name: str) -> str:
    if not AGENT_NAME.match(name):
        raise ValueError(
            f"agent name {name!r} is not allowed; allowed: letters, digits, '.', '_', '@', '+', '-', not starting with a sign"
        )
    return name


def import_logs(
    source: str | Path,
    out: str | Path,
    env: str,
    agent: str,
    seed: int,
    *,
    episodes: EpisodeSource | None = None,
    label: str | None = None,
    colour: str | None = None,
    policy: str | Path | None = None,
    final_episodes: int = 100,
    eval_width: int = 10,
    find_policy: bool = True,
    provenance: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run directory at `out` from the logs in `source`; returns its run.json. The policy is `policy`, else
    source/policy.onnx if there is one (unless find_policy is False); with a policy the run is evaluated here
    (final_episodes greedy episodes, or stochastic where the env's protocol says so, on the fixed evaluation seeds)."""
    source, out = Path(source).resolve(), Path(out)
    check_agent_name(agent)
    env_id, _ = resolve_env_id(env)
    info = env_info(env_id)
    episodes = episodes or EpisodeSource()
    fmt, files = find_episode_files(source, episodes)
    frame = read_episodes(source, episodes)  # refusals first: nothing is written for an unreadable source
    if frame.empty:
        raise EpisodesError(f"{files[0]} holds no finished episode ({fmt} format); nothing to import")
    policy_path = Path(policy).resolve() if policy is not None else source / POLICY_FILE
    if policy is not None and not policy_path.is_file():
        raise FileNotFoundError(f"policy {policy_path} is not a file; expected an ONNX graph (docs/bring-your-own.md)")
    has_policy = policy_path.is_file() and (policy is not None or find_policy)
    if has_policy:
        from ppo.outside.onnx_policy import load_onnx_policy

        load_onnx_policy(policy_path, info)  # checked where the user put it: a refusal names their file
    hashed = {_relative(f, source): sha256(f) for f in [*files, *([policy_path] if has_policy else [])]}

    last = frame.iloc[-1]
    result = RunResult(
        episodes=list(frame.itertuples(index=False, name=None)),
        total_steps=int(frame["step"].max()),
        # The log's own clock from start to its last episode (the program's evaluations included, if it ran
        # any); -1 when the log has no clock, and then no speed is stated.
        train_seconds=max(float(last["wall_s"]), 0.0),
    )
    outside = {
        "kind": "imported",
        "source": str(source),
        "format": fmt,
        "files": hashed,
        "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "evaluated_by_ppo_bench": has_policy,
        "label": label or agent,
        "colour": colour or FALLBACK_COLOUR,
        **(provenance or {}),  # an external command's record (ppo.outside.runner): kind "command", the command, times
    }
    meta = {
        "env": env_id,
        "env_requested": env,
        "agent": agent,
        "seed": seed,
        "hyperparameters": dict(hyperparameters or {}),  # what ppo-bench asked for (the budget); the rest is the program's
        "evaluation": None,
        "solved_threshold": info.solved_threshold,
        "outside": outside,
    }
    with _building(out) as tmp:
        if has_policy:
            shutil.copyfile(policy_path, tmp / POLICY_FILE)
            result.final_eval, result.eval_seconds = _evaluate(tmp, env_id, info, seed, final_episodes, eval_width)
            wall = float(last["wall_s"])
            result.evals = [
                ("final", result.total_steps, wall, k, float(r), int(n), bool(c))
                for k, (r, n, c) in enumerate(zip(*result.final_eval))
            ]
            meta["evaluation"] = {
                "final_episodes": final_episodes,
                "width": eval_width,
                "threshold": info.solved_threshold,
                "seed_base": EVAL_SEED_BASE,
                "policy": info.evaluation_policy,
            }
        return write_run(tmp, result, meta)


def _evaluate(run_dir: Path, env_id: str, info, seed: int, episodes: int, width: int):
    """The final evaluation of the ONNX policy in run_dir, as every agent's: ppo-bench's evaluator on the fixed
    seeds, the env's evaluation policy (greedy, or stochastic on image envs)."""
    import time

    from ppo.outside.onnx_policy import saved_evaluation_policy
    from ppo.run.evaluate import Evaluator

    act = saved_evaluation_policy(run_dir, info, seed)  # checks the graph against the env before any episode
    evaluator = Evaluator(env_id, min(width, episodes))
    t0 = time.perf_counter()
    try:
        played = evaluator.run(act, episodes)
    finally:
        evaluator.close()
    return played, time.perf_counter() - t0


def find_complete_runs(root: str | Path) -> tuple[list[Path], list[Path]]:
    """Run directories under root: (complete ones, with run.json; incomplete ones, with episodes.csv or a
    checkpoint but no run.json), each sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; expected a ppo-bench results tree (results/runs)")
    complete = sorted(p.parent for p in root.rglob("run.json"))
    partial = sorted({p.parent for name in ("episodes.csv", "checkpoint.pt") for p in root.rglob(name)} - set(complete))
    return complete, partial


def import_results_tree(
    source: str | Path,
    out_root: str | Path,
    *,
    agent_suffix: str = "",
    rename: dict[str, str] | None = None,
) -> ImportedTree:
    """Copy every complete run directory under `source` (a ppo-bench results/runs tree, of any version) to
    out_root/ENV/AGENT/seedS, AGENT renamed by `rename` ({old: new}) or else given `agent_suffix`. Every run is
    read and checked, and every destination worked out, before the first is written."""
    source = Path(source).resolve()
    rename = dict(rename or {})
    for new in rename.values():
        check_agent_name(new)
    complete, partial = find_complete_runs(source)
    if not complete:
        raise ResultsError(f"{source} holds no complete run directory (no run.json under it); expected results/runs")
    plans = []
    for run_dir in complete:
        run = read_run(run_dir).run  # columns, NaN and JSON checked; older versions' logs read as today's
        try:
            env, agent, seed = run["env"], run["agent"], int(run["seed"])
        except (KeyError, TypeError, ValueError) as err:
            raise ResultsError(f"{run_dir / 'run.json'} lacks a valid field {err}") from None
        new_agent = check_agent_name(rename.get(agent, f"{agent}{agent_suffix}"))
        plans.append((run_dir, run, new_agent, Path(out_root) / env / new_agent / f"seed{seed}"))
    destinations: dict[Path, Path] = {}
    for run_dir, _, _, dest in plans:
        if dest in destinations:
            raise ValueError(f"{run_dir} and {destinations[dest]} would both be imported to {dest}; rename one agent")
        destinations[dest] = run_dir
    now = datetime.now(UTC).isoformat(timespec="seconds")
    written = []
    for run_dir, run, new_agent, dest in plans:
        with _building(dest) as tmp:
            files = _copy_run_files(run_dir, tmp)
            write_run_json(tmp, _renamed(run, new_agent, run_dir, files, now))
        written.append(dest)
    return ImportedTree(written, partial)


def _copy_run_files(run_dir: Path, dest: Path) -> dict[str, str]:
    """Every file of the run directory but run.json (rewritten) and hidden ones (a writer's temporary files),
    with the sha256 of each as copied (run.json's is the source's)."""
    hashed = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        hashed[str(rel)] = sha256(path)
        if rel.as_posix() != "run.json":
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    return hashed


def _renamed(run: dict[str, Any], agent: str, run_dir: Path, files: dict[str, str], now: str) -> dict[str, Any]:
    """run.json of the copy: the source's record unchanged (its versions, commit, scores) but for the agent's
    name and display, and the provenance of the import."""
    out = dict(run)
    old = run["agent"]
    outside = {
        "kind": "imported",
        "source": str(run_dir),
        "files": files,
        "imported_at": now,
        "evaluated_by_ppo_bench": run.get("final_eval") is not None,
    }
    if run.get("outside"):  # imported before: keep where it came from first
        outside["previous"] = run["outside"]
    if agent != old:
        # A renamed run is a variant of its original agent: the base plays its model (rollouts), the label says
        # which version it is and its colour is the original's, paler, so it reads as the older of the two.
        variant = dict(run.get("variant") or {})
        base = variant.get("base", old)
        label = variant.get("label") or (AGENTS[old].label if old in AGENTS else old)
        colour = variant.get("colour") or (AGENTS[old].colour if old in AGENTS else FALLBACK_COLOUR)
        # `ppo@v1` (a suffix) is shown as "PPO (ours) @v1"; a name chosen by --rename is shown as it is.
        shown = f"{label} {agent[len(old) :]}" if agent.startswith(old) else agent
        out["agent"] = agent
        out["variant"] = {"base": base, "label": shown, "colour": paler(colour)}
        outside["renamed_from"] = old
    out["outside"] = outside
    return out


def paler(colour: str, amount: float = 0.45) -> str:
    """`colour` ('#rrggbb') mixed with white: the same hue, lighter."""
    try:
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    except (ValueError, IndexError):
        return FALLBACK_COLOUR
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


@contextmanager
def _building(out: Path) -> Iterator[Path]:
    """A hidden temporary directory beside `out`, renamed to `out` if the block succeeds (replacing an earlier
    run directory there), removed if it fails. A directory at `out` that is not a run directory is refused:
    an import replaces runs, never a user's other files."""
    out = Path(out)
    # What Snakemake leaves of a run directory when a job's outputs change: it deletes the files the rule now
    # declares, so the policy of an entry whose `policy:` became null stays behind, alone.
    leftover = out.is_dir() and all(p.name in RUN_FILES and p.is_file() for p in out.iterdir())
    if out.exists() and not (out / "run.json").is_file() and not leftover:
        raise FileExistsError(f"{out} exists and is not a run directory (no run.json); expected a new or a run directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.import-"))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; results are meant to be read
        if not out.exists():
            os.rename(tmp, out)
            return
        # Two renames: the earlier run moves aside, then the new one in; it comes back if the second fails.
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.replaced-"))
        os.rename(out, old / "run")
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old / "run", out)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
