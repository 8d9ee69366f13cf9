"""The model card (README.md) a trained model carries: config-derived facts plus what training knows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import HybridConfig
from .model_dir import CONFIG_NAME, WEIGHTS_NAME

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

# details key -> section title, in card order. Values: markdown text, a dict (-> table) or a list (-> bullets).
CARD_SECTIONS = {
    "data": "Training data",
    "protocol": "Evaluation protocol",
    "metrics": "Metrics",
    "open_set": "Not one of these: the open-set gates",
    "speed": "Speed",
    "limits": "Limits",
    "intended_use": "Intended use",
    "reproduce": "How to reproduce",
}
_ALIASES = {"training_data": "data", "evaluation": "metrics", "how_to_reproduce": "reproduce"}
_META_KEYS = ("title", "summary", "datasets", "repo_id")


def _card_key(key: str) -> str:
    k = re.sub(r"[\s-]+", "_", str(key).strip().lower())
    return _ALIASES.get(k, k)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _render(value: Any) -> str:
    if isinstance(value, dict):
        rows = [f"| {k} | {_fmt(v)} |" for k, v in value.items()]
        return "\n".join(["| name | value |", "|---|---|", *rows])
    if isinstance(value, (list, tuple)):
        return "\n".join(f"- {_fmt(v)}" for v in value)
    return str(value).strip()


def model_card(config: HybridConfig, details: dict[str, Any] | None = None) -> ModelCard:
    """The model card (README.md): config-derived facts plus what training knows.

    `details` (all optional): title, summary, datasets (Hub dataset ids, for the card's metadata), repo_id,
    data, protocol, metrics, speed, limits, intended_use, reproduce. Other keys become extra sections.
    """
    from huggingface_hub import ModelCard, ModelCardData

    c = config
    d = {_card_key(k): v for k, v in (details or {}).items() if v not in (None, "", [], {})}
    metrics = d.get("metrics")
    data = ModelCardData(
        library_name="hybrid",
        license="apache-2.0",
        pipeline_tag="video-classification",
        tags=["video-classification", "action-recognition", "cnn-rnn", "pytorch", "safetensors"],
        datasets=list(d["datasets"]) if isinstance(d.get("datasets"), (list, tuple)) else d.get("datasets"),
        metrics=[k for k, v in metrics.items() if isinstance(v, (int, float))] if isinstance(metrics, dict) else None,
    )
    rnn = f"{'bi-' if c.bidirectional else ''}{c.rnn_type.upper()}"
    h, w = c.image_size
    lines = [
        f"# {d.get('title', 'Hybrid CNN-RNN action recognition')}",
        "",
        str(d.get("summary", "A 2D CNN encodes each sampled frame; an RNN reads the frames in order; "
                             "a linear head names the action.")),
        "",
        "## Model",
        f"- Backbone: `{c.backbone}` (per frame, spatial pool `{c.spatial_pool}`)",
        f"- Temporal head: {rnn}, hidden {c.hidden_size}, layers {c.num_layers}, "
        f"pooling `{c.temporal_pool}` (every step's prediction uses only the frames so far"
        f"{'' if not c.bidirectional else ', except with a bidirectional RNN'})",
        f"- Input: {c.num_frames} frames sampled uniformly over the clip, {h}x{w} ({c.resize_mode}, "
        f"{c.interpolation}), mean {list(c.mean)}, std {list(c.std)}",
        f"- Weights: `{WEIGHTS_NAME}` ({c.storage_dtype}); config: `{CONFIG_NAME}`",
        "",
        f"## Classes ({len(c.labels)})",
        ", ".join(f"`{x}`" for x in c.labels),
        "",
    ]  # fmt: skip
    extra = [k for k in d if k not in CARD_SECTIONS and k not in _META_KEYS]
    for key in [*CARD_SECTIONS, *extra]:
        if key in d:
            lines += [f"## {CARD_SECTIONS.get(key, key.replace('_', ' ').capitalize())}", _render(d[key]), ""]
    where = d.get("repo_id", "<this repo or folder>")
    lines += [
        "## Use",
        "```bash",
        "pip install -r requirements.txt   # in the hybrid project",
        f"python -m hybrid predict clip.mp4 --model {where}",
        "```",
        "```python",
        "from hybrid import HybridCNNRNN",
        "from hybrid.pipeline import Recognizer",
        f'pred = Recognizer(HybridCNNRNN.from_pretrained("{where}"))("clip.mp4")',
        "```",
        "",
        f"Made with hybrid {__version__}. Only safetensors weights; no remote code.",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
