"""Recognizer: a video path -> Prediction (top-k, belief after every RNN step, what the CNN saw, timings)."""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from . import openset
from .backbones import imagenet_labels
from .config import HybridConfig
from .explain import activation_maps, grad_cam, imagenet_concepts
from .fast_clip import read_clip_as, sampling_setting
from .model import HybridCNNRNN
from .model_dir import default_model_dir
from .prediction import Prediction, make_prediction, with_decode_time
from .runtime import CNNEngine, make_engine
from .transforms import preprocess
from .video import Clip, VideoLimits


class Recognizer:
    """Holds one model (eval, channels_last) and its CNN engine; turns frames into features and videos into
    Predictions. `encode` is the only way frames become features (clips, live, timeline, training caches)."""

    def __init__(
        self,
        model: HybridCNNRNN | str | Path | None = None,
        limits: VideoLimits = VideoLimits(),
        engine: str | CNNEngine | None = None,
        precision: str | None = None,
        sampling: str | None = None,
    ):
        """sampling: how a video's frames are picked, "fast" (the nearest decoded reference frame to each
        uniform target, fast_clip.py) or "exact"; default $HYBRID_SAMPLING, else "fast"."""
        self.sampling = sampling_setting(sampling)
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

    @property
    def config(self) -> HybridConfig:
        return self.model.config

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

    @torch.inference_mode()
    def features(self, frames: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
        """RGB uint8 frames [N,h,w,3] -> per-frame features [N,D] float32 (`encode` without the map)."""
        return self.encode(frames, timings)[0].numpy()

    @torch.inference_mode()
    def read_window(self, feats: np.ndarray) -> tuple[np.ndarray, float, float | None]:
        """Features [T,D] of one window -> (clip probabilities [K], open-set score, similarity or None), as
        compiled.CompiledModel.read_window."""
        x = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))
        logits = self.model.forward_head(x[None]).logits[0].float()
        score = float(openset.score(logits, self.model.config.openset_score))
        return logits.softmax(-1).numpy(), score, self.model.similarity(x)

    def __call__(self, path: str | Path, topk: int = 5, explain: bool = False) -> Prediction:
        t0 = time.perf_counter()
        clip = read_clip_as(self.sampling, path, self.model.num_frames, limits=self.limits)
        return with_decode_time(self.predict_clip(clip, topk=topk, explain=explain), t0)

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
            open_score = float(openset.score(out.logits[0], m.config.openset_score))  # Prediction.known decides
            sim = m.similarity(feats)
        timings["rnn"] = (time.perf_counter() - t2) * 1000
        pred = make_prediction(
            m.config, clip, step_probs.numpy(), out.attention[0].numpy(), feats.numpy(), open_score, sim, timings, topk
        )
        if explain:  # outside inference_mode: Grad-CAM needs gradients
            pred.heatmaps = activation_maps(fmap)
            pred.gradcam = grad_cam(m, fmap, m.labels.index(pred.label))
            pred.concepts = imagenet_concepts(m, fmap, self.imagenet_labels)
        pred.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        return pred
