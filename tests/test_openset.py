"""hybrid/openset.py: the open-set scores, the threshold at an acceptance rate, AUROC and the rates."""

from __future__ import annotations

import math

import pytest
import torch

from hybrid import openset
from hybrid.config import HybridConfig
from hybrid.errors import ConfigError, ModelError


def test_scores_are_higher_for_a_confident_clip():
    logits = torch.tensor([[4.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    for kind in openset.SCORES:
        s = openset.score(logits, kind)
        assert s.shape == (2,) and s[0] > s[1], kind
    assert openset.score(logits, "maxprob")[1].item() == pytest.approx(1 / 3)
    assert openset.score(logits, "maxlogit")[0].item() == 4.0
    assert openset.score(logits, "energy")[1].item() == pytest.approx(1 + math.log(3))
    with pytest.raises(ConfigError, match="must be one of"):
        openset.score(logits, "entropy")


def test_the_threshold_accepts_the_share_asked_for():
    scores = [i / 100 for i in range(100)]
    t = openset.threshold_at(scores, 0.95)
    assert sum(s >= t for s in scores) == 95 and t == pytest.approx(0.05)
    assert openset.threshold_at([0.3], 0.95) == 0.3 and openset.threshold_at(scores, 1.0) == 0.0
    with pytest.raises(ConfigError):
        openset.threshold_at([])


def test_auroc_and_rates():
    assert openset.auroc([0.9, 0.8], [0.1, 0.2]) == 1.0 and openset.auroc([0.1], [0.9]) == 0.0
    assert openset.auroc([0.5, 0.5], [0.5]) == 0.5 and openset.auroc([], [0.1]) is None
    assert openset.auroc([0.9, 0.4], [0.5, 0.1]) == 0.75
    r = openset.rates([0.9, 0.8, 0.3, 0.7], [0.1, 0.5, 0.75], 0.6)
    assert (r["in_accepted"], r["ood_rejected"], r["n_in"], r["n_ood"]) == (0.75, 2 / 3, 4, 3)
    none = openset.rates([0.9], [0.1], None)
    assert none["in_accepted"] is None and none["ood_rejected"] is None and none["auroc"] == 1.0


def test_the_config_carries_the_score_and_the_threshold():
    cfg = HybridConfig(labels=["a", "b"], openset_threshold=1)
    assert cfg.openset_threshold == 1.0 and isinstance(cfg.openset_threshold, float) and cfg.openset_score == "maxprob"
    assert HybridConfig.from_dict(cfg.to_dict()) == cfg
    assert HybridConfig(labels=["a"]).openset_threshold is None  # a config.json from before: no decision
    with pytest.raises(ModelError, match="openset_score must be one of"):
        HybridConfig(labels=["a"], openset_score="entropy")
    with pytest.raises(ModelError, match="openset_threshold has a bad value"):
        HybridConfig(labels=["a"], openset_threshold=float("nan"))
