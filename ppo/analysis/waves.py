"""The report's Comparisons section: each pair's sequential decision (results/comparisons/decisions.json, written
by `ppo decisions`) beside the IQMs and P(improvement) of the runs the test used, as the rest of the report
computes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ppo.analysis.statistics import iqm_with_ci, probability_of_improvement_with_ci
from ppo.analysis.styles import AgentStyle
from ppo.comparisons.files import pair_scores


def _decision_text(decision: str, first: str, other: str, alpha: float) -> str:
    return {
        "larger": f"{first} scores higher than {other}",
        "smaller": f"{first} scores lower than {other}",
        "equal": f"no difference found at alpha = {alpha:g}",
        "undecided": "undecided: waves still to run",
    }[decision]


def _interval(point: float, low: float, high: float, spec: str) -> str:
    if np.isnan(low):
        return f"{point:{spec}}"
    return f"{point:{spec}} [{low:{spec}}, {high:{spec}}]"


def comparison_rows(
    decisions_dir: Path | None, styles: dict[str, AgentStyle], n_resamples: int, random_state: int
) -> list[dict[str, Any]]:
    """One row per pair of every comparison in decisions_dir/decisions.json: its decision, runs used of the most
    allowed, alpha, adastop's statistic against its boundary, both agents' IQM [95% CI] and P(first > other)
    [95% CI] over the runs the pair's test used (seeded bootstraps: the same decisions give the same report)."""
    if decisions_dir is None:
        return []
    records = json.loads((Path(decisions_dir) / "decisions.json").read_text())["comparisons"]
    rows = []
    for record in records:
        c = record["comparison"]
        for pair in record["pairs"]:
            first, other = pair["agents"]
            label = {a: styles[a].label if a in styles else a for a in (first, other)}
            x, y = (np.asarray(pair_scores(record, pair, agent), dtype=float)[:, None] for agent in (first, other))
            iqms = {agent: iqm_with_ci(s, n_resamples, random_state) for agent, s in ((first, x), (other, y))}
            p = probability_of_improvement_with_ci(x, y, n_resamples, random_state)
            rows.append(
                {
                    "comparison": c.get("label") or c["name"],
                    "env": c["env"],
                    "first": label[first],
                    "other": label[other],
                    "decision": _decision_text(pair["decision"], label[first], label[other], pair["alpha"]),
                    "runs": f"{pair['runs_used']} of {pair['runs_max']} per agent ({pair['waves_used']} of {c['waves']} waves "
                    f"of {c['wave']})",
                    "alpha": f"{pair['alpha']:g}",
                    "boundary": f"{pair['statistic']:.1f} vs {pair['boundary']:.1f} (wave {pair['waves_used']})",
                    "iqm_first": _interval(*iqms[first], ".1f"),
                    "iqm_other": _interval(*iqms[other], ".1f"),
                    "p_improvement": _interval(*p, ".2f"),
                    "seeds": f"{c['seed_base']} .. {c['seed_base'] + pair['runs_used'] - 1}",
                }
            )
    return rows
