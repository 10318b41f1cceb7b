"""Comparisons in waves (ppo/comparisons): the decision code checked by simulation, the config's refusals, and the
waves run by Snakemake (a kill mid-wave loses nothing)."""

import copy
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats
from snakemake.utils import validate

from ppo.comparisons import Comparison, can_decide, comparisons
from ppo.comparisons import decide as decide_module
from ppo.comparisons.decide import decide
from ppo.comparisons.files import stale_record
from ppo.config import ConfigError
from ppo.workflow_config import check_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def comparison(agents=("a", "b"), wave=5, waves=3, alpha=0.05, test_seed=0):
    return Comparison("test", "CartPole-v1", tuple(agents), alpha, wave, waves, seed_base=10_000, test_seed=test_seed)


def run_waves(c: Comparison, draw) -> dict:
    """Waves as the workflow runs them: new scores only for the agents the last decision named."""
    scores = {agent: [] for agent in c.agents}
    needed = list(c.agents)
    for _ in range(c.waves):
        for agent in needed:
            scores[agent].append(list(draw(agent)))
        result = decide(c, scores)
        if result["finished"]:
            return result
        needed = result["next_agents"]
    raise AssertionError("the last wave must finish the comparison")


def says_different(replications: int) -> int:
    """How often two agents drawn from one distribution (normal, mean 100, sd 20) are called different."""
    rng = np.random.default_rng(12345)
    count = 0
    for r in range(replications):
        result = run_waves(comparison(wave=5, waves=3, test_seed=r), lambda agent: rng.normal(100.0, 20.0, size=5))
        count += result["pairs"][0]["decision"] != "equal"
    return count


def test_one_distribution_is_called_different_at_most_about_alpha():
    """Two agents drawn from one distribution, 200 times, waves of 5 up to 3 waves: the decision code says
    "different" about alpha of the time (9 of 200 here); a count this high or higher has binomial probability
    >= 0.001 at alpha."""
    replications, alpha = 200, 0.05
    different = says_different(replications)
    assert stats.binomtest(different, replications, alpha, alternative="greater").pvalue >= 0.001, different


@pytest.mark.slow
def test_a_family_of_three_from_one_distribution_is_called_different_at_most_about_alpha():
    """The family-wise error of a family (a against b and c, all from one distribution): any pair called
    different in 17 of these 200 replications, 41 of 800 over two streams (5.1%) at alpha 0.05."""
    rng = np.random.default_rng(54321)
    replications, count = 200, 0
    for r in range(replications):
        c = comparison(agents=("a", "b", "c"), wave=5, waves=3, test_seed=r)
        result = run_waves(c, lambda agent: rng.normal(100.0, 20.0, size=5))
        count += any(pair["decision"] != "equal" for pair in result["pairs"])
    assert stats.binomtest(count, replications, 0.05, alternative="greater").pvalue >= 0.001, count


@pytest.mark.slow
def test_the_simulation_sees_adastop_0_1_3s_one_sided_boundary(monkeypatch):
    """adastop 0.1.3's comparator, unchanged (a one-sided boundary for |difference|), fails the check above: 25 of
    the same 200 (12.5%). The simulation has the power to see what TwoSidedComparator fixes."""
    released = decide_module._comparator_class(adastop_as_released=True)
    monkeypatch.setattr(decide_module, "_comparator_class", lambda: released)
    unchanged = says_different(200)
    assert stats.binomtest(unchanged, 200, 0.05, alternative="greater").pvalue < 0.001, unchanged


def test_a_large_difference_is_decided_in_the_first_wave():
    rng = np.random.default_rng(0)
    c = comparison(wave=5, waves=4)
    result = run_waves(c, lambda agent: rng.normal(500.0 if agent == "a" else 22.0, 10.0, size=5))
    (pair,) = result["pairs"]
    assert pair["decision"] == "larger" and pair["decided_at"] == 1
    assert (pair["runs_used"], pair["runs_max"], result["waves_done"]) == (5, 20, 1)
    assert pair["statistic"] > pair["boundary"] and result["next_agents"] == []
    swapped = decide(
        Comparison("t", "e", ("b", "a"), 0.05, 5, 4, 0), {"b": [[22.0] * 4 + [23.0]], "a": [[500.0 + i for i in range(5)]]}
    )
    assert swapped["pairs"][0]["decision"] == "smaller"


def test_only_agents_of_open_pairs_need_another_wave_and_replays_agree():
    rng = np.random.default_rng(1)
    c = comparison(agents=("a", "b", "c"), wave=5, waves=3)
    first = {"a": [list(rng.normal(500, 5, 5))], "b": [list(rng.normal(20, 5, 5))], "c": [list(rng.normal(500, 5, 5))]}
    after_one = decide(c, first)
    assert [p["decision"] for p in after_one["pairs"]] == ["larger", "undecided"]
    assert after_one["next_agents"] == ["a", "c"] and after_one["next_wave"] == 2
    assert decide(c, first) == after_one  # a replay from scratch gives the same numbers
    second = {**first, "a": first["a"] + [list(rng.normal(500, 5, 5))], "c": first["c"] + [list(rng.normal(500, 5, 5))]}
    after_two = decide(c, second)
    assert after_two["pairs"][0] == after_one["pairs"][0]  # a decided pair stays decided, with its figures
    assert after_two["pairs"][1]["runs_used"] == 10 and after_two["waves_done"] == 2
    with pytest.raises(ValueError, match="b has scores of wave 2, after its comparisons ended"):
        decide(c, {**second, "b": first["b"] + [[20.0] * 5]})
    with pytest.raises(ValueError, match="c has no scores of wave 2, which it needed"):
        decide(c, {**second, "c": first["c"]})


def test_each_pair_of_a_family_shows_the_boundary_it_crossed():
    """The step-down rejects the largest statistic against the family's boundary (the max over both pairs'
    permutations), then the other against its own, smaller one; adastop keeps only the last."""
    rng = np.random.default_rng(3)
    c = comparison(agents=("a", "b", "c"), wave=5, waves=3)
    scores = {"a": [list(rng.normal(500, 5, 5))], "b": [list(rng.normal(20, 5, 5))], "c": [list(rng.normal(100, 5, 5))]}
    first, second = decide(c, scores)["pairs"]  # a vs b (the larger statistic), a vs c
    assert first["decision"] == second["decision"] == "larger" and first["decided_at"] == second["decided_at"] == 1
    assert first["statistic"] > first["boundary"] > second["boundary"] and second["statistic"] > second["boundary"]
    alone = decide(Comparison("t", "e", ("a", "c"), 0.05, 5, 3, 0), {"a": scores["a"], "c": scores["c"]})["pairs"][0]
    assert second["boundary"] == pytest.approx(alone["boundary"])  # the rest, tested alone, at the same level


ROOM_GRID = [(w, k, a) for w in (1, 2, 3, 4, 5) for k in (1, 2, 3, 4, 5, 6) for a in (0.005, 0.05, 0.1, 0.2)]


def test_room_to_decide_is_what_adastop_can_decide():
    """can_decide (the config check's arithmetic) against adastop itself on runs as far apart as can be, over 120
    settings. The old rule (2 / N at the last wave, what earlier waves spent ignored) said yes where adastop never
    decides (waves of 1 at 0.05 with 6 waves) and no where it does (waves of 5 at 0.005)."""
    wrong = []
    for wave, waves, alpha in ROOM_GRID:
        c = comparison(wave=wave, waves=waves, alpha=alpha)
        apart = {"a": [[1000.3 + i + 10 * k for i in range(wave)] for k in range(waves)]}
        apart["b"] = [[0.7 + i + 10.0 * k for i in range(wave)] for k in range(waves)]
        decided = decide(c, apart)["pairs"][0]["decision"] == "larger"
        if can_decide(wave, waves, alpha) != decided:
            wrong.append((wave, waves, alpha, decided))
    assert wrong == []


def test_a_statistic_equal_to_its_boundary_is_not_called_different():
    """Waves of 2 x 2 cannot decide at 0.05 (can_decide), yet adastop's statistic and its observed split's
    permutation value, one number computed two ways, differ in the last bit: unsettled, 38 of these 100 said
    "larger" on rounding alone."""
    rng = np.random.default_rng(0)
    c = comparison(wave=2, waves=2)
    assert not can_decide(2, 2, 0.05)
    said = []
    for _ in range(100):
        apart = {agent: [list(rng.normal(mean, 1.0, 2)) for _ in range(2)] for agent, mean in (("a", 1000.0), ("b", 0.0))}
        said.append(decide(c, apart)["pairs"][0]["decision"])
    assert set(said) == {"equal"}


def test_decide_refuses_a_bad_spec_or_foreign_runs_in_one_line(tmp_path):
    from ppo.cli import main

    c = comparison(wave=5, waves=2)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps({"env": "CartPole-v1", "agent": "a", "seed": 3, "final_eval": {"mean_return": 1}})
    )
    assert Comparison.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="comparison spec: no 'wave'; allowed: name, env, agents"):
        Comparison.from_dict({k: v for k, v in c.to_dict().items() if k != "wave"})
    out = tmp_path / "wave1.json"
    args = ["decide", "--spec", json.dumps(c.to_dict()), "--wave", "1", "--runs", str(run), "--out", str(out)]
    assert main(args) == 2 and not out.exists()  # seed 3 is no wave seed of the comparison


def cartpole_config(**entry):
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["comparisons"] = [
        {"env": "CartPole-v1", "agents": ["ppo", "random"], "alpha": 0.05, "wave": 5, "waves": 2, **entry}
    ]
    return config


def test_a_good_comparison_passes_schema_and_check_and_gets_disjoint_seeds():
    config = cartpole_config()
    config["comparisons"].append(
        {"env": "LunarLander-v3", "agents": ["ppo", "ppo-article"], "alpha": 0.1, "wave": 4, "waves": 3}
    )
    validate(copy.deepcopy(config), SCHEMA, set_default=False)
    check_config(config)
    first, second = comparisons(config)
    base = first.seed_base
    assert first.name == "CartPole-v1_ppo_vs_random" and first.seeds(1) == list(range(base, base + 5))
    assert first.seeds(2) == list(range(base + 5, base + 10)) and base >= 10_000 and (base - 10_000) % 1_000 == 0
    assert first.wave_of(base + 7) == 2 and first.wave_of(base + 10) is None and first.wave_of(0) is None
    # The seeds come from the name, not the position: a comparison put before it leaves its seeds (and waves) be.
    config["comparisons"].reverse()
    assert {c.name: c.seeds(1) for c in comparisons(config)} == {c.name: c.seeds(1) for c in (first, second)}
    assert second.seed_base != base


@pytest.mark.parametrize("name", ["peers.yaml", "article-ablation.yaml", "tuning.yaml"])
def test_the_issues_questions_are_comparisons_the_configs_accept(name, zoo_venv):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    validate(copy.deepcopy(config), SCHEMA, set_default=False)
    check_config(config)
    assert all(can_decide(c.wave, c.waves, c.alpha) and c.wave_of(c.seed_base) == 1 for c in comparisons(config))
    assert not {s for c in comparisons(config) for s in c.all_seeds} & set(config["seeds"])


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"agents": ["ppo", "ppo-zoo"]}, "comparisons[0].agents: 'ppo-zoo' does not run on CartPole-v1; allowed: random, "),
        ({"agents": ["ppo", "nope"]}, "comparisons[0].agents: 'nope' does not run on CartPole-v1"),
        ({"env": "Pendulum-v1"}, "comparisons[0].env='Pendulum-v1' is not in envs; allowed: CartPole-v1, LunarLander-v3"),
        ({"wave": 3, "waves": 1}, "comparisons[0]: wave=3 x waves=1 leaves the test no room to decide at alpha=0.05: even "
                                  "runs as far apart as can be are never called different (no wave's share of alpha, "
                                  "alpha x k / waves less what earlier waves spent, reaches the 2/20 a rejection needs at "
                                  "the last wave); allowed: wave >= 4 with waves=1 or waves >= 2 with wave=3"),
        ({"wave": 2, "waves": 2}, "allowed: wave >= 3 with waves=2 or waves >= 3 with wave=2"),
        ({"wave": 8, "waves": 2}, "wave=8 has C(16,8)=12870 splits, at least B=10000"),
        ({"seed_base": 1}, "comparisons[0]: wave seed 1 (seed_base 1 + wave x waves = 10 seeds) is already taken by seeds"),
        ({"seed_base": 995}, "wave seed 1000 (seed_base 995 + wave x waves = 10 seeds) is already taken by "
                             "tuning.studies.cartpole-study.seeds"),
    ],
)  # fmt: skip
def test_a_comparison_the_workflow_cannot_run_is_refused_in_one_line(entry, message):
    config = cartpole_config(**entry)
    validate(copy.deepcopy(config), SCHEMA, set_default=False)  # the schema lets these through: the package refuses
    with pytest.raises(ConfigError) as refused:
        check_config(config)
    assert message in str(refused.value) and "\n" not in str(refused.value), str(refused.value)


def test_two_comparisons_may_not_share_seeds_or_a_name():
    config = cartpole_config(seed_base=10_000)
    config["comparisons"].append({**config["comparisons"][0], "agents": ["random", "ppo"], "seed_base": 10_005})
    with pytest.raises(ConfigError, match=re.escape("comparisons[1]: wave seed 10005 (seed_base 10005 + wave x waves")):
        check_config(config)
    config["comparisons"][1] = {**config["comparisons"][0]}
    with pytest.raises(ConfigError, match=re.escape("comparisons[1]: the name 'CartPole-v1_ppo_vs_random' is already")):
        check_config(config)


@pytest.mark.parametrize("change", [{"wave": 0}, {"alpha": 1.5}, {"agents": ["ppo"]}, {"wavez": 2}])
def test_schema_rejects_a_malformed_comparison(change):
    config = cartpole_config(**change)
    with pytest.raises(Exception, match="Error validating config file"):
        validate(config, SCHEMA, set_default=False)


# The waves through Snakemake: ppo (a tiny budget) against random on CartPole, waves of 3 seeds, at most 2 waves.
# Waves of 3 cannot decide after the first (2/20 > alpha/2), so wave 2 always runs and the kill lands in it.
def waves_config() -> dict:
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config.pop("tuning")
    config.update(agents=["random", "ppo"], seeds=[0])
    config["envs"] = {"CartPole-v1": {"solved_threshold": 475, "total_timesteps": 1024, "eval_every": 1024}}
    config["rollouts"]["agents"] = ["random"]
    config["comparisons"] = [
        {"env": "CartPole-v1", "agents": ["ppo", "random"], "alpha": 0.05, "wave": 3, "waves": 2, "seed_base": 10_000}
    ]
    return config


def snakemake_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args, "--configfile", "config/waves.yaml"]


@pytest.mark.slow
def test_waves_run_in_snakemake_and_a_kill_mid_wave_retrains_nothing_finished(tmp_path):
    work = tmp_path / "workflow"
    work.mkdir()
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(ROOT / name, work)
    for folder in ("workflow", "config"):
        shutil.copytree(ROOT / folder, work / folder)
    (work / "config/waves.yaml").write_text(yaml.safe_dump(waves_config()))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy", "HOME": str(work)}
    target = "results/comparisons/decisions.json"
    runs = work / "results/runs/CartPole-v1"
    records = work / "results/comparisons/CartPole-v1_ppo_vs_random"

    # One job at a time; SIGTERM (a cancelled allocation, Ctrl-C) once a wave-2 job has finished and the next one
    # runs: its log exists (a run.json alone can be seconds before its job ends, and Snakemake then removes it).
    process = subprocess.Popen(snakemake_command(target, "--cores", "1"), cwd=work, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wave_two = [f"{agent}/seed{seed}" for agent in ("ppo", "random") for seed in (10003, 10004, 10005)]
    logs = work / "logs/train/CartPole-v1"
    deadline = time.time() + 600
    while time.time() < deadline and len([run for run in wave_two if (logs / f"{run}.log").exists()]) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    assert (records / "wave1.json").exists() and not (records / "wave2.json").exists()
    first = json.loads((records / "wave1.json").read_text())
    assert first["pairs"][0]["decision"] == "undecided" and first["next_agents"] == ["ppo", "random"]
    assert [(r["agent"], r["wave"], r["seed"]) for r in first["runs"]] == [
        (agent, 1, seed) for agent in ("ppo", "random") for seed in (10000, 10001, 10002)
    ]
    finished = {p.parent.relative_to(runs).as_posix(): p.stat().st_mtime_ns for p in runs.glob("*/seed*/run.json")}
    assert 7 <= len(finished) < 12, sorted(finished)

    # The rerun plans exactly the wave-2 runs that had not finished, then the test and the decisions.
    subprocess.run(snakemake_command("--unlock"), cwd=work, env=env, capture_output=True, check=True)
    planned = subprocess.run(snakemake_command(target, "--cores", "1", "--dry-run"), cwd=work, env=env,
                             capture_output=True, text=True)  # fmt: skip
    assert planned.returncode == 0, planned.stderr[-3000:]
    jobs = re.findall(
        r"^(?:rule|checkpoint) (\w+):\n(?:(?!rule |checkpoint ).*\n)*? +wildcards: (.*)$", planned.stdout, flags=re.M
    )
    trained = sorted(
        re.sub(r"env=CartPole-v1, agent=(\S+), seed=(\d+)", r"\1/seed\2", w) for r, w in jobs if r.startswith("train")
    )
    assert trained == sorted(set(wave_two) - set(finished)), planned.stdout
    assert ("compare_wave", "name=CartPole-v1_ppo_vs_random, k=2") in jobs

    done = subprocess.run(snakemake_command(target, "--cores", "2"), cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {run: (runs / run / "run.json").stat().st_mtime_ns for run in finished} == finished  # nothing retrained
    second = json.loads((records / "wave2.json").read_text())
    (pair,) = second["pairs"]
    assert pair["decision"] in ("larger", "smaller", "equal") and pair["waves_used"] == 2 and pair["runs_used"] == 6
    assert second["finished"] and second["next_wave"] is None and not (records / "wave3.json").exists()
    assert sorted((r["agent"], r["seed"]) for r in second["runs"] if r["wave"] == 2) == sorted(
        (agent, seed) for agent in ("ppo", "random") for seed in (10003, 10004, 10005)
    )
    for run in second["runs"]:
        assert json.loads((runs / f"{run['agent']}/seed{run['seed']}/run.json").read_text())["seed"] == run["seed"]
    decisions = json.loads((work / target).read_text())["comparisons"]
    assert [c["comparison"]["name"] for c in decisions] == ["CartPole-v1_ppo_vs_random"]
    assert (work / "results/comparisons/decisions.csv").read_text().startswith("comparison,env,agent,other,decision")
    again = subprocess.run(snakemake_command(target, "--cores", "1", "--dry-run"), cwd=work, env=env, capture_output=True,
                           text=True)  # fmt: skip
    assert "Nothing to be done" in again.stdout + again.stderr

    # The same folder under other settings: its decisions are not reused silently, even when Snakemake is told to
    # look at modification times alone (or lost its .snakemake records).
    changed = waves_config()
    changed["comparisons"][0]["alpha"] = 0.1
    (work / "config/waves.yaml").write_text(yaml.safe_dump(changed))
    stale = subprocess.run(snakemake_command(target, "--cores", "1", "--dry-run", "--rerun-triggers", "mtime"), cwd=work,
                           env=env, capture_output=True, text=True)  # fmt: skip
    said = stale.stdout + stale.stderr
    assert stale.returncode != 0
    assert "wave1.json was decided with alpha=0.05, and comparison CartPole-v1_ppo_vs_random now has alpha=0.1" in said, said


def test_a_wave_record_of_other_settings_is_stale_and_a_label_is_not_a_setting():
    c = comparison()
    record = {"comparison": c.to_dict()}
    assert stale_record(record, c, "r/wave1.json") is None
    assert stale_record(record, dataclasses.replace(c, label="Mine or theirs?"), "r/wave1.json") is None
    assert stale_record(record, dataclasses.replace(c, waves=4), "r/wave1.json") == (
        "r/wave1.json was decided with waves=3, and comparison test now has waves=4; delete r to decide afresh "
        "(finished runs are kept)"
    )


def test_the_report_shows_each_pair_beside_its_iqms_and_says_what_the_test_guarantees(tmp_path):
    from synthetic import write_runs

    from ppo.analysis.aggregate import write_summary
    from ppo.analysis.report import write_report
    from ppo.comparisons.files import write_decisions, write_wave

    c = Comparison("cartpole", "CartPole-v1", ("ppo", "random"), 0.05, 5, 2, seed_base=10_000, label="PPO or chance?")
    run_dirs = []
    for agent, scores in (("ppo", [500.0, 480.0, 495.0, 470.0, 500.0]), ("random", [20.0, 25.0, 18.0, 22.0, 30.0])):
        for seed, score in zip(c.seeds(1), scores):
            run = tmp_path / "runs" / agent / f"seed{seed}"
            run.mkdir(parents=True)
            meta = {"env": "CartPole-v1", "agent": agent, "seed": seed, "final_eval": {"mean_return": score}}
            (run / "run.json").write_text(json.dumps(meta))
            run_dirs.append(run)
    record = write_wave(c, 1, run_dirs, tmp_path / "comparisons/cartpole/wave1.json")
    assert record["finished"] and record["next_wave"] is None and record["next_seeds"] == []
    write_decisions([tmp_path / "comparisons/cartpole/wave1.json"], tmp_path / "comparisons/decisions.json",
                    tmp_path / "comparisons/decisions.csv")  # fmt: skip
    row = (tmp_path / "comparisons/decisions.csv").read_text().splitlines()[1]
    assert row.startswith("cartpole,CartPole-v1,ppo,random,larger,1,1,5,10,0.05,") and row.endswith(",489.0,23.0")

    summary = tmp_path / "summary" / "CartPole-v1"
    write_summary("CartPole-v1", write_runs(tmp_path / "summary-runs"), summary, 100, 0)
    config = {"agents": ["random", "ppo"], "seeds": [0, 1, 2], "evaluation": {"episodes": 2, "final_episodes": 4},
              "statistics": {"bootstrap_samples": 100, "random_state": 0}}  # fmt: skip
    for extras, out in (({"comparisons": tmp_path / "comparisons"}, tmp_path / "with"), ({}, tmp_path / "without")):
        (out / "media" / "CartPole-v1").mkdir(parents=True)
        write_report([summary], [out / "media" / "CartPole-v1"], config, out, extras=extras)
    markdown = (tmp_path / "with" / "README.md").read_text()
    section = markdown[markdown.index("## Comparisons") :]
    decided = "| PPO (tuned) scores higher than Random | 5 of 10 per agent (1 of 2 waves of 5) | 0.05 |"
    assert f"| PPO or chance? | CartPole-v1 {decided}" in section
    assert "| 10000 .. 10004 |" in section and "P(first > other)" in section and "| 1.00" in section
    assert "at most alpha (family-wise), provided the runs are independent" in section
    assert "nothing at all if runs share state or the protocol changes between waves" in section
    assert "## Comparisons" not in (tmp_path / "without" / "README.md").read_text()
