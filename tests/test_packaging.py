"""The two lists of what the library needs say the same: pyproject.toml (pip install .) and requirements.txt."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_dependencies_are_requirements_txt():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = sorted(x for x in (line.split("#")[0].strip() for line in lines) if x)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == pinned
    assert all("==" in req for req in pinned)  # pins that install and work together here
