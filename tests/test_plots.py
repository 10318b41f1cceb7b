import numpy as np
from PIL import Image
from synthetic import write_runs

from ppo.analysis import FIGURE_NAMES
from ppo.analysis.aggregate import write_summary
from ppo.analysis.plots import bulk_limits, write_figures
from ppo.analysis.references import references_for, short_label


def test_figures_are_written_readable_and_reproducible(tmp_path):
    write_summary("CartPole-v1", write_runs(tmp_path / "runs"), tmp_path / "summary", 100, 0)
    write_figures(tmp_path / "summary", tmp_path / "a", random_state=0)
    write_figures(tmp_path / "summary", tmp_path / "b", random_state=0)
    for name in FIGURE_NAMES:
        with Image.open(tmp_path / "a" / f"{name}.png") as image:
            assert image.width >= 600 and image.height >= 300
        assert (tmp_path / "a" / f"{name}.svg").stat().st_size > 0
        assert (tmp_path / "a" / f"{name}.png").read_bytes() == (tmp_path / "b" / f"{name}.png").read_bytes()


def test_y_limits_follow_the_bulk_and_keep_the_threshold():
    """One crashing early evaluation (-2,000) must not squeeze the -300..300 range where agents differ."""
    values = np.concatenate([np.linspace(-300, 280, 200), [-2000.0]])
    low, high = bulk_limits(values, [200.0])
    assert -400 < low < -250 and 280 < high < 320
    assert bulk_limits(np.array([0.0, 1.0]), [500.0])[1] > 500  # a threshold above the data stays in view


def test_published_references_are_a_checked_table():
    zoo = references_for("LunarLanderContinuous-v3").iloc[0]
    assert (zoo["mean"], zoo["plus_minus"], zoo["env_version"], zoo["steps"]) == (270.9, 32.1, "v2", 1_000_000)
    assert zoo["url"].startswith("https://github.com/DLR-RM/rl-baselines3-zoo/blob/")
    for env in ("CartPole-v1", "LunarLander-v3", "Pendulum-v1", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"):
        assert len(references_for(env)) >= 1, env
    assert short_label(zoo.to_dict()) == "Stable-Baselines3 PPO (v2, 1M, episodes of one run): 270.9"
    assert references_for("Acrobot-v1").empty
