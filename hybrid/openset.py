"""Open-set scores: how much a clip looks like one of the model's classes, and the decision "none of them".

Every score is computed from the clip logits [.., K] and is higher for clips the model knows:
  maxprob  - the largest softmax probability (the classic baseline, Hendrycks & Gimpel 2017)
  maxlogit - the largest logit (Hendrycks et al. 2022)
  energy   - logsumexp of the logits, i.e. minus the free energy (Liu et al. 2020)
A model's config names its score and its threshold (config.json: openset_score, openset_threshold); a clip whose
score is below the threshold is "not one of the actions I know". A second gate looks at what the clip looks like,
not at what the head makes of it: the cosine similarity of the clip's mean frame feature to the nearest training
clip's (the model's stored exemplars; nearest-neighbour distance, Sun et al. 2022). Scenes the model never saw are
far from all of them even when the head is confident (config.json: openset_exemplars, openset_similarity).
Thresholds are set on held-out folds to accept a given share of in-domain clips (threshold_at, joint_thresholds),
never on the clips they are then measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .config import OPENSET_SCORES as SCORES
from .config import HybridConfig
from .errors import ConfigError, shorten

if TYPE_CHECKING:  # the scores below use tensor methods only: importing this module does not load torch
    import torch

ACCEPT = 0.95  # the share of in-domain (held-out) clips a threshold is set to accept
FEW = 100  # fewer in-domain scores than this: thresholds also from a normal fit (joint_thresholds)
UNKNOWN = "unknown"  # the label of a clip, a moment or a stretch of video that is none of the model's classes


def score(logits: torch.Tensor, kind: str = "maxprob") -> torch.Tensor:
    """Clip logits [..., K] -> open-set score [...] (higher: more like a known class)."""
    logits = logits.float()
    if kind == "maxprob":
        return logits.softmax(-1).amax(-1)
    if kind == "maxlogit":
        return logits.amax(-1)
    if kind == "energy":
        return logits.logsumexp(-1)
    raise ConfigError(f"open-set score must be one of {SCORES}, not {shorten(kind)!r}")


def similarity(feats: torch.Tensor, exemplars: torch.Tensor) -> torch.Tensor:
    """Per-frame features [..., T, D] of clips + exemplars [M, D] (unit length) -> [...] cosine similarity of
    each clip's mean frame feature to its nearest exemplar (1: looks like a training clip)."""
    return (_unit(feats.float().mean(-2)) @ exemplars.float().T).amax(-1)


def exemplars_of(feats: torch.Tensor) -> torch.Tensor:
    """Per-frame features [M, T, D] of the training clips -> the exemplars to store [M, D] (unit length)."""
    return _unit(feats.float().mean(-2))


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (torch.nn.functional.normalize: norms below 1e-12 count as 1e-12)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def known(score: float, threshold: float | None, sim: float | None = None, sim_threshold: float | None = None):
    """Is it one of the classes? None when the model has no threshold to say; else every gate it has must pass."""
    gates = [] if threshold is None else [score >= threshold]
    if sim_threshold is not None and sim is not None:
        gates.append(sim >= sim_threshold)
    return None if not gates else bool(all(gates))


def decide(logits: torch.Tensor, cfg: HybridConfig, sim: float | None = None) -> tuple[float, bool | None]:
    """One clip's logits [K] (+ its exemplar similarity) -> (open-set score, known?) by the model's config."""
    s = float(score(logits, cfg.openset_score))
    return s, known(s, cfg.openset_threshold, sim, cfg.openset_similarity)


def shown(label: str, known: bool | None) -> str:
    """What an answer reads as: the closest class, or UNKNOWN when it is known to be none of them."""
    return UNKNOWN if known is False else label


def reason(score: float, threshold: float | None, sim: float | None, sim_threshold: float | None) -> str:
    """Why a clip is not one of the classes, in words (the gates it failed)."""
    out = []
    if sim_threshold is not None and sim is not None and sim < sim_threshold:
        out.append(f"it looks unlike every clip the model was trained on (similarity {sim:.3g} < {sim_threshold:.3g})")
    if threshold is not None and score < threshold:
        out.append(f"the model is not sure enough (open-set score {score:.3g} < {threshold:.3g})")
    return " and ".join(out) or "every gate passed"


def threshold_at(in_domain: Sequence[float], accept: float = ACCEPT) -> float:
    """The largest threshold that accepts at least `accept` of these in-domain scores (score >= threshold)."""
    s = np.sort(np.asarray(in_domain, dtype=np.float64))
    if s.size == 0:
        raise ConfigError("no in-domain scores to set a threshold on")
    k = int(np.floor((1.0 - accept) * s.size + 1e-9))  # how many of the lowest may be rejected
    return float(s[min(k, s.size - 1)])


def normal_floor(values: Sequence[float], accept: float) -> float:
    """The threshold a normal fit of these scores puts below `accept` of them (mean - z * sd)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float(v.min()) if v.size else -np.inf
    return float(v.mean() - NormalDist().inv_cdf(accept) * v.std(ddof=1))


def joint_thresholds(scores: Sequence[float], sims: Sequence[float] | None, accept: float = ACCEPT):
    """(score threshold, similarity threshold or None) accepting at least `accept` of in-domain clips that must pass
    both: each set at the same share of its own scores, the largest share that keeps the joint acceptance.

    From fewer than FEW clips (a model taught from a few takes) the tail can't be read off the scores: the lowest
    of 10 accepts about 10/11 of new clips, not 95 %. Each gate then also goes down to where a normal fit of its
    scores accepts its share of `accept` (accept ** (1 / gates)), whichever is lower."""
    s = np.asarray(scores, dtype=np.float64)
    m = None if sims is None else np.asarray(sims, dtype=np.float64)
    if m is None:
        best: tuple[float, float | None] = (threshold_at(s, accept), None)
    else:
        best = (threshold_at(s, 1.0), threshold_at(m, 1.0))  # accepts every clip
        for share in np.linspace(1.0, accept, 101)[1:]:  # ever tighter, the same share on each gate
            t = (threshold_at(s, share), threshold_at(m, share))
            if ((s >= t[0]) & (m >= t[1])).mean() < accept - 1e-9:
                break
            best = t
    if s.size >= FEW:
        return best
    each = accept ** (1 / (1 if m is None else 2))
    return (min(best[0], normal_floor(s, each)),
            None if m is None else min(best[1], normal_floor(m, each)))  # fmt: skip


def auroc(in_domain: Sequence[float], out_of_domain: Sequence[float]) -> float | None:
    """P(score of a random in-domain clip > that of a random out-of-domain one), ties counted half; None when
    either side is empty."""
    a, b = np.asarray(in_domain, dtype=np.float64), np.asarray(out_of_domain, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return None
    both = np.concatenate([a, b])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(both.size)
    ranks[order] = np.arange(1, both.size + 1)
    for v in np.unique(both):  # average ranks over ties
        tie = both == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return float((ranks[: a.size].sum() - a.size * (a.size + 1) / 2) / (a.size * b.size))


class Scored(NamedTuple):
    """One clip's open-set numbers: its score and its similarity to the nearest training clip (None: not stored)."""

    score: float
    similarity: float | None = None


def rates(
    in_domain: Sequence[Scored], out_of_domain: Sequence[Scored], threshold: float | None, sim_threshold=None
) -> dict:  # fmt: skip
    """{"in_accepted", "ood_rejected", "auroc", "auroc_similarity", "threshold", "similarity_threshold", "n_in",
    "n_ood"}: shares judged by both gates (None where the model has none); AUROC of each number on its own."""
    calibrated = threshold is not None or sim_threshold is not None

    def share(clips: Sequence[Scored], accepted: bool) -> float | None:
        if not calibrated or not clips:
            return None
        return float(np.mean([known(c.score, threshold, c.similarity, sim_threshold) is accepted for c in clips]))

    sims = [c.similarity for c in (*in_domain, *out_of_domain)]
    return {
        "in_accepted": share(in_domain, True),
        "ood_rejected": share(out_of_domain, False),
        "auroc": auroc([c.score for c in in_domain], [c.score for c in out_of_domain]),
        "auroc_similarity": None
        if None in sims
        else auroc([c.similarity for c in in_domain], [c.similarity for c in out_of_domain]),
        "threshold": threshold,
        "similarity_threshold": sim_threshold,
        "n_in": len(in_domain),
        "n_ood": len(out_of_domain),
    }
