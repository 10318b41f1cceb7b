"""The report's figures (seaborn), one set per env. One colour per agent, the same in every figure.

Each function reads tidy frames from ppo.analysis.aggregate and returns a matplotlib Figure; save_figure writes
PNG (and SVG) atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, and no GUI backend probing

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ppo.agents import AGENTS, label  # noqa: E402
from ppo.run.atomic import atomic_path  # noqa: E402

PALETTE = {name: agent.colour for name, agent in AGENTS.items()}


def _style() -> None:
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "svg.hashsalt": "ppo-bench", "svg.fonttype": "none"})


def _agents(frame: pd.DataFrame) -> list[str]:
    return [agent for agent in PALETTE if agent in set(frame["agent"])]


def episode_rewards(episodes: pd.DataFrame, env: str) -> plt.Figure:
    """The article's figure: total reward of every training episode against its index, one panel per
    agent, the same y-limits on every panel. Columns read: agent, seed, episode, return."""
    _style()
    agents = _agents(episodes)
    fig, axes = plt.subplots(1, len(agents), figsize=(5.5 * len(agents), 4.2), sharey=True, squeeze=False)
    for ax, agent in zip(axes[0], agents):
        data = episodes[episodes.agent == agent]
        sns.lineplot(
            data=data, x="episode", y="return", units="seed", estimator=None, color=PALETTE[agent],
            alpha=0.45, linewidth=0.6, ax=ax,
        )  # fmt: skip
        ax.set_title(f"{label(agent)}: {env}")
        ax.set_xlabel("# episode")
        ax.set_ylabel("total episode reward")
    fig.suptitle(f"Training episodes, every seed ({env})", y=1.02)
    fig.tight_layout()
    return fig


def learning_curves(curves_on_grid: pd.DataFrame, env: str, threshold: float | None, random_state: int) -> plt.Figure:
    """Greedy evaluation return against env steps: mean over seeds with a 95% bootstrap CI (seeded),
    the solved threshold drawn. Columns read: agent, seed, step, mean_return (on a common grid)."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(
        data=curves_on_grid, x="step", y="mean_return", hue="agent", hue_order=_agents(curves_on_grid),
        palette=PALETTE, errorbar=("ci", 95), seed=random_state, ax=ax,
    )  # fmt: skip
    title = f"Learning curves: greedy evaluation, mean and 95% CI over seeds ({env})"
    return _finish(fig, ax, title, "env steps", "evaluation return", threshold)


def final_returns(final: pd.DataFrame, env: str, threshold: float | None, random_state: int) -> plt.Figure:
    """Distribution of final evaluation returns per agent (box, with every episode as a point).
    Columns read: agent, return. The points' jitter is seeded, so figures are reproducible."""
    _style()
    np.random.seed(random_state)  # seaborn's stripplot jitter draws from NumPy's global generator
    fig, ax = plt.subplots(figsize=(7, 4.5))
    order = _agents(final)
    sns.boxplot(data=final, x="agent", y="return", hue="agent", order=order, palette=PALETTE, showfliers=False, ax=ax)
    sns.stripplot(data=final, x="agent", y="return", order=order, color="black", size=2, alpha=0.35, jitter=0.25, ax=ax)
    ax.set_xticks(range(len(order)), [label(a) for a in order])
    title = f"Final greedy evaluation, all seeds and episodes ({env})"
    return _finish(fig, ax, title, "", "episode return", threshold, legend=False)


def wall_clock(curves: pd.DataFrame, env: str, threshold: float | None) -> plt.Figure:
    """Evaluation return against training seconds (evaluation time excluded), one line per seed.
    Columns read: agent, seed, wall_s, mean_return."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(
        data=curves, x="wall_s", y="mean_return", hue="agent", hue_order=_agents(curves), units="seed",
        estimator=None, palette=PALETTE, alpha=0.8, linewidth=1, ax=ax,
    )  # fmt: skip
    title = f"Return against training wall-clock time, every seed ({env})"
    return _finish(fig, ax, title, "training seconds (one CPU core, evaluation excluded)", "evaluation return", threshold)


def _finish(fig, ax, title: str, xlabel: str, ylabel: str, threshold: float | None, legend: bool = True) -> plt.Figure:
    """Threshold line, titles, a legend with the agents' display names, tight layout."""
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [label(name) for name in labels], loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, png: str | Path, svg: bool = True) -> None:
    """PNG (and SVG beside it) written atomically; metadata dates stripped so reruns give equal bytes."""
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    if svg:
        with atomic_path(Path(png).with_suffix(".svg")) as tmp:
            fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def write_figures(summary_dir: str | Path, out_dir: str | Path, random_state: int) -> None:
    """All four figures of one env from its summary tables (ppo aggregate) into out_dir."""
    import json

    summary, out = Path(summary_dir), Path(out_dir)
    meta = json.loads((summary / "meta.json").read_text())
    env, threshold = meta["env"]["id"], meta["env"]["solved_threshold"]
    curves = pd.read_csv(summary / "eval_curves.csv")
    save_figure(episode_rewards(pd.read_csv(summary / "episodes.csv"), env), out / "episode_rewards.png")
    save_figure(
        learning_curves(pd.read_csv(summary / "curves_grid.csv"), env, threshold, random_state), out / "learning_curves.png"
    )
    save_figure(final_returns(pd.read_csv(summary / "final.csv"), env, threshold, random_state), out / "final_returns.png")
    save_figure(wall_clock(curves, env, threshold), out / "wall_clock.png")
