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


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_modules(path: Path) -> set[str]:
    """Every ppo module a file imports, by full name. `import ppo.run.log`, `from ppo.run import log`,
    `from ppo import speed` and relative imports (`from ..analysis import plots`) all count: a form the
    checks below did not see would let any import through."""
    package = path.relative_to(ROOT).parent.parts  # ppo/run/log.py -> ("ppo", "run")
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, up level - 1 packages
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            # `from package import name` imports a submodule when there is one of that name, else a name of the package
            modules |= {f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names}
    return {m for m in modules if m == "ppo" or m.startswith("ppo.")}


def imported_parts(path: Path) -> set[str]:
    """The parts of ppo (subpackage or top module) a file imports: 'agents', 'run', 'config', ..."""
    return {m.split(".")[1] for m in imported_modules(path) if m != "ppo"}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


# Which part may import which: each part only from parts below it (a one-way stack).
ALLOWED = {
    "config": set(),
    "envs": set(),
    "run": {"envs", "config"},
    "agents": {"run", "envs", "config"},
    "analysis": {"comparisons", "agents", "run", "envs", "config"},
    "speed": {"agents", "run", "envs", "config"},
    "tuning": {"agents", "run", "envs", "config"},
    # Runs from outside (an external command, imported logs, an ONNX policy): beside tuning, below the registry's
    # callers; once written, an outside run directory reads like ours.
    "outside": {"agents", "run", "envs", "config"},
    # Comparisons in waves (AdaStop): the decision over finished runs' scores.
    "comparisons": {"run", "envs", "config"},
    "workflow_config": {"tuning", "outside", "comparisons", "agents", "envs", "config"},
    "commands": {
        "analysis",
        "agents",
        "run",
        "envs",
        "config",
        "speed",
        "tuning",
        "outside",
        "comparisons",
        "workflow_config",
    },  # fmt: skip
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
        for module in imported_modules(path):
            assert module == "ppo.agents" or not module.startswith("ppo.agents."), f"{path.name} imports {module}"


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
