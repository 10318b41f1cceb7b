"""Runs from outside read from their logs and imported: TensorBoard events written by a real SummaryWriter,
monitor.csv files written by SB3's real Monitor, and a results tree written by an older commit of this project
(tests/data/old-results, made once by caec483). Each refusal of the episode readers has its test."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ppo.analysis.aggregate import load_runs, summary_table, write_summary
from ppo.analysis.compare import run_scores
from ppo.analysis.report import _table_rows
from ppo.analysis.styles import style_of_run, styles_from_runs
from ppo.cli import main
from ppo.outside.episodes import EpisodesError, EpisodeSource, find_episode_files, read_episodes
from ppo.outside.importer import import_logs, import_results_tree, sha256
from ppo.run.directory import read_run
from ppo.run.log import EPISODE_COLUMNS, EVAL_COLUMNS

OLD_RESULTS = Path(__file__).parent / "data" / "old-results" / "runs"


def write_cleanrl_events(log_dir: Path, episodes: list[tuple[int, float, int]], t0: float = 1000.0) -> None:
    """Episodes as CleanRL logs them: return and length at the global step the episode ended, plus a loss
    tag that is not an episode's."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(log_dir))
    for k, (step, ret, length) in enumerate(episodes):
        writer.add_scalar("charts/episodic_return", ret, step, walltime=t0 + 2.5 * k)
        writer.add_scalar("charts/episodic_length", length, step, walltime=t0 + 2.5 * k)
        writer.add_scalar("losses/value_loss", 0.1 * k, step, walltime=t0 + 2.5 * k)
    writer.close()


CLEANRL_EPISODES = [(40, 21.0, 21), (40, 19.0, 19), (96, 30.0, 30), (180, 44.0, 44), (260, 9.5, 40)]


def test_tensorboard_run_of_a_real_summary_writer(tmp_path):
    write_cleanrl_events(tmp_path / "runs" / "CartPole-v1__ppo__1", CLEANRL_EPISODES)
    frame = read_episodes(tmp_path)
    assert list(frame.columns) == list(EPISODE_COLUMNS)
    # Two episodes that ended on one global step (two env copies) are both kept, in the order written.
    assert frame["episode"].tolist() == [0, 1, 2, 3, 4]
    assert frame["step"].tolist() == [s for s, _, _ in CLEANRL_EPISODES]
    assert frame["return"].tolist() == [r for _, r, _ in CLEANRL_EPISODES]
    assert frame["length"].tolist() == [n for _, _, n in CLEANRL_EPISODES]
    assert frame["wall_s"].tolist() == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0])


def test_tensorboard_tags_configurable_and_lengths_optional(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    for step, ret in [(100, 1.0), (200, 2.0)]:
        writer.add_scalar("rollout/episode_reward", ret, step)
    writer.close()
    source = EpisodeSource.from_config({"format": "tensorboard", "return_tag": "rollout/episode_reward"})
    frame = read_episodes(tmp_path, source)
    assert frame["return"].tolist() == [1.0, 2.0]
    assert frame["length"].tolist() == [-1, -1]  # not recorded
    with pytest.raises(EpisodesError, match="no TensorBoard scalar tag 'charts/episodic_return'.*rollout/episode_reward"):
        read_episodes(tmp_path)


def run_sb3_monitors(monitor_dir: Path, n_steps: int = 300) -> list[tuple[float, int, int]]:
    """Two CartPole copies under SB3's Monitor (make_vec_env writes 0.monitor.csv and 1.monitor.csv), random
    actions; returns the episodes the wrappers reported, (return, length, env steps of the run when it ended), in
    the order they ended."""
    from stable_baselines3.common.env_util import make_vec_env

    n_envs = 2
    vec = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0, monitor_dir=str(monitor_dir))
    vec.reset()
    rng = np.random.default_rng(0)
    seen = []
    for vector_step in range(n_steps):
        _, _, dones, infos = vec.step(rng.integers(0, 2, size=n_envs))
        for info in infos:  # copy 0 steps (and finishes) before copy 1 within a vector step
            if "episode" in info:
                steps_so_far = n_envs * (vector_step + 1)  # every copy stepped once per vector step
                seen.append((float(info["episode"]["r"]), int(info["episode"]["l"]), steps_so_far))
        if dones.any():
            time.sleep(0.002)  # episode ends of later vector steps stay apart beyond the files' 1 us rounding
    vec.close()
    return seen


def test_sb3_monitor_files_merged_in_the_order_and_at_the_steps_the_episodes_ended(tmp_path):
    seen = run_sb3_monitors(tmp_path / "ppo" / "CartPole-v1_1")
    assert len(seen) > 10
    files = sorted(p.name for p in tmp_path.rglob("*.monitor.csv"))
    assert files == ["0.monitor.csv", "1.monitor.csv"]
    frame = read_episodes(tmp_path)  # found recursively, as rl_zoo3 lays them out
    assert list(zip(frame["return"], frame["length"], frame["step"])) == seen
    assert frame["episode"].tolist() == list(range(len(seen)))
    assert (np.diff(frame["wall_s"]) >= 0).all() and frame["wall_s"].iloc[0] >= 0


def test_refuses_the_monitor_files_of_two_runs_in_one_folder(tmp_path):
    # rl_zoo3 numbers a rerun's folder CartPole-v1_2 beside CartPole-v1_1: merged, they would make one run of two.
    run_sb3_monitors(tmp_path / "ppo" / "CartPole-v1_1", n_steps=100)
    run_sb3_monitors(tmp_path / "ppo" / "CartPole-v1_2", n_steps=100)
    message = r"not one vectorized run: ppo/CartPole-v1_\d/\d.monitor.csv ends an episode at step \d+ before ppo/CartPole-v1_"
    with pytest.raises(EpisodesError, match=message):
        read_episodes(tmp_path)
    assert len(read_episodes(tmp_path / "ppo" / "CartPole-v1_2")) > 5  # each folder on its own reads


def test_program_episodes_csv_with_a_column_mapping(tmp_path):
    pd.DataFrame({"global_step": [10, 30], "ep_ret": [1.5, 2.5], "ep_len": [10, 20]}).to_csv(
        tmp_path / "episodes.csv", index=False
    )
    source = EpisodeSource.from_config({"columns": {"step": "global_step", "return": "ep_ret", "length": "ep_len"}})
    frame = read_episodes(tmp_path, source)
    assert frame.to_dict("list") == {
        "episode": [0, 1],
        "step": [10, 30],
        "wall_s": [-1.0, -1.0],
        "return": [1.5, 2.5],
        "length": [10, 20],
    }


# Refusals: one line, naming the file or directory.


def test_refuses_a_directory_without_episodes(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(EpisodesError, match="holds no episodes in a known format; looked for episodes.csv") as err:
        read_episodes(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_auto_refuses_several_formats(tmp_path):
    run_sb3_monitors(tmp_path, n_steps=60)
    write_cleanrl_events(tmp_path / "tb", CLEANRL_EPISODES)
    with pytest.raises(EpisodesError, match=r"several formats \(tensorboard: tb/events.*monitor: .*0.monitor.csv\)"):
        read_episodes(tmp_path)
    assert read_episodes(tmp_path, EpisodeSource(format="tensorboard"))["step"].tolist()[-1] == 260


def write_monitor(path: Path, header: str, rows: str) -> None:
    path.write_text(f"{header}\n{rows}")


def test_refuses_a_monitor_csv_with_a_bad_header(tmp_path):
    write_monitor(tmp_path / "0.monitor.csv", "r,l,t", "1.0,1,0.1\n")
    with pytest.raises(EpisodesError, match=r"0.monitor.csv is not a Stable-Baselines3 monitor file: its first line is 'r,l"):
        read_episodes(tmp_path)


def test_refuses_a_monitor_csv_with_other_columns(tmp_path):
    write_monitor(tmp_path / "0.monitor.csv", '#{"t_start": 1.0, "env_id": "CartPole-v1"}', "reward,len,time\n1.0,1,0.1\n")
    with pytest.raises(EpisodesError, match=r"0.monitor.csv is not a Stable-Baselines3 monitor file: columns \['reward'"):
        read_episodes(tmp_path)


def test_refuses_nan_steps(tmp_path):
    (tmp_path / "episodes.csv").write_text("episode,step,wall_s,return,length\n0,10,0.1,1.0,10\n1,,0.2,2.0,5\n")
    with pytest.raises(EpisodesError, match=r"episodes.csv: episode 1 has no step \(NaN or not a number\)"):
        read_episodes(tmp_path)


def test_refuses_steps_that_go_back(tmp_path):
    write_cleanrl_events(tmp_path, [(100, 1.0, 10), (200, 2.0, 10), (150, 3.0, 10)])
    with pytest.raises(EpisodesError, match=r"steps go back from 200 \(episode 1\) to 150 \(episode 2\)"):
        read_episodes(tmp_path)


def test_source_from_config_refuses_unknown_keys():
    with pytest.raises(EpisodesError, match=r"unknown key\(s\) return_tags; allowed: format, return_tag, length_tag, columns"):
        EpisodeSource.from_config({"return_tags": "x"})
    with pytest.raises(EpisodesError, match="episode format 'parquet' is not known; allowed: auto, csv"):
        EpisodeSource.from_config({"format": "parquet"})
    assert EpisodeSource.from_config(None) == EpisodeSource()


# Importing.


def test_import_tensorboard_logs_without_a_policy(tmp_path):
    src = tmp_path / "cleanrl" / "runs" / "CartPole-v1__ppo__1"
    write_cleanrl_events(src, CLEANRL_EPISODES)
    out = tmp_path / "results" / "runs" / "CartPole-v1" / "cleanrl" / "seed1"
    run = import_logs(tmp_path / "cleanrl", out, "CartPole-v1", "cleanrl", 1, label="CleanRL PPO", colour="#123456")
    files = read_run(out)
    assert files.episodes["return"].tolist() == [r for _, r, _ in CLEANRL_EPISODES]
    assert files.evals.empty and list(files.evals.columns) == list(EVAL_COLUMNS)
    assert files.evals["step"].dtype == np.int64  # an empty log concatenates with others without turning to text
    assert run["final_eval"] is None and run["total_steps"] == 260 and run["training_episodes"] == 5
    outside = run["outside"]
    assert outside["kind"] == "imported" and outside["source"] == str((tmp_path / "cleanrl").resolve())
    assert outside["evaluated_by_ppo_bench"] is False and outside["format"] == "tensorboard"
    (event_file,) = src.iterdir()
    assert outside["files"] == {f"runs/CartPole-v1__ppo__1/{event_file.name}": sha256(event_file)}
    assert json.loads((out / "run.json").read_text()) == run
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary directory left


def test_imported_run_without_evaluation_joins_the_summary_out_of_the_scores(tmp_path):
    """Beside a run ppo-bench evaluated, an imported one shows its training episodes and is kept out of the
    final-score statistics (NaN there, never a number computed from nothing)."""
    old = tmp_path / "old" / "CartPole-v1" / "random" / "seed0"
    shutil.copytree(OLD_RESULTS / "CartPole-v1" / "random" / "seed0", old)
    write_cleanrl_events(tmp_path / "tb", CLEANRL_EPISODES)
    imported = tmp_path / "runs" / "cleanrl" / "seed0"
    import_logs(tmp_path / "tb", imported, "CartPole-v1", "cleanrl", 0)
    runs = load_runs([old, imported])
    assert set(runs.episodes["agent"]) == {"random", "cleanrl"}
    table = summary_table(runs, n_resamples=50, random_state=0).set_index("agent")
    assert np.isnan(table.loc["cleanrl", "iqm"]) and np.isnan(table.loc["cleanrl", "final_mean"])
    assert table.loc["random", "iqm"] == pytest.approx(24.5)
    write_summary("CartPole-v1", [old, imported], tmp_path / "summary", n_resamples=50, random_state=0)
    assert set(run_scores([tmp_path / "summary"])["agent"]) == {"random"}  # no score, no comparison
    (row,) = [r for r in _table_rows(pd.read_csv(tmp_path / "summary" / "table.csv"), styles_from_runs(runs.run_jsons))
              if r["label"] == "cleanrl"]  # fmt: skip
    assert row["mean"] == "not evaluated by ppo-bench" and row["iqm"] == "n/a"
    # No periodic evaluation, so time to the threshold is unknown, not "0/1 seeds solved, not reached".
    assert (row["solved"], row["steps"], row["seconds"]) == ("n/a", "n/a", "n/a")
    (ours,) = [r for r in _table_rows(pd.read_csv(tmp_path / "summary" / "table.csv"), styles_from_runs(runs.run_jsons))
               if r["label"] != "cleanrl"]  # fmt: skip
    assert ours["solved"] == "0/1" and ours["steps"] == "not reached"
    assert "not evaluated by ppo-bench" in style_of_run(runs.run_jsons[1]).description


def write_linear_policy(path: Path, weights: np.ndarray) -> None:
    """A linear ONNX policy: observations (batch, obs_dim) float32 -> logits (batch, n_actions)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "w"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", weights.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", weights.shape[1]])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


# Push towards the side the pole falls to (angle and angular velocity): a controller that balances for a while.
LEANING = np.array([[0.0, 0.0], [0.0, 0.0], [-1.0, 1.0], [-1.0, 1.0]])


def test_import_logs_with_a_policy_is_evaluated_by_ppo_bench(tmp_path):
    from ppo.envs import env_info
    from ppo.outside.onnx_policy import onnx_evaluation_policy
    from ppo.run.evaluate import Evaluator

    src = tmp_path / "src"
    write_cleanrl_events(src, CLEANRL_EPISODES)
    write_linear_policy(src / "policy.onnx", LEANING)
    out = tmp_path / "runs" / "CartPole-v1" / "mine" / "seed0"
    run = import_logs(src, out, "CartPole-v1", "mine", 0, final_episodes=7, eval_width=3)
    expected = Evaluator("CartPole-v1", 7).run(onnx_evaluation_policy(src / "policy.onnx", env_info("CartPole-v1")), 7)
    evals = read_run(out).evals
    assert evals["phase"].tolist() == ["final"] * 7 and (evals["step"] == 260).all()
    assert evals["return"].tolist() == expected.returns.tolist()  # the fixed evaluation seeds, whatever the width
    assert run["final_eval"]["mean_return"] == pytest.approx(expected.returns.mean()) and expected.returns.mean() > 30
    assert run["outside"]["evaluated_by_ppo_bench"] is True
    assert run["outside"]["files"]["policy.onnx"] == sha256(src / "policy.onnx") == sha256(out / "policy.onnx")
    assert run["evaluation"]["final_episodes"] == 7 and run["evaluation"]["policy"] == "greedy"


def test_import_logs_with_a_policy_that_does_not_fit_leaves_nothing(tmp_path):
    write_cleanrl_events(tmp_path / "src", CLEANRL_EPISODES)
    write_linear_policy(tmp_path / "wrong.onnx", np.zeros((3, 2)))  # 3 inputs; CartPole observes 4
    out = tmp_path / "runs" / "seed0"
    with pytest.raises(ValueError, match=r"wrong.onnx takes input \(batch, 3\); CartPole-v1 needs \(batch, 4\)"):
        import_logs(tmp_path / "src", out, "CartPole-v1", "mine", 0, policy=tmp_path / "wrong.onnx")
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no run, no temporary directory


def test_import_refusal_leaves_nothing_and_a_rerun_replaces(tmp_path):
    out = tmp_path / "runs" / "CartPole-v1" / "mine" / "seed0"
    (tmp_path / "empty").mkdir()
    with pytest.raises(EpisodesError, match="no episodes in a known format"):
        import_logs(tmp_path / "empty", out, "CartPole-v1", "mine", 0)
    assert not out.parent.exists() or not any(out.parent.iterdir())
    write_cleanrl_events(tmp_path / "a", CLEANRL_EPISODES[:2])
    write_cleanrl_events(tmp_path / "b", CLEANRL_EPISODES)
    import_logs(tmp_path / "a", out, "CartPole-v1", "mine", 0)
    import_logs(tmp_path / "b", out, "CartPole-v1", "mine", 0)
    assert len(read_run(out).episodes) == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["seed0"]  # no temporary or replaced directory left


def test_a_rerun_replaces_what_snakemake_left_of_a_run_but_never_a_users_files(tmp_path):
    """An entry whose `policy:` became null reruns under the rule without a policy output: Snakemake deletes
    run.json, episodes.csv and evals.csv and leaves policy.onnx, alone in the run directory."""
    write_cleanrl_events(tmp_path / "src", CLEANRL_EPISODES)
    out = tmp_path / "runs" / "CartPole-v1" / "mine" / "seed0"
    out.mkdir(parents=True)
    write_linear_policy(out / "policy.onnx", LEANING)
    import_logs(tmp_path / "src", out, "CartPole-v1", "mine", 0, find_policy=False)
    assert sorted(p.name for p in out.iterdir()) == ["episodes.csv", "evals.csv", "run.json"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("the user's")
    with pytest.raises(FileExistsError, match="exists and is not a run directory"):
        import_logs(tmp_path / "src", other, "CartPole-v1", "mine", 0)
    assert (other / "notes.txt").read_text() == "the user's"


def test_import_an_older_commits_results_tree_beside_todays(tmp_path):
    """The tree written by caec483, imported with an agent suffix: every number equals its run.json and logs,
    and the provenance hashes the files copied."""
    out_root = tmp_path / "results" / "runs"
    done = import_results_tree(OLD_RESULTS, out_root, agent_suffix="@v1")
    assert [p.relative_to(out_root).as_posix() for p in done.written] == [
        "CartPole-v1/random@v1/seed0",
        "CartPole-v1/random@v1/seed1",
    ]
    for seed in (0, 1):
        source = OLD_RESULTS / "CartPole-v1" / "random" / f"seed{seed}"
        before, after = read_run(source), read_run(out_root / "CartPole-v1" / "random@v1" / f"seed{seed}")
        pd.testing.assert_frame_equal(before.episodes, after.episodes)
        pd.testing.assert_frame_equal(before.evals, after.evals)
        assert after.run["final_eval"] == before.run["final_eval"]
        same = {k: v for k, v in before.run.items() if k not in ("agent",)}
        assert {k: after.run[k] for k in same} == same  # the old commit, versions, scores: all kept
        assert after.run["agent"] == "random@v1"
        assert after.run["variant"] == {"base": "random", "label": "Random @v1", "colour": after.run["variant"]["colour"]}
        outside = after.run["outside"]
        assert outside["renamed_from"] == "random" and outside["evaluated_by_ppo_bench"] is True
        assert outside["source"] == str(source.resolve())
        assert outside["files"] == {str(p.relative_to(source)): sha256(p) for p in sorted(source.rglob("*")) if p.is_file()}
    # Its summary's numbers are the old run.json's.
    runs = load_runs(done.written).runs.set_index("seed")
    for seed in (0, 1):
        old = json.loads((OLD_RESULTS / "CartPole-v1" / "random" / f"seed{seed}" / "run.json").read_text())
        assert runs.loc[seed, "final_mean"] == old["final_eval"]["mean_return"]
        assert runs.loc[seed, "total_steps"] == old["total_steps"]


def test_import_tree_refuses_two_runs_onto_one_destination(tmp_path):
    """Two copies of one (env, agent, seed) in a tree: refused before anything is written."""
    tree = tmp_path / "tree"
    shutil.copytree(OLD_RESULTS, tree / "a")
    shutil.copytree(OLD_RESULTS, tree / "b")
    with pytest.raises(ValueError, match="would both be imported to"):
        import_results_tree(tree, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_import_both_forms(tmp_path, capsys):
    write_cleanrl_events(tmp_path / "tb", CLEANRL_EPISODES)
    out = tmp_path / "runs" / "CartPole-v1" / "cleanrl" / "seed3"
    argv = ["import", str(tmp_path / "tb"), "--env", "CartPole-v1", "--agent", "cleanrl", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    assert read_run(out).run["seed"] == 3
    assert main(["import", str(OLD_RESULTS), "--out-root", str(tmp_path / "runs"), "--rename", "random=random-old"]) == 0
    assert (tmp_path / "runs" / "CartPole-v1" / "random-old" / "seed1" / "run.json").is_file()
    assert main(["import", str(tmp_path / "nothing"), "--env", "CartPole-v1", "--agent", "x", "--seed", "0",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "nothing is not a directory" in err


def test_find_episode_files_names_the_format(tmp_path):
    write_cleanrl_events(tmp_path / "tb", CLEANRL_EPISODES)
    fmt, files = find_episode_files(tmp_path)
    assert fmt == "tensorboard" and [f.parent.name for f in files] == ["tb"]
