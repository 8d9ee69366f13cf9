"""Recipe: everything that decides a trained model (saved beside it as training.json), without importing torch.

The CLI builds one --flag per field from this dataclass, so `python -m hybrid --help` and a refused file stay
light; hybrid/train.py does the training.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .config import LITE0
from .errors import ConfigError, shorten


@dataclass
class Recipe:
    """Everything that decides the trained model (saved next to it for reproducibility)."""

    labels: list[str] | None = None  # None: every class folder found
    group_pattern: str = ""
    backbone: str = LITE0
    num_frames: int = 16
    image_size: tuple[int, int] = (224, 224)
    resize_mode: str = "squash"
    spatial_pool: str = "avg"
    rnn_type: str = "gru"
    hidden_size: int = 256
    proj_dim: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    temporal_pool: str = "attention"
    motion: bool = False  # feed feature differences between frames too
    num_heads: int = 1  # an ensemble of temporal heads (logits averaged)
    dropout: float = 0.3
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    step_loss: float = 0.0  # weight of the loss on every step's belief (teaches early decisions)
    jitter: bool = True
    grid: int = 64  # frames decoded and encoded per clip
    aug_copies: int = 4
    flip: bool = True  # a horizontal flip must not change the class (False for left/right gestures)
    crop: bool = True
    color: bool = True
    val_groups: int = 0  # groups held out for early stopping (0: train the full `epochs`)
    patience: int = 15
    seed: int = 0
    storage_dtype: str = "float16"
    finetune: int = 0  # trailing backbone units trained: 0 frozen, 1 the head conv, 2 + the last block stage...
    backbone_lr: float = 1e-4  # peak learning rate of those units

    def updated(self, spec: dict[str, Any]) -> Recipe:
        """A copy with the fields in `spec` (JSON values: lists where tuples are meant) replaced."""
        names = {f.name for f in fields(Recipe)}
        unknown = sorted(set(spec) - names)
        if unknown:
            raise ConfigError(f"unknown recipe fields: {', '.join(shorten(k) for k in unknown)}")
        return replace(self, **{k: tuple(v) if k == "image_size" else v for k, v in spec.items()})

    def model_kwargs(self, labels: list[str]) -> dict[str, Any]:
        return dict(
            labels=labels,
            backbone=self.backbone,
            num_frames=self.num_frames,
            image_size=list(self.image_size),
            resize_mode=self.resize_mode,
            spatial_pool=self.spatial_pool,
            proj_dim=self.proj_dim,
            rnn_type=self.rnn_type,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            temporal_pool=self.temporal_pool,
            motion=self.motion,
            num_heads=self.num_heads,
            storage_dtype=self.storage_dtype,
            imagenet_concepts=self.finetune == 0,
        )
