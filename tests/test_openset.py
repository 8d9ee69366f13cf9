"""hybrid/openset.py: the open-set scores, the threshold at an acceptance rate, AUROC and the rates."""

from __future__ import annotations

import json
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
    S = openset.Scored
    r = openset.rates([S(0.9), S(0.8), S(0.3), S(0.7)], [S(0.1), S(0.5), S(0.75)], 0.6)
    assert (r["in_accepted"], r["ood_rejected"], r["n_in"], r["n_ood"]) == (0.75, 2 / 3, 4, 3)
    assert r["auroc_similarity"] is None and r["similarity_threshold"] is None
    none = openset.rates([S(0.9)], [S(0.1)], None)
    assert none["in_accepted"] is None and none["ood_rejected"] is None and none["auroc"] == 1.0
    # both gates: a confident clip unlike every training clip is rejected by the look gate alone
    both = openset.rates([S(0.9, 0.9), S(0.8, 0.7)], [S(0.95, 0.2), S(0.1, 0.9)], 0.6, 0.5)
    assert (both["in_accepted"], both["ood_rejected"], both["auroc_similarity"]) == (1.0, 1.0, 0.625)


def test_known_needs_every_gate_the_model_has():
    assert openset.known(0.9, None) is None and openset.known(0.9, None, 0.1, None) is None
    assert openset.known(0.9, 0.5) is True and openset.known(0.4, 0.5) is False
    assert openset.known(0.9, 0.5, 0.2, 0.6) is False and openset.known(0.9, 0.5, 0.7, 0.6) is True
    assert openset.known(0.9, None, 0.2, 0.6) is False  # the look gate alone
    assert "unlike every clip" in openset.reason(0.9, 0.5, 0.2, 0.6)
    assert openset.reason(0.4, 0.5, 0.7, 0.6) == "the model is not sure enough (open-set score 0.4 < 0.5)"


def test_similarity_is_to_the_nearest_training_clip():
    train = torch.tensor([[[1.0, 0.0]] * 3, [[0.0, 2.0]] * 3])  # [M=2,T=3,D=2]
    ex = openset.exemplars_of(train)
    assert torch.allclose(ex.norm(dim=-1), torch.ones(2))
    clips = torch.tensor([[[3.0, 0.0], [5.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]], [[-1.0, 0.0], [-1.0, 0.0]]])
    sim = openset.similarity(clips, ex)
    assert sim.shape == (3,) and sim[0] == pytest.approx(1.0) and sim[1] == pytest.approx(math.sqrt(0.5))
    assert sim[2] == pytest.approx(0.0)  # opposite to one, orthogonal to the other: the nearest counts


def test_joint_thresholds_accept_the_share_asked_for_on_both_gates():
    g = torch.Generator().manual_seed(0)
    scores, sims = torch.rand(400, generator=g).tolist(), torch.rand(400, generator=g).tolist()
    t, ts = openset.joint_thresholds(scores, sims, 0.95)
    ok = sum(s >= t and m >= ts for s, m in zip(scores, sims)) / 400
    assert 0.95 <= ok < 0.96 and 0 < t < 0.05 and 0 < ts < 0.05
    assert openset.joint_thresholds(scores, None, 0.95) == (openset.threshold_at(scores, 0.95), None)


def test_thresholds_from_a_few_clips_reach_below_the_lowest():
    """From 8 held-out takes, the lowest of them accepts about 8/9 of new ones: a normal fit sets the thresholds
    lower, so new takes from the same distribution are accepted about 95 % of the time."""
    g = torch.Generator().manual_seed(1)
    accepted = []
    for _ in range(200):
        scores, sims = (
            (0.8 + 0.05 * torch.randn(8, generator=g)).tolist(),
            (0.9 + 0.02 * torch.randn(8, generator=g)).tolist(),
        )
        t, ts = openset.joint_thresholds(scores, sims, 0.95)
        assert t <= min(scores) and ts <= min(sims)
        new_s, new_m = 0.8 + 0.05 * torch.randn(50, generator=g), 0.9 + 0.02 * torch.randn(50, generator=g)
        accepted.append(float(((new_s >= t) & (new_m >= ts)).float().mean()))
    assert 0.88 < sum(accepted) / len(accepted) < 0.99  # the lowest alone: about 0.79 (8/9 on each gate)
    one = openset.joint_thresholds([0.5, 0.7, 0.6], None, 0.95)[0]
    assert one == pytest.approx(0.6 - 1.6449 * 0.1, abs=1e-4)


def test_the_config_carries_the_score_and_the_threshold():
    cfg = HybridConfig(labels=["a", "b"], openset_threshold=1)
    assert cfg.openset_threshold == 1.0 and isinstance(cfg.openset_threshold, float) and cfg.openset_score == "maxprob"
    assert HybridConfig.from_dict(cfg.to_dict()) == cfg
    assert HybridConfig(labels=["a"]).openset_threshold is None  # a config.json from before: no decision
    with pytest.raises(ModelError, match="openset_score must be one of"):
        HybridConfig(labels=["a"], openset_score="entropy")
    with pytest.raises(ModelError, match="openset_threshold has a bad value"):
        HybridConfig(labels=["a"], openset_threshold=float("nan"))
    with pytest.raises(ModelError, match="needs openset_exemplars"):
        HybridConfig(labels=["a"], openset_similarity=0.5)
    with pytest.raises(ModelError, match="over the limit"):
        HybridConfig(labels=["a"], openset_exemplars=10**6)


def test_exemplars_travel_with_the_weights(tmp_path):
    from hybrid.model import HybridCNNRNN

    m = HybridCNNRNN(labels=["a", "b"], backbone_pretrained=False, num_frames=2, image_size=(64, 64),
                     openset_exemplars=3, openset_similarity=0.5, openset_threshold=0.1)  # fmt: skip
    ex = openset.exemplars_of(torch.randn(3, 2, m.feature_dim))
    m.openset_exemplars.copy_(ex)
    m.save_pretrained(tmp_path)
    back = HybridCNNRNN.from_pretrained(tmp_path)
    assert back.config.openset_exemplars == 3 and torch.allclose(back.openset_exemplars, ex)
    feats = ex[0].expand(2, -1) * 4  # [T,D]: the first exemplar's own direction
    assert back.similarity(feats) == pytest.approx(1.0, abs=1e-5)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "openset_exemplars": 4}))
    with pytest.raises(ModelError, match="does not match"):  # the stored rows are the ones the config names
        HybridCNNRNN.from_pretrained(tmp_path)
