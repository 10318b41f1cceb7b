"""Sweeps: final-return IQM (95% CI over runs) of every grid point, as a table and a sensitivity figure.

A sweep (config `sweeps:`) is one variant per grid point (ppo.workflow_config.variants). Per swept key the figure
draws the IQM against the key's values, one line per combination of the other keys' values, one row of panels
per env.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ppo.analysis.plots import apply_style, save_figure
from ppo.run.atomic import atomic_path


def sweep_table(summary_dirs: list[str | Path], points: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per (env, grid point) that ran: env, agent, one column per swept key, iqm, iqm_low, iqm_high,
    final_mean, seeds_solved, seeds."""
    keys = list(next(iter(points.values())))
    rows = []
    for summary_dir in map(Path, summary_dirs):
        table = pd.read_csv(summary_dir / "table.csv")
        for row in table[table.agent.isin(list(points))].to_dict("records"):
            rows.append(
                {
                    "env": row["env"],
                    "agent": row["agent"],
                    **points[row["agent"]],
                    **{k: row[k] for k in ("iqm", "iqm_low", "iqm_high", "final_mean", "seeds_solved", "seeds")},
                }  # fmt: skip
            )
    return pd.DataFrame(
        rows, columns=["env", "agent", *keys, "iqm", "iqm_low", "iqm_high", "final_mean", "seeds_solved", "seeds"]
    )


def _positions(values: list[Any]) -> tuple[list[float], bool]:
    """x positions of a key's values and whether the axis is logarithmic (positive numbers spanning 10x or more)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        log = min(values) > 0 and max(values) / min(values) >= 10
        return [float(v) for v in values], log
    return [float(i) for i in range(len(values))], False


def sensitivity_figure(table: pd.DataFrame, keys: list[str], title: str) -> plt.Figure:
    apply_style()
    envs = list(dict.fromkeys(table["env"]))
    fig, axes = plt.subplots(len(envs), len(keys), figsize=(5.2 * len(keys), 3.8 * len(envs)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, env in enumerate(envs):
        rows = table[table.env == env]
        for c, key in enumerate(keys):
            ax = axes[r][c]
            values = sorted(set(rows[key]), key=lambda v: (str(type(v)), v))
            x_of, log = _positions(values)
            x_map = dict(zip(values, x_of))
            others = [k for k in keys if k != key]
            groups = rows.groupby(others, sort=True) if others else [((), rows)]
            for i, (group_values, group) in enumerate(groups):
                group = group.assign(_x=group[key].map(x_map)).sort_values("_x")
                name = ", ".join(f"{k}={v}" for k, v in zip(others, np.atleast_1d(group_values))) or "IQM"
                yerr = np.vstack([group["iqm"] - group["iqm_low"], group["iqm_high"] - group["iqm"]])
                ax.errorbar(group["_x"], group["iqm"], yerr=np.nan_to_num(yerr), marker="o", capsize=3,
                            color=colours[i % len(colours)], label=name)  # fmt: skip
            if log:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(x_of, [str(v) for v in values])  # exactly the swept values
            ax.set_xlabel(key)
            ax.set_ylabel(f"final-return IQM, 95% CI ({env})" if c == 0 else "")
            ax.legend(fontsize="x-small", loc="best")
    fig.suptitle(title, y=1.01)
    fig.tight_layout()
    return fig


def write_sweep(
    name: str, summary_dirs: list[str | Path], points: dict[str, dict[str, Any]], out_dir, figure_dir
) -> pd.DataFrame:
    """{name}.csv in out_dir and {name}.png (and .svg) in figure_dir."""
    table = sweep_table(summary_dirs, points)
    with atomic_path(Path(out_dir) / f"{name}.csv") as tmp:
        table.to_csv(tmp, index=False)
    keys = list(next(iter(points.values())))
    title = f"Sweep {name}: final greedy return against each swept setting"
    save_figure(sensitivity_figure(table, keys, title), Path(figure_dir) / f"{name}.png")
    return table
