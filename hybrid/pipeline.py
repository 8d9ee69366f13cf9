"""Recognizer: a video path -> Prediction (top-k, belief after every RNN step, what the CNN saw, timings)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import openset
from .backbones import imagenet_labels
from .explain import activation_maps, grad_cam, imagenet_concepts
from .hub import default_model_dir
from .model import HybridCNNRNN
from .runtime import CNNEngine, make_engine
from .transforms import preprocess
from .video import Clip, VideoLimits, read_clip


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


class Recognizer:
    """Holds one model (eval, channels_last) and its CNN engine; turns frames into features and videos into
    Predictions. `encode` is the only way frames become features (clips, live, timeline, training caches)."""

    def __init__(
        self,
        model: HybridCNNRNN | str | Path | None = None,
        limits: VideoLimits = VideoLimits(),
        engine: str | CNNEngine | None = None,
        precision: str | None = None,
    ):
        if model is None:
            model = default_model_dir()
        if not isinstance(model, HybridCNNRNN):
            model = HybridCNNRNN.from_pretrained(model)
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.limits = limits
        # the CNN's runner: "auto" (OpenVINO when installed), "openvino" or "torch" (see runtime.py), or one built
        self.engine = (
            engine if engine is not None and not isinstance(engine, str) else make_engine(self.model, engine, precision)
        )

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @cached_property
    def imagenet_labels(self) -> list[str]:
        return imagenet_labels()

    @torch.inference_mode()
    def encode(self, frames: np.ndarray, timings: dict[str, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB uint8 frames [N,h,w,3] -> (feats [N,D] float32, fmap [N,C',h,w] the engine's map): the model's
        preprocessing, its CNN engine, its spatial pooling. `timings` gets "preprocess" and "cnn" ms added."""
        t0 = time.perf_counter()
        x = preprocess(frames, self.model.config)  # [N,3,H,W]
        t1 = time.perf_counter()
        fmap = self.engine.frame_maps(x)
        feats = self.model.pool_frames(fmap).float()
        if timings is not None:
            timings["preprocess"] = timings.get("preprocess", 0.0) + (t1 - t0) * 1000
            timings["cnn"] = timings.get("cnn", 0.0) + (time.perf_counter() - t1) * 1000
        return feats, fmap

    def __call__(self, path: str | Path, topk: int = 5, explain: bool = False) -> Prediction:
        t0 = time.perf_counter()
        clip = read_clip(path, self.model.num_frames, limits=self.limits)
        pred = self.predict_clip(clip, topk=topk, explain=explain)
        pred.timings_ms = {"decode": (time.perf_counter() - t0) * 1000 - pred.timings_ms["total"], **pred.timings_ms}
        pred.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        return pred

    def predict_clip(self, clip: Clip, topk: int = 5, explain: bool = False) -> Prediction:
        """Already decoded frames -> Prediction (timings cover preprocess, CNN, RNN; explain: + heat maps,
        Grad-CAM of the answer, ImageNet concepts)."""
        m = self.model
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        feats, fmap = self.encode(clip.frames, timings)  # [T,D], [T,C',h,w]
        t2 = time.perf_counter()
        with torch.inference_mode():
            out = m.forward_head(feats[None])
            step_probs = out.step_logits[0].softmax(-1)  # [T,K]
            top = step_probs[-1].topk(min(topk, len(m.labels)))
            open_score = float(openset.score(out.logits[0], m.config.openset_score))  # Prediction.known decides
            sim = m.similarity(feats)
        timings["rnn"] = (time.perf_counter() - t2) * 1000
        pred = Prediction(
            label=m.labels[int(top.indices[0])],
            score=float(top.values[0]),
            topk=[(m.labels[int(i)], float(v)) for v, i in zip(top.values, top.indices)],
            labels=list(m.labels),
            step_probs=step_probs.numpy(),
            attention=out.attention[0].numpy(),
            features=feats.numpy(),
            frames=clip.frames,
            indices=list(clip.indices),
            timestamps_s=list(clip.timestamps_s),
            video={
                "fps": round(clip.fps, 3),
                "duration_s": round(clip.duration_s, 3),
                "total_frames": clip.total_frames,
                "width": clip.size[0],
                "height": clip.size[1],
                "codec": clip.codec,
                "sampling": clip.method,
            },
            timings_ms=timings,
            openset_score=open_score,
            threshold=m.config.openset_threshold,
            similarity=sim,
            similarity_threshold=m.config.openset_similarity,
        )
        if explain:  # outside inference_mode: Grad-CAM needs gradients
            pred.heatmaps = activation_maps(fmap)
            pred.gradcam = grad_cam(m, fmap, int(top.indices[0]))
            pred.concepts = imagenet_concepts(m, fmap, self.imagenet_labels)
        pred.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        return pred
