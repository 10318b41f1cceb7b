"""Evaluation speed of an exported ONNX policy against the actor it came from (docs/speed.md, "ONNX policies").

    python -m ppo.outside.onnx_speed RUN_DIR [RUN_DIR ...] [--episodes 100] [--repeats 5]

For each of our ppo runs: export its actor to ONNX (a temporary file), then time, interleaved and repeated (the
median is reported), on one thread:
- one call of the policy on a batch of 1 and of 20 observations (the Evaluator's default width): our evaluation
  actor (NumpyActorCritic.greedy: the MLP in NumPy over the torch weights), the ONNX policy as the evaluator plays
  it (OnnxPolicy.greedy: onnxruntime plus the contract's checks: shape, NaN, clip), and onnxruntime's bare
  session.run for the share of those checks;
- whole evaluations through ppo.run.evaluate.Evaluator (width 20, the fixed evaluation seeds): episodes/s and env
  steps/s. Both policies play the same episodes (the tests check it), so the two rates compare like for like.

It lives here, not in ppo/speed.py: speed sits below `outside` in the package's layers (tests/test_layout.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ppo.agents.ppo.networks import saved_evaluation_policy as torch_evaluation_policy
from ppo.envs import env_info, make_env
from ppo.outside.export_onnx import export_run
from ppo.outside.onnx_policy import load_onnx_policy
from ppo.run.directory import read_run_json
from ppo.run.evaluate import Evaluator
from ppo.run.seeding import seed_single_threaded

WIDTH = 20  # the evaluator's pool in the workflow's final evaluations


def seconds_per_call(fn, batch: np.ndarray, min_seconds: float = 0.2) -> float:
    """Mean seconds of fn(batch) over as many calls as fill min_seconds (after a warm-up call)."""
    fn(batch)
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        for _ in range(100):
            fn(batch)
        calls += 100
    return elapsed / calls


def observations(env_id: str, n: int) -> np.ndarray:
    """n observations of random play from the evaluation's first reset on (what a policy is asked about)."""
    env = make_env(env_id)
    obs, _ = env.reset(seed=0)
    rows = []
    for _ in range(n):
        rows.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(rows)


def measure_onnx_speed(run_dir: str | Path, episodes: int = 100, repeats: int = 5) -> dict:
    """Per-call microseconds (batch 1 and WIDTH) and evaluation rates of a run's actor vs its ONNX export."""
    seed_single_threaded(0)  # one thread, as every job runs (torch, and the BLAS under NumPy's matmul)
    env_id = read_run_json(run_dir)["env"]
    info = env_info(env_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.onnx"
        export_run(run_dir, info, path)
        onnx = load_onnx_policy(path, info)
        policies = {"torch actor": torch_evaluation_policy(run_dir, info, 0), "onnx": onnx.greedy}
        session_run = {"onnx session.run": lambda obs: onnx.session.run(None, {onnx.input_name: obs})}
        batches = {1: observations(env_id, 1), WIDTH: observations(env_id, WIDTH)}
        calls = {(name, n): [] for name in [*policies, *session_run] for n in batches}
        rates = {name: {"episodes_per_s": [], "steps_per_s": []} for name in policies}
        evaluator = Evaluator(env_id, WIDTH)
        for _ in range(repeats):  # interleaved: a busy neighbour on the shared cores slows both alike
            for (name, n), times in calls.items():
                times.append(seconds_per_call({**policies, **session_run}[name], batches[n]))
            for name, act in policies.items():
                start = time.perf_counter()
                played = evaluator.run(act, episodes)
                seconds = time.perf_counter() - start
                rates[name]["episodes_per_s"].append(episodes / seconds)
                rates[name]["steps_per_s"].append(played.lengths.sum() / seconds)
        evaluator.close()
    return {
        "env": env_id,
        "episodes": episodes,
        "mean_episode_length": float(played.lengths.mean()),
        "repeats": repeats,
        "us_per_call": {f"{name}, batch {n}": 1e6 * statistics.median(t) for (name, n), t in calls.items()},
        "evaluation": {name: {k: statistics.median(v) for k, v in r.items()} for name, r in rates.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ppo.outside.onnx_speed", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories of our ppo agents")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per timed evaluation (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats; medians are reported (default 5)")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(json.dumps(measure_onnx_speed(run, args.episodes, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
