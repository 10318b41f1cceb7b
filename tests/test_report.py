import json

import pytest
from synthetic import write_runs

from ppo.analysis.aggregate import write_summary
from ppo.analysis.report import render_html, write_report

CONFIG = {
    "agents": ["random", "ppo"],
    "seeds": [0, 1, 2],
    "evaluation": {"episodes": 2, "final_episodes": 4},
    "statistics": {"bootstrap_samples": 100, "random_state": 0},
    "report": {"title": "Bench <b>x</b>", "notes": "<script>alert('note')</script> & more"},
}


@pytest.fixture
def report_dir(tmp_path):
    summary = tmp_path / "summary" / "CartPole-v1"
    write_summary("CartPole-v1", write_runs(tmp_path / "runs"), summary, 100, 0)
    meta = json.loads((summary / "meta.json").read_text())
    meta["env"]["id"] = "<script>alert('env')</script>"
    (summary / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "report"
    (out / "media" / "CartPole-v1").mkdir(parents=True)
    write_report([summary], [out / "media" / "CartPole-v1"], CONFIG, out)
    return out


def test_strings_from_config_and_results_are_escaped(report_dir):
    for name in ("README.md", "index.html"):
        text = (report_dir / name).read_text()
        assert "<script>" not in text and "<b>" not in text
        assert "&lt;script&gt;alert(" in text
    assert "&lt;b&gt;" in (report_dir / "index.html").read_text()


def test_report_has_every_section_and_the_table(report_dir):
    markdown = (report_dir / "README.md").read_text()
    for heading in ("## What was run", "## The environments", "## Summary", "### PPO against random, as in the article",
                    "### Learning curves", "### Rollouts", "## The article's settings against the tuned settings",
                    "## Provenance", "## How to reproduce"):  # fmt: skip
        assert heading in markdown
    assert "| 408.3 [" in markdown  # the tuned agent's IQM of its three run scores (500, 250, 475)
    assert "abc123" in markdown and "Test CPU" in markdown


def test_html_inlines_local_media(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG fake")
    html = render_html("![a](figures/a.png) ![b](figures/missing.png)", tmp_path, "t")
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in html and 'src="figures/missing.png"' in html


def test_comparison_sections_render_from_the_compare_tables(tmp_path):
    from synthetic import write_run

    from ppo.analysis.compare import write_comparison

    runs = write_runs(tmp_path / "runs")
    runs += [
        write_run(tmp_path / "runs", "CartPole-v1", a, s, [400 + 20 * s] * 4) for a in ("ppo-zoo", "sb3-ppo") for s in range(3)
    ]
    summary = tmp_path / "summary" / "CartPole-v1"
    write_summary("CartPole-v1", runs, summary, 100, 0)
    write_comparison([summary], tmp_path / "compare", 100, 0)
    out = tmp_path / "report"
    (out / "media" / "CartPole-v1").mkdir(parents=True)
    write_report([summary], [out / "media" / "CartPole-v1"], CONFIG, out, extras={"compare": tmp_path / "compare"})
    markdown = (out / "README.md").read_text()
    for heading in ("### Published results, for reference", "## Across environments", "## Implementations compared"):
        assert heading in markdown
    assert "figures/compare/performance_profiles.png" in markdown
    # ppo-zoo and sb3-ppo have identical runs: P = 0.5 exactly; both peer pairs are stated.
    assert "- P(PPO (rl-zoo settings) > Stable-Baselines3 PPO) = 0.50 [" in markdown
    assert "- P(PPO (tuned) > Stable-Baselines3 PPO) = " in markdown
    assert "rl-baselines3-zoo benchmark.md, commit 22e3ff2" in markdown  # CartPole-v1's reference row
    # The HTML report is one file: its links point inside the page, at headings that exist; Markdown links the files.
    html = (out / "index.html").read_text()
    for anchor in ("CartPole-v1-learning-curves", "CartPole-v1-wall-clock"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    assert 'href="figures/' not in html
    assert "[learning curves](figures/CartPole-v1/learning_curves.png)" in markdown
    # Without the compare tables (a one-env page), neither section appears.
    write_report([summary], [out / "media" / "CartPole-v1"], CONFIG, out, "one.md", None)
    assert "## Across environments" not in (out / "one.md").read_text()


def test_a_video_left_by_an_agent_the_env_no_longer_runs_is_left_out(tmp_path):
    """An env's agents list shrank after a run (its media folder keeps the old clip): the report shows the agents of
    its summary and ignores the stale clip (it stopped the report with a KeyError)."""
    summary = tmp_path / "summary" / "CartPole-v1"
    write_summary("CartPole-v1", write_runs(tmp_path / "runs"), summary, 100, 0)
    media = tmp_path / "report" / "media" / "CartPole-v1"
    media.mkdir(parents=True)
    clip = {"env": "CartPole-v1", "seed": 0, "episode_seed": 1000000, "return": 9.0, "length": 9}
    for agent in ("ppo", "gone-agent"):
        (media / f"{agent}.json").write_text(json.dumps({**clip, "agent": agent}))
    write_report([summary], [media], CONFIG, tmp_path / "report")
    markdown = (tmp_path / "report" / "README.md").read_text()
    assert "media/CartPole-v1/ppo.gif" in markdown and "gone-agent" not in markdown
