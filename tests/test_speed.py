import json

import pytest

from ppo import speed
from ppo.agents import resolve
from ppo.cli import main

README = "# Title\n\nintro\n\n<!-- speed-table:begin -->\nold table\n<!-- speed-table:end -->\n\nrest\n"


def test_cases_cover_zoo_and_tuned_settings_once_each():
    cases = speed.speed_cases(("CartPole-v1", "LunarLander-v3"), steps=100_000)
    by_env = {}
    for case in cases:
        by_env.setdefault(case.env_id, []).append(case)
        assert case.hp.total_timesteps == 100_000
    assert list(by_env) == ["CartPole-v1", "LunarLander-v3"]  # every env, in order (the loop below checks only those present)
    zoo, _ = resolve("ppo-zoo", "LunarLander-v3")
    assert any(case.presets[0] == "ppo-zoo" and case.hp.batch_size == zoo.batch_size for case in by_env["LunarLander-v3"])
    # identical settings are measured once, labelled with every preset name that has them
    for env_cases in by_env.values():
        assert sorted(p for case in env_cases for p in case.presets) == sorted(speed.PRESETS_COMPARED)
        assert len({case.hp for case in env_cases}) == len(env_cases)


def test_readme_section_is_replaced_and_missing_markers_are_an_error():
    out = speed.replace_readme_table(README, "NEW")
    assert "NEW" in out and "old table" not in out and out.startswith("# Title") and out.endswith("rest\n")
    with pytest.raises(ValueError, match="speed-table:begin"):
        speed.replace_readme_table("# no markers\n", "NEW")


@pytest.mark.slow
def test_bench_measures_all_three_and_rewrites_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    out = tmp_path / "speed.json"
    assert main(["bench", "--envs", "CartPole-v1", "--steps", "512", "--out", str(out), "--readme", str(readme)]) == 0
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["steps"] == 512 and row["settings"] == "ppo-zoo = ppo"
    assert row["raw_env_steps_per_s"] > row["ours_steps_per_s"] > 0 and row["sb3_steps_per_s"] > 0
    assert row["ours_over_sb3"] == pytest.approx(row["ours_steps_per_s"] / row["sb3_steps_per_s"])
    assert sum(row["ours_time_share"].values()) == pytest.approx(1.0)
    # the compiled column: its own speed, and a cold compile (empty cache) slower than a warm one
    assert row["compiled_steps_per_s"] > 0 and row["compile_seconds"]["cold"] > row["compile_seconds"]["warm"] > 0
    assert row["budget"] == 100_000 and row["compiled_over_sb3_amortized"] > 0
    assert report["versions"]["stable_baselines3"] and report["host"]["cpu_model"]
    text = readme.read_text()
    assert "old table" not in text and "| CartPole-v1 | ppo-zoo = ppo |" in text and text.endswith("rest\n")
    # the table says how it was measured: the command as run, which reruns the measurement
    assert report["command"] == "python -m ppo bench --envs CartPole-v1 --steps 512 --repeats 1"
    assert f"by `{report['command']}`" in text


@pytest.mark.slow
def test_bench_without_sb3_says_so_and_still_measures(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(speed, "sb3_available", lambda: False)
    out = tmp_path / "speed.json"
    assert main(["bench", "--envs", "CartPole-v1", "--steps", "256", "--out", str(out), "--no-compile"]) == 0
    assert "Stable-Baselines3 is not installed" in capsys.readouterr().err
    (row,) = json.loads(out.read_text())["rows"]
    assert row["sb3_steps_per_s"] is None and row["ours_steps_per_s"] > 0 and row["compiled_steps_per_s"] is None
    assert "skipped" in speed.markdown_table(json.loads(out.read_text()))


def test_bench_rejects_bad_input_before_measuring(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    out = tmp_path / "speed.json"
    assert main(["bench", "--envs", "CartPole-v1", "--out", str(out), "--readme", str(readme)]) == 2
    assert "speed-table:begin" in capsys.readouterr().err
    assert main(["bench", "--envs", "CartPol-v1", "--out", str(out)]) == 2
    assert "did you mean CartPole-v1" in capsys.readouterr().err
    assert not out.exists() and readme.read_text() == "no markers\n"
