"""Recipe: everything that decides a trained model (saved beside it as training.json), without importing torch.

A recipe is the model to build (`model`, a HybridConfig whose labels come from the data) plus how to train it.
The CLI builds one --flag per field of both from these dataclasses, so `python -m hybrid --help` and a refused
file stay light; hybrid/train.py does the training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from .config import HybridConfig
from .errors import ConfigError, ModelError, shorten

# Model fields a recipe may set: labels and the clips' typical length come from the data, the backbone's starting
# weights and whether its ImageNet classifier still applies from how it is trained, the open-set thresholds from
# held-out folds (and the exemplars from the training clips).
_NOT_RECIPE = ("labels", "clip_seconds", "backbone_pretrained", "imagenet_concepts", "openset_threshold",
               "openset_exemplars", "openset_similarity")  # fmt: skip
MODEL_FIELDS = tuple(f.name for f in fields(HybridConfig) if f.name not in _NOT_RECIPE)
# Trained here: more dropout than the bare default, weights stored as float16 (half the file, same answers).
TRAINED_MODEL = HybridConfig(labels=(), dropout=0.3, storage_dtype="float16")


@dataclass
class Recipe:
    """Everything that decides the trained model (saved next to it for reproducibility)."""

    model: HybridConfig = TRAINED_MODEL  # frozen, so one default is safe to share
    labels: list[str] | None = None  # the classes to train (None: every class folder found)
    group_pattern: str = ""
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
    # Label-mapping augmentations for classes whose meaning a mirror or time reversal changes, as "a=b,c": a
    # mirrored (or reversed) clip of a is one of b and the other way round, one of c stays c; classes not named
    # are never mirrored (reversed). Mirroring this way computes mirrored features (with flip off); reversing
    # plays the sampled frames backwards at no CNN cost.
    mirror_labels: str = ""
    reverse_labels: str = ""
    crop: bool = True
    color: bool = True
    val_groups: int = 0  # groups held out for early stopping (0: train the full `epochs`)
    patience: int = 15
    seed: int = 0
    finetune: int = 0  # trailing backbone units trained: 0 frozen, 1 the head conv, 2 + the last block stage...
    backbone_lr: float = 1e-4  # peak learning rate of those units

    def __post_init__(self) -> None:
        for name in ("mirror_labels", "reverse_labels"):
            label_swaps(getattr(self, name), None, name)  # the syntax now, the class names when the data is known
        if self.flip and self.mirror_labels:
            raise ConfigError("flip keeps every class under a mirror and mirror_labels maps some: choose one")

    def updated(self, spec: dict[str, Any]) -> Recipe:
        """A copy with the fields in `spec` replaced: training fields, model fields (flat, as a training.json of
        older releases and the CLI give them, or nested under "model"); JSON lists where tuples are meant."""
        spec = dict(spec)
        model = dict(spec.pop("model", None) or {})
        model.update({k: spec.pop(k) for k in list(spec) if k in MODEL_FIELDS})
        model.pop("labels", None)  # set from the data, never from a recipe
        train_names = {f.name for f in fields(Recipe)} - {"model"}
        unknown = sorted((set(spec) - train_names) | (set(model) - set(MODEL_FIELDS)))
        if unknown:
            raise ConfigError(f"unknown recipe fields: {', '.join(shorten(k) for k in unknown)}")
        try:
            cfg = replace(self.model, **model) if model else self.model
        except ModelError as e:
            raise ConfigError(f"recipe: {e}") from e
        return replace(self, model=cfg, **spec)

    @property
    def num_frames(self) -> int:
        """Frames the model reads per clip (the model's field)."""
        return self.model.num_frames

    def model_config(self, labels: list[str], backbone_pretrained: str | None = None,
                     clip_seconds: float = 0.0) -> HybridConfig:  # fmt: skip
        """The config of the model this recipe trains on these classes (clips of about clip_seconds)."""
        return replace(self.model, labels=tuple(labels), backbone_pretrained=backbone_pretrained,
                       imagenet_concepts=self.finetune == 0, clip_seconds=clip_seconds)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON types; the model's fields under "model" (what training.json holds)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        model = self.model.to_dict()
        return {"model": {k: model[k] for k in MODEL_FIELDS}, **out}


def label_swaps(spec: str, labels: Sequence[str] | None, what: str = "label map") -> dict[str, str]:
    """'left=right,up' -> {"left": "right", "right": "left", "up": "up"}: what a mirrored or reversed clip of each
    named class is (a swap goes both ways; a bare name keeps its class). With `labels`, every name must be one."""
    if not isinstance(spec, str):
        raise ConfigError(f"{what} must be a string like 'left=right,up', not {shorten(repr(spec))}")
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        names = [n.strip() for n in item.split("=")]
        if len(names) > 2 or not all(names):
            raise ConfigError(f"{what}: {shorten(item)!r} is neither 'a=b' nor a class name")
        a, b = names if len(names) == 2 else names * 2
        for x, y in ((a, b), (b, a)):
            if out.get(x, y) != y:
                raise ConfigError(f"{what}: {shorten(x)!r} is mapped twice")
            out[x] = y
    unknown = sorted(set(out) - set(labels)) if labels is not None else []
    if unknown:
        raise ConfigError(f"{what}: no class {', '.join(shorten(n) for n in unknown)} (classes: {', '.join(labels)})")
    return out
