"""The figures of the comparison across envs (rliable's plots), from the tables of ppo.analysis.compare.

Same palette and labels as the per-env figures. Written by `ppo compare` beside its tables' report figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ppo.analysis.compare import METRICS
from ppo.analysis.plots import Styles, apply_style, save_figure
from ppo.analysis.styles import FALLBACK_COLOUR


def _label(styles: Styles, agent: str) -> str:
    return styles[agent].label if agent in styles else agent


def _colour(styles: Styles, agent: str) -> str:
    return styles[agent].colour if agent in styles else FALLBACK_COLOUR


def aggregate_metrics(aggregates: pd.DataFrame, styles: Styles) -> plt.Figure:
    """One panel per metric (IQM, mean, optimality gap of normalized scores): each agent's 95% CI as a bar,
    its point estimate as a tick (rliable's plot_interval_estimates)."""
    apply_style()
    agents = list(dict.fromkeys(aggregates["agent"]))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 0.6 * len(agents) + 1.6), squeeze=False)
    for ax, metric in zip(axes[0], METRICS):
        rows = aggregates[aggregates.metric == metric].set_index("agent")
        for i, agent in enumerate(agents):
            if agent not in rows.index:
                continue
            row, colour = rows.loc[agent], _colour(styles, agent)
            ax.barh(i, row["high"] - row["low"], left=row["low"], height=0.6, color=colour, alpha=0.75)
            ax.vlines(row["point"], i - 0.3, i + 0.3, color="black", linewidth=2)
        ax.set_yticks(range(len(agents)), [_label(styles, a) for a in agents] if ax is axes[0][0] else [""] * len(agents))
        ax.set_title(metric)
        ax.set_xlabel("normalized score" + (" (lower is better)" if metric == "optimality gap" else ""))
    fig.suptitle("Aggregate metrics over envs: normalized scores (0 = random, 1 = solved), 95% CIs over runs", y=1.02)
    fig.tight_layout()
    return fig


def probability_of_improvement(improvement: pd.DataFrame, styles: Styles) -> plt.Figure:
    """P(X > Y) with its 95% CI for every ordered pair; 0.5 = no difference."""
    apply_style()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(improvement) + 1.6))
    for i, row in enumerate(improvement.itertuples()):
        colour = _colour(styles, row.agent_x)
        ax.barh(i, row.high - row.low, left=row.low, height=0.6, color=colour, alpha=0.75)
        ax.vlines(row.point, i - 0.3, i + 0.3, color="black", linewidth=2)
    ax.set_yticks(
        range(len(improvement)),
        [f"P({_label(styles, r.agent_x)} > {_label(styles, r.agent_y)})" for r in improvement.itertuples()],
    )
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("probability that a run of X scores higher than a run of Y on the same env")
    ax.set_title("Probability of improvement, 95% CIs over runs")
    fig.tight_layout()
    return fig


def performance_profiles(profiles: pd.DataFrame, styles: Styles) -> plt.Figure:
    """Share of runs (all envs) with a normalized score above tau, with pointwise 95% CIs."""
    apply_style()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for agent, rows in profiles.groupby("agent", sort=False):
        colour = _colour(styles, agent)
        ax.plot(rows["tau"], rows["fraction"], color=colour, label=_label(styles, agent), linewidth=2)
        ax.fill_between(rows["tau"], rows["low"], rows["high"], color=colour, alpha=0.2)
    for tau, text in ((0.0, "random"), (1.0, "solved")):
        ax.axvline(tau, color="dimgray", linestyle=":", linewidth=1)
        ax.annotate(text, xy=(tau, 1.0), xytext=(3, -3), textcoords="offset points", fontsize="small", va="top")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("normalized score tau (0 = random agent's mean, 1 = solved threshold)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_title("Performance profiles (score distributions), 95% CIs over runs")
    if len(profiles):
        ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def write_compare_figures(tables: dict[str, pd.DataFrame], styles: Styles, out_dir: str | Path) -> None:
    out = Path(out_dir)
    save_figure(aggregate_metrics(tables["aggregates"], styles), out / "aggregate_metrics.png")
    save_figure(probability_of_improvement(tables["improvement"], styles), out / "probability_of_improvement.png")
    save_figure(performance_profiles(tables["profiles"], styles), out / "performance_profiles.png")
