"""The report: Markdown (README.md, relative links) and one self-contained HTML file, from one jinja2
template rendered twice. Every string from config or results is autoescaped.

Reads per env (written by `ppo aggregate`): summary/table.csv and summary/meta.json; figures under
report/figures/{env}/; rollouts (gif, mp4, json) under report/media/{env}/, beside the report so that
README.md's relative links resolve wherever the report folder is copied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import mimetypes
import re
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markdown_it import MarkdownIt

from ppo.analysis.references import references_for
from ppo.analysis.styles import AgentStyle, from_json, merged
from ppo.analysis.waves import comparison_rows
from ppo.envs import evaluation_policy_of
from ppo.run.atomic import write_text

# Package data (pyproject.toml ships them): a wheel install renders reports as an editable one does.
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _article_comparison(table: pd.DataFrame) -> list[str]:
    """One measured sentence per env that ran both PPO agents."""
    sentences = []
    for env, rows in table.groupby("env", sort=False):
        by_agent = {row["agent"]: row for row in rows.to_dict("records")}
        if {"ppo-article", "ppo"} <= set(by_agent):
            article, tuned = by_agent["ppo-article"], by_agent["ppo"]
            sentences.append(
                f"on {env}, the article's settings reach an IQM of {article['iqm']:.1f} "
                f"({_fmt(100 * article['success_rate'], '.0f', 'n/a')}% of final episodes solved, "
                f"{article['seeds_solved']}/{article['seeds']} seeds reaching the threshold), "
                f"the tuned preset {tuned['iqm']:.1f} ({_fmt(100 * tuned['success_rate'], '.0f', 'n/a')}%, "
                f"{tuned['seeds_solved']}/{tuned['seeds']} seeds)."
            )
    return sentences


def _fmt(value: Any, spec: str = ".1f", missing: str = "not reached") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _table_rows(table: pd.DataFrame, styles: dict[str, AgentStyle]) -> list[dict[str, str]]:
    rows = []
    for row in table.to_dict("records"):
        periodic_missing = math.isnan(row["seeds_solved"])
        ci = "" if math.isnan(row["iqm_low"]) else f" [{row['iqm_low']:.1f}, {row['iqm_high']:.1f}]"
        rows.append(
            {
                "env": row["env"],
                "label": styles[row["agent"]].label,
                # NaN: no run of the agent evaluated by ppo-bench (imported from its logs alone), so no final score.
                "mean": f"{row['final_mean']:.1f} ± {row['final_std']:.1f}"
                if not math.isnan(row["final_mean"])
                else "not evaluated by ppo-bench",
                "iqm": f"{row['iqm']:.1f}{ci}" if not math.isnan(row["iqm"]) else "n/a",
                "success": _fmt(100 * row["success_rate"], ".0f", "n/a")
                + ("%" if not math.isnan(row["success_rate"]) else ""),
                # NaN: no periodic evaluation to reach the threshold in (a run from outside): unknown, not "0/5".
                "solved": "n/a" if periodic_missing else f"{int(row['seeds_solved'])}/{row['seeds']}",
                "steps": _fmt(row["median_steps_to_threshold"], ",.0f", "n/a" if periodic_missing else "not reached"),
                "seconds": _fmt(row["median_seconds_to_threshold"], ".1f", "n/a" if periodic_missing else "not reached"),
                "sps": _fmt(row["steps_per_second"], ",.0f", "n/a"),
                "compute": f"{row['total_wall_seconds']:,.0f}",
                "normalized": _fmt(row["normalized_iqm"], ".2f", "n/a"),
            }
        )
    return rows


def _hyperparameter_rows(
    hyperparameters: dict[str, dict[str, Any]], styles: dict[str, AgentStyle]
) -> tuple[list[str], list[dict[str, Any]]]:
    agents = [a for a in styles if a != "random" and a in hyperparameters]
    if not agents:
        return [], []
    names = list(hyperparameters[agents[0]])
    rows = []
    for name in names:
        values = [json.dumps(hyperparameters[a].get(name)) for a in agents]
        rows.append({"name": name, "values": values, "differs": len(set(values)) > 1})
    return [styles[a].label for a in agents], rows


def _interval(point: float, low: float, high: float, spec: str = ".2f") -> str:
    ci = "" if math.isnan(low) else f" [{low:{spec}}, {high:{spec}}]"
    return f"{point:{spec}}{ci}"


def _reference_rows(env_ids: list[str]) -> list[dict[str, str]]:
    rows = []
    for env_id in env_ids:
        for ref in references_for(env_id).to_dict("records"):
            rows.append(
                {
                    "env": env_id,
                    "algorithm": ref["algorithm"],
                    "source": ref["source"],
                    "url": ref["url"],
                    "version": ref["version"],
                    "env_version": ref["env_version"],
                    "steps": f"{ref['steps']:,}",
                    "result": f"{ref['mean']:g}" + ("" if pd.isna(ref["plus_minus"]) else f" ± {ref['plus_minus']:g}"),
                    "over": ref["over"],
                    "evaluated": ref["evaluated"],
                }
            )
    return rows


# The pairs the "Implementations compared" section states: like for like, and tuned against the reference.
PEER_PAIRS = (("ppo-zoo", "sb3-ppo"), ("ppo", "sb3-ppo"))


def _comparison(compare_dir: Path | None, table: pd.DataFrame, styles: dict[str, AgentStyle]) -> dict[str, Any] | None:
    """The across-env section (and the implementations section when sb3-ppo ran), from `ppo compare`'s tables."""
    if compare_dir is None:
        return None
    aggregates = pd.read_csv(compare_dir / "aggregates.csv")
    improvement = pd.read_csv(compare_dir / "improvement.csv")
    rows = []
    for agent, group in aggregates.groupby("agent", sort=False):
        metric = {r["metric"]: r for r in group.to_dict("records")}
        rows.append(
            {
                "label": styles[agent].label,
                "envs": ", ".join(str(group["envs"].iloc[0]).split(";")),
                "runs": int(group["runs"].iloc[0]),
                **{
                    key: _interval(metric[name]["point"], metric[name]["low"], metric[name]["high"])
                    for key, name in (("iqm", "IQM"), ("mean", "mean"), ("gap", "optimality gap"))
                },
            }  # fmt: skip
        )
    pairs = [
        {
            "x": styles[r["agent_x"]].label,
            "y": styles[r["agent_y"]].label,
            "p": _interval(r["point"], r["low"], r["high"]),
            "envs": ", ".join(str(r["envs"]).split(";")),
            "peer": (r["agent_x"], r["agent_y"]) in PEER_PAIRS,
        }
        for r in improvement.to_dict("records")
    ]
    peers = [a for a in ("ppo-zoo", "ppo", "sb3-ppo") if a in set(table["agent"])]
    implementations = None
    if "sb3-ppo" in peers and len(peers) > 1:
        implementations = {
            "rows": _table_rows(table[table.agent.isin(peers)], styles),
            "pairs": [p for p in pairs if p["peer"]],
            "envs": list(dict.fromkeys(table.loc[table.agent == "sb3-ppo", "env"])),
        }
    return {"aggregates": rows, "pairs": pairs, "implementations": implementations}


def _ladder(ladder_dir: Path | None, styles: dict[str, AgentStyle]) -> dict[str, Any] | None:
    """The ladder section: per env and rung, IQM [CI], landing rate, seeds landed, and a sentence each."""
    from ppo.analysis.ladder import decisive_fix, sentences

    if ladder_dir is None:
        return None
    table = pd.read_csv(ladder_dir / "ladder.csv")
    if table.empty:
        return None
    rows = [
        {
            "env": r["env"],
            "rung": r["rung"],
            "label": styles[r["agent"]].label,
            "iqm": _interval(r["iqm"], r["iqm_low"], r["iqm_high"], ".1f"),
            "landing": f"{100 * r['landing_rate']:.0f}%",
            "landed": f"{r['seeds_landed']}/{r['seeds']}",
        }
        for r in table.to_dict("records")
    ]
    fixes = [
        f"On {r['env']} the largest step is {styles[r['agent']].label}: {r['gain']:+.1f} IQM over the rung before"
        + (", with separate 95% intervals." if r["separate"] else "; the intervals overlap, so seeds alone could explain it.")
        for r in decisive_fix(table).to_dict("records")
    ]
    return {"rows": rows, "sentences": sentences(table, styles), "fixes": fixes, "envs": list(dict.fromkeys(table["env"]))}


def _sweeps(sweeps_dir: Path | None, styles: dict[str, AgentStyle]) -> list[dict[str, Any]]:
    """One entry per sweep table: its name, columns and rows (grid point, IQM [CI], seeds solved)."""
    if sweeps_dir is None:
        return []
    out = []
    for path in sorted(sweeps_dir.glob("*.csv")):
        table = pd.read_csv(path)
        keys = [c for c in table.columns if c not in ("env", "agent", "iqm", "iqm_low", "iqm_high", "final_mean",
                                                        "seeds_solved", "seeds")]  # fmt: skip
        rows = [
            {
                "env": r["env"],
                "values": [str(r[k]) for k in keys],
                "iqm": _interval(r["iqm"], r["iqm_low"], r["iqm_high"], ".1f"),
                "solved": f"{r['seeds_solved']}/{r['seeds']}",
            }
            for r in table.to_dict("records")
        ]
        out.append({"name": path.stem, "keys": keys, "rows": rows})
    return out


def _tuning(tuning_dir: Path | None, env_ids: list[str]) -> list[dict[str, Any]]:
    """One entry per study verdict (ppo tuning-report) on one of the report's envs: what it cost, what it
    found, the fresh-seed test."""
    if tuning_dir is None:
        return []
    out = []
    for path in sorted(tuning_dir.glob("*/verdict.json")):
        v = json.loads(path.read_text())
        if v["env"] not in env_ids:
            continue
        finished = v["complete"] + v["pruned"]
        best, base = v["best_hyperparameters"], v["base_hyperparameters"]
        changed = [
            {"key": key, "base": _setting_text(base.get(key)), "best": _setting_text(value)}
            for key, value in best.items()
            if key not in base or _setting_text(base.get(key)) != _setting_text(value)
        ]
        fresh = {key: v[key] for key in ("tuned_fresh", "base_fresh")}
        out.append(
            {
                "name": v["study"],
                "env": v["env"],
                "trials": f"{finished} finished of {v['trials']} asked: {v['complete']} complete, {v['pruned']} pruned "
                f"({v['pruned'] / max(finished, 1):.0%}), {v['failed']} failed",
                "cost": f"{v['core_minutes']:.1f} core-minutes"
                + (f", {v['wall_minutes']:.1f} minutes of wall time" if v.get("wall_minutes") is not None else ""),
                "budget": f"{v['total_timesteps']:,} steps per trial and seed, tuning seeds {v['seeds']}",
                "sampler": f"{v['sampler']}; pruner: {v['pruner']}",
                "best": f"{v['best_value']:.1f} (trial {v['best_trial']}, mean over the tuning seeds)",
                "base_trial": "not run to the end (pruned)"
                if v.get("base_trial_value") is None
                else f"{v['base_trial_value']:.1f} (the study's first trial)",
                "tuned_label": v["tuned_label"],
                "base_label": v["base_label"],
                "tuned": _interval(
                    fresh["tuned_fresh"]["iqm"], fresh["tuned_fresh"]["low"], fresh["tuned_fresh"]["high"], ".1f"
                ),
                "base": _interval(fresh["base_fresh"]["iqm"], fresh["base_fresh"]["low"], fresh["base_fresh"]["high"], ".1f"),
                "fresh_seeds": v["tuned_seeds"],
                "p": _interval(v["p_tuned_better"]["p"], v["p_tuned_better"]["low"], v["p_tuned_better"]["high"]),
                "changed": changed,
            }
        )
    return out


def _setting_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def build_context(
    summary_dirs: list[Path],
    rollout_dirs: list[Path],
    config: dict[str, Any],
    root: str,
    extras: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Everything the template shows. extras: the directories of `compare`, `ladder` and `sweeps` outputs, when
    the report has those sections (a one-env page has none)."""
    extras = extras or {}
    envs, tables = [], []
    metas = [json.loads((summary_dir / "meta.json").read_text()) for summary_dir in summary_dirs]
    styles = merged(*(from_json(meta.get("agents")) for meta in metas))
    for summary_dir, rollout_dir, meta in zip(summary_dirs, rollout_dirs, metas):
        table = pd.read_csv(summary_dir / "table.csv")
        tables.append(table)
        random_row = table[table.agent == "random"]
        agent_labels, hp_rows = _hyperparameter_rows(meta["hyperparameters"], styles)
        rollouts = []
        for clip_json in sorted(rollout_dir.glob("*.json")):
            clip = json.loads(clip_json.read_text())
            if clip["agent"] not in set(table.agent):  # a video left by an agent the env no longer runs
                continue
            rollouts.append(
                {
                    "agent": clip["agent"],
                    "caption": f"{styles[clip['agent']].label} on {clip['env']}: seed {clip['seed']} "
                    f"(the median seed by final return), one {evaluation_policy_of(clip['env'])} episode from evaluation "
                    f"seed {clip['episode_seed']}: "
                    f"return {clip['return']:.1f} in {clip['length']} steps",
                }
            )
        env_info = meta["env"]
        threshold = env_info["solved_threshold"]
        envs.append(
            {
                "id": env_info["id"],
                "obs_dim": env_info["obs_dim"],
                "actions": env_info["actions"],
                "max_steps": env_info["max_episode_steps"],
                "threshold_text": "none" if threshold is None else f"{threshold:g}",
                "random_mean": f"{random_row['final_mean'].iloc[0]:.1f}" if len(random_row) else "not run",
                "budgets": [{"label": styles[agent].label, "steps": steps} for agent, steps in meta["total_steps"].items()],
                "rollouts": rollouts,
                # Runs from outside have no periodic evaluation (ppo-bench plays their policy once, at the end).
                "without_curves": [styles[a].label for a in table.loc[table["seeds_solved"].isna(), "agent"]],
                "hyperparameter_agents": agent_labels,
                "hyperparameter_rows": hp_rows,
            }
        )
    all_tables = pd.concat(tables, ignore_index=True)
    versions = metas[0]["versions"]
    config_bytes = json.dumps(config, sort_keys=True).encode()
    return {
        "title": config.get("report", {}).get("title", "ppo-bench report"),
        "notes": config.get("report", {}).get("notes", ""),
        "root": root,
        "envs": envs,
        "agents": list(dict.fromkeys(all_tables["agent"])),
        "seeds": config["seeds"],
        "final_episodes": config["evaluation"]["final_episodes"],
        "eval_episodes": config["evaluation"]["episodes"],
        "bootstrap_samples": config["statistics"]["bootstrap_samples"],
        "table": _table_rows(all_tables, styles),
        "agent_descriptions": [
            {"label": style.label, "description": style.description}
            for a, style in styles.items()
            if a in set(all_tables["agent"])
        ],
        "references": _reference_rows([env["id"] for env in envs]),
        "comparison": _comparison(extras.get("compare"), all_tables, styles),
        "ladder": _ladder(extras.get("ladder"), styles),
        "sweeps": _sweeps(extras.get("sweeps"), styles),
        "tuning": _tuning(extras.get("tuning"), [env["id"] for env in envs]),
        # Comparisons in waves (ppo.analysis.waves): decisions beside the IQMs and P(improvement) of their runs.
        "comparisons": comparison_rows(
            extras.get("comparisons"), styles, config["statistics"]["bootstrap_samples"], config["statistics"]["random_state"]
        ),
        "article_comparison": _article_comparison(all_tables),
        "provenance": {
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
            "git_commit": ", ".join(sorted({c for m in metas for c in m["git_commits"]})),
            "config_hash": hashlib.sha256(config_bytes).hexdigest(),
            "cpu": ", ".join(sorted({c for m in metas for c in m["cpu_models"]})),
            "finished": max(m["finished_at"] for m in metas),
            "compute": f"{sum(m['compute_seconds'] for m in metas) / 3600:.2f} core-hours",
        },
    }


def render_markdown(context: dict[str, Any], html: bool) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value becomes text, in Markdown (entities) and in HTML alike
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.md.j2").render(**context, html=html)


def render_html(markdown: str, base_dir: Path, title: str) -> str:
    """Markdown -> HTML (markdown-it; raw HTML allowed, which after autoescaping can only be the
    template's own <video> tags), then every local image and video inlined as a data: URI."""
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        attribute, src = match.group(1), match.group(2)
        path = base_dir / src
        if src.startswith(("data:", "http:", "https:")) or not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f'{attribute}="data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'(src)="([^"]+)"', inline, body)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{jinja2.utils.markupsafe.escape(title)}'
        f"</title>\n<style>{(TEMPLATES / 'report.css').read_text()}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def write_report(summary_dirs: list[Path], rollout_dirs: list[Path], config: dict[str, Any], out_dir: Path,
                 markdown_name: str = "README.md", html_name: str | None = "index.html", root: str = "",
                 extras: dict[str, Path] | None = None) -> None:  # fmt: skip
    context = build_context(summary_dirs, rollout_dirs, config, root, extras)
    write_text(out_dir / markdown_name, render_markdown(context, html=False))
    if html_name:
        write_text(out_dir / html_name, render_html(render_markdown(context, html=True), out_dir, context["title"]))
