"""Prediction: what a model says of one clip (top-k, belief after every RNN step, what the CNN saw, timings).

Plain numpy: built the same way (`make_prediction`) by the PyTorch pipeline and by the compiled whole-model
engine (compiled.py), which runs without importing torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import openset
from .config import HybridConfig
from .video import Clip


@dataclass
class Prediction:
    label: str
    score: float
    topk: list[tuple[str, float]]
    labels: list[str]  # class names, in the order of step_probs' columns
    step_probs: np.ndarray  # [T,K] class probabilities after each RNN step (last row = the answer)
    attention: np.ndarray  # [T] weight of each frame in the final decision
    features: np.ndarray  # [T,D] per-frame CNN feature vectors
    frames: np.ndarray  # [T,h,w,3] uint8 RGB sampled frames (display size)
    indices: list[int]
    timestamps_s: list[float]
    video: dict[str, Any]
    timings_ms: dict[str, float]
    openset_score: float = float("nan")  # how much the clip looks like a known class (the model's openset_score)
    threshold: float | None = None  # the model's open-set threshold (None: not calibrated)
    similarity: float | None = None  # to the nearest training clip (openset.similarity; None: no exemplars stored)
    similarity_threshold: float | None = None  # below it the clip is unlike every training clip
    heatmaps: np.ndarray | None = None  # [T,h',w'] where the CNN fired, per frame in [0,1] (explain=True)
    gradcam: np.ndarray | None = None  # [T,h',w'] Grad-CAM of the answer, one scale for the clip (explain=True)
    concepts: list[list[tuple[str, float]]] = field(default_factory=list)  # top ImageNet classes per frame (if any)

    @property
    def known(self) -> bool | None:
        """Is the clip one of the model's classes? None when the model has no open-set threshold."""
        return openset.known(self.openset_score, self.threshold, self.similarity, self.similarity_threshold)

    @property
    def why_unknown(self) -> str:
        """The open-set gates this clip failed, in words (openset.reason)."""
        return openset.reason(self.openset_score, self.threshold, self.similarity, self.similarity_threshold)

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """JSON-friendly dict; the first keys follow the CLI contract (label, score, topk, frames, timings_ms;
        known, openset_score, threshold, similarity, similarity_threshold). `label` is the closest class, known or
        not."""
        out: dict[str, Any] = {
            "label": self.label,
            "score": round(self.score, 6),
            "topk": [[lab, round(s, 6)] for lab, s in self.topk],
            "known": self.known,
            "openset_score": round(self.openset_score, 6),
            "threshold": self.threshold,
            "similarity": None if self.similarity is None else round(self.similarity, 6),
            "similarity_threshold": self.similarity_threshold,
            "frames": len(self.indices),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "video": self.video,
        }
        if detail:
            out["timestamps_s"] = [round(t, 3) for t in self.timestamps_s]
            out["frame_indices"] = self.indices
            out["labels"] = self.labels
            out["step_probs"] = np.round(self.step_probs, 5).tolist()
            out["attention"] = np.round(self.attention, 5).tolist()
            out["concepts"] = [[[c, round(p, 4)] for c, p in row] for row in self.concepts]
        return out


def with_decode_time(pred: Prediction, started: float) -> Prediction:
    """A Prediction of a clip decoded since `started` (time.perf_counter()): "decode" first in its timings, and a
    total that counts it."""
    now = time.perf_counter()
    pred.timings_ms = {"decode": (now - started) * 1000 - pred.timings_ms["total"], **pred.timings_ms}
    pred.timings_ms["total"] = (now - started) * 1000
    return pred


def video_info(clip: Clip) -> dict[str, Any]:
    """What a Prediction reports of the file a clip came from."""
    return {
        "fps": round(clip.fps, 3),
        "duration_s": round(clip.duration_s, 3),
        "total_frames": clip.total_frames,
        "width": clip.size[0],
        "height": clip.size[1],
        "codec": clip.codec,
        "sampling": clip.method,
    }


def make_prediction(
    cfg: HybridConfig,
    clip: Clip,
    step_probs: np.ndarray,
    attention: np.ndarray,
    features: np.ndarray,
    openset_score: float,
    similarity: float | None,
    timings_ms: dict[str, float],
    topk: int = 5,
) -> Prediction:
    """A model's outputs for one clip (step_probs [T,K], attention [T], features [T,D]) -> Prediction."""
    last = np.asarray(step_probs[-1], dtype=np.float64)
    order = np.argsort(-last, kind="stable")[: min(topk, len(cfg.labels))]  # ties: the lower class index first
    labels = list(cfg.labels)
    return Prediction(
        label=labels[int(order[0])],
        score=float(last[order[0]]),
        topk=[(labels[int(i)], float(last[i])) for i in order],
        labels=labels,
        step_probs=step_probs,
        attention=attention,
        features=features,
        frames=clip.frames,
        indices=list(clip.indices),
        timestamps_s=list(clip.timestamps_s),
        video=video_info(clip),
        timings_ms=timings_ms,
        openset_score=float(openset_score),
        threshold=cfg.openset_threshold,
        similarity=similarity,
        similarity_threshold=cfg.openset_similarity,
    )
