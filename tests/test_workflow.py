"""The whole workflow through Snakemake itself, on the tiny config, in a temporary directory."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ppo.agents import AGENTS
from ppo.analysis import COMPARE_TABLES

ROOT = Path(__file__).resolve().parent.parent
ENVS = ("CartPole-v1", "LunarLander-v3", "Hopper-v5")
# Agents per env in config/smoke.yaml: Hopper-v5 (continuous, MuJoCo) runs the random baseline and ppo only.
# CartPole-v1 also runs the smoke config's tuning study's variant, trained from its best.yaml, and the example
# external agent (examples/minimal_ppo, run by its own command; its ONNX policy played by ppo-bench).
ENV_AGENTS = {
    "CartPole-v1": ("random", "ppo-article", "ppo", "sb3-ppo", "minimal-ppo", "cartpole-study"),
    "LunarLander-v3": ("random", "ppo-article", "ppo", "minimal-ppo"),
}
BASE = {"cartpole-study": "ppo", "minimal-ppo": "random"}  # (random: the model files it leaves, none)
ENV_AGENTS["Hopper-v5"] = ("random", "ppo")
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, configfile: str = "config/smoke.yaml") -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy", "HOME": str(workdir)}
    return subprocess.run(
        # Targets and options first: --configfile takes every word after it.
        [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", configfile],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def planned_jobs(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would run."""
    # Jobs of a group are listed indented under it.
    return re.findall(r"^ *rule (\w+):\n(?:(?! *rule | *\[)[ ]+.*\n)*? +wildcards: (.*)$", result.stdout, flags=re.M)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(ROOT / name, work)
    for folder in ("workflow", "config", "examples"):
        shutil.copytree(ROOT / folder, work / folder)
    return work


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_env_on_its_own_touches_no_other_env(workdir):
    result = snakemake(workdir, "report/envs/CartPole-v1.md")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / "report/envs/CartPole-v1.md").stat().st_size > 0
    assert not (workdir / "results/runs/LunarLander-v3").exists()
    assert not (workdir / "report/figures/LunarLander-v3").exists()


def test_full_workflow_reuses_the_finished_env_and_writes_everything(workdir):
    cartpole_before = mtimes(workdir / "results/runs/CartPole-v1")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert mtimes(workdir / "results/runs/CartPole-v1") == cartpole_before
    # Only the smoke config's envs: the default config's (Pendulum-v1, ...) are not merged in.
    assert sorted(p.name for p in (workdir / "results/runs").iterdir()) == sorted(ENVS)
    for env in ENVS:
        for agent in ENV_AGENTS[env]:
            for seed in (0, 1):
                run = workdir / f"results/runs/{env}/{agent}/seed{seed}"
                assert all((run / name).stat().st_size > 0 for name in ("episodes.csv", "evals.csv", "run.json"))
                model_file = AGENTS[BASE.get(agent, agent)].model_file
                assert model_file is None or (run / model_file).stat().st_size > 0
                assert {p.name for p in run.glob("model.*")} == ({model_file} if model_file else set())
            assert (workdir / f"logs/train/{env}/{agent}/seed0.log").exists()
        for name in ("episode_rewards", "learning_curves", "final_returns", "wall_clock"):
            assert (workdir / f"report/figures/{env}/{name}.png").stat().st_size > 10_000
        for agent in ("random", "ppo"):
            gif = workdir / f"report/media/{env}/{agent}.gif"
            assert 0 < gif.stat().st_size <= 5 * 2**20
            assert (workdir / f"report/media/{env}/{agent}.mp4").stat().st_size > 0
    readme = (workdir / "report/README.md").read_text()
    assert "figures/LunarLander-v3/learning_curves.png" in readme and "media/CartPole-v1/ppo.gif" in readme
    html = (workdir / "report/index.html").read_text()
    assert "media/Hopper-v5/ppo.gif" in readme and "media/CartPole-v1/sb3-ppo.gif" in readme
    assert html.count('src="data:image/png;base64,') == 16 and html.count('src="data:video/mp4;base64,') == 9
    # The external agent: its program's files kept apart, its policy played by ppo-bench, what was run recorded.
    for seed in (0, 1):
        run = json.loads((workdir / f"results/runs/CartPole-v1/minimal-ppo/seed{seed}/run.json").read_text())
        outside = run["outside"]
        assert outside["kind"] == "command" and outside["exit_status"] == 0 and outside["evaluated_by_ppo_bench"]
        assert f"--seed {seed} --total-timesteps 4096" in outside["command"] and run["final_eval"]["episodes"] == 3
        assert set(outside["files"]) == {"episodes.csv", "policy.onnx", "versions.json"}
        assert (workdir / f"results/outside/CartPole-v1/minimal-ppo/seed{seed}/policy.onnx").exists()
    assert "media/CartPole-v1/minimal-ppo.gif" in readme and "Minimal PPO (external)" in readme
    assert "Not drawn: Minimal PPO (external), from outside: evaluated once, at the end" in readme
    assert "run by its command `python examples/minimal_ppo/train.py --env-id {env}" in readme
    assert "## Across environments" in readme and "## Implementations compared" in readme
    # The tuning study ran with its two workers, and its best trial trained as a variant on the config's seeds.
    study = workdir / "results/tuning/cartpole-study"
    best = yaml.safe_load((study / "best.yaml").read_text())["cartpole-study"]
    assert best["base"] == "ppo" and best["hyperparameters"]["n_envs"] == 4
    markers = [json.loads((study / f"workers/{k}.json").read_text()) for k in (0, 1)]
    trials = [line.split(",")[1] for line in (study / "trials.csv").read_text().splitlines()[1:]]
    assert sum(len(m["finished_trials"]) for m in markers) == trials.count("COMPLETE") + trials.count("PRUNED") == 4
    for seed in (0, 1):
        run = json.loads((workdir / f"results/runs/CartPole-v1/cartpole-study/seed{seed}/run.json").read_text())
        assert all(run["hyperparameters"][key] == value for key, value in best["hyperparameters"].items())
        assert run["variant"]["base"] == "ppo" and run["hyperparameters"]["total_timesteps"] == 4096
    assert "## Tuning" in readme and "### Study cartpole-study (CartPole-v1)" in readme
    assert (workdir / "report/figures/tuning/cartpole-study.png").stat().st_size > 10_000
    assert all((workdir / f"results/compare/{name}.csv").stat().st_size > 0 for name in COMPARE_TABLES)


def test_second_invocation_has_nothing_to_do(workdir):
    result = snakemake(workdir, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_envs_hyperparameter_reruns_only_that_env(workdir):
    config = yaml.safe_load((workdir / "config/smoke.yaml").read_text())
    config["envs"]["LunarLander-v3"]["hyperparameters"]["ppo"]["learning_rate"] = 0.001
    (workdir / "config/changed.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--dry-run", configfile="config/changed.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    trained = sorted(w for rule, w in jobs if rule.startswith("train"))
    assert trained == ["env=LunarLander-v3, agent=ppo, seed=0", "env=LunarLander-v3, agent=ppo, seed=1"]
    # No CartPole work apart from its page, which reads the resolved config (title, seeds, evaluation) and is cheap.
    assert not any("CartPole-v1" in w for rule, w in jobs if rule != "env_report")


def test_rerun_retrains_one_agent_of_one_env_and_nothing_else(workdir):
    """Deleted runs under an up-to-date report: Snakemake alone says "Nothing to be done"; `ppo rerun` retrains
    exactly them (and redoes what depends on them)."""
    shutil.rmtree(workdir / "results/runs/CartPole-v1/random")
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(
        snakemake(workdir, "report/envs/CartPole-v1.md", "--dry-run")
    )
    lunar_before = mtimes(workdir / "results/runs/LunarLander-v3")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy", "HOME": str(workdir)}
    command = [sys.executable, "-m", "ppo", "rerun", "--configfile", "config/smoke.yaml", "--env", "CartPole-v1"]
    result = subprocess.run(
        [*command, "--agent", "random", "--cores", "2"], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    trained = re.findall(r"^(?:local)?rule (train\w*):\n(?:    .*\n)*?    wildcards: (.*)$", log, flags=re.M)
    assert sorted(w for _, w in trained) == ["env=CartPole-v1, agent=random, seed=0", "env=CartPole-v1, agent=random, seed=1"]
    assert all((workdir / f"results/runs/CartPole-v1/random/seed{s}/run.json").exists() for s in (0, 1))
    assert mtimes(workdir / "results/runs/LunarLander-v3") == lunar_before
    bad = subprocess.run([*command, "--agent", "nope"], cwd=workdir, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "agent 'nope' does not run on CartPole-v1; allowed:" in bad.stderr


def test_lint_and_format_are_clean():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    snakefmt = Path(sys.executable).parent / "snakefmt"
    files = ["Snakefile", *map(str, sorted((ROOT / "workflow/rules").glob("*.smk")))]
    fmt = subprocess.run([str(snakefmt), "--check", *files], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_report_loads_in_a_real_browser(workdir, tmp_path):
    """Debian's Chromium, headless, on index.html copied alone to another directory (the report is one file):
    every image and video decodes, every link works, no console errors. The screenshot is kept under test-artifacts/."""
    from browser import open_page

    alone = tmp_path / "elsewhere" / "index.html"
    alone.parent.mkdir()
    shutil.copy(workdir / "report/index.html", alone)
    state = open_page(alone, ROOT / "test-artifacts" / "report.png")
    in_page = [link for link in state["links"] if link["href"].startswith("#")]
    assert len(in_page) >= 2 and all(link["works"] for link in state["links"]), state["links"]
    assert len(state["images"]) == 16 and all(i["complete"] and i["width"] > 0 for i in state["images"]), state["images"]
    assert len(state["videos"]) == 9 and all(v["width"] > 0 and v["error"] is None for v in state["videos"]), state["videos"]
    assert {"Across environments", "Implementations compared"} <= set(state["headings"]), state["headings"]
    assert state["console_errors"] == []
    assert (ROOT / "test-artifacts" / "report.png").stat().st_size > 10_000


def test_snakemake_report_archive(workdir):
    result = snakemake(workdir, "--report", "report.zip")
    assert result.returncode == 0, result.stderr[-3000:]
    import zipfile

    names = zipfile.ZipFile(workdir / "report.zip").namelist()
    assert "report/report.html" in names
    assert sum(name.endswith(".png") for name in names) == 12 and sum(name.endswith(".mp4") for name in names) == 9


def test_killed_workflow_reruns_to_the_same_logs(workdir):
    """Snakemake and its training job killed hard (SIGKILL to the process group: power loss, OOM, kill -9)
    while the job runs: no result file is left under its final name; after `--unlock`, a rerun with
    --rerun-incomplete completes the job with the same logs as an uninterrupted run of the same config."""
    import os
    import signal
    import time

    import pandas as pd

    config = yaml.safe_load((workdir / "config/smoke.yaml").read_text())
    config["envs"]["CartPole-v1"].update(total_timesteps=16_384, eval_every=1024)
    target = "results/runs/CartPole-v1/ppo/seed0"
    runs = {}
    for name in ("killed", "reference"):
        folder = workdir.parent / f"{workdir.name}-{name}"
        shutil.copytree(workdir, folder, ignore=shutil.ignore_patterns("results", "report", "logs", ".snakemake"))
        (folder / "config/long.yaml").write_text(yaml.safe_dump(config))
        runs[name] = folder
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy", "HOME": str(workdir)}

    def snakemake_long(folder, *extra, **popen):
        command = [
            sys.executable,
            "-m",
            "snakemake",
            f"{target}/run.json",
            *extra,
            "--cores",
            "1",
            "--configfile",
            "config/long.yaml",
        ]
        if popen:
            return subprocess.Popen(command, cwd=folder, env=env, **popen)
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)

    process = snakemake_long(runs["killed"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = runs["killed"] / "logs/train/CartPole-v1/ppo/seed0.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "at step 2048" in log.read_text()):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    # No run file is left; only the live TensorBoard events (valid up to the kill, hidden by the rerun: purge_step 0).
    assert [p.name for p in (runs["killed"] / target).iterdir()] in ([], ["tensorboard"])

    assert snakemake_long(runs["killed"], "--unlock").returncode == 0
    for name, extra in (("killed", ["--rerun-incomplete"]), ("reference", [])):
        done = snakemake_long(runs[name], *extra)
        assert done.returncode == 0, done.stderr[-3000:]
    for name in ("episodes.csv", "evals.csv"):
        got, expected = (pd.read_csv(runs[n] / target / name).drop(columns="wall_s") for n in ("killed", "reference"))
        pd.testing.assert_frame_equal(got, expected)


def test_a_killed_training_job_resumes_from_its_checkpoint_when_snakemake_reruns_it(workdir):
    """The job killed hard mid-run (with checkpoints every 4 iterations); `--rerun-incomplete` reruns it, and
    the rerun resumes from checkpoint.pt, which Snakemake's cleanup of the job's outputs left in place."""
    import os
    import signal
    import time

    config = yaml.safe_load((workdir / "config/smoke.yaml").read_text())
    config["envs"]["CartPole-v1"].update(total_timesteps=65_536, eval_every=4096)
    config["checkpoints"] = {"iterations": 4}
    folder = workdir.parent / f"{workdir.name}-resume"
    shutil.copytree(workdir, folder, ignore=shutil.ignore_patterns("results", "report", "logs", ".snakemake"))
    (folder / "config/resume.yaml").write_text(yaml.safe_dump(config))
    target = "results/runs/CartPole-v1/ppo/seed0"
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy", "HOME": str(workdir)}
    command = [sys.executable, "-m", "snakemake", f"{target}/run.json", "--cores", "1", "--configfile", "config/resume.yaml"]
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not (folder / target / "checkpoint.pt").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert (folder / target / "checkpoint.pt").exists() and not (folder / target / "run.json").exists()

    assert subprocess.run([*command, "--unlock"], cwd=folder, env=env, capture_output=True).returncode == 0
    done = subprocess.run([*command, "--rerun-incomplete"], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (folder / "logs/train/CartPole-v1/ppo/seed0.log").read_text()
    assert "resuming from the checkpoint at step" in log
    run = yaml.safe_load((folder / target / "run.json").read_text())
    assert len(run["resumed_at_steps"]) == 1 and run["total_steps"] == 65_536
    assert not (folder / target / "checkpoint.pt").exists()


# Last: it adds agents and report sections to the shared workdir that the tests above count.
def test_variants_sweeps_and_the_ladder_run_from_the_config_alone(workdir):
    """No code change: a variant, a sweep and a two-rung ladder added to the tiny config run end to end and
    appear, with their labels, in the tables, figures and report."""
    config = yaml.safe_load((workdir / "config/smoke.yaml").read_text())
    config["agents"] += [
        {"ppo-fast-lr": {"base": "ppo", "label": "PPO, lr 3e-3", "hyperparameters": {"learning_rate": 0.003}}},
        "ppo-article-as-written",
        {"rung1": {"base": "ppo-article-as-written", "label": "Rung 1", "hyperparameters": {"gae_episode_boundaries": True}}},
    ]
    config["envs"]["CartPole-v1"]["agents"] += ["ppo-fast-lr", "ppo-article-as-written", "rung1"]
    config["envs"]["LunarLander-v3"]["agents"] = ["random", "ppo-article", "ppo"]  # the variants run on CartPole only
    config["ladder"] = ["ppo-article-as-written", "rung1", "ppo-article"]
    config["sweeps"] = {"epochs": {"base": "ppo", "envs": ["CartPole-v1"], "grid": {"n_epochs": [2, 4]}}}
    (workdir / "config/variants.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, configfile="config/variants.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((workdir / "results/runs/CartPole-v1/ppo-fast-lr/seed0/run.json").read_text())
    assert (
        run["agent"] == "ppo-fast-lr" and run["variant"]["base"] == "ppo" and run["hyperparameters"]["learning_rate"] == 0.003
    )
    swept = json.loads((workdir / "results/runs/CartPole-v1/epochs-n_epochs4/seed1/run.json").read_text())
    assert swept["hyperparameters"]["n_epochs"] == 4
    table = (workdir / "results/summary/CartPole-v1/table.csv").read_text()
    assert all(name in table for name in ("ppo-fast-lr", "epochs-n_epochs2", "epochs-n_epochs4", "rung1"))
    readme = (workdir / "report/README.md").read_text()
    for text in ("PPO, lr 3e-3", "epochs: n_epochs=2", "## Sweep epochs", "## Why the article's agent hovered", "Rung 1"):
        assert text in readme, text
    assert (workdir / "report/figures/sweeps/epochs.png").stat().st_size > 10_000
    assert (workdir / "report/figures/ladder/CartPole-v1.png").stat().st_size > 10_000
    ladder = (workdir / "results/ladder/ladder.csv").read_text()
    assert "ppo-article-as-written" in ladder and "rung1" in ladder and "ppo-article," in ladder
    assert not (workdir / "results/runs/LunarLander-v3/ppo-fast-lr").exists()  # CartPole's own list: variants only there
    # A new label is shown, not trained: only the summary and what follows it rerun.
    config["agents"][-3]["ppo-fast-lr"]["label"] = "PPO, learning rate 3e-3"
    (workdir / "config/variants.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    planned = planned_jobs(snakemake(workdir, "--dry-run", configfile="config/variants.yaml"))
    assert not [w for rule, w in planned if rule.startswith("train")] and ("aggregate", "env=CartPole-v1") in planned
