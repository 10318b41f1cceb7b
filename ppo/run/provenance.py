"""Provenance: library versions, git commit and machine, written into every run.json."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import ppo

_PACKAGES = ("torch", "gymnasium", "numpy", "box2d", "mujoco", "pandas", "snakemake", "stable_baselines3")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "ppo": ppo.__version__}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@cache
def git_commit() -> str | None:
    """The commit of the checkout the package runs from, with '-dirty' if it has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty.strip() else "")


@cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host() -> dict[str, str]:
    return {"cpu_model": cpu_model(), "machine": platform.machine(), "system": platform.system(), "hostname": platform.node()}
