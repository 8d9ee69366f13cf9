"""What `pip install .` makes: the two lists of what the library needs say the same (pyproject.toml and
requirements.txt), and an installed copy, away from the repo, finds its bundled models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

from hybrid.model_dir import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILES = ("config.json", "model.safetensors", "README.md")


def test_pyproject_dependencies_are_requirements_txt():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = sorted(x for x in (line.split("#")[0].strip() for line in lines) if x)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == pinned
    assert all("==" in req for req in pinned)  # pins that install and work together here


# run in the installed copy: which `hybrid` was imported, and what it takes as its default model
WHERE_IS_THE_DEFAULT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import hybrid
from hybrid.model_dir import default_model_dir
print(json.dumps({"hybrid": hybrid.__file__, "path": sys.path, "default": str(default_model_dir())}))
"""


def test_an_installed_copy_finds_its_bundled_models(tmp_path):
    """A wheel built from the project carries assets/models/<name>/, and a copy installed from it finds them:
    with the repo off sys.path, the current folder elsewhere and HYBRID_MODEL unset."""
    bundled = sorted(p.parent for p in (ROOT / "assets" / "models").glob("*/config.json"))
    assert bundled, "no bundled model under assets/models"
    # build from a copy of the sources, so the repo gets no build/ or *.egg-info of the build's own
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("hybrid", "assets"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_") and k != "PYTHONPATH"}

    def pip(*args: str) -> None:
        cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src))
    (wheel,) = (tmp_path / "dist").glob("hybrid-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in bundled:
        for file in MODEL_FILES:
            assert f"hybrid/_models/{folder.name}/{file}" in names, (file, sorted(names)[:40])
    assert not [n for n in names if n.startswith(("assets/", "tests/"))]  # nothing at the top level but hybrid
    assert {"hybrid/app/clip.py", "hybrid/app/style.css"} <= names  # the app package and its CSS

    site = tmp_path / "site"
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [sys.executable, "-I", "-c", WHERE_IS_THE_DEFAULT, str(site)],  # -I: no PYTHONPATH, no cwd on sys.path
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.splitlines()[-1])
    print("imported", got["hybrid"], "default model", got["default"])
    assert Path(got["hybrid"]).resolve().is_relative_to(site.resolve()), got["hybrid"]  # the installed copy
    assert not [p for p in got["path"] if p and Path(p).resolve() == ROOT], got["path"]
    default = Path(got["default"])
    assert default.name == DEFAULT_MODEL
    assert default.resolve().is_relative_to(site.resolve() / "hybrid" / "_models"), default
    assert (default / "config.json").is_file() and (default / "model.safetensors").is_file()
    original = ROOT / "assets" / "models" / default.name
    assert (default / "model.safetensors").read_bytes() == (original / "model.safetensors").read_bytes()
