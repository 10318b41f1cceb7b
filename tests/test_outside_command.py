"""External agents: the command template, its quoting, a failing program, the run directory written from what
a program left (ppo/outside/command.py, agents.py, runner.py)."""

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from ppo.config import ConfigError
from ppo.outside.agents import external_agent
from ppo.outside.command import CommandFailed, check_template, render
from ppo.outside.episodes import EpisodesError
from ppo.outside.runner import run_external
from ppo.workflow_config import check_config, external_arguments

ROOT = Path(__file__).resolve().parent.parent

# A stand-in program: writes ppo-bench's episodes.csv (three episodes) and, when asked, copies a policy in.
PROGRAM = """
import shutil, sys
out, policy = sys.argv[1], sys.argv[2]
rows = ["episode,step,wall_s,return,length", "0,20,0.1,20.0,20", "1,50,0.2,30.0,30", "2,90,0.3,40.0,40"]
open(out + "/episodes.csv", "w").write("\\n".join(rows) + "\\n")
if policy != "-":
    shutil.copy(policy, out + "/policy.onnx")
print("trained")
"""


class Logits(nn.Module):
    """CartPole's contract: (batch, 4) float32 observations in, (batch, 2) logits out: push towards the pole."""

    def forward(self, obs):
        return torch.stack([-obs[:, 2] - obs[:, 3], obs[:, 2] + obs[:, 3]], dim=1)


@pytest.fixture(scope="module")
def cartpole_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "good.onnx"
    torch.onnx.export(Logits(), torch.zeros(1, 4), path, input_names=["obs"], output_names=["logits"],
                      dynamic_axes={"obs": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)  # fmt: skip
    return path


def agent_with(tmp_path, policy_file, **extra):
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(program))} {{run_dir}} {shlex.quote(str(policy_file))}"
    return external_agent("mine", {"command": command, **extra}, "agents.mine")


def test_placeholders_are_checked_before_any_job():
    assert check_template("train.py --env {env} --seed {seed} --out {run_dir} {{literal}}") == ["env", "seed", "run_dir"]
    for template, shown in [("train.py --sed {sed}", "{sed}"), ("x {}", "{}"), ("x {seed:03d}", "{seed:03d}"),
                            ("x {env!r}", "{env!r}")]:  # fmt: skip
        with pytest.raises(ConfigError, match=rf"placeholder {re.escape(shown)} is not known; allowed: \{{env\}}"):
            check_template(template)
    with pytest.raises(ConfigError, match="Single '}' encountered"):
        check_template("x {seed}}")
    # ppo-bench quotes every value: one in the user's own quotes would be quoted twice and break out of them
    for template in ('train.py --out "{run_dir}"', "train.py --out '{run_dir}'", """x "it's {env}" """):
        with pytest.raises(ConfigError, match="is inside .*quotes.*; write it unquoted: ppo-bench quotes every value"):
            check_template(template)
    assert check_template("""echo "a 'quoted' word" \\"{seed} 'x' {env}""") == ["seed", "env"]  # closed, or escaped
    # A backslash before a value escapes its opening quote, a $ makes it $'...': both would split or unquote it.
    for template, what in [("echo \\{run_dir}", "a backslash"), ("echo ${run_dir}", r"\$")]:
        with pytest.raises(ConfigError, match=f"placeholder {{run_dir}} follows {what}, which would unquote its value"):
            check_template(template)
    assert check_template("echo \\\\{run_dir} --out={run_dir}") == ["run_dir", "run_dir"]  # an escaped backslash


def test_a_placeholder_typo_in_the_config_is_refused_in_one_line():
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    config["agents"][3]["minimal-ppo"]["command"] += " --threads {thread}"
    with pytest.raises(ConfigError) as refused:
        check_config(config)
    assert str(refused.value).startswith("agents.minimal-ppo.command: placeholder {thread} is not known")
    assert "\n" not in str(refused.value)


def test_a_value_cannot_break_out_of_its_argument(tmp_path):
    """A run directory holding a space, a quote, a dollar and a semicolon reaches the program as one argument."""
    strange = tmp_path / "it's a $HOME; touch pwned"
    line = render("printf '%s\\n' {run_dir} {seed}", {"run_dir": strange, "seed": 3})
    printed = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, cwd=tmp_path).stdout
    assert printed.splitlines() == [str(strange), "3"] and not (tmp_path / "pwned").exists()


def test_a_program_run_writes_a_run_directory_judged_by_ppo_bench(tmp_path, cartpole_policy):
    out, program_dir = tmp_path / "runs/seed0", tmp_path / "it's program dir"
    run = run_external(agent_with(tmp_path, cartpole_policy), "CartPole-v1", 0, 90, out, program_dir, final_episodes=4)
    assert run["training_episodes"] == 3 and run["final_eval"]["episodes"] == 4
    outside = run["outside"]
    assert outside["kind"] == "command" and outside["exit_status"] == 0 and outside["evaluated_by_ppo_bench"]
    assert set(outside["files"]) == {"episodes.csv", "policy.onnx"} and outside["wall_seconds"] > 0
    assert shlex.split(outside["command"])[2] == str(program_dir.resolve())  # quoted, one argument
    assert {p.name for p in out.iterdir()} == {"episodes.csv", "evals.csv", "run.json", "policy.onnx"}
    assert json.loads((out / "run.json").read_text())["hyperparameters"] == {"total_timesteps": 90}


def test_a_failing_program_leaves_no_run_directory_and_shows_its_last_lines(tmp_path):
    failing = external_agent("mine", {"command": "echo first; echo last words; exit 3"}, "agents.mine")
    out = tmp_path / "runs/seed0"
    with pytest.raises(CommandFailed) as failed:
        run_external(failing, "CartPole-v1", 0, 90, out, tmp_path / "program")
    message = str(failed.value)
    assert message.splitlines()[0].startswith("the command exited with status 3: echo first")
    assert message.splitlines()[-2:] == ["  | first", "  | last words"]
    assert not out.exists()


def test_a_rerun_after_a_failure_starts_from_a_fresh_program_directory(tmp_path, cartpole_policy):
    program_dir = tmp_path / "program"
    program_dir.mkdir()
    (program_dir / "stale.monitor.csv").write_text("left by a failed attempt")  # would make the format ambiguous
    run = run_external(agent_with(tmp_path, cartpole_policy), "CartPole-v1", 0, 90, tmp_path / "out", program_dir,
                       final_episodes=2)  # fmt: skip
    assert "stale.monitor.csv" not in run["outside"]["files"]


def test_a_program_without_episodes_is_refused_naming_the_formats(tmp_path):
    quiet = external_agent("mine", {"command": "true"}, "agents.mine")
    formats = r"program holds no episodes in a known format; looked for episodes.csv \(csv\), events"
    with pytest.raises(EpisodesError, match=formats):
        run_external(quiet, "CartPole-v1", 0, 90, tmp_path / "out", tmp_path / "program")
    assert not (tmp_path / "out").exists()


def test_a_declared_policy_that_is_missing_or_does_not_fit_is_refused_and_nothing_is_written(tmp_path, cartpole_policy):
    missing = agent_with(tmp_path, "-")  # the program writes no policy, its entry declares one (the default)
    with pytest.raises(FileNotFoundError, match="policy.onnx is not a file"):
        run_external(missing, "CartPole-v1", 0, 90, tmp_path / "out", tmp_path / "program")
    wrong_env = agent_with(tmp_path, cartpole_policy)  # CartPole's (batch, 4) input on LunarLander's 8 numbers
    with pytest.raises(ValueError, match=r"policy.onnx.*4.*8"):
        run_external(wrong_env, "LunarLander-v3", 0, 90, tmp_path / "out", tmp_path / "program")
    assert not (tmp_path / "out").exists()


def test_a_program_without_a_policy_is_kept_as_not_evaluated(tmp_path):
    curves_only = agent_with(tmp_path, "-", policy=None)
    run = run_external(curves_only, "CartPole-v1", 0, 90, tmp_path / "out", tmp_path / "program")
    assert run["final_eval"] is None and not run["outside"]["evaluated_by_ppo_bench"]
    assert not (tmp_path / "out/policy.onnx").exists()


def test_the_entry_is_checked_in_one_line():
    for spec, message in [
        ({"command": "x", "seed": 1}, "agents.mine: unknown key 'seed'; allowed for an external agent: command"),
        ({"command": "x", "policy": "../elsewhere.onnx"}, "agents.mine.policy='../elsewhere.onnx' is not a path inside"),
        ({"command": "x", "threads": 0}, "agents.mine.threads=0 is not allowed; allowed: a positive integer"),
        ({"command": "x", "episodes": {"format": "wandb"}}, "agents.mine.episodes: episode format 'wandb' is not known"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            external_agent("mine", spec, "agents.mine")


def test_a_job_receives_the_entry_and_the_budget():
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    args = shlex.split(external_arguments(config, "CartPole-v1", "minimal-ppo"))
    spec = json.loads(next(a for a in args if a.startswith("--spec=")).removeprefix("--spec="))
    assert spec["command"].startswith("python examples/minimal_ppo/train.py") and spec["threads"] == 1
    assert "--total-timesteps=4096" in args and "--final-eval-episodes=3" in args


def test_the_config_form_of_import_reads_each_seeds_folder_without_running_anything(tmp_path, cartpole_policy):
    for seed in (0, 1):
        folder = tmp_path / f"old/CartPole-v1/seed{seed}"
        folder.mkdir(parents=True)
        (folder / "episodes.csv").write_text(f"episode,step,wall_s,return,length\n0,10,0.1,{10 + seed}.0,10\n")
    imported = external_agent("mine-v1", {"import": "old/{env}/seed{seed}", "cwd": str(tmp_path)}, "agents.mine-v1")
    assert imported.command is None and not imported.evaluated  # runs that exist: no policy unless named
    run = run_external(imported, "CartPole-v1", 1, 90, tmp_path / "out", tmp_path / "unused")
    assert run["outside"]["kind"] == "imported" and run["training_episodes"] == 1
    assert run["outside"]["source"].endswith("old/CartPole-v1/seed1") and not (tmp_path / "unused").exists()
    with pytest.raises(
        ConfigError, match=r"agents.x.import: placeholder \{run_dir\} is not known; allowed: \{env\}, \{seed\}"
    ):
        external_agent("x", {"import": "old/{run_dir}"}, "agents.x")
    with pytest.raises(ConfigError, match="give either command .* or import .*, not both"):
        external_agent("x", {"import": "old", "command": "true"}, "agents.x")


def test_an_entry_goes_to_its_job_and_back_unchanged():
    """The workflow hands a job the entry with its defaults filled in (to_dict); the job reads it as an entry."""
    for spec in ({"command": "train {seed}", "label": "Mine"}, {"import": "old/{env}/seed{seed}", "policy": "p.onnx"}):
        agent = external_agent("mine", spec, "agents.mine")
        assert external_agent("mine", agent.to_dict(), "agents.mine") == agent


def start_external_job(tmp_path: Path, program: str) -> tuple[subprocess.Popen, int]:
    """`ppo run-external` running `program` (a shell line that forks a child, as a script running `python
    train.py` would, and names it in a marker file), once the program has started: the job and the child's pid."""
    marker = tmp_path / "program.pid"
    spec = {"command": f"{program} & echo $! > {shlex.quote(str(marker))}; echo started; wait"}
    job = subprocess.Popen(
        [sys.executable, "-m", "ppo", "run-external", "--env", "CartPole-v1", "--seed", "0", "--agent", "mine",
         "--spec", json.dumps(spec), "--total-timesteps", "100", "--out", str(tmp_path / "out"),
         "--program-dir", str(tmp_path / "program")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert job.stdout.readline().strip() == "started"
    return job, int(marker.read_text())


def test_sigterm_stops_the_program_with_its_job(tmp_path):
    """A preempted external job takes its program down with it: nothing keeps training unseen, nothing is written."""
    job, program = start_external_job(tmp_path, "sleep 60")  # the job must stop the shell's child too
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == 143 and not (tmp_path / "out").exists()
    assert gone(program), f"the program's child {program} still runs after its job stopped"


def test_a_second_sigterm_does_not_leave_a_program_that_ignores_the_first_running(tmp_path):
    """A program deaf to SIGTERM gets SIGKILL after the grace period, even when the job is told twice (Snakemake
    and a cluster may both signal it): the second SIGTERM waits until the program is gone."""
    job, program = start_external_job(tmp_path, "trap '' TERM; sleep 300")
    try:
        job.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # inside the 10 s grace period, which the deaf program outlasts
        job.send_signal(signal.SIGTERM)
        # Unprotected, the second SIGTERM skipped the SIGKILL and the job sat waiting for its program to finish.
        assert job.wait(timeout=120) == 143 and not (tmp_path / "out").exists()
        assert gone(program), f"the program's child {program} still runs after its job stopped"
    finally:
        job.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(program, signal.SIGKILL)


def gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited (reaped, or a zombie waiting for a container's init to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_an_agent_without_a_policy_cannot_be_compared_or_recorded():
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    config["agents"][3]["minimal-ppo"]["policy"] = None
    config["rollouts"]["agents"].remove("minimal-ppo")
    config["comparisons"] = [{"env": "CartPole-v1", "agents": ["minimal-ppo", "ppo"], "alpha": 0.05, "wave": 5, "waves": 2}]
    with pytest.raises(ConfigError, match=r"comparisons\[0\].agents: 'minimal-ppo' leaves no policy .* no score to compare"):
        check_config(config)
    config["rollouts"]["agents"].append("minimal-ppo")
    del config["comparisons"]
    with pytest.raises(ConfigError, match="rollouts.agents: 'minimal-ppo' leaves no policy .* nothing can play it"):
        check_config(config)


def test_what_an_external_agent_needs_and_cannot_take_is_refused_before_any_job(tmp_path):
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    config["agents"][3]["minimal-ppo"]["requires"] = ["no-such-venv/bin/python"]
    with pytest.raises(ConfigError, match="agents.minimal-ppo.requires: no-such-venv/bin/python does not exist"):
        check_config(config)
    del config["agents"][3]["minimal-ppo"]["requires"]
    config["envs"]["CartPole-v1"]["hyperparameters"]["minimal-ppo"] = {"total_timesteps": 2048, "n_steps": 64}
    with pytest.raises(ConfigError, match="hyperparameters.minimal-ppo: 'n_steps' is a setting of the program"):
        check_config(config)
    config["envs"]["CartPole-v1"]["hyperparameters"]["minimal-ppo"] = {"total_timesteps": 2048}
    check_config(config)  # the budget is ppo-bench's: the job gets it
    assert "--total-timesteps=2048" in shlex.split(external_arguments(config, "CartPole-v1", "minimal-ppo"))
