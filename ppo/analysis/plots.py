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

from ppo.analysis.references import references_for, short_label  # noqa: E402
from ppo.analysis.styles import AgentStyle, from_json, registry_styles  # noqa: E402
from ppo.envs import evaluation_policy_of  # noqa: E402
from ppo.run.atomic import atomic_path  # noqa: E402

Styles = dict[str, AgentStyle]  # agent name -> label and colour, in display order (ppo.analysis.styles)


def apply_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "svg.hashsalt": "ppo-bench", "svg.fonttype": "none"})


def _agents(frame: pd.DataFrame, styles: Styles) -> list[str]:
    return [agent for agent in styles if agent in set(frame["agent"])]


def palette(styles: Styles) -> dict[str, str]:
    return {name: style.colour for name, style in styles.items()}


def bulk_limits(values: np.ndarray, must_show: list[float] = ()) -> tuple[float, float]:
    """y-limits that show where the agents differ: everything above the 2nd percentile (the top matters:
    it is where agents solve), the threshold and any reference lines, with 5% padding. A few early
    evaluations far below (a crashing lander at -2,000) no longer squeeze the rest into a sliver."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high = np.percentile(values, 2), values.max()
    low, high = min([low, *must_show]), max([high, *must_show])
    pad = 0.05 * (high - low or 1.0)
    return low - pad, high + pad


def _clip_note(ax, values: np.ndarray, what: str) -> None:
    """Say at the bottom edge how many values lie below the axis, and the lowest of them."""
    low = ax.get_ylim()[0]
    below = np.asarray(values, dtype=float)
    below = below[below < low]
    if len(below):
        ax.annotate(
            f"▼ {len(below)} {what} below {low:,.0f} (lowest {below.min():,.0f}) not shown",
            xy=(0.01, 0.01), xycoords="axes fraction", fontsize="x-small", color="dimgray", va="bottom",
        )  # fmt: skip


def episode_rewards(episodes: pd.DataFrame, env: str, styles: Styles | None = None) -> plt.Figure:
    """The article's figure: total reward of every training episode against its index, one panel per
    agent, the same y-limits on every panel. Columns read: agent, seed, episode, return."""
    apply_style()
    styles = styles or registry_styles()
    agents = _agents(episodes, styles)
    fig, axes = plt.subplots(1, len(agents), figsize=(5.5 * len(agents), 4.2), sharey=True, squeeze=False)
    for ax, agent in zip(axes[0], agents):
        data = episodes[episodes.agent == agent]
        sns.lineplot(
            data=data, x="episode", y="return", units="seed", estimator=None, color=styles[agent].colour,
            alpha=0.45, linewidth=0.6, ax=ax,
        )  # fmt: skip
        ax.set_title(f"{styles[agent].label}: {env}")
        ax.set_xlabel("# episode")
        ax.set_ylabel("total episode reward")
    axes[0][0].set_ylim(*bulk_limits(episodes["return"]))
    for ax, agent in zip(axes[0], agents):
        _clip_note(ax, episodes.loc[episodes.agent == agent, "return"], "episodes")
    fig.suptitle(f"Training episodes, every seed ({env})", y=1.02)
    fig.tight_layout()
    return fig


def learning_curves(
    curves_on_grid: pd.DataFrame, env: str, threshold: float | None, random_state: int, styles: Styles | None = None
) -> plt.Figure:
    """Evaluation return (greedy; stochastic on pixels) against env steps: mean over seeds with a 95% bootstrap CI (seeded),
    the solved threshold drawn. Columns read: agent, seed, step, mean_return (on a common grid)."""
    apply_style()
    styles = styles or registry_styles()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(
        data=curves_on_grid, x="step", y="mean_return", hue="agent", hue_order=_agents(curves_on_grid, styles),
        palette=palette(styles), errorbar=("ci", 95), seed=random_state, ax=ax,
    )  # fmt: skip
    ax.set_ylim(*bulk_limits(curves_on_grid["mean_return"], [threshold] if threshold is not None else []))
    _clip_note(ax, curves_on_grid.groupby(["agent", "step"])["mean_return"].mean(), "points of the mean curves")
    title = f"Learning curves: {evaluation_policy_of(env)} evaluation, mean and 95% CI over seeds ({env})"
    return _finish(fig, ax, title, "env steps", "evaluation return", threshold, styles)


def final_returns(
    final: pd.DataFrame,
    env: str,
    threshold: float | None,
    random_state: int,
    references: list[dict] = (),
    styles: Styles | None = None,
) -> plt.Figure:
    """Distribution of final evaluation returns per agent (box, with every episode as a point), with
    published results drawn as dotted reference lines (ppo.analysis.references; their protocols differ).
    Columns read: agent, return. The points' jitter is seeded, so figures are reproducible."""
    apply_style()
    np.random.seed(random_state)  # seaborn's stripplot jitter draws from NumPy's global generator
    styles = styles or registry_styles()
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * final["agent"].nunique()), 4.5))
    order = _agents(final, styles)
    sns.boxplot(
        data=final,
        x="agent",
        y="return",
        hue="agent",
        order=order,
        palette=palette(styles),
        showfliers=False,
        legend=False,
        ax=ax,
    )
    sns.stripplot(data=final, x="agent", y="return", order=order, color="black", size=2, alpha=0.35, jitter=0.25, ax=ax)
    ax.set_xticks(
        range(len(order)),
        [styles[a].label for a in order],
        rotation=20 if len(order) > 4 else 0,
        ha="right" if len(order) > 4 else "center",
    )
    for row, style in zip(references, (":", "-.", (0, (1, 3)), (0, (5, 5)))):
        ax.axhline(row["mean"], color="dimgray", linestyle=style, linewidth=1.2, label=short_label(row))
    marks = [r["mean"] for r in references] + ([threshold] if threshold is not None else [])
    ax.set_ylim(*bulk_limits(final["return"], marks))
    _clip_note(ax, final["return"], "episodes")
    title = f"Final {evaluation_policy_of(env)} evaluation, all seeds and episodes ({env})"
    return _finish(fig, ax, title, "", "episode return", threshold, styles, legend=bool(references))


def wall_clock(curves: pd.DataFrame, env: str, threshold: float | None, styles: Styles | None = None) -> plt.Figure:
    """Evaluation return against training seconds (evaluation time excluded), one line per seed.
    Columns read: agent, seed, wall_s, mean_return."""
    apply_style()
    styles = styles or registry_styles()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(
        data=curves, x="wall_s", y="mean_return", hue="agent", hue_order=_agents(curves, styles), units="seed",
        estimator=None, palette=palette(styles), alpha=0.8, linewidth=1, ax=ax,
    )  # fmt: skip
    ax.set_ylim(*bulk_limits(curves["mean_return"], [threshold] if threshold is not None else []))
    _clip_note(ax, curves["mean_return"], "evaluations")
    learners = curves[curves.agent != "random"]
    if len(learners) and curves["wall_s"].max() > 1.2 * learners["wall_s"].max():
        # The random agent's flat line can run far longer (no update, but the same budget): stop where learners end.
        end = 1.05 * learners["wall_s"].max()
        ax.set_xlim(0, end)
        ax.annotate(
            f"random continues flat to {curves['wall_s'].max():,.0f} s", xy=(0.99, 0.01), xycoords="axes fraction",
            ha="right", va="bottom", fontsize="x-small", color="dimgray",
        )  # fmt: skip
    title = f"Return against training wall-clock time, every seed ({env})"
    xlabel = "training seconds (one CPU core, evaluation excluded)"
    return _finish(fig, ax, title, xlabel, "evaluation return", threshold, styles)


def _finish(
    fig, ax, title: str, xlabel: str, ylabel: str, threshold: float | None, styles: Styles, legend: bool = True
) -> plt.Figure:
    """Threshold line, titles, a legend with the agents' display names, tight layout."""
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [styles[n].label if n in styles else n for n in labels], loc="best", fontsize="small")
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
    styles = from_json(meta.get("agents"))
    curves = pd.read_csv(summary / "eval_curves.csv")
    save_figure(episode_rewards(pd.read_csv(summary / "episodes.csv"), env, styles), out / "episode_rewards.png")
    grid = pd.read_csv(summary / "curves_grid.csv")
    save_figure(learning_curves(grid, env, threshold, random_state, styles), out / "learning_curves.png")
    published = references_for(env).to_dict("records")
    final = pd.read_csv(summary / "final.csv")
    save_figure(final_returns(final, env, threshold, random_state, published, styles), out / "final_returns.png")
    save_figure(wall_clock(curves, env, threshold, styles), out / "wall_clock.png")
