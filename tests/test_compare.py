"""Agents compared across envs: normalized scores, aggregates, P(X > Y), performance profiles, their figures."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from synthetic import write_run, write_runs

from ppo.analysis import COMPARE_FIGURES, COMPARE_TABLES
from ppo.analysis.aggregate import write_summary
from ppo.analysis.compare import run_scores, summary_styles, write_comparison
from ppo.analysis.compare_plots import write_compare_figures
from ppo.analysis.statistics import aggregate_iqm


@pytest.fixture
def summaries(tmp_path):
    """CartPole-v1 (ppo, random), Acrobot-v1 (ppo, random, ppo-zoo) and Pendulum-v1 without a random baseline."""
    dirs = []
    runs = write_runs(tmp_path / "runs", "CartPole-v1")
    write_summary("CartPole-v1", runs, tmp_path / "summary/CartPole-v1", 200, 0)
    dirs.append(tmp_path / "summary/CartPole-v1")
    runs = write_runs(tmp_path / "runs", "Acrobot-v1")
    runs += [write_run(tmp_path / "runs", "Acrobot-v1", "ppo-zoo", s, [300 + 10 * s] * 4) for s in range(3)]
    write_summary("Acrobot-v1", runs, tmp_path / "summary/Acrobot-v1", 200, 0)
    dirs.append(tmp_path / "summary/Acrobot-v1")
    runs = [write_run(tmp_path / "runs", "Pendulum-v1", "ppo", s, [-200.0 - s] * 4) for s in range(3)]
    write_summary("Pendulum-v1", runs, tmp_path / "summary/Pendulum-v1", 200, 0)
    dirs.append(tmp_path / "summary/Pendulum-v1")
    return dirs


def test_scores_are_normalized_between_random_and_the_threshold(summaries):
    scores = run_scores(summaries)
    cartpole = scores[scores.env == "CartPole-v1"]
    random_mean = cartpole.loc[cartpole.agent == "random", "score"].mean()
    ppo = cartpole[cartpole.agent == "ppo"].set_index("seed")
    # synthetic ppo seed 0 scores 500, the threshold is 475: normalized (500 - random) / (475 - random)
    assert ppo.loc[0, "normalized"] == pytest.approx((500 - random_mean) / (475 - random_mean))
    assert cartpole.loc[cartpole.agent == "random", "normalized"].mean() == pytest.approx(0.0)
    assert scores.loc[scores.env == "Pendulum-v1", "normalized"].isna().all()  # no random baseline


def test_tables_cover_what_can_be_compared(summaries, tmp_path):
    tables = write_comparison(summaries, tmp_path / "compare", 300, 0)
    assert sorted(p.stem for p in (tmp_path / "compare").glob("*.csv")) == sorted(COMPARE_TABLES)
    aggregates = tables["aggregates"].set_index(["agent", "metric"])
    # Pendulum-v1 cannot be normalized: ppo's aggregates cover CartPole and Acrobot only; random has none.
    assert aggregates.loc[("ppo", "IQM"), "envs"] == "Acrobot-v1;CartPole-v1"
    assert aggregates.loc[("ppo-zoo", "IQM"), "envs"] == "Acrobot-v1"
    assert "random" not in tables["aggregates"]["agent"].values
    scores = tables["scores"]
    matrix = scores[(scores.agent == "ppo") & scores.env.isin(["Acrobot-v1", "CartPole-v1"])].pivot(
        index="seed", columns="env", values="normalized"
    )
    assert aggregates.loc[("ppo", "IQM"), "point"] == pytest.approx(float(aggregate_iqm(matrix.to_numpy())))
    low, high = aggregates.loc[("ppo", "IQM"), ["low", "high"]]
    assert low <= aggregates.loc[("ppo", "IQM"), "point"] <= high and low < high
    # P(X > Y) for ordered pairs of learners over the envs both ran: ppo vs ppo-zoo on Acrobot only.
    pairs = tables["improvement"].set_index(["agent_x", "agent_y"])
    assert pairs.loc[("ppo", "ppo-zoo"), "envs"] == "Acrobot-v1"
    # ppo's Acrobot run scores (500, 250, 475) against ppo-zoo's (300, 310, 320): 2 of 3 of ppo's runs win each pair
    assert pairs.loc[("ppo", "ppo-zoo"), "point"] == pytest.approx(2 / 3)
    assert pairs.loc[("ppo-zoo", "ppo"), "point"] == pytest.approx(1 / 3)
    profile = tables["profiles"][tables["profiles"].agent == "ppo"]
    assert profile["fraction"].is_monotonic_decreasing and profile["fraction"].iloc[0] == 1.0


def test_comparison_figures_are_drawn(summaries, tmp_path):
    tables = write_comparison(summaries, tmp_path / "compare", 100, 0)
    write_compare_figures(tables, summary_styles(summaries), tmp_path / "figures")
    for name in COMPARE_FIGURES:
        with Image.open(tmp_path / "figures" / f"{name}.png") as image:
            assert image.width >= 500 and image.height >= 150


def test_a_comparison_without_any_random_baseline_still_writes_its_tables(tmp_path):
    runs = [
        write_run(tmp_path / "runs", "Pendulum-v1", agent, s, [-200.0 - s] * 4)
        for agent in ("ppo", "ppo-zoo")
        for s in range(2)
    ]
    write_summary("Pendulum-v1", runs, tmp_path / "summary", 50, 0)
    tables = write_comparison([tmp_path / "summary"], tmp_path / "compare", 50, 0)
    assert tables["aggregates"].empty and tables["profiles"].empty and len(tables["improvement"]) == 2
    write_compare_figures(tables, summary_styles([tmp_path / "summary"]), tmp_path / "figures")
    assert np.isclose(tables["improvement"]["point"], 0.5).all()
    # The CSVs are what the report reads: empty tables keep their header, the others read back as returned.
    compare = tmp_path / "compare"
    aggregates = pd.read_csv(compare / "aggregates.csv")
    assert aggregates.empty and list(aggregates.columns) == ["agent", "metric", "point", "low", "high", "runs", "envs"]
    profiles = pd.read_csv(compare / "profiles.csv")
    assert profiles.empty and list(profiles.columns) == ["agent", "tau", "fraction", "low", "high"]
    improvement = pd.read_csv(compare / "improvement.csv")
    assert list(improvement.columns) == ["agent_x", "agent_y", "point", "low", "high", "envs"]
    assert list(zip(improvement.agent_x, improvement.agent_y)) == [("ppo-zoo", "ppo"), ("ppo", "ppo-zoo")]  # registry order
    assert (improvement.envs == "Pendulum-v1").all() and np.allclose(improvement.point, 0.5)
