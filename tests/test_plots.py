from PIL import Image
from synthetic import write_runs

from ppo.analysis import FIGURE_NAMES
from ppo.analysis.aggregate import write_summary
from ppo.analysis.plots import write_figures


def test_figures_are_written_readable_and_reproducible(tmp_path):
    write_summary("CartPole-v1", write_runs(tmp_path / "runs"), tmp_path / "summary", 100, 0)
    write_figures(tmp_path / "summary", tmp_path / "a", random_state=0)
    write_figures(tmp_path / "summary", tmp_path / "b", random_state=0)
    for name in FIGURE_NAMES:
        with Image.open(tmp_path / "a" / f"{name}.png") as image:
            assert image.width >= 600 and image.height >= 300
        assert (tmp_path / "a" / f"{name}.svg").stat().st_size > 0
        assert (tmp_path / "a" / f"{name}.png").read_bytes() == (tmp_path / "b" / f"{name}.png").read_bytes()
