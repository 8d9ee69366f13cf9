"""Teaching a model its own actions from a few takes (hybrid/teach.py, `train --preset few-shot`): generated takes of
a square moving left or right, which only the order of the frames separates."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synth import cv2_write

from hybrid import HybridCNNRNN
from hybrid.errors import DataError
from hybrid.pipeline import Recognizer
from hybrid.teach import few_shot_recipe, folds_for, teach, zip_model

W, H, N = 320, 240, 24


def take(direction: str, rng: np.random.Generator) -> list[np.ndarray]:
    """A bright square crossing a noisy background, left to right or right to left, at a random height."""
    y0, size = int(rng.integers(20, H - 80)), int(rng.integers(40, 60))
    frames = []
    for t in range(N):
        img = rng.integers(0, 40, (H, W, 3), dtype=np.uint8)
        step = t if direction == "right" else N - 1 - t  # the same frames, in opposite orders
        x = int(step * (W - size) / (N - 1))
        img[y0 : y0 + size, x : x + size] = 240
        frames.append(img)
    return frames


def write_takes(root: Path, per_action: int, seed: int = 0, actions=("left", "right")) -> Path:
    rng = np.random.default_rng(seed)
    for a in actions:
        (root / a).mkdir(parents=True, exist_ok=True)
        for k in range(per_action):
            cv2_write(root / a / f"take{k}.avi", take(a, rng), fps=10, fourcc="MJPG")
    return root


@pytest.fixture(scope="module")
def takes(tmp_path_factory) -> Path:
    return write_takes(tmp_path_factory.mktemp("takes"), 4)


@pytest.fixture(scope="module")
def taught(takes, tmp_path_factory):
    out = tmp_path_factory.mktemp("taught") / "model"
    seen: list[tuple[str, int, int]] = []
    result = teach(takes, out, tmp_path_factory.mktemp("cache"), progress=lambda *a: seen.append(a))
    return result, seen


def test_folds_and_epochs_are_sized_to_the_takes():
    assert folds_for({"a": 2, "b": 3}) == 2 and folds_for({"a": 9, "b": 12}) == 5
    with pytest.raises(DataError, match="at least 2 takes.*too few: b"):
        folds_for({"a": 3, "b": 1})
    with pytest.raises(DataError, match="2 to 10 actions"):
        folds_for({"a": 3})
    with pytest.raises(DataError, match="2 to 10 actions"):
        folds_for({f"a{i}": 3 for i in range(11)})
    small, big = few_shot_recipe(8), few_shot_recipe(160)
    assert small.epochs > big.epochs and small.finetune == 0 and not small.flip and small.aug_copies == 1
    assert few_shot_recipe(8, {"epochs": 7, "hidden_size": 32}).model.hidden_size == 32


def test_teach_learns_frame_order_and_measures_itself(taught, takes):
    result, seen = taught
    s = result.summary()
    assert s["labels"] == ["left", "right"] and s["takes"] == {"left": 4, "right": 4}
    assert s["cv_protocol"] == "stratified 4-fold"
    assert result.accuracy >= 0.75, s  # held-out takes: only the order of the frames tells them apart
    assert sum(map(sum, s["confusion"])) == 8
    assert len(s["wrong"]) == round((1 - result.accuracy) * 8) and all(
        set(w) == {"take", "truth", "pred"} for w in s["wrong"]
    )
    assert s["openset"]["similarity"] is not None and set(s["seconds"]) == {"features", "cross_validation", "training"}
    stages = {stage for stage, _, _ in seen}
    assert stages == {"features", "folds", "epochs"}
    assert ("features", 8, 8) in seen and ("folds", 4, 4) in seen
    # the saved model names new takes of each action, and knows how it was measured
    card = (result.out / "README.md").read_text()
    assert "stratified 4-fold" in card.lower() and "left (4), right (4)" in card
    rec = Recognizer(HybridCNNRNN.from_pretrained(result.out), engine="torch")
    fresh = write_takes(takes.parent / "fresh", 2, seed=7)
    got = [rec(p).label for p in sorted(fresh.rglob("*.avi"))]
    assert got.count("left") >= 1 and got.count("right") >= 1, got


def test_zip_loads_with_from_pretrained(taught, tmp_path):
    result, _ = taught
    z = zip_model(result.out, tmp_path / "model.zip")
    with zipfile.ZipFile(z) as f:
        assert set(f.namelist()) == {"config.json", "model.safetensors", "README.md", "training.json"}
        f.extractall(tmp_path / "unzipped")
    model = HybridCNNRNN.from_pretrained(tmp_path / "unzipped")
    assert model.labels == ["left", "right"] and model.config.openset_exemplars == 8


def test_cli_few_shot_prints_its_cv_figure(takes, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hybrid", "train", "--data", str(takes), "--out", str(tmp_path / "m"),
         "--cache", str(tmp_path / "cache"), "--preset", "few-shot", "--epochs", "10"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "stratified 4-fold cross-validation:" in proc.stdout and "of the takes right" in proc.stdout
    assert json.loads((tmp_path / "m" / "training.json").read_text())["recipe"]["epochs"] == 10


def test_cli_few_shot_refuses_too_few_takes(tmp_path):
    data = write_takes(tmp_path / "d", 1)
    proc = subprocess.run(
        [sys.executable, "-m", "hybrid", "train", "--data", str(data), "--out", str(tmp_path / "m"),
         "--cache", str(tmp_path / "cache"), "--preset", "few-shot"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0 and "at least 2 takes" in proc.stderr and not (tmp_path / "m").exists()
