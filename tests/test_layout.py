"""The package is a one-way stack of parts, and a wheel (not an editable install) renders a report."""

import ast
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from synthetic import write_runs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ppo"


def imported_parts(path: Path) -> set[str]:
    """The parts of ppo (subpackage or top module) a file imports: 'agents', 'run', 'config', ..."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        parts |= {name.split(".")[1] for name in names if name.startswith("ppo.")}
    return parts


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


# Which part may import which: each part only from parts below it (a one-way stack).
ALLOWED = {
    "config": set(),
    "envs": set(),
    "run": {"envs", "config"},
    "agents": {"run", "envs", "config"},
    "analysis": {"agents", "run", "envs", "config"},
    "speed": {"agents", "run", "envs", "config"},
    "workflow_config": {"agents", "envs", "config"},
    "commands": {"analysis", "agents", "run", "envs", "config", "speed", "workflow_config"},
    "cli": {"commands", "workflow_config", "agents", "run", "config"},
    "__main__": {"cli"},
    "__init__": set(),
}


def test_parts_import_only_downwards():
    for path in PACKAGE.rglob("*.py"):
        part = part_of(path)
        wrong = imported_parts(path) - ALLOWED[part] - {part}
        assert not wrong, f"{path.relative_to(ROOT)} ({part}) imports {sorted(wrong)}"


def test_analysis_uses_agents_only_through_the_registry():
    for path in (PACKAGE / "analysis").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ppo.agents"):
                assert node.module == "ppo.agents", f"{path.name} imports {node.module}"


@pytest.mark.slow
def test_a_wheel_install_renders_a_report(tmp_path):
    """Build a wheel, install it without -e into a fresh venv that borrows only the third-party packages, and
    render a report from results outside the repository."""
    # Built from a copy of the sources, so the build leaves nothing (build/, egg-info) in the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "ppo", source / "ppo", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source],
                   check=True, capture_output=True)  # fmt: skip
    (wheel,) = wheels.glob("ppo_bench-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python*/site-packages"))
    # Third-party packages from the test's own environment as a plain path entry: .pth files there (the
    # editable install's finder) are not processed, so `ppo` can only come from the wheel.
    borrowed = [p for p in sys.path if p.endswith("site-packages")]
    (site / "borrowed.pth").write_text("\n".join(borrowed) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
                   check=True, capture_output=True)  # fmt: skip

    work = tmp_path / "elsewhere"
    runs = write_runs(work / "runs")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def ppo(*args):
        return subprocess.run([python, "-m", "ppo", *map(str, args)], cwd=work, env=env, capture_output=True, text=True)

    where = subprocess.run(
        [python, "-c", "import ppo; print(ppo.__file__)"], cwd=work, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    assert ppo("aggregate", "--env", "CartPole-v1", "--runs", *runs, "--out", work / "summary").returncode == 0
    (work / "report" / "media" / "summary").mkdir(parents=True)
    config = work / "config.json"
    config.write_text('{"agents": ["random", "ppo"], "seeds": [0, 1, 2], "evaluation": {"episodes": 2, "final_episodes": 4},'
                      ' "statistics": {"bootstrap_samples": 100, "random_state": 0}}')  # fmt: skip
    result = ppo("report", "--summaries", work / "summary", "--config", config, "--out", work / "report")
    assert result.returncode == 0, result.stderr
    html = (work / "report" / "index.html").read_text()
    assert "border-collapse" in html  # the stylesheet, package data
    assert "## Summary" in (work / "report" / "README.md").read_text()
