"""How agents are shown: display name, colour and one-line description, and their order in tables and legends.

Registered agents take theirs from the registry (ppo.agents). Variants defined in a config (ppo/workflow_config.py)
carry theirs in each run's run.json ("variant": {base, label, colour}), so every analysis step can show them
without the config. Order: registered agents in registry order, then variants by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ppo.agents import AGENTS

FALLBACK_COLOUR = "#937860"


@dataclass(frozen=True)
class AgentStyle:
    label: str
    colour: str
    description: str


def registry_styles() -> dict[str, AgentStyle]:
    return {name: AgentStyle(a.label, a.colour, a.description) for name, a in AGENTS.items()}


def style_of_run(run: dict[str, Any]) -> AgentStyle:
    """The style of the agent that made this run (run.json's content)."""
    name = run["agent"]
    if name in AGENTS:
        return registry_styles()[name]
    variant = run.get("variant") or {}
    outside = run.get("outside") or {}
    base = variant.get("base", "?")
    description = f"a variant of {base} defined in the config"
    if outside:  # a run from outside (ppo.outside) says where it came from and whether ppo-bench evaluated it
        if outside.get("kind") == "command":  # the template: the same for every seed (run.json has each one as run)
            origin = f"a program of its own, run by its command `{outside.get('template', outside.get('command'))}`"
        else:
            origin = f"imported from {outside.get('source')}"
        if variant:  # an imported ppo-bench run under a new name (an older version of the code)
            origin = f"{base} at commit {str(run.get('git_commit'))[:7]}, {origin}"
        evaluated = outside.get("evaluated_by_ppo_bench")
        description = origin + ("" if evaluated else "; not evaluated by ppo-bench (training curve only)")
    return AgentStyle(
        label=variant.get("label") or outside.get("label") or name,
        colour=variant.get("colour") or outside.get("colour") or FALLBACK_COLOUR,
        description=description,
    )


def ordered(styles: dict[str, AgentStyle]) -> dict[str, AgentStyle]:
    registered = [name for name in AGENTS if name in styles]
    return {name: styles[name] for name in registered + sorted(set(styles) - set(AGENTS))}


def styles_from_runs(run_jsons: list[dict[str, Any]]) -> dict[str, AgentStyle]:
    return ordered({run["agent"]: style_of_run(run) for run in run_jsons})


def with_display(styles: dict[str, AgentStyle], display: dict[str, dict[str, str]]) -> dict[str, AgentStyle]:
    """`styles` with labels and colours replaced where `display` (the config's, for variants) names them: a
    label is shown, not trained, so the workflow passes it to the summary instead of the training job."""
    return {
        name: replace(style, **{k: v for k, v in display.get(name, {}).items() if k in ("label", "colour")})
        for name, style in styles.items()
    }


def to_json(styles: dict[str, AgentStyle]) -> dict[str, dict[str, str]]:
    return {name: asdict(style) for name, style in styles.items()}


def from_json(saved: dict[str, dict[str, str]] | None) -> dict[str, AgentStyle]:
    """Styles saved in a summary's meta.json (registry styles for summaries written before variants)."""
    return ordered({name: AgentStyle(**style) for name, style in saved.items()}) if saved else registry_styles()


def merged(*many: dict[str, AgentStyle]) -> dict[str, AgentStyle]:
    out: dict[str, AgentStyle] = {}
    for styles in many:
        out.update(styles)
    return ordered(out)
