"""The ablation ladder: why the article's agent hovered, one fix at a time (config/article-ablation.yaml).

The rungs are the config's `ladder:` list, in order (ppo.workflow_config.ladder_rungs); in the article's ladder:
ppo-article-as-written, the variants built on it (each fixing one more departure), ppo-article (its settings,
correct implementation) and ppo (tuned). Per rung and env: final-return IQM with its 95% CI over
runs, the landing rate (share of final greedy episodes at or above the solved threshold), the seeds whose mean
final return is at or above it, and one sentence written from those numbers.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ppo.analysis.plots import Styles, apply_style, bulk_limits, save_figure
from ppo.run.atomic import atomic_path

COLUMNS = ("env", "rung", "agent", "iqm", "iqm_low", "iqm_high", "landing_rate", "seeds_landed", "seeds")


def ladder_table(summary_dirs: list[str | Path], rungs: list[str]) -> pd.DataFrame:
    """One row per (env, rung) for every env whose runs include the first rung."""
    rows = []
    for summary_dir in map(Path, summary_dirs):
        table = pd.read_csv(summary_dir / "table.csv").set_index("agent")
        runs = pd.read_csv(summary_dir / "runs.csv")
        if rungs[0] not in table.index:
            continue
        for i, agent in enumerate(a for a in rungs if a in table.index):
            row = table.loc[agent]
            mine = runs[runs.agent == agent]
            landed = int((mine["final_mean"] >= mine["solved_threshold"]).sum())
            rows.append(
                {
                    "env": row["env"],
                    "rung": i,
                    "agent": agent,
                    "iqm": row["iqm"],
                    "iqm_low": row["iqm_low"],
                    "iqm_high": row["iqm_high"],
                    "landing_rate": row["success_rate"],
                    "seeds_landed": landed,
                    "seeds": int(row["seeds"]),
                }  # fmt: skip
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def sentences(table: pd.DataFrame, styles: Styles) -> list[str]:
    """One sentence per rung, from the measured numbers only."""
    out = []
    for env, rows in table.groupby("env", sort=False):
        previous = None
        for row in rows.to_dict("records"):
            label = styles[row["agent"]].label if row["agent"] in styles else row["agent"]
            change = ""
            if previous is not None:
                delta = row["iqm"] - previous["iqm"]
                overlap = row["iqm_low"] <= previous["iqm_high"] and previous["iqm_low"] <= row["iqm_high"]
                change = f", {delta:+.1f} against the rung before ({'overlapping' if overlap else 'separate'} intervals)"
            out.append(
                f"{env}, {label}: IQM {row['iqm']:.1f} [{row['iqm_low']:.1f}, {row['iqm_high']:.1f}]{change}; "
                f"{100 * row['landing_rate']:.0f}% of final episodes land, {row['seeds_landed']}/{row['seeds']} seeds."
            )
            previous = row
    return out


def decisive_fix(table: pd.DataFrame) -> pd.DataFrame:
    """Per env, the rung with the largest IQM gain over the rung before it, and whether the two rungs' 95%
    intervals are separate (`separate`: the gain is more than the spread between seeds explains)."""
    by_env = table.groupby("env")
    gains = table.assign(
        gain=by_env["iqm"].diff(), previous_low=by_env["iqm_low"].shift(), previous_high=by_env["iqm_high"].shift()
    )
    best = gains.loc[gains.groupby("env")["gain"].idxmax().dropna()]
    return best.assign(separate=(best["iqm_low"] > best["previous_high"]) | (best["iqm_high"] < best["previous_low"]))


def shown_rungs(present: list[str], largest_step: str | None = None) -> list[str]:
    """The rungs the ladder figure draws, in ladder order: the first, the middle and the last, and the rung with
    the largest step together with the rung it stepped from (where the ladder's answer is)."""
    picks = {present[0], present[len(present) // 2], present[-1]}
    if largest_step in present:
        i = present.index(largest_step)
        picks |= set(present[max(i - 1, 0) : i + 1])
    return [rung for rung in present if rung in picks]


def ladder_figure(
    curves_grid: pd.DataFrame,
    rungs: list[str],
    styles: Styles,
    env: str,
    threshold: float | None,
    largest_step: str | None = None,
):
    """Learning curves (mean and 95% CI over seeds) of the rungs shown_rungs picks."""
    apply_style()
    shown = shown_rungs([r for r in rungs if r in set(curves_grid["agent"])], largest_step)
    data = curves_grid[curves_grid.agent.isin(shown)]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(
        data=data, x="step", y="mean_return", hue="agent", hue_order=shown, errorbar=("ci", 95), seed=0,
        palette={a: styles[a].colour for a in shown}, ax=ax,
    )  # fmt: skip
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    ax.set_ylim(*bulk_limits(data["mean_return"], [threshold] if threshold is not None else []))
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [styles[n].label if n in styles else n for n in labels], fontsize="small", loc="best")
    ax.set_title(f"The ladder's first, middle and last rungs and its largest step: greedy evaluation ({env})")
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    fig.tight_layout()
    return fig


def write_ladder(summary_dirs: list[str | Path], rungs: list[str], styles: Styles, out_dir, figure_dir) -> pd.DataFrame:
    """ladder.csv in out_dir and one {env}.png learning-curve figure per env in figure_dir."""
    import json

    table = ladder_table(summary_dirs, rungs)
    largest_steps = decisive_fix(table).set_index("env")["agent"]  # empty for an empty table
    with atomic_path(Path(out_dir) / "ladder.csv") as tmp:
        table.to_csv(tmp, index=False)
    for summary_dir in map(Path, summary_dirs):
        meta = json.loads((summary_dir / "meta.json").read_text())
        env = meta["env"]["id"]
        if env in set(table["env"]):
            grid = pd.read_csv(summary_dir / "curves_grid.csv")
            save_figure(
                ladder_figure(grid, rungs, styles, env, meta["env"]["solved_threshold"], largest_steps.get(env)),
                Path(figure_dir) / f"{env}.png",
            )
    return table
