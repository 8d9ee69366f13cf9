"""Cached per-frame CNN features for training on top of a frozen backbone (or its frozen part).

Each clip is decoded once into `grid` frames spread uniformly over the whole clip; every augmentation
variant of those frames goes through the CNN once and is stored (safetensors, fp16) under the cache
folder, keyed by everything that changes the numbers. Training then samples T of the grid frames per
epoch (temporal jitter) at no CNN cost. When the last `finetune` units of the backbone are trained,
the cache holds the activation maps that enter them instead ([grid, C, h, w]), so each epoch runs only
those units, not the whole CNN.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .backbones import split_backbone
from .config import HybridConfig
from .model import HybridCNNRNN
from .pipeline import Recognizer
from .runtime import TorchEngine, make_engine
from .video import read_clip

CACHE_VERSION = 2  # 2: clips keyed by their bytes, not path + mtime
# the model fields that change a frame's features (the rest only change the head)
CACHE_FIELDS = ("backbone", "image_size", "resize_mode", "interpolation", "spatial_pool", "mean", "std")


@functools.lru_cache(maxsize=65536)
def _content_hash(path: str, size: int, mtime_ns: int) -> str:
    """sha1 of a file's bytes, computed once per (path, size, mtime): a dataset copied or mounted anew keeps its
    cached features (its mtimes change), an edited file gets new ones."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Augment:
    """One spatial augmentation applied identically to every frame of a clip."""

    flip: bool = False
    crop: float = 1.0  # kept fraction of each side (random resized crop, fixed per variant)
    cx: float = 0.5  # crop centre, as a fraction of the free margin
    cy: float = 0.5
    brightness: float = 0.0  # added to pixel values / 255
    contrast: float = 1.0

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """[T,H,W,3] uint8 -> augmented [T,h,w,3] uint8."""
        if self.crop < 1.0:
            H, W = frames.shape[1:3]
            h, w = max(8, round(H * self.crop)), max(8, round(W * self.crop))
            y, x = round((H - h) * self.cy), round((W - w) * self.cx)
            frames = frames[:, y : y + h, x : x + w]
        if self.flip:
            frames = frames[:, :, ::-1]
        if self.brightness or self.contrast != 1.0:
            f = frames.astype(np.float32)
            f = (f - 128.0) * self.contrast + 128.0 + self.brightness * 255.0
            frames = np.clip(f, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(frames)


def augment_variants(copies: int, flip: bool, crop: bool, color: bool, seed: int = 0) -> list[Augment]:
    """Variant 0 is the identity, variant 1 the plain mirror image (when flips are allowed: it also serves
    test-time augmentation); the others draw crops and colour shifts from `seed`, every other one mirrored."""
    rng = np.random.default_rng(seed)
    out = [Augment()] + ([Augment(flip=True)] if flip and copies > 1 else [])
    for k in range(len(out), copies):
        out.append(
            Augment(
                flip=bool(flip and k % 2 == 1),
                crop=float(rng.uniform(0.8, 1.0)) if crop else 1.0,
                cx=float(rng.uniform()),
                cy=float(rng.uniform()),
                brightness=float(rng.uniform(-0.1, 0.1)) if color else 0.0,
                contrast=float(rng.uniform(0.8, 1.2)) if color else 1.0,
            )
        )
    return out


def _key(path: Path, cfg: HybridConfig, grid: int, aug: Augment, finetune: int = 0) -> str:
    st = path.stat()
    spec = {
        "v": CACHE_VERSION,
        "clip": _content_hash(str(path.resolve()), st.st_size, st.st_mtime_ns),
        "grid": grid,
        "aug": asdict(aug),
        **{k: v for k, v in cfg.to_dict().items() if k in CACHE_FIELDS},
        **({"finetune": finetune} if finetune else {}),  # 0: pooled features of the frozen CNN
    }
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    """clip path + augmentation -> [grid, D] per-frame features, or [grid, C, h, w] activations entering the
    last `finetune` backbone units (fp16 on disk and in memory)."""

    def __init__(
        self,
        model: HybridCNNRNN,
        folder: str | Path,
        grid: int = 64,
        device: str = "cpu",
        batch: int = 64,
        finetune: int = 0,
        engine: str = "torch",
    ):
        model = model.eval().to(device)
        prefix = split_backbone(model.backbone, finetune)[0] if finetune else None
        # the PyTorch engine (training may run on a GPU), or the backbone's frozen prefix alone; a frozen CNN on the
        # CPU may take the fast one instead ("auto": OpenVINO when installed; features agree to ~1e-5)
        fast = engine != "torch" and not finetune and device == "cpu"
        self.recognizer = Recognizer(
            model, engine=make_engine(model, engine) if fast else TorchEngine(model, device, batch, net=prefix)
        )
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.grid, self.finetune = grid, finetune
        self.cfg = model.config

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """RGB uint8 [N,h,w,3] -> pooled CNN features [N,D] or prefix activations [N,C,h,w] (fp16, CPU)."""
        feats, fmap = self.recognizer.encode(frames)
        return (fmap if self.finetune else feats).half().cpu().contiguous()

    def get(self, path: Path, augs: list[Augment]) -> list[torch.Tensor]:
        """Features of every variant in `augs`, computing (and storing) only the missing ones."""
        keys = [_key(path, self.cfg, self.grid, a, self.finetune) for a in augs]
        files = [self.folder / f"{k}.safetensors" for k in keys]
        if all(f.is_file() for f in files):
            return [load_file(str(f))["feats"] for f in files]
        clip = read_clip(path, self.grid)
        out = []
        for aug, f in zip(augs, files):
            if f.is_file():
                out.append(load_file(str(f))["feats"])
                continue
            feats = self.encode(aug.apply(clip.frames))
            tmp = f.with_suffix(f".{os.getpid()}.tmp")
            save_file({"feats": feats.contiguous()}, str(tmp))
            os.replace(tmp, f)  # atomic: a crash never leaves half a file behind
            out.append(feats)
        return out
