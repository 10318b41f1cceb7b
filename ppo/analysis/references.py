"""Published PPO results to read ours against (a small tracked table: ppo/analysis/data/references.csv).

Each row names its source (URL with commit), the env version it was measured on (the `env` column is the id
this project runs; `env_version` says which version the source used), the steps, and what its +- is over
(episodes of one run, or seeds) and how it was evaluated: those protocols differ from ours (5 seeds, greedy
evaluation on fixed seeds), so a reference is a landmark, not a like-for-like comparison.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

TABLE = Path(__file__).resolve().parent / "data" / "references.csv"
COLUMNS = ("env", "algorithm", "source", "url", "version", "env_version", "steps", "mean", "plus_minus", "over", "evaluated")


@cache
def references() -> pd.DataFrame:
    frame = pd.read_csv(TABLE)
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{TABLE} has columns {list(frame.columns)}; expected {list(COLUMNS)}")
    return frame


def references_for(env_id: str) -> pd.DataFrame:
    """The published results for one env id, in table order."""
    table = references()
    return table[table["env"] == env_id].reset_index(drop=True)


def short_label(row: dict) -> str:
    """A legend entry: who, which env version, how many steps, over what."""
    steps = f"{row['steps'] / 1e6:g}M" if row["steps"] >= 1e6 else f"{row['steps'] / 1e3:g}k"
    who = row["algorithm"].split(" (")[0]
    return f"{who} ({row['env_version']}, {steps}, {row['over']}): {row['mean']:g}"
