"""Open-set scores: how much a clip looks like one of the model's classes, and the decision "none of them".

Every score is computed from the clip logits [.., K] and is higher for clips the model knows:
  maxprob  - the largest softmax probability (the classic baseline, Hendrycks & Gimpel 2017)
  maxlogit - the largest logit (Hendrycks et al. 2022)
  energy   - logsumexp of the logits, i.e. minus the free energy (Liu et al. 2020)
A model's config names its score and its threshold (config.json: openset_score, openset_threshold); a clip whose
score is below the threshold is "not one of the actions I know". The threshold is set on held-out folds to accept
a given share of in-domain clips (threshold_at), never on the clips it is then measured on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .config import OPENSET_SCORES as SCORES
from .errors import ConfigError, shorten

ACCEPT = 0.95  # the share of in-domain (held-out) clips a threshold is set to accept
UNKNOWN = "unknown"  # the label of a clip, a moment or a stretch of video that is none of the model's classes


def score(logits: torch.Tensor, kind: str = "maxprob") -> torch.Tensor:
    """Clip logits [..., K] -> open-set score [...] (higher: more like a known class)."""
    logits = logits.float()
    if kind == "maxprob":
        return logits.softmax(-1).amax(-1)
    if kind == "maxlogit":
        return logits.amax(-1)
    if kind == "energy":
        return torch.logsumexp(logits, -1)
    raise ConfigError(f"open-set score must be one of {SCORES}, not {shorten(kind)!r}")


def decide(logits: torch.Tensor, kind: str, threshold: float | None) -> tuple[float, bool | None]:
    """One clip's logits [K] -> (open-set score, known?); known is None when there is no threshold."""
    s = float(score(logits, kind))
    return s, (None if threshold is None else s >= threshold)


def shown(label: str, known: bool | None) -> str:
    """What an answer reads as: the closest class, or UNKNOWN when it is known to be none of them."""
    return UNKNOWN if known is False else label


def threshold_at(in_domain: Sequence[float], accept: float = ACCEPT) -> float:
    """The largest threshold that accepts at least `accept` of these in-domain scores (score >= threshold)."""
    s = np.sort(np.asarray(in_domain, dtype=np.float64))
    if s.size == 0:
        raise ConfigError("no in-domain scores to set a threshold on")
    k = int(np.floor((1.0 - accept) * s.size + 1e-9))  # how many of the lowest may be rejected
    return float(s[min(k, s.size - 1)])


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


def rates(in_domain: Sequence[float], out_of_domain: Sequence[float], threshold: float | None) -> dict:
    """{"in_accepted", "ood_rejected", "auroc", "threshold"}: shares at `threshold` (None where there is none)."""
    a, b = np.asarray(in_domain, dtype=np.float64), np.asarray(out_of_domain, dtype=np.float64)
    known = threshold is not None
    return {
        "in_accepted": float((a >= threshold).mean()) if known and a.size else None,
        "ood_rejected": float((b < threshold).mean()) if known and b.size else None,
        "auroc": auroc(a, b),
        "threshold": threshold,
        "n_in": int(a.size),
        "n_ood": int(b.size),
    }
