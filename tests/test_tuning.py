"""Tuning studies (ppo/tuning): the search space and its refusals, the pruner, storages, reproducibility, several
workers at once, and a worker killed mid-trial."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from ppo.cli import main
from ppo.config import ConfigError
from ppo.run.evaluate import EvalEpisodes
from ppo.run.log import RunLog
from ppo.tuning import make_study_settings
from ppo.tuning.export import export_study
from ppo.tuning.space import DEFAULT_SPACE, base_point, build_space, fit_constraints, sample_settings
from ppo.tuning.storage import check_storage
from ppo.tuning.study import (
    TUNABLE_TRAINER,
    TrialProgress,
    check_study,
    objective,
    open_study,
    run_worker,
    trial_settings,
)

ROOT = Path(__file__).resolve().parent.parent
# A few tiny CartPole trials: 4 envs, one epoch; a trial takes about a second.
TINY = {"fixed": {"n_envs": 4, "n_epochs": 1, "net_arch": [64]}, "space": {"n_steps": {"choices": [32, 64]}}}


def tiny_settings(tmp_path, trials=3, budget=1024, **options):
    return make_study_settings(
        "tiny", "CartPole-v1", "ppo", {}, "PPO (tuned)", trials=trials, total_timesteps=budget,
        storage=str(tmp_path / "study.journal"), seeds=(1000,), eval_episodes=2, final_eval_episodes=3,
        startup_trials=options.pop("startup_trials", 1), **TINY, **options,
    )  # fmt: skip


def test_the_default_space_is_the_zoos_with_continuous_keys_only_for_gaussian_policies():
    space = build_space()
    assert set(space.for_env(continuous=False)) == set(DEFAULT_SPACE) - {"log_std_init", "normalize"}
    assert {"log_std_init", "normalize"} <= set(space.for_env(continuous=True))
    assert DEFAULT_SPACE["learning_rate"].log and DEFAULT_SPACE["ent_coef"].log
    assert DEFAULT_SPACE["gamma"].describe() == "[0.9, 0.9999], 1 - x on a log scale"


def test_a_config_narrows_adds_and_fixes_keys():
    space = build_space({"learning_rate": {"low": 1e-4, "high": 1e-3}, "n_envs": {"kind": "categorical", "choices": [4, 8]}},
                        {"gamma": 0.99})  # fmt: skip
    assert (space.dimensions["learning_rate"].low, space.dimensions["learning_rate"].high) == (1e-4, 1e-3)
    assert space.dimensions["learning_rate"].log  # narrowing keeps the scale
    assert space.dimensions["n_envs"].choices == (4, 8)
    assert "gamma" not in space.dimensions and space.fixed == {"gamma": 0.99}


@pytest.mark.parametrize(
    "overrides, fixed, message",
    [
        ({"learning_rat": {"low": 1e-4, "high": 1e-3}}, None,
         "study.space.learning_rat: unknown hyperparameter 'learning_rat'; did you mean learning_rate"),
        ({"learning_rate": {"low": 1e-3, "high": 1e-4}}, None,
         "study.space.learning_rate: low=0.001 >= high=0.0001 is an empty range"),
        ({"clip_range": {"choices": []}}, None, "study.space.clip_range.choices=() is an empty range"),
        ({"n_envs": {"low": 1, "high": 8}}, None,
         "study.space.n_envs is not in the default space; allowed: add it with a kind"),
        ({"ent_coef": {"low": 0.0, "high": 0.1}}, None, "study.space.ent_coef: low=0.0 on a log scale; allowed: low > 0"),
        (None, {"gama": 0.9}, "study.fixed.gama: unknown hyperparameter 'gama'"),
    ],
)  # fmt: skip
def test_an_unknown_key_or_an_empty_range_is_refused_in_one_line(overrides, fixed, message):
    with pytest.raises(ConfigError) as refused:
        build_space(overrides, fixed, where="study")
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_minibatch_never_exceeds_a_rollout_nor_the_rollout_the_budget():
    settings = {"n_steps": 32, "batch_size": 512}
    assert fit_constraints(settings, {"n_envs": 4, "total_timesteps": 10_000}) == {"batch_size": 128}
    settings = {"n_steps": 2048, "batch_size": 512}
    assert fit_constraints(settings, {"n_envs": 8, "total_timesteps": 4096}) == {"n_steps": 512}
    # Sampled through a trial: the zoo's largest minibatch over its shortest rollout on one env.
    first_choices = {k: d.choices[0] for k, d in DEFAULT_SPACE.items() if d.kind == "categorical"}
    floats = {"one_minus_gamma": 0.01, "one_minus_gae_lambda": 0.05, "learning_rate": 3e-4, "ent_coef": 1e-3,
              "max_grad_norm": 0.5, "vf_coef": 0.5}  # fmt: skip
    trial = optuna.trial.FixedTrial({**first_choices, **floats, "batch_size": 512, "n_steps": 32})
    sampled = sample_settings(trial, build_space(), {"n_envs": 1, "total_timesteps": 100_000}, continuous=False)
    assert sampled["batch_size"] == 32 and sampled["gamma"] == pytest.approx(0.99) and sampled["net_arch"] == [64]


def test_tuning_seeds_that_overlap_the_judging_seeds_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^tuning\.seeds: \[1000\] are also the config's seeds.*disjoint") as refused:
        check_study(tiny_settings(tmp_path), judging_seeds=[0, 1, 1000])
    assert "\n" not in str(refused.value)
    check_study(tiny_settings(tmp_path), judging_seeds=[0, 1, 2, 3, 4])


@pytest.mark.parametrize(
    "storage, message",
    [
        ("redis://localhost:6379", "unknown scheme 'redis'"),
        ("postgresql+nosuchdriver://u@h/db", "is not usable"),
        ("{tmp}/a-file/study.journal", "a-file is not a writable directory"),
    ],
)
def test_an_unusable_storage_is_refused_in_one_line(tmp_path, storage, message):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match=message) as refused:
        check_storage(storage.format(tmp=tmp_path))
    assert "\n" not in str(refused.value)
    check_storage(str(tmp_path / "ok.journal"))
    check_storage(f"sqlite:///{tmp_path}/ok.db")


def test_a_trial_whose_evaluation_falls_below_the_median_is_pruned():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for value in (100.0, 120.0):
        study.add_trial(optuna.trial.create_trial(value=value, intermediate_values={1: value}))
    TrialProgress(study.ask(), every=1000).evaluated("periodic", 1000, 150.0)  # above the median: goes on
    with pytest.raises(optuna.TrialPruned, match="pruned at evaluation point 1, step 1024"):
        TrialProgress(study.ask(), every=1000).evaluated("periodic", 1024, 10.0)  # point 1, a rollout past it
    TrialProgress(study.ask(), every=1000).evaluated("final", 1000, 10.0)  # the final evaluation is the value, not a report


class FakeAgent:
    """Stands in for PPO's training in a study's mechanics: the real RunLog's evaluation schedule (at rollout
    boundaries, once past each `every` steps), with the return `curve(hp, step)` instead of a trained policy."""

    trainer = TUNABLE_TRAINER

    def __init__(self, curve):
        self.curve = curve

    def train(self, env_id, hp, seed, evaluation, progress):
        curve = self.curve

        class Evaluator:
            def run(self, step, n):  # RunLog hands its policy to the evaluator: here the policy is its step
                return EvalEpisodes(np.full(n, float(curve(hp, step))), np.ones(n, int), np.zeros(n, bool))

        log = RunLog(hp.n_envs, Evaluator(), evaluation, progress)
        log.start(0)
        for step in range(hp.rollout_size, hp.trained_timesteps + 1, hp.rollout_size):
            log.end_iteration(step, step)
        return log.finish(hp.trained_timesteps)


@pytest.fixture
def fake_training(monkeypatch):
    """fake_training(curve): a study's trials train FakeAgent(curve) (milliseconds a trial)."""
    return lambda curve: monkeypatch.setattr("ppo.tuning.study.get_agent", lambda name: FakeAgent(curve))


@pytest.mark.parametrize("good, hopeless", [(2048, 2048), (2048, 32), (2048, 512), (32, 2048)])
def test_a_hopeless_trial_is_pruned_whatever_its_rollout_size(tmp_path, fake_training, good, hopeless):
    """Pendulum's study: 8 envs, budget 50k, an evaluation every 5k steps, pruning from 60% on. Five complete
    trials of one rollout size learn; a trial that never learns is pruned, with its own rollout size or another
    (with 8 x 32-step rollouts its evaluations fall at steps no 8 x 2048-step trial reports at)."""
    settings = make_study_settings(
        "pendulum", "Pendulum-v1", "ppo-defaults", {}, "PPO defaults", trials=6, total_timesteps=50_000,
        storage=str(tmp_path / "study.journal"), seeds=(1000, 1001), prune_after=0.6, startup_trials=5,
    )  # fmt: skip
    learning = {"on": True}
    fake_training(lambda hp, step: -1200 + step / 50 if learning["on"] else -1500.0)
    study = open_study(settings)
    for _ in range(5):
        study.enqueue_trial({"n_steps": good})
        trial = study.ask()
        study.tell(trial, objective(trial, settings))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    learning["on"] = False
    study.enqueue_trial({"n_steps": hopeless})
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match=r"pruned at evaluation point (\d+)") as pruned:
        objective(trial, settings)
    assert trial.params["n_steps"] == hopeless
    point = int(pruned.value.args[0].split("point ")[1].split(",")[0])
    assert settings.warmup_points == 6 and 6 <= point <= 10  # on the first seed, once past 60% of its budget


@pytest.mark.slow
def test_one_worker_proposes_the_same_trials_again_and_exports_a_variant(tmp_path):
    runs = []
    for name in ("a", "b"):
        settings = tiny_settings(tmp_path / name)
        run_worker(settings, log=lambda line: None)
        study = optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(settings.storage)))  # fmt: skip
        runs.append([(t.params, t.value, t.state.name) for t in study.trials])
    assert runs[0] == runs[1] and len(runs[0]) == 3
    assert len({json.dumps(params, sort_keys=True) for params, _, _ in runs[0]}) == 3  # three different points

    assert main(["tune", "--env", "CartPole-v1", "--base", "ppo", "--study", "tiny", "--trials", "3",
                 "--total-timesteps", "1024", "--seeds", "1000", "--out", str(tmp_path / "a"), "--export-only",
                 "--fixed", json.dumps(TINY["fixed"]), "--space", json.dumps(TINY["space"]), "--quiet",
                 "--startup-trials", "1", "--eval-episodes", "2", "--final-eval-episodes", "3"]) == 0  # fmt: skip
    best = yaml.safe_load((tmp_path / "a" / "best.yaml").read_text())
    assert list(best) == ["tiny"] and best["tiny"]["base"] == "ppo"
    assert best["tiny"]["hyperparameters"]["n_envs"] == 4 and "total_timesteps" not in best["tiny"]["hyperparameters"]
    summary = json.loads((tmp_path / "a" / "study.json").read_text())
    assert summary["complete"] + summary["pruned"] == 3
    assert summary["best_value"] == max(value for _, value, state in runs[0] if state == "COMPLETE")
    # The variant trains from best.yaml, its hyperparameters recorded in run.json.
    out = tmp_path / "run"
    assert main(["train", "--env", "CartPole-v1", "--agent", "ppo", "--variant", "tiny", "--variant-file",
                 str(tmp_path / "a" / "best.yaml"), "--seed", "0", "--out", str(out), "--total-timesteps", "512",
                 "--final-eval-episodes", "2", "--quiet"]) == 0  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    for key, value in best["tiny"]["hyperparameters"].items():
        assert run["hyperparameters"][key] == value, key
    assert run["variant"]["label"] == best["tiny"]["label"]


def tune_command(out: Path, trials: int, worker: int, budget: int = 1024) -> list[str]:
    return [sys.executable, "-m", "ppo", "tune", "--env", "CartPole-v1", "--base", "ppo", "--study", "tiny",
            "--trials", str(trials), "--total-timesteps", str(budget), "--seeds", "1000", "--out", str(out),
            "--worker", str(worker), "--marker", str(out / f"worker{worker}.json"), "--startup-trials", "1",
            "--fixed", json.dumps(TINY["fixed"]), "--space", json.dumps(TINY["space"]), "--eval-episodes", "2",
            "--final-eval-episodes", "3", "--configfile", "none"]  # fmt: skip


def load_trials(out: Path):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name="tiny", storage=storage).get_trials()


@pytest.mark.slow
def test_two_workers_share_the_default_storage_without_losing_a_trial(tmp_path):
    # Trials of a few seconds each, so that both workers are running long before the study is full.
    workers = [subprocess.Popen(tune_command(tmp_path, 6, k, budget=4096), stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    errors = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    assert not any("locked" in e for e in errors)
    trials = load_trials(tmp_path)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6  # exactly the study's number, no trial lost or run twice
    assert {t.user_attrs["worker"] for t in finished} == {0, 1}
    assert all(t.user_attrs.get("surplus") for t in trials if t.state.name == "FAIL")
    markers = [json.loads((tmp_path / f"worker{k}.json").read_text())["finished_trials"] for k in (0, 1)]
    assert sorted(markers[0] + markers[1]) == sorted(t.number for t in finished)


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_only_that_trial_and_the_rerun_completes_the_study(tmp_path):
    # Trials of ~1-2 s (8192 steps), polled every 0.1 s: a trial's training is seen running before it ends (at
    # 4096 steps and 0.5 s the faster loop finished whole trials between two looks).
    worker = subprocess.Popen(tune_command(tmp_path, 5, 0, budget=8192), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill once two trials are done and the third is running
        time.sleep(0.1)
        if (tmp_path / "study.journal").exists():
            trials = load_trials(tmp_path)
            states = [t.state.name for t in trials]
            # Sampled and training: a trial with some params may still be sampling the others (its retry would then
            # sample the rest afresh); its hyperparameters are recorded once all are sampled.
            running = [t for t in trials if t.state.name == "RUNNING" and "hyperparameters" in t.user_attrs]
            if states.count("COMPLETE") + states.count("PRUNED") >= 2 and running:
                break
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    before = {t.number: (t.state.name, t.value, t.params) for t in load_trials(tmp_path) if t.state.name != "RUNNING"}
    killed = [t for t in load_trials(tmp_path) if t.state.name == "RUNNING"]
    assert len(killed) == 1 and len(before) >= 2

    rerun = subprocess.run(tune_command(tmp_path, 5, 0, budget=8192), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"trial {killed[0].number} was left running by a killed run of worker 0" in rerun.stderr
    after = load_trials(tmp_path)
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in after) == 5
    for number, kept in before.items():  # every trial finished before the kill is still there, unchanged
        assert (after[number].state.name, after[number].value, after[number].params) == kept
    assert after[killed[0].number].state.name == "FAIL"
    retried = [t for t in after if t.user_attrs.get("retry_of") == killed[0].number]
    assert len(retried) == 1 and retried[0].params == killed[0].params


def test_a_worker_stopped_by_sigterm_fails_its_trial_from_a_safe_point_and_queues_it_again(tmp_path):
    """Preemption: SIGTERM lands while a trial trains (and reports to the journal); the worker stops at the next env
    step, not inside a storage write, fails the trial, queues its settings again and exits 143 within seconds."""
    worker = subprocess.Popen(tune_command(tmp_path, 5, 0, budget=8192), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if (tmp_path / "study.journal").exists():
            trials = load_trials(tmp_path)
            if any(t.state.name == "RUNNING" and "hyperparameters" in t.user_attrs for t in trials):
                break
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 143 and time.monotonic() - started < 20
    trials = load_trials(tmp_path)
    stopped = [t for t in trials if t.state.name == "FAIL"]
    assert len(stopped) == 1 and not [t for t in trials if t.state.name == "RUNNING"]
    queued = [t for t in trials if t.state.name == "WAITING" and t.user_attrs.get("retry_of") == stopped[0].number]
    assert len(queued) == 1 and queued[0].system_attrs["fixed_params"] == stopped[0].params  # run again as it was


def test_the_tune_command_refuses_bad_input_in_one_line_before_any_trial(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("seeds: [0, 1000]\n")
    base = ["tune", "--env", "CartPole-v1", "--base", "ppo", "--study", "s", "--trials", "2", "--total-timesteps", "512",
            "--out", str(tmp_path / "out")]  # fmt: skip
    cases = [
        (["--configfile", str(config)], "tune.seeds: [1000] are also the config's seeds"),
        (["--space", "{lr: {low: 1, high: 2}}"], "tune.space.lr: unknown hyperparameter 'lr'"),
        (["--storage", "redis://h/0"], "unknown scheme 'redis'"),
        (["--base", "sb3-ppo"], "tune.base='sb3-ppo' cannot be tuned"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_the_base_is_the_studys_first_point_where_the_space_can_express_it():
    base = {"n_steps": 256, "gamma": 0.99, "ent_coef": 0.0, "net_arch": (64, 64), "normalize_observation": True}
    point = base_point(build_space(), base, continuous=True)
    assert point["n_steps"] == 256 and point["one_minus_gamma"] == pytest.approx(0.01) and point["net_arch"] == "small"
    assert point["ent_coef"] == 1e-8 and point["normalize"] is True  # 0 moved to the range's end
    assert "n_steps" not in base_point(build_space(), {"n_steps": 100}, continuous=False)  # not a choice: sampled


def test_a_trial_asked_once_the_study_is_full_is_surplus_and_never_runs(tmp_path):
    """Workers asking at once: trials numbered beyond the study's total (finished, running or queued ones before
    them) end unrun, marked surplus, so the study ends with exactly its number of trials."""
    import os
    import socket

    settings = tiny_settings(tmp_path, trials=2)
    study = open_study(settings)
    for _ in range(2):  # another live worker's two running trials fill the study
        running = study.ask()
        for key, value in {"worker": 0, "host": socket.gethostname(), "pid": os.getpid()}.items():
            running.set_user_attr(key, value)
    assert run_worker(settings, worker=1, log=lambda line: None) == []
    trials = load_trials(tmp_path)
    assert [t.state.name for t in trials] == ["RUNNING", "RUNNING", "FAIL"] and trials[2].user_attrs["surplus"] is True


def test_the_bases_own_settings_are_the_first_trial_so_the_best_is_never_worse_than_the_base(tmp_path, fake_training):
    """The docs' promise: the best trial scores at least the base on the tuning seeds. Here a trial's score is
    best exactly at the base's learning rate, which no sampled trial hits: only the base's own trial reaches it."""
    settings = tiny_settings(tmp_path, trials=4)
    base_lr = settings.base_hyperparameters().learning_rate
    fake_training(lambda hp, step: -abs(np.log(hp.learning_rate / base_lr)))
    run_worker(settings, log=lambda line: None)
    trials = load_trials(tmp_path)
    assert max(t.value for t in trials if t.state.name == "COMPLETE") >= 0.0  # the base's own score
    assert trials[0].params == base_point(settings.space, settings.base_settings(), continuous=False)
    assert trials[0].user_attrs.get("base_point") is True


def consistent(out: Path, settings) -> None:
    """study.json and best.yaml say what the settings say: env, budget, seeds, and a best point inside the space."""
    summary = json.loads((out / "study.json").read_text())
    assert (summary["env"], summary["total_timesteps"], summary["seeds"]) == (
        settings.env_id, settings.total_timesteps, list(settings.seeds))  # fmt: skip
    assert summary["complete"] + summary["pruned"] <= settings.trials
    best = yaml.safe_load((out / "best.yaml").read_text())[settings.name]["hyperparameters"]
    assert f"at {settings.total_timesteps} steps each" in (out / "best.yaml").read_text()
    for key, d in settings.space.for_env(continuous=False).items():
        if d.kind == "categorical":
            assert best[key] in d.choices, key
        elif not d.complement:
            assert d.low <= best[key] <= d.high, key
    for key, value in settings.space.fixed.items():
        assert best[key] == value, key


def test_a_study_rerun_under_other_settings_is_refused_so_its_files_never_contradict_the_config(tmp_path, fake_training):
    fake_training(lambda hp, step: -abs(np.log(hp.learning_rate / 3e-4)))
    first = tiny_settings(tmp_path, trials=3, budget=512)
    run_worker(first, log=lambda line: None)
    export_study(first, tmp_path / "out")
    consistent(tmp_path / "out", first)
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}

    # The issue's rerun: a doubled budget, one rollout size, a learning rate range the first study never saw.
    space = {"n_steps": {"choices": [128]}, "learning_rate": {"low": 0.5, "high": 0.9}}
    changed = dataclasses.replace(first, total_timesteps=1024, space=build_space(space, TINY["fixed"]))
    for rerun in (lambda: run_worker(changed, log=lambda line: None), lambda: export_study(changed, tmp_path / "out")):
        with pytest.raises(ConfigError) as refused:
            rerun()
        message = str(refused.value)
        assert message.startswith(f"study 'tiny' in {first.storage} was made with total_timesteps=512, now 1024")
        assert f"to start it afresh, delete {tmp_path}/, or give the study a new name" in message
        assert "\n" not in message
    narrowed = build_space({**TINY["space"], "learning_rate": {"low": 0.5, "high": 0.9}}, TINY["fixed"])
    with pytest.raises(ConfigError, match=r"made with space\.learning_rate\.low=1e-05, now 0\.5"):
        run_worker(dataclasses.replace(first, space=narrowed), log=lambda line: None)
    with pytest.raises(ConfigError, match="already holds 3 finished trials, more than trials=2; allowed: trials >= 3"):
        export_study(dataclasses.replace(first, trials=2), tmp_path / "out")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files  # nothing rewritten
    assert len(load_trials(tmp_path)) == 3  # no trial run under the changed settings

    # More trials, or another label, continue the same study; a new name starts a new one, on the new settings.
    run_worker(dataclasses.replace(first, trials=4, label="PPO (more trials)"), log=lambda line: None)
    assert len(load_trials(tmp_path)) == 4
    renamed = dataclasses.replace(changed, name="tiny-1024")
    run_worker(renamed, log=lambda line: None)
    export_study(renamed, tmp_path / "renamed")
    consistent(tmp_path / "renamed", renamed)


def test_a_study_made_before_studies_stored_their_settings_is_refused(tmp_path):
    settings = tiny_settings(tmp_path)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(settings.storage))
    study = optuna.create_study(study_name="tiny", storage=storage, direction="maximize")
    n_steps = optuna.distributions.CategoricalDistribution([32, 64])
    study.add_trial(optuna.trial.create_trial(value=1.0, params={"n_steps": 64}, distributions={"n_steps": n_steps}))
    with pytest.raises(ConfigError, match="has trials but no stored settings .*its pruning compared env steps"):
        run_worker(settings, log=lambda line: None)


def smoke_config(**study):
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["tuning"]["studies"]["cartpole-study"].update(study)
    return config


def test_the_config_check_refuses_a_study_whose_journal_holds_other_settings(tmp_path, monkeypatch, fake_training):
    from ppo.workflow_config import check_tuning, study_settings

    monkeypatch.chdir(tmp_path)  # the default storage, results/tuning/<study>/study.journal, is relative
    config = smoke_config()
    check_tuning(config)  # no journal yet
    fake_training(lambda hp, step: 0.0)
    run_worker(study_settings(config, "cartpole-study"), log=lambda line: None)
    check_tuning(config)  # the same settings: the study goes on
    check_tuning(smoke_config(trials=8, workers=1, label="more"))  # more trials, workers, a label: the same study
    with pytest.raises(ConfigError) as refused:
        check_tuning(smoke_config(seeds=[1001]))
    assert str(refused.value).startswith(
        "study 'cartpole-study' in results/tuning/cartpole-study/study.journal was made with seeds=[1000], now [1001]"
    ) and "delete results/tuning/cartpole-study/, or give the study a new name" in str(refused.value)


def test_several_workers_on_sqlite_are_refused_before_any_job(tmp_path, monkeypatch):
    from ppo.workflow_config import check_tuning

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/study.db"
    with pytest.raises(ConfigError) as refused:
        check_tuning(smoke_config(storage=url, workers=2))
    assert str(refused.value).startswith(f"tuning.studies.cartpole-study: workers=2 on SQLite storage '{url}'")
    assert "allowed: one worker" in str(refused.value) and "\n" not in str(refused.value)
    check_tuning(smoke_config(storage=url, workers=1))
    with pytest.raises(ConfigError, match=r"^study 'tiny': worker 1 \(a second worker at least\) on SQLite storage"):
        run_worker(dataclasses.replace(tiny_settings(tmp_path), storage=url), worker=1, log=lambda line: None)
    assert not (tmp_path / "study.db").exists()  # refused before the storage was touched


def test_every_trial_sampled_for_an_atari_study_is_accepted_by_the_agent(tmp_path):
    """The Nature CNN refuses the MLP's keys (net_arch, activation) and observation normalization: the space of an
    image env leaves them out, so no sampled trial is refused (and counted as pruned) for a setting it cannot have."""
    settings = make_study_settings("breakout", "BreakoutNoFrameskip-v4", "ppo", {}, "PPO", trials=40,
                                   total_timesteps=100_000, storage=str(tmp_path / "study.journal"))  # fmt: skip
    check_study(settings, judging_seeds=[0])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    refused = []
    for _ in range(200):
        trial = study.ask()
        try:
            trial_settings(trial, settings)
        except ConfigError as err:
            refused.append(str(err))
    assert refused == [], f"{len(refused)} of 200 refused, e.g. {refused[0]}"
    assert {"learning_rate", "n_steps", "clip_range"} <= set(trial.params)  # the CNN's settings are still tuned
    assert "net_arch" not in base_point(settings.space, settings.base_settings(), *settings.policy)
    # A range the config writes for a key the CNN has no use for is refused, not silently dropped.
    explicit = dataclasses.replace(settings, space=build_space({"activation": {"choices": ["relu"]}}))
    with pytest.raises(ConfigError, match=r"^tune\.space\.activation: applies to vector observations .*allowed: leave it out"):
        check_study(explicit, judging_seeds=[0], where="tune")
    assert "net_arch" in build_space().for_env(continuous=False, pixels=False)  # vector envs keep the MLP's keys


@pytest.mark.parametrize("configfile", ["smoke.yaml", "tuning.yaml"])
def test_a_studys_jobs_store_the_settings_the_config_check_compares_with(configfile):
    """The workers build their settings from `python -m ppo tune` options, the config check from the config: if
    the two differed, a study's second invocation would be refused as changed."""
    import shlex

    from ppo.cli import build_parser
    from ppo.workflow_config import study_arguments, study_settings, study_settings_from_args, tuning_studies

    config = yaml.safe_load((ROOT / "config" / configfile).read_text())
    for name in tuning_studies(config):
        argv = ["tune", *shlex.split(study_arguments(config, name)), "--out", f"results/tuning/{name}"]
        from_jobs = study_settings_from_args(build_parser().parse_args(argv))
        assert from_jobs.stored() == study_settings(config, name).stored(), name
