"""Frames -> model input, driven by the model's own config (size, resize mode, mean/std, filter).

`prepare` is numpy; `preprocess` is the same array as a channels_last torch tensor, without a copy. The compiled
engine (compiled.py) feeds `resize_frames`' uint8 frames to OpenVINO, whose graph normalises them itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from .config import HybridConfig

if TYPE_CHECKING:
    import torch

_INTERP = {
    "bicubic": cv2.INTER_CUBIC,
    "bilinear": cv2.INTER_LINEAR,
    "nearest": cv2.INTER_NEAREST,
    "area": cv2.INTER_AREA,
}


def resize_frame(frame: np.ndarray, size: tuple[int, int], mode: str, interpolation: str) -> np.ndarray:
    """RGB uint8 [h,w,3] -> [H,W,3] by squash (stretch), center_crop (fill, cut the rest) or letterbox (pad)."""
    H, W = size
    h, w = frame.shape[:2]
    flag = _INTERP[interpolation]  # checked by HybridConfig
    if mode == "squash":
        return cv2.resize(frame, (W, H), interpolation=flag)
    scale = max(H / h, W / w) if mode == "center_crop" else min(H / h, W / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = cv2.resize(frame, (nw, nh), interpolation=flag)
    if mode == "center_crop":
        y, x = (nh - H) // 2, (nw - W) // 2
        return img[y : y + H, x : x + W]
    out = np.zeros((H, W, 3), dtype=frame.dtype)
    y, x = (H - nh) // 2, (W - nw) // 2
    out[y : y + nh, x : x + nw] = img
    return out


def normalise(frames: np.ndarray, mean, std) -> np.ndarray:
    """uint8 [T,H,W,3] -> float32 [T,H,W,3]: (x / 255 - mean) / std, as one scale and shift (the exported
    graphs of compiled.py compute the same two numbers per channel: `scale_shift`)."""
    scale, shift = scale_shift(mean, std)
    x = np.array(frames, dtype=np.float32)  # always a new array (float input too): scaled in place
    x *= scale
    x += shift
    return x


def scale_shift(mean, std) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) [3] float32 with x * scale + shift = (x / 255 - mean) / std."""
    m, s = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    return (1 / (255 * s)).astype(np.float32), (-m / s).astype(np.float32)


def resize_frames(frames: np.ndarray, cfg: HybridConfig) -> np.ndarray:
    """RGB uint8 frames [T,h,w,3] -> uint8 [T,H,W,3] at the model's size, resize mode and filter."""
    return np.stack([resize_frame(f, cfg.image_size, cfg.resize_mode, cfg.interpolation) for f in frames])


def prepare(frames: np.ndarray, cfg: HybridConfig) -> np.ndarray:
    """RGB uint8 frames [T,h,w,3] -> normalised float32 [T,H,W,3], as the model's config says (size, resize
    mode, filter, mean/std): the one place these are read."""
    return normalise(resize_frames(frames, cfg), cfg.mean, cfg.std)


def preprocess(frames: np.ndarray, cfg: HybridConfig) -> torch.Tensor:
    """RGB uint8 frames [T,h,w,3] -> model input [T,3,H,W] (channels_last): `prepare` as a torch tensor."""
    import torch

    return torch.from_numpy(prepare(frames, cfg)).permute(0, 3, 1, 2)
