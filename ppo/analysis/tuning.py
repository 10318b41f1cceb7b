"""The report's view of a tuning study: what the search cost, how it went, and the honest test.

The honest test sets three numbers side by side: the best trial's score on the tuning seeds (what the search
saw, optimistic by construction: it is a maximum over trials), and the tuned variant's and the base's IQM [95%
CI] on the config's seeds, which the search never saw, with P(tuned > base). Reads a study's directory
(ppo/tuning/export.py: study.json, trials.csv, importances.csv) and its env's summary (runs.csv, meta.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ppo.analysis.plots import apply_style, save_figure
from ppo.analysis.statistics import iqm_with_ci, probability_of_improvement_with_ci
from ppo.analysis.styles import from_json
from ppo.run.atomic import write_json


def verdict(
    study_dir: str | Path, summary_dir: str | Path, tuned: str, base: str, n_resamples: int, random_state: int
) -> dict:
    """study.json's content plus the fresh-seed test: `tuned` and `base` are the agent names in the summary."""
    study = json.loads((Path(study_dir) / "study.json").read_text())
    runs = pd.read_csv(Path(summary_dir) / "runs.csv")
    scores = {name: runs[runs.agent == name].sort_values("seed")["final_mean"].to_numpy()[:, None] for name in (tuned, base)}
    for name, matrix in scores.items():
        if not len(matrix):
            raise ValueError(f"{summary_dir}/runs.csv has no runs of {name!r}: the study's verdict needs them")
    out = dict(study, tuned=tuned, base_agent=base)
    for name, key in ((tuned, "tuned"), (base, "base")):
        point, low, high = iqm_with_ci(scores[name], n_resamples, random_state)
        out[key + "_fresh"] = {"iqm": point, "low": low, "high": high, "scores": scores[name][:, 0].tolist()}
        out[key + "_seeds"] = sorted(runs[runs.agent == name]["seed"].astype(int).tolist())
    p, low, high = probability_of_improvement_with_ci(scores[tuned], scores[base], n_resamples, random_state)
    out["p_tuned_better"] = {"p": p, "low": low, "high": high}
    return out


def study_figure(study_dir: str | Path, title: str, colour: str) -> plt.Figure:
    """Left: every trial's value and the best so far against the trial number (pruned trials marked at the
    bottom). Right: parameter importances (fANOVA), largest first."""
    apply_style()
    trials = pd.read_csv(Path(study_dir) / "trials.csv").sort_values("number")
    importances = pd.read_csv(Path(study_dir) / "importances.csv")
    fig, (history, ranking) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    complete = trials[trials.state == "COMPLETE"]
    history.scatter(complete["number"], complete["value"], color=colour, alpha=0.6, s=18, label="complete trial")
    best = complete.set_index("number")["value"].cummax()
    history.step(best.index, best.to_numpy(), where="post", color=colour, linewidth=2, label="best so far")
    pruned = trials[trials.state == "PRUNED"]
    if len(pruned) and len(complete):
        floor = float(np.nanmin(complete["value"]))
        history.scatter(pruned["number"], [floor] * len(pruned), marker="x", color="#8c8c8c", s=18, label="pruned trial")
    history.set_xlabel("trial")
    history.set_ylabel("objective: mean final return, tuning seeds")
    history.set_title(f"{title}: optimization history")
    history.legend(loc="lower right", fontsize="small")
    top = importances.sort_values("importance", ascending=True).tail(10)
    ranking.barh(top["parameter"], top["importance"], color=colour)
    ranking.set_xlabel("importance (fANOVA)")
    ranking.set_title("parameter importances")
    fig.tight_layout()
    return fig


def write_study_report(
    study_dir: str | Path,
    summary_dir: str | Path,
    tuned: str,
    base: str,
    out_json: str | Path,
    figure: str | Path,
    n_resamples: int,
    random_state: int,
) -> dict[str, Any]:
    result = verdict(study_dir, summary_dir, tuned, base, n_resamples, random_state)
    styles = from_json(json.loads((Path(summary_dir) / "meta.json").read_text()).get("agents"))
    result["tuned_label"] = styles[tuned].label if tuned in styles else tuned
    result["base_label"] = styles[base].label if base in styles else base
    colour = styles[tuned].colour if tuned in styles else "#4c72b0"
    save_figure(study_figure(study_dir, result["study"], colour), figure)
    write_json(out_json, result)
    return result
