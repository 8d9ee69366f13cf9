"""The bundled models, loaded as the app loads them, on real UT-Interaction clips (../shared/data)."""

from __future__ import annotations

import functools

import pytest
from conftest import shared_data

from hybrid import HybridCNNRNN
from hybrid.app.models import IDLE_MODEL
from hybrid.app.settings import bundled_models_dir
from hybrid.model_dir import DEFAULT_MODEL
from hybrid.pipeline import Recognizer

MODELS_DIR = bundled_models_dir()
GESTURES = "egogestar-lite0"

pytestmark = pytest.mark.data


@functools.cache
def recognizer(name: str) -> Recognizer:
    return Recognizer(HybridCNNRNN.from_pretrained(MODELS_DIR / name))  # each bundled model loaded once


def first_clip(*parts: str):
    return sorted((shared_data("ut-interaction").joinpath(*parts)).glob("*.avi"))[0]


@pytest.mark.parametrize("name", [DEFAULT_MODEL, IDLE_MODEL])
def test_bundled_model_names_an_interaction(name):
    assert recognizer(name)(str(first_clip("set2", "hugging"))).label == "hugging"


def test_the_idle_model_knows_when_nothing_happens():
    rec = recognizer(IDLE_MODEL)
    pred = rec(str(first_clip("set1", "no_interaction")))
    assert pred.label == "no_interaction" and rec.labels[-1] == "no_interaction"


def test_the_gesture_model_reads_the_direction_from_the_order_of_the_frames():
    """A left swipe is named left; the same frames played backwards, right (its open-set gates pass both)."""
    from dataclasses import replace

    from hybrid.app.legend import legend_html
    from hybrid.video import read_clip

    rec = recognizer(GESTURES)
    assert "Draw one of these" in legend_html(rec.labels) and rec.model.config.clip_seconds > 0
    clip = read_clip(sorted(shared_data("egogestar").joinpath("left").glob("*.mp4"))[0], rec.model.num_frames)
    ahead, back = rec.predict_clip(clip), rec.predict_clip(replace(clip, frames=clip.frames[::-1].copy()))
    assert (ahead.label, back.label) == ("left", "right") and ahead.known and back.known
    assert sum((MODELS_DIR / GESTURES / name).stat().st_size for name in ("model.safetensors", "config.json")) < 20e6


def test_fast_sampling_gives_the_gesture_model_the_answers_of_exact_sampling():
    """Fast sampling (fast_clip.py) against exact on real H.264 clips with B-frames: one clip of each gesture, the
    same answer and the same open-set decision, and frames taken at most MAX_SHIFT from the uniform ones."""
    from hybrid.fast_clip import MAX_SHIFT, read_clip_fast
    from hybrid.video import read_clip

    rec = recognizer(GESTURES)
    T, fast_taken = rec.model.num_frames, 0
    for folder in sorted(p for p in shared_data("egogestar").iterdir() if p.is_dir()):
        path = sorted(folder.glob("*.mp4"))[-1]
        fast, exact = read_clip_fast(path, T), read_clip(path, T)
        assert all(abs(i - j) <= MAX_SHIFT for i, j in zip(fast.indices, exact.indices)), path.name
        a, b = rec.predict_clip(fast), rec.predict_clip(exact)
        assert (a.label, a.known) == (b.label, b.known), path.name
        fast_taken += fast.method == "reference frames"
    assert fast_taken >= 6  # most of these clips take the fast way (the shortest are read exactly)
