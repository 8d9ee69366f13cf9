"""HybridCNNRNN: a 2D CNN encodes each frame, an RNN reads the frames in order, a linear head names the action.

Shapes: B clips, T frames, C=3, H x W pixels; D per-frame feature size; K classes.

    frames [B,T,3,H,W] --CNN--> fmap [B,T,C',h,w] --spatial pool--> feats [B,T,D]
    feats --LayerNorm, Linear--> [B,T,P] --GRU/LSTM--> out [B,T,H'] --causal pool--> [B,T,H'] --Linear--> [B,T,K]

Every step's logits use only frames up to that step (the temporal pooling is causal), so the
clip prediction is the last step's and `step()` reproduces the batched forward frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from . import openset
from .backbones import create_backbone
from .card import model_card
from .checkpoint import save_weights
from .config import HybridConfig
from .errors import ModelError
from .hub import load_model


@dataclass
class HeadOutput:
    logits: torch.Tensor  # [B,K] clip logits (= last step)
    step_logits: torch.Tensor  # [B,T,K] belief after each step
    attention: torch.Tensor  # [B,T] weight of each frame in the final pooled state


@dataclass
class ClipOutput(HeadOutput):
    feats: torch.Tensor  # [B,T,D] per-frame feature vectors
    fmap: torch.Tensor  # [B,T,C',h,w] last CNN feature map (for heat maps)


class TemporalHead(nn.Module):
    """Per-frame features [B,T,D] -> RNN -> causal pooling -> class logits at every step."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        proj_dim: int,
        rnn_type: str,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        temporal_pool: str,
        motion: bool = False,
        cells: tuple[int, int, int] | None = None,
    ):
        """cells: (C', number of grid cells, cell_dim) to project each cell's C' features to cell_dim first."""
        super().__init__()
        self.rnn_type, self.temporal_pool, self.bidirectional = rnn_type, temporal_pool, bidirectional
        self.motion = motion
        self.cells = None
        if cells is not None:  # one projection shared by every cell: [.., C'*n] -> [.., n, C'] -> [.., n * cell_dim]
            channels, n, cell_dim = cells
            self.cells = (channels, n)
            self.cell_proj = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, cell_dim), nn.GELU())
            in_dim = n * cell_dim
        if motion:  # each step also sees how the features changed since the previous frame
            in_dim *= 2
        self.norm = nn.LayerNorm(in_dim)
        self.proj = nn.Sequential(nn.Linear(in_dim, proj_dim), nn.GELU(), nn.Dropout(dropout))
        rnn_cls = nn.GRU if rnn_type == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            proj_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        out_dim = hidden_size * (2 if bidirectional else 1)
        self.score = nn.Linear(out_dim, 1) if temporal_pool == "attention" else None
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(out_dim, num_classes))

    def project_cells(self, feats: torch.Tensor) -> torch.Tensor:
        """[..., C'*n] pooled grid features (channel-major, as pool_frames makes them) -> [..., n*cell_dim]."""
        if self.cells is None:
            return feats
        channels, n = self.cells
        per_cell = feats.unflatten(-1, (channels, n)).transpose(-1, -2)  # [..., n, C']
        return self.cell_proj(per_cell).flatten(-2)

    def forward(self, feats: torch.Tensor) -> HeadOutput:
        feats = self.project_cells(feats)
        if self.motion:
            prev = torch.cat([feats[:, :1], feats[:, :-1]], 1)  # the first frame has no motion
            feats = torch.cat([feats, feats - prev], -1)  # [B,T,2D]
        out, _ = self.rnn(self.proj(self.norm(feats)))  # [B,T,H']
        B, T, _ = out.shape
        causal = torch.ones(T, T, dtype=torch.bool, device=out.device).tril()  # [t, i]: i <= t
        if self.temporal_pool == "last":
            weights = torch.eye(T, device=out.device).expand(B, T, T)
        else:
            scores = self.score(out).squeeze(-1) if self.score is not None else out.new_zeros(B, T)
            weights = scores[:, None, :].masked_fill(~causal, float("-inf")).softmax(-1)  # [B,T,T]
        pooled = weights @ out  # [B,T,H']
        step_logits = self.classifier(pooled)  # [B,T,K]
        return HeadOutput(logits=step_logits[:, -1], step_logits=step_logits, attention=weights[:, -1])

    def step(self, feat: torch.Tensor, state: dict[str, Any] | None) -> tuple[torch.Tensor, dict[str, Any]]:
        """One frame's features [B,D] + previous state -> logits [B,K] + new state (causal heads only)."""
        if self.bidirectional:
            raise ModelError("a bidirectional RNN needs the whole clip; it cannot stream frame by frame")
        state = dict(state or {})
        feat = self.project_cells(feat)
        if self.motion:
            prev = state.get("prev", feat)
            state["prev"] = feat
            feat = torch.cat([feat, feat - prev], -1)
        x = self.proj(self.norm(feat))[:, None]  # [B,1,P]
        out, state["rnn"] = self.rnn(x, state.get("rnn"))
        h = out[:, 0]  # [B,H']
        if self.temporal_pool == "last":
            pooled = h
        else:
            # running softmax: m = max score so far, s = sum exp(score - m), v = sum exp(score - m) * h
            a = self.score(h).squeeze(-1) if self.score is not None else h.new_zeros(h.shape[0])
            m_old = state.get("m", torch.full_like(a, float("-inf")))
            m = torch.maximum(m_old, a)
            decay, w = torch.exp(m_old - m), torch.exp(a - m)
            s = state.get("s", torch.zeros_like(a)) * decay + w
            v = state.get("v", torch.zeros_like(h)) * decay[:, None] + w[:, None] * h
            state.update(m=m, s=s, v=v)
            pooled = v / s[:, None]
        return self.classifier(pooled), state


class HeadEnsemble(nn.Module):
    """Several temporal heads trained side by side on the same features; their logits are averaged.

    The heads are tiny next to the CNN, so an ensemble costs almost nothing at inference.
    """

    def __init__(self, heads: list[TemporalHead]):
        super().__init__()
        self.members = nn.ModuleList(heads)

    def forward_members(self, feats: torch.Tensor) -> list[HeadOutput]:
        return [h(feats) for h in self.members]

    def forward(self, feats: torch.Tensor) -> HeadOutput:
        outs = self.forward_members(feats)
        step_logits = torch.stack([o.step_logits for o in outs]).mean(0)
        attention = torch.stack([o.attention for o in outs]).mean(0)
        return HeadOutput(logits=step_logits[:, -1], step_logits=step_logits, attention=attention)

    def step(self, feat: torch.Tensor, state: dict[str, Any] | None) -> tuple[torch.Tensor, dict[str, Any]]:
        states = (state or {}).get("members") or [None] * len(self.members)
        results = [h.step(feat, s) for h, s in zip(self.members, states)]
        return torch.stack([r[0] for r in results]).mean(0), {"members": [r[1] for r in results]}


class HybridCNNRNN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="hybrid",  # the card's metadata and tags come from card.py (generate_model_card below)
):
    """CNN per frame + RNN over time, built from one HybridConfig (what config.json holds).

    HybridCNNRNN(config) or HybridCNNRNN(labels=[...], num_frames=8, ...) (the fields of HybridConfig);
    HybridCNNRNN(config, backbone_pretrained=...) replaces fields of `config`.
    """

    def __init__(self, config: HybridConfig | None = None, **fields: Any):
        super().__init__()
        cfg = replace(config, **fields) if config is not None else HybridConfig(**fields)
        if not cfg.labels:
            raise ModelError("a model needs labels: a non-empty list of class names")
        self.config = cfg  # frozen: every field checked and normalised (config.py)
        self._hub_mixin_config = cfg.to_dict()  # config.json (PyTorchModelHubMixin writes this attribute)
        self.backbone = create_backbone(cfg.backbone, cfg.backbone_pretrained)
        rows, cols = cfg.grid
        self.feature_dim = self.backbone.num_features * rows * cols  # D
        heads = [
            TemporalHead(
                self.feature_dim,
                len(cfg.labels),
                cfg.proj_dim,
                cfg.rnn_type,
                cfg.hidden_size,
                cfg.num_layers,
                cfg.bidirectional,
                cfg.dropout,
                cfg.temporal_pool,
                cfg.motion,
                (self.backbone.num_features, rows * cols, cfg.cell_dim) if cfg.cell_dim else None,
            )
            for _ in range(cfg.num_heads)
        ]
        self.head: TemporalHead | HeadEnsemble = heads[0] if len(heads) == 1 else HeadEnsemble(heads)
        if cfg.openset_exemplars:  # the training clips' mean frame features [M,D] (openset.py), saved with the weights
            self.register_buffer("openset_exemplars", torch.zeros(cfg.openset_exemplars, self.feature_dim))

    @property
    def labels(self) -> list[str]:
        """Class names, in logit order."""
        return list(self.config.labels)

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def image_size(self) -> tuple[int, int]:
        return self.config.image_size

    # --- CNN half -------------------------------------------------------------------------
    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames [N,3,H,W] -> last CNN feature map [N,C',h,w]."""
        return self.backbone.forward_features(x)

    def pool_frames(self, fmap: torch.Tensor) -> torch.Tensor:
        """[N,C',h,w] -> per-frame feature vectors [N,D] (global or grid average pooling).

        The grid is adaptive average pooling (cell i spans floor(i*h/rows) to ceil((i+1)*h/rows)), written as
        slices so that it exports to ONNX for any map size (the exporter refuses sizes that don't divide)."""
        rows, cols = self.config.grid
        if (rows, cols) == (1, 1):
            return fmap.mean((2, 3))
        h, w = fmap.shape[-2:]
        ys = [(i * h // rows, -(-(i + 1) * h // rows)) for i in range(rows)]
        xs = [(j * w // cols, -(-(j + 1) * w // cols)) for j in range(cols)]
        cells = [fmap[:, :, y0:y1, x0:x1].mean((2, 3)) for y0, y1 in ys for x0, x1 in xs]  # rows*cols x [N,C']
        return torch.stack(cells, -1).flatten(1)  # [N, C' * rows * cols], adaptive_avg_pool2d's order

    def imagenet_logits(self, fmap: torch.Tensor) -> torch.Tensor:
        """[N,C',h,w] -> ImageNet-1k logits [N,1000] from the backbone's own classifier."""
        return self.backbone.forward_head(fmap)

    def forward_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B,T,3,H,W] -> (feats [B,T,D], fmap [B,T,C',h,w])."""
        B, T = frames.shape[:2]
        fmap = self.frame_maps(frames.flatten(0, 1))
        feats = self.pool_frames(fmap)
        return feats.view(B, T, -1), fmap.view(B, T, *fmap.shape[1:])

    # --- RNN half -------------------------------------------------------------------------
    def forward_head(self, feats: torch.Tensor) -> HeadOutput:
        """feats [B,T,D] -> clip logits [B,K], per-step logits [B,T,K], attention [B,T]."""
        return self.head(feats)

    def step(self, feat: torch.Tensor, state: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Streaming: one frame's features [B,D] + state -> (logits [B,K], state)."""
        return self.head.step(feat, state)

    def similarity(self, feats: torch.Tensor) -> float | None:
        """One clip's per-frame features [T,D] -> cosine similarity of their mean to the nearest training clip's
        (openset.similarity); None when the model stores no exemplars."""
        if not self.config.openset_exemplars:
            return None
        return float(openset.similarity(feats, self.openset_exemplars))

    def forward(self, frames: torch.Tensor) -> ClipOutput:
        feats, fmap = self.forward_features(frames)
        out = self.forward_head(feats)
        return ClipOutput(out.logits, out.step_logits, out.attention, feats=feats, fmap=fmap)

    # --- persistence (checkpoint.py, hub.py and card.py never import this module: they build `cls`) ------------
    def _save_pretrained(self, save_directory) -> None:
        save_weights(self, save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> HybridCNNRNN:  # type: ignore[override]
        """Local folder or Hub repo id -> model (safetensors only, config validated, never remote code).

        kwargs for Hub loads: revision, cache_dir, local_files_only, token, force_download."""
        return load_model(pretrained_model_name_or_path, cls, **kwargs)

    def generate_model_card(self, details: dict[str, Any] | None = None, **kwargs: Any):
        """README.md; `save_pretrained(dir, model_card_kwargs={"details": {...}})` passes training details.

        See card.model_card for the keys (data, protocol, metrics, speed, limits, intended_use, reproduce...).
        """
        return model_card(self.config, {**kwargs, **(details or {})})
