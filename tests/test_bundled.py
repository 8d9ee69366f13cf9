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
