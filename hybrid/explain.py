"""What a prediction rests on, from the CNN's last feature maps: activation heat maps, Grad-CAM, ImageNet concepts.

All three read the maps the Recognizer already computed ([T,C',h,w], one per sampled frame): none runs the CNN
again. Grad-CAM back-propagates only through the spatial pooling and the RNN head (cheap).
"""

from __future__ import annotations

import numpy as np
import torch

from .model import HybridCNNRNN


def activation_maps(fmap: torch.Tensor) -> np.ndarray:
    """Where the CNN fired: mean squared activation per cell, [T,C',h,w] -> [T,h,w], each frame scaled to [0,1]."""
    energy = fmap.detach().float().pow(2).mean(1)  # [T,h,w]
    lo = energy.flatten(1).min(1).values[:, None, None]
    hi = energy.flatten(1).max(1).values[:, None, None]
    return ((energy - lo) / (hi - lo).clamp_min(1e-6)).numpy()


def grad_cam(model: HybridCNNRNN, fmap: torch.Tensor, class_index: int) -> np.ndarray:
    """Grad-CAM of the clip's class logit on every frame's last CNN map: [T,C',h,w] -> [T,h,w] in [0,1].

    One scale for the whole clip, so a frame that barely moved the decision stays dark.
    """
    with torch.enable_grad():
        f = fmap.detach().clone().float().requires_grad_(True)  # clone: a normal tensor, not an inference one
        out = model.forward_head(model.pool_frames(f)[None])
        out.logits[0, class_index].backward()
    weights = f.grad.mean((2, 3), keepdim=True)  # [T,C',1,1]
    cam = torch.relu((weights * f.detach()).sum(1))  # [T,h,w]
    return (cam / cam.max().clamp_min(1e-12)).numpy()


@torch.inference_mode()
def imagenet_concepts(
    model: HybridCNNRNN, fmap: torch.Tensor, names: list[str], k: int = 3
) -> list[list[tuple[str, float]]]:  # fmt: skip
    """The top-k ImageNet classes of each frame from the backbone's own classifier; [] when the backbone was
    fine-tuned (its classifier no longer reads the features it was trained on)."""
    if not model.config.imagenet_concepts:
        return []
    top = model.imagenet_logits(fmap).softmax(-1).topk(k)
    return [[(names[int(i)], float(p)) for p, i in zip(ps, ix)] for ps, ix in zip(top.values, top.indices)]
