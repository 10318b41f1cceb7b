import json
import subprocess

import imageio_ffmpeg
import pytest
from synthetic import write_runs

from ppo.analysis.video import write_rollout


@pytest.mark.slow
def test_rollout_of_the_median_seed_as_h264_mp4_and_small_gif(tmp_path):
    runs = [r for r in write_runs(tmp_path / "runs") if r.parent.name == "random"]  # runs/<env>/<agent>/seed<n>
    caption = write_rollout("CartPole-v1", "random", runs, tmp_path / "media", max_gif_mb=0.2)
    assert caption["seed"] == 1  # final means 20, 20, 20: ties broken by seed, the middle one
    assert json.loads((tmp_path / "media" / "random.json").read_text())["length"] == caption["length"] > 0
    assert 0 < (tmp_path / "media" / "random.gif").stat().st_size <= 0.2 * 2**20
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(tmp_path / "media" / "random.mp4")],
                           capture_output=True, text=True).stderr  # fmt: skip
    assert "h264" in probe and "yuv420p" in probe


def test_rollout_records_the_median_ranked_seed(tmp_path, monkeypatch):
    import ppo.analysis.video

    recorded = []
    monkeypatch.setattr(ppo.analysis.video, "record_episode", lambda env, act: recorded.append(act) or _tiny_recording())
    monkeypatch.setattr(ppo.analysis.video, "agent_policy", lambda env, agent, run_dir, seed: seed)
    runs = [r for r in write_runs(tmp_path / "runs") if r.parent.name == "ppo"]
    caption = write_rollout("CartPole-v1", "ppo", runs, tmp_path / "media", 1)
    assert caption["seed"] == recorded[0] == 2  # final means 500, 250, 475: the middle one is seed 2


def _tiny_recording():
    import numpy as np

    from ppo.analysis.video import Recording

    return Recording([np.zeros((16, 16, 3), np.uint8)] * 3, 1.0, 2, 10)


def test_rollout_refuses_runs_of_another_agent(tmp_path):
    runs = write_runs(tmp_path / "runs")
    with pytest.raises(ValueError, match="holds a run of ppo on CartPole-v1, not random on CartPole-v1"):
        write_rollout("CartPole-v1", "random", runs, tmp_path / "media", 1)
