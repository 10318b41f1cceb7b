"""Small hand-made run directories with known numbers, for aggregation and report tests."""

import json
from pathlib import Path

import pandas as pd

from ppo.run.log import EPISODE_COLUMNS, EVAL_COLUMNS

# Final evaluation returns of the "ppo" agent per seed (episode k = evaluation seed k).
PPO_FINAL = {0: [500, 500, 500, 500], 1: [100, 200, 300, 400], 2: [480, 490, 470, 460]}
PPO_STEPS_TO_THRESHOLD = {0: 1000, 1: None, 2: 3000}
RANDOM_FINAL = {0: [20, 22, 18, 20], 1: [25, 15, 20, 20], 2: [10, 30, 20, 20]}


def write_run(root: Path, env: str, agent: str, seed: int, final: list[float], steps_to_threshold=None) -> Path:
    run = root / env / agent / f"seed{seed}"
    run.mkdir(parents=True)
    episodes = [(i, 100 * (i + 1), 0.1 * i, float(10 + i + seed), 10 + i) for i in range(5)]
    pd.DataFrame(episodes, columns=list(EPISODE_COLUMNS)).to_csv(run / "episodes.csv", index=False)
    evals = [
        ("periodic", step, step / 1000, k, float(step / 10 + k + seed), 20, False)
        for step in (0, 2000, 4000)
        for k in range(2)
    ]
    evals += [("final", 4000, 4.0, k, float(r), 30, False) for k, r in enumerate(final)]
    pd.DataFrame(evals, columns=list(EVAL_COLUMNS)).to_csv(run / "evals.csv", index=False)
    meta = {
        "env": env,
        "agent": agent,
        "seed": seed,
        "hyperparameters": {"n_envs": 1, "learning_rate": 0.001 if agent == "ppo" else 0.0003},
        "solved_threshold": 475.0,
        "versions": {"python": "3.11", "torch": "2.13.0"},
        "git_commit": "abc123",
        "host": {"cpu_model": "Test CPU"},
        "finished_at": f"2026-01-0{seed + 1}T00:00:00+00:00",
        "total_steps": 4000,
        "wall_seconds": 10.0,
        "train_seconds": 8.0,
        "eval_seconds": 2.0,
        "steps_per_second": 500.0,
        "steps_to_threshold": steps_to_threshold,
        "seconds_to_threshold": None if steps_to_threshold is None else steps_to_threshold / 500,
        "final_eval": {"mean_return": sum(final) / len(final), "std_return": 0.0, "episodes": len(final)},
    }
    (run / "run.json").write_text(json.dumps(meta))
    return run


def write_runs(root: Path, env: str = "CartPole-v1") -> list[Path]:
    runs = [write_run(root, env, "ppo", s, f, PPO_STEPS_TO_THRESHOLD[s]) for s, f in PPO_FINAL.items()]
    runs += [write_run(root, env, "random", s, f) for s, f in RANDOM_FINAL.items()]
    return runs
