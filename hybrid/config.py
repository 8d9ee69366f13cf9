"""HybridConfig: every field of a model (what its config.json holds), with its type, default and check.

A config.json may come from any Hub repo, so it is hostile input: unknown keys, values of the wrong type
("num_frames": "600"), sizes that would allocate gigabytes, NaN means, are refused here, before anything
is built. Python callers get the same checks (numpy numbers are accepted and converted).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ModelError, shorten

LITE0 = "tf_efficientnet_lite0"
RNN_TYPES = ("gru", "lstm")
TEMPORAL_POOLS = ("last", "mean", "attention")
RESIZE_MODES = ("squash", "center_crop", "letterbox")
INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "area")  # see transforms.py
OPENSET_SCORES = ("maxprob", "maxlogit", "energy")  # see openset.py
STORAGE_DTYPES = ("float32", "float16")  # dtype of model.safetensors (float16 halves the file)
# Upper bounds on sizes: a hostile config.json must not make the app allocate gigabytes before any weight
# is read. Far above any model this project trains.
MAX_SIZES = {"labels": 10_000, "num_frames": 512, "image_size": 2048, "proj_dim": 4096, "hidden_size": 4096,
             "num_layers": 8, "num_heads": 16, "openset_exemplars": 10_000, "cell_dim": 4096}  # fmt: skip
MAX_CLIP_SECONDS = 600.0
# the span of video behind each live answer where a config gives no clip_seconds, and a timeline's default window
# (checked by benchmarks/live_agreement.py)
DEFAULT_WINDOW_S = 4.0
MAX_GRID = 8  # spatial_pool "RxC": at most this many cells per side
_LABEL = re.compile(r"[^\x00-\x1f\x7f<>`\\]{1,100}")  # a class name: shown in markdown and HTML as it is


@dataclass(frozen=True)
class HybridConfig:
    labels: tuple[str, ...]  # class names, in logit order (empty only in a template, e.g. a training recipe's)
    backbone: str = LITE0  # a timm architecture name
    backbone_pretrained: str | bool | None = None  # None: weights come from model.safetensors
    num_frames: int = 16  # T frames sampled uniformly over a clip
    # how long the clips it was trained on are (three in four at most this long; 0: unknown): what a live answer reads
    clip_seconds: float = 0.0
    image_size: tuple[int, int] = (224, 224)  # (H, W) fed to the CNN
    resize_mode: str = "squash"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"
    spatial_pool: str = "avg"  # "avg" or an "RxC" grid of average-pooled cells
    # > 0: each cell's C' features go through one shared LayerNorm + Linear(C', cell_dim) + GELU before the head, so a
    # fine grid reaches the head as cells x cell_dim numbers, not cells x C' (3x3 of Lite0: 288 instead of 11 520)
    cell_dim: int = 0
    proj_dim: int = 256
    rnn_type: str = "gru"
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.2
    temporal_pool: str = "attention"
    motion: bool = False  # each step also sees how the features changed since the previous frame
    num_heads: int = 1  # an ensemble of temporal heads (logits averaged)
    storage_dtype: str = "float32"
    # False once the backbone's last stages were fine-tuned: its ImageNet classifier no longer reads the
    # features it was trained on (measured: 12 % top-1 agreement, near-uniform probabilities)
    imagenet_concepts: bool = True
    # "not one of the actions I know": the clip's open-set score (openset.py) below the threshold; None: the
    # model has no calibrated threshold (older models), so no such decision is made
    openset_score: str = "maxprob"
    openset_threshold: float | None = None
    # ... or the clip's look unlike every training clip: the cosine similarity of its mean frame feature to the
    # nearest of `openset_exemplars` stored ones (model.safetensors) below `openset_similarity` (None: no such gate)
    openset_exemplars: int = 0
    openset_similarity: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        labels = self.labels
        if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
            raise ModelError("labels must be a list of class names (strings)")
        set_(self, "labels", tuple(labels))
        for name in ("backbone", "resize_mode", "interpolation", "spatial_pool", "rnn_type", "temporal_pool",
                     "storage_dtype", "openset_score"):  # fmt: skip
            if not isinstance(getattr(self, name), str):
                raise _bad(name, getattr(self, name), "a string")
        if self.backbone_pretrained is not None and not isinstance(self.backbone_pretrained, (str, bool)):
            raise _bad("backbone_pretrained", self.backbone_pretrained, "a string, true/false or null")
        for name in ("num_frames", "proj_dim", "hidden_size", "num_layers", "num_heads", "openset_exemplars",
                     "cell_dim"):  # fmt: skip
            set_(self, name, _int(name, getattr(self, name)))
        for name in ("bidirectional", "motion", "imagenet_concepts"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, getattr(self, name), "true or false")
        set_(self, "dropout", _float("dropout", self.dropout))
        set_(self, "clip_seconds", _float("clip_seconds", self.clip_seconds))
        for name in ("openset_threshold", "openset_similarity"):
            if getattr(self, name) is not None:
                set_(self, name, _float(name, getattr(self, name)))
        set_(self, "image_size", _seq("image_size", self.image_size, 2, _int))
        set_(self, "mean", _seq("mean", self.mean, 3, _float))
        set_(self, "std", _seq("std", self.std, 3, _float))
        self._check_values()

    def _check_values(self) -> None:
        sizes = {"labels": len(self.labels), "image_size": max(self.image_size)}
        for key, limit in MAX_SIZES.items():
            value = sizes.get(key, getattr(self, key, None))
            if value > limit:
                raise ModelError(f"{key} = {value} is over the limit of {limit} (refused before building the model)")
        if len(set(self.labels)) != len(self.labels):
            raise ModelError("labels must be a list of distinct class names")
        bad = next((x for x in self.labels if not _LABEL.fullmatch(x)), None)
        if bad is not None:  # names are shown in markdown and HTML: no markup, no control characters
            raise ModelError(f"label {shorten(repr(bad))} is not a class name (1-100 characters, no <>`\\ or control)")
        for name, allowed in (("rnn_type", RNN_TYPES), ("temporal_pool", TEMPORAL_POOLS),
                              ("resize_mode", RESIZE_MODES), ("interpolation", INTERPOLATIONS),
                              ("storage_dtype", STORAGE_DTYPES), ("openset_score", OPENSET_SCORES)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ModelError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if not 0 <= self.clip_seconds <= MAX_CLIP_SECONDS:
            raise ModelError(f"clip_seconds must be in [0, {MAX_CLIP_SECONDS:g}] (0: unknown)")
        if self.cell_dim < 0:
            raise ModelError("cell_dim must be >= 0 (0: no per-cell projection)")
        if self.openset_exemplars < 0 or (self.openset_similarity is not None and not self.openset_exemplars):
            raise ModelError("openset_similarity needs openset_exemplars >= 1 stored clip features")
        if self.num_frames < 1 or min(self.image_size) < 32:
            raise ModelError("num_frames must be >= 1 and image_size [H, W] at least 32 px")
        if min(self.std) <= 0:
            raise ModelError("mean and std need 3 values (RGB), std > 0")
        if min(self.proj_dim, self.hidden_size, self.num_layers, self.num_heads) < 1 or not 0 <= self.dropout < 1:
            raise ModelError("proj_dim, hidden_size, num_layers, num_heads must be >= 1 and dropout in [0, 1)")
        self.grid  # noqa: B018 - checks spatial_pool

    @property
    def grid(self) -> tuple[int, int]:
        """spatial_pool as (rows, cols): 'avg' -> (1, 1); '2x3' -> 2 rows x 3 columns of cells."""
        return parse_spatial_pool(self.spatial_pool)

    @classmethod
    def from_dict(cls, data: Any) -> HybridConfig:
        """A parsed config.json -> config; unknown keys, wrong types and out-of-range values are refused."""
        if not isinstance(data, dict):
            raise ModelError("not a hybrid model config (a JSON object is expected)")
        labels = data.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise ModelError("not a hybrid model config (no 'labels' list of class names)")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ModelError(f"not a hybrid model config (unknown keys: {', '.join(shorten(k) for k in unknown)})")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON types (lists for tuples): what config.json holds."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def parse_spatial_pool(spec: str) -> tuple[int, int]:
    """'avg' -> (1, 1); '2x3' -> 2 rows x 3 columns of average-pooled cells."""
    if spec == "avg":
        return (1, 1)
    try:
        rows, cols = (int(v) for v in spec.lower().split("x"))
    except ValueError as e:
        raise ModelError(f"spatial_pool must be 'avg' or 'RxC' (e.g. '1x3'), not {shorten(spec)!r}") from e
    if not (1 <= rows <= MAX_GRID and 1 <= cols <= MAX_GRID):
        raise ModelError(f"spatial_pool grid {spec!r} out of range (1..{MAX_GRID} per side)")
    return rows, cols


def _bad(name: str, value: Any, expected: str) -> ModelError:
    return ModelError(f"{name} has a bad value: expected {expected}, got {type(value).__name__} {shorten(repr(value))}")


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(name, value, "an integer")
    return int(value)


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise _bad(name, value, "a finite number")
    return float(value)


def _seq(name: str, value: Any, n: int, item) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != n:
        raise _bad(name, value, f"a list of {n} numbers")
    return tuple(item(name, v) for v in value)
