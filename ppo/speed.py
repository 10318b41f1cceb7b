"""Training speed, side by side in one process on one core: the raw vector env, our PPO loop (eager, and with the
update compiled), and Stable-Baselines3's PPO with identical settings (`python -m ppo bench`, `make benchmark-speed`).

Every figure is env steps per second over the same number of steps. Ours is the training loop only
(collection + update; its start and final evaluation are timed apart and left out), split into
inference, env stepping, storage and update by the loop's own PhaseTimer. The compiled loop's figure leaves
its compile out; the compile is timed apart in fresh processes, cold (an empty cache) and warm (the cache the
cold one filled), and "compiled / SB3" charges the warm compile to the preset's whole budget. SB3 is timed around
`model.learn()`, with its env built with render_mode=None: SB3's make_vec_env otherwise renders
every step (rgb_array), several times slower (docs/speed.md), which would flatter us.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppo.agents import resolve
from ppo.agents.random import uniform_random_policy
from ppo.config import Hyperparameters
from ppo.envs import env_info, make_vec_env
from ppo.run.log import EvalSettings, Progress
from ppo.run.seeding import seed_single_threaded

# The settings compared: rl-baselines3-zoo's (like for like with SB3, whose zoo they are) and ours.
PRESETS_COMPARED = ("ppo-zoo", "ppo")
DEFAULT_ENVS = ("CartPole-v1", "LunarLander-v3", "LunarLanderContinuous-v3", "HalfCheetah-v5", "BreakoutNoFrameskip-v4")
# Image envs train ~100x slower per step: a tenth of a 10M-step budget would take hours; 16 rollouts show the speed.
PIXEL_ROLLOUTS = 16
SB3_MISSING = "Stable-Baselines3 is not installed: its column is skipped (pip install -e '.[peers]' to add it)"


@dataclass(frozen=True)
class SpeedCase:
    env_id: str
    presets: tuple[str, ...]  # the preset names with exactly these settings
    hp: Hyperparameters  # total_timesteps = the steps measured
    budget: int = 0  # the preset's own total_timesteps, over which a compile is amortized

    @property
    def label(self) -> str:
        return f"{self.env_id} {' = '.join(self.presets)}"


@dataclass
class SpeedResult:
    case: SpeedCase
    raw_env: list[float] = field(default_factory=list)  # steps/s, one per repeat
    ours: list[float] = field(default_factory=list)
    compiled: list[float] = field(default_factory=list)  # ours with the update compiled, the compile left out
    sb3: list[float] = field(default_factory=list)
    phase_seconds: list[dict[str, float]] = field(default_factory=list)  # ours, per repeat
    compiled_phase_seconds: list[dict[str, float]] = field(default_factory=list)
    compile_seconds: dict[str, float] = field(default_factory=dict)  # "cold" and "warm", fresh processes

    def row(self) -> dict[str, Any]:
        """Medians over the repeats, and the ratios of the medians."""
        raw, ours = statistics.median(self.raw_env), statistics.median(self.ours)
        sb3 = statistics.median(self.sb3) if self.sb3 else None
        compiled = statistics.median(self.compiled) if self.compiled else None
        phases = {name: statistics.median(p[name] for p in self.phase_seconds) for name in self.phase_seconds[0]}
        total = sum(phases.values())
        hp = self.case.hp
        steps = hp.trained_timesteps
        warm = self.compile_seconds.get("warm")
        # Seconds for the preset's budget: SB3's, and ours compiled with one warm compile on top.
        amortized = None
        if sb3 and compiled and warm is not None and self.case.budget:
            amortized = (self.case.budget / sb3) / (self.case.budget / compiled + warm)
        compiled_us = (
            {name: 1e6 * statistics.median(p[name] for p in self.compiled_phase_seconds) / steps for name in phases}
            if self.compiled_phase_seconds
            else None
        )
        return {
            "env": self.case.env_id,
            "settings": " = ".join(self.case.presets),
            "n_envs": hp.n_envs,
            "n_steps": hp.n_steps,
            "batch_size": hp.batch_size,
            "n_epochs": hp.n_epochs,
            "net_arch": list(hp.net_arch),
            "activation": hp.activation,
            "steps": steps,
            "raw_env_steps_per_s": raw,
            "ours_steps_per_s": ours,
            "sb3_steps_per_s": sb3,
            "ours_over_raw": ours / raw,
            "ours_over_sb3": ours / sb3 if sb3 else None,
            "compiled_steps_per_s": compiled,
            "compile_seconds": dict(self.compile_seconds),
            "budget": self.case.budget,
            "compiled_over_raw": compiled / raw if compiled else None,
            "compiled_over_sb3_amortized": amortized,
            "ours_time_share": {name: seconds / total for name, seconds in phases.items()},
            "ours_us_per_step": {name: 1e6 * seconds / steps for name, seconds in phases.items()},
            "compiled_us_per_step": compiled_us,
            "repeats": {"raw_env": self.raw_env, "ours": self.ours, "compiled": self.compiled, "sb3": self.sb3},
        }


def speed_cases(env_ids: tuple[str, ...], steps: int | None = None) -> list[SpeedCase]:
    """One case per distinct settings of PRESETS_COMPARED per env (CartPole's tuned preset is the zoo's).
    steps: the env steps measured (rounded down to whole rollouts, at least one); default one tenth of the
    preset's budget, at least 50,000 steps and 4 rollouts (shorter runs are dominated by noise here); on image
    envs PIXEL_ROLLOUTS rollouts."""
    cases: list[SpeedCase] = []
    for env_id in env_ids:
        by_settings: dict[Hyperparameters, list[str]] = {}
        for preset in PRESETS_COMPARED:
            hp, _ = resolve(preset, env_id)
            full_budget = hp.total_timesteps
            budget = max(hp.total_timesteps // 10, 50_000, 4 * hp.rollout_size)
            budget = steps if steps is not None else PIXEL_ROLLOUTS * hp.rollout_size if env_info(env_id).pixels else budget
            hp, _ = resolve(preset, env_id, {"total_timesteps": max(budget, hp.rollout_size)})
            by_settings.setdefault((hp, full_budget), []).append(preset)
        cases += [SpeedCase(env_id, tuple(presets), hp, budget) for (hp, budget), presets in by_settings.items()]
    return cases


def raw_env_steps_per_second(env_id: str, n_envs: int, steps: int, seed: int = 0) -> float:
    """The same vector env as training, stepped with uniformly random actions drawn in advance: the
    ceiling a training loop on this env setup can approach."""
    envs = make_vec_env(env_id, n_envs)
    act = uniform_random_policy(env_info(env_id), seed)
    # Drawn before the clock starts; the policy only reads how many observations it is given.
    actions = [act(np.empty(n_envs)) for _ in range(steps // n_envs)]
    envs.reset(seed=seed)
    start = time.perf_counter()
    for step_actions in actions:
        envs.step(step_actions)
    elapsed = time.perf_counter() - start
    envs.close()
    return len(actions) * n_envs / elapsed


def ours_steps_per_second(
    env_id: str, hp: Hyperparameters, seed: int = 0, compiled: bool = False
) -> tuple[float, dict[str, float]]:
    """Our training loop's steps/s (evaluation excluded; the compile too, with compiled=True) and its seconds
    per phase."""
    from ppo.agents.ppo.train import train_ppo

    # One-episode evaluations: RunLog always evaluates at the start and end; both are timed apart.
    evaluation = EvalSettings(every=10**12, episodes=1, final_episodes=1, width=1)
    hp = dataclasses.replace(hp, compile="on" if compiled else "off")
    result = train_ppo(env_id, hp, seed, evaluation, Progress(0, "", enabled=False))
    if compiled and not result.compile["compiled"]:
        raise RuntimeError(f"{env_id}: the update did not compile ({result.compile['reason']})")
    compile_seconds = (result.compile or {}).get("compile_seconds") or 0.0
    return result.total_steps / (result.train_seconds - compile_seconds), dict(result.phase_seconds)


def compile_seconds(env_id: str, hp: Hyperparameters, cache_dir: str | os.PathLike) -> float:
    """Seconds a fresh process takes to compile the update's minibatch step (and run it once) with Inductor's cache in
    cache_dir: cold when the directory is empty, warm once a compile has filled it."""
    code = "import sys; from ppo.speed import time_compile; print(time_compile(sys.argv[1], sys.argv[2]))"
    settings = json.dumps({**hp.to_dict(), "compile": "on"})
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache_dir)}
    out = subprocess.run([sys.executable, "-c", code, env_id, settings], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def time_compile(env_id: str, settings_json: str) -> float:
    """compile_seconds' child: build the run's policy and optimizer and compile its update, as a training run
    starts."""
    from ppo.agents.ppo.compiled import compile_update
    from ppo.agents.ppo.networks import build_optimizer, build_policy

    seed_single_threaded(0)
    info, hp = env_info(env_id), Hyperparameters(**json.loads(settings_json))
    policy = build_policy(info, hp)
    _, record = compile_update(policy, build_optimizer(policy, hp), hp, info.pixels)
    if not record.compiled:
        raise RuntimeError(f"the update did not compile: {record.reason}")
    return record.compile_seconds


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def sb3_steps_per_second(env_id: str, hp: Hyperparameters, seed: int = 0) -> float:
    """Stable-Baselines3 PPO with the same settings (the sb3-ppo agent's model), timed around learn()."""
    from ppo.agents.sb3 import build_model

    seed_single_threaded(seed)
    model = build_model(env_id, hp, seed)
    start = time.perf_counter()
    model.learn(total_timesteps=hp.trained_timesteps)
    elapsed = time.perf_counter() - start
    model.get_env().close()
    return model.num_timesteps / elapsed


def run_speed_benchmark(
    cases: list[SpeedCase],
    repeats: int = 1,
    with_sb3: bool = True,
    log: Callable[[str], None] = print,
    with_compile: bool = True,
) -> list[SpeedResult]:
    """Measure every case `repeats` times, interleaving raw env, ours and SB3 so that a slow spell of the
    machine hits all three alike."""
    results = [SpeedResult(case) for case in cases]
    user_cache = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with (
        tempfile.TemporaryDirectory(prefix="ppo-bench-compile-") as scratch,
        _restored_env("TORCHINDUCTOR_CACHE_DIR", user_cache),
    ):
        for k, result in enumerate(results if with_compile else []):
            cache = os.path.join(scratch, str(k))  # empty: the first compile is cold, the second warm
            case = result.case
            result.compile_seconds = {name: compile_seconds(case.env_id, case.hp, cache) for name in ("cold", "warm")}
            cold, warm = result.compile_seconds["cold"], result.compile_seconds["warm"]
            log(f"{case.label}: compile {cold:.1f} s cold, {warm:.1f} s warm")
        for repeat in range(repeats):
            for k, result in enumerate(results):
                case, hp = result.case, result.case.hp
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(scratch, str(k))  # warm
                result.raw_env.append(raw_env_steps_per_second(case.env_id, hp.n_envs, hp.trained_timesteps))
                ours, phases = ours_steps_per_second(case.env_id, hp)
                result.ours.append(ours)
                result.phase_seconds.append(phases)
                if with_compile:
                    compiled, phases = ours_steps_per_second(case.env_id, hp, compiled=True)
                    result.compiled.append(compiled)
                    result.compiled_phase_seconds.append(phases)
                if with_sb3:
                    result.sb3.append(sb3_steps_per_second(case.env_id, hp))
                sb3 = f", SB3 {result.sb3[-1]:,.0f}" if with_sb3 else ""
                log(
                    f"[{repeat + 1}/{repeats}] {case.label}: raw env {result.raw_env[-1]:,.0f}, ours {ours:,.0f}, "
                    f"compiled {_rate(result.compiled[-1] if result.compiled else None)}{sb3} steps/s"
                )
    return results


@contextlib.contextmanager
def _restored_env(name: str, value: str | None):
    """Put environment variable `name` back to `value` (unset for None) on the way out."""
    try:
        yield
    finally:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def speed_report(results: list[SpeedResult], repeats: int, sb3_note: str | None, command: str) -> dict[str, Any]:
    """Everything the JSON file holds: rows plus the command, machine, versions and settings they were measured with."""
    from datetime import UTC, datetime

    from ppo.run.provenance import git_commit, host, versions

    peer_versions = {}
    if sb3_available():
        from importlib import metadata

        peer_versions["stable_baselines3"] = metadata.version("stable_baselines3")
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "host": host(),
        "versions": {**versions(), **peer_versions},
        "git_commit": git_commit(),
        "threads": 1,
        "repeats": repeats,
        "sb3_note": sb3_note,
        "rows": [result.row() for result in results],
    }


def _rate(value: float | None) -> str:
    return "skipped" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown_table(report: dict[str, Any]) -> str:
    """The README's table: one row per case, medians over the repeats, provenance underneath."""
    lines = [
        "| env | settings | envs x steps, batch, epochs | raw env steps/s | ours steps/s | compiled steps/s "
        "| compile s, cold / warm | SB3 steps/s | ours / raw env | ours / SB3 | compiled / raw env "
        "| compiled / SB3, budget incl. warm compile "
        "| us per env step, eager (compiled): inference / env / storage / update |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in report["rows"]:
        us, cus = row["ours_us_per_step"], row.get("compiled_us_per_step") or {}
        phases = " / ".join(
            f"{us[name]:.0f}" + (f" ({cus[name]:.0f})" if name in cus else "")
            for name in ("inference", "env", "storage", "update")
        )
        cold_warm = row.get("compile_seconds") or {}
        compile_text = f"{cold_warm['cold']:.1f} / {cold_warm['warm']:.1f}" if cold_warm else "-"
        budget = f" ({row['budget'] / 1e6:g}M)" if row.get("budget") else ""
        lines.append(
            f"| {row['env']} | {row['settings']} | {row['n_envs']} x {row['n_steps']}, {row['batch_size']}, "
            f"{row['n_epochs']} | {_rate(row['raw_env_steps_per_s'])} | {_rate(row['ours_steps_per_s'])} "
            f"| {_rate(row.get('compiled_steps_per_s'))} | {compile_text} "
            f"| {_rate(row['sb3_steps_per_s'])} | {_ratio(row['ours_over_raw'])} | {_ratio(row['ours_over_sb3'])} "
            f"| {_ratio(row.get('compiled_over_raw'))} | {_ratio(row.get('compiled_over_sb3_amortized'))}{budget} | {phases} |"
        )
    v = report["versions"]
    sb3 = f", Stable-Baselines3 {v['stable_baselines3']}" if "stable_baselines3" in v else ""
    lines += [
        "",
        f"Measured {report['measured_at']} by `{report['command']}` on {report['host']['cpu_model']} "
        f"({report['host']['machine']}), one thread per measurement, median of {report['repeats']} "
        f"interleaved repeat(s); torch {v['torch']}, Gymnasium {v['gymnasium']}, NumPy {v['numpy']}, "
        f"Python {v['python']}{sb3}; commit {report['git_commit']}.",
    ]
    if report["sb3_note"]:
        lines.append(f"{report['sb3_note']}.")
    return "\n".join(lines)


README_BEGIN, README_END = "<!-- speed-table:begin -->", "<!-- speed-table:end -->"


def readme_table_span(readme: str) -> tuple[int, int]:
    """Where the table goes: from the end of the begin marker to the end marker; ValueError without them."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the README has no {README_BEGIN} ... {README_END} section to write the table into")
    return begin + len(README_BEGIN), end


def replace_readme_table(readme: str, table: str) -> str:
    """The README text with the part between the speed-table markers replaced by `table`."""
    start, end = readme_table_span(readme)
    return readme[:start] + "\n" + table + "\n" + readme[end:]
