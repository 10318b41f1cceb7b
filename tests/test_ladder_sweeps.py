"""The ladder's and the sweeps' tables, sentences and figures, from synthetic runs with known scores."""

import json

import pandas as pd
import pytest
from PIL import Image
from synthetic import write_run

from ppo.analysis.aggregate import write_summary
from ppo.analysis.compare import summary_styles
from ppo.analysis.ladder import decisive_fix, sentences, shown_rungs, write_ladder
from ppo.analysis.sweeps import write_sweep

# Final returns per rung: as written hovers (-50), rung 1 lands sometimes (150), the correct one lands (250).
RUNGS = {"ppo-article-as-written": -50.0, "rung1": 150.0, "ppo-article": 250.0}


@pytest.fixture
def summary(tmp_path):
    runs = []
    for agent, level in RUNGS.items():
        for seed in range(3):
            run = write_run(tmp_path / "runs", "LunarLander-v3", agent, seed, [level + 10 * seed + k for k in range(4)])
            meta = json.loads((run / "run.json").read_text())
            meta["solved_threshold"] = 200.0  # LunarLander's
            if agent == "rung1":  # a config variant: run.json names its base and display
                meta["variant"] = {"base": "ppo-article-as-written", "label": "Rung 1", "colour": "#123456"}
            (run / "run.json").write_text(json.dumps(meta))
            runs.append(run)
    out = tmp_path / "summary" / "LunarLander-v3"
    write_summary("LunarLander-v3", runs, out, 200, 0)
    return out


def test_the_ladder_table_and_sentences_come_from_the_runs(summary, tmp_path):
    styles = summary_styles([summary])
    table = write_ladder([summary], list(RUNGS), styles, tmp_path / "ladder", tmp_path / "figures")
    assert list(table["agent"]) == list(RUNGS) and list(table["rung"]) == [0, 1, 2]
    # ladder.csv is what the report reads: the same table (a header-only or stale file must fail).
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ladder" / "ladder.csv"), table, check_dtype=False)
    correct = table.set_index("agent").loc["ppo-article"]
    assert correct["seeds_landed"] == 3 and correct["landing_rate"] == 1.0
    assert table.set_index("agent").loc["ppo-article-as-written", "seeds_landed"] == 0
    lines = sentences(table, styles)
    assert lines[1].startswith("LunarLander-v3, Rung 1: IQM ") and "against the rung before" in lines[1]
    best = decisive_fix(table).iloc[0]
    assert best["agent"] == "rung1" and best["gain"] == pytest.approx(200.0) and best["separate"]
    with Image.open(tmp_path / "figures" / "LunarLander-v3.png") as image:
        assert image.width > 500


def test_the_ladder_figure_shows_the_largest_step_and_the_rung_before_it():
    rungs = [f"rung{i}" for i in range(7)]
    assert shown_rungs(rungs) == ["rung0", "rung3", "rung6"]
    assert shown_rungs(rungs, "rung5") == ["rung0", "rung3", "rung4", "rung5", "rung6"]
    assert shown_rungs(rungs, "rung0") == ["rung0", "rung3", "rung6"]  # a first rung steps from nothing


def test_a_sweep_table_has_one_row_per_grid_point_and_a_figure(summary, tmp_path):
    points = {"ppo-article-as-written": {"n_epochs": 3}, "rung1": {"n_epochs": 10}}
    table = write_sweep("epochs", [summary], points, tmp_path / "sweeps", tmp_path / "figures")
    assert list(table["n_epochs"]) == [3, 10] and "ppo-article" not in set(table["agent"])
    assert table.set_index("n_epochs").loc[10, "iqm"] > table.set_index("n_epochs").loc[3, "iqm"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sweeps" / "epochs.csv"), table, check_dtype=False)
    assert (tmp_path / "figures" / "epochs.png").stat().st_size > 5000
