"""Frames -> model input, driven by the model's own config (size, resize mode, mean/std, filter)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .config import HybridConfig

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


def to_tensor(frames: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 [T,H,W,3] -> normalised float [T,3,H,W] in channels_last memory."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous(memory_format=torch.channels_last)


def preprocess(frames: np.ndarray, cfg: HybridConfig) -> torch.Tensor:
    """RGB uint8 frames [T,h,w,3] -> model input [T,3,H,W], as the model's config says (size, resize mode,
    filter, mean/std): the one place these are read."""
    resized = np.stack([resize_frame(f, cfg.image_size, cfg.resize_mode, cfg.interpolation) for f in frames])
    return to_tensor(resized, cfg.mean, cfg.std)
