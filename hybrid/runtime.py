"""Faster engines for the per-frame CNN: the backbone exported to ONNX, run by OpenVINO.

PyTorch (`model.frame_maps`) stays the reference and the fallback. The OpenVINO engine runs the
same network, exported once per set of backbone weights and cached as an ONNX file:

    <cache>/cnn-<sha256 of backbone weights + input size>.onnx    (<cache> = $HYBRID_CACHE or ~/.cache/hybrid)

Engines take the normalised frames the Recognizer already makes ([N,3,H,W], channels_last) and
return the last feature map [N,C',h,w] as a torch tensor, so pooling, heat maps, ImageNet concepts
and the RNN are untouched. The exported graph takes NHWC input: a channels_last tensor is NHWC in
memory, so it goes in without a copy.

Precision: "fp32" matches PyTorch to ~1e-5. "bf16" lets OpenVINO compute in bfloat16 where the CPU
does it natively (AVX512-BF16 or AMX; elsewhere it runs fp32): ~1.8x faster here, features at cosine
~0.998 to fp32, yet 8 % of frames changed their ImageNet top-1 (benchmarks/accuracy.py): opt-in, to be
checked per model. int8 (NNCF) was measured too: more change, no faster than bf16; not offered.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from . import openset
from .compiled import HEAD_OUTPUTS, cache_paths, compile_network, default_cache_dir, engine_settings
from .errors import ConfigError, shorten
from .model import HybridCNNRNN
from .transforms import scale_shift

log = logging.getLogger(__name__)

MAX_BATCH = 2  # frames per OpenVINO call: bounds activation memory (~40 MB) at the same speed
EXPORT_VERSION = "1"  # bump when the exported graph changes, so old cache files are not reused


class CNNEngine(Protocol):
    name: str  # "torch" or "openvino"
    precision: str

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames [N,3,H,W] -> last CNN feature map [N,C',h,w] (float32)."""
        ...


class TorchEngine:
    """The reference: the model's own backbone (channels_last, under the caller's inference_mode).

    `net` runs instead of the whole backbone when given (training caches the activations entering the
    fine-tuned units); `device` and `batch` move frames there in chunks (the output stays on `device`).
    """

    name, precision = "torch", "fp32"

    def __init__(
        self, model: HybridCNNRNN, device: str | None = None, batch: int | None = None, net: nn.Module | None = None
    ):  # fmt: skip
        self.model, self.device, self.batch = model, device, batch
        self.net = net if net is not None else model.frame_maps

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        if self.device is None and self.batch is None:
            return self.net(x)
        step = self.batch or len(x)
        return torch.cat([self.net(x[i : i + step].to(self.device, non_blocking=True)) for i in range(0, len(x), step)])


class _NHWCBackbone(nn.Module):
    """[N,H,W,3] -> backbone.forward_features([N,3,H,W]): the graph that gets exported."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x.permute(0, 3, 1, 2))


def backbone_key(model: HybridCNNRNN) -> str:
    """Hash of everything the exported graph depends on: backbone name, weights, input size."""
    h = hashlib.sha256(f"{EXPORT_VERSION}|{model.config.backbone}|{model.image_size}".encode())
    for name, t in sorted(model.backbone.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


class _FrameFeatures(nn.Module):
    """Resized RGB uint8 frames [N,H,W,3] -> per-frame features [N,D]: the config's normalisation (as
    transforms.normalise), the CNN, the spatial pool. compiled.py's "frames" graph."""

    def __init__(self, model: HybridCNNRNN):
        super().__init__()
        self.model = model
        scale, shift = scale_shift(model.config.mean, model.config.std)
        self.register_buffer("scale", torch.from_numpy(scale), persistent=False)
        self.register_buffer("shift", torch.from_numpy(shift), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = x.float() * self.scale + self.shift  # [N,H,W,3]
        return m.pool_frames(m.frame_maps(x.permute(0, 3, 1, 2)))


class _Head(nn.Module):
    """Per-frame features [T,D] -> compiled.HEAD_OUTPUTS: the clip's probabilities [K], step_probs [T,K], attention
    [T], the open-set score [] and the similarity to the nearest training clip [] (0 when the model stores no
    exemplars). compiled.py's "head" graph."""

    def __init__(self, model: HybridCNNRNN):
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor):
        m = self.model
        out = m.forward_head(feats[None])
        logits = out.logits[0].float()
        score = openset.score(logits, m.config.openset_score)
        sim = openset.similarity(feats, m.openset_exemplars) if m.config.openset_exemplars else score * 0
        return logits.softmax(-1), out.step_logits[0].softmax(-1), out.attention[0], score, sim


def _export(
    net: nn.Module, example: torch.Tensor, path: Path, names: tuple[str, tuple[str, ...]], dynamic: bool
) -> Path:  # fmt: skip
    """Write `net` as an ONNX file (names: its input's and its outputs'), atomically: a unique temporary name,
    then renamed. dynamic: the first axis of the input and of every output is free."""
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    given, outputs = names
    axes = {given: {0: "n"}, **{name: {0: "n"} for name in outputs}} if dynamic else None
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation; it is the fast one
        torch.onnx.export(
            net.eval(), (example,), str(tmp), input_names=[given], output_names=list(outputs),
            dynamic_axes=axes, dynamo=False,
        )  # fmt: skip
    os.replace(tmp, path)
    return path


def export_onnx(model: HybridCNNRNN, path: str | os.PathLike) -> Path:
    """Write the backbone (NHWC float input, dynamic batch) as an ONNX file, atomically."""
    H, W = model.image_size
    return _export(_NHWCBackbone(model.backbone), torch.zeros(2, H, W, 3), Path(path), ("frames", ("fmap",)), True)


def export_compiled(model: HybridCNNRNN, paths: dict[str, Path]) -> dict[str, Path]:
    """Write compiled.py's two graphs of `model` to paths["frames"] and paths["head"] (ONNX, each atomically)."""
    H, W = model.image_size
    frames = torch.zeros(2, H, W, 3, dtype=torch.uint8)
    _export(_FrameFeatures(model), frames, paths["frames"], ("frames", ("feats",)), dynamic=True)
    feats = torch.zeros(model.num_frames, model.feature_dim)
    _export(_Head(model), feats, paths["head"], ("feats", HEAD_OUTPUTS), dynamic=False)
    return paths


def save_compiled(model: HybridCNNRNN, folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
    """Export `model`, loaded from `folder`, for compiled.CompiledModel.cached(folder): the next process predicts
    without torch. Returns {part: file}, or None when they can't be written (no OpenVINO, a read-only cache)."""
    if not openvino_available():
        return None
    try:
        paths = cache_paths(folder, cache_dir)
        if not all(p.is_file() for p in paths.values()):
            paths["head"].parent.mkdir(parents=True, exist_ok=True)
            export_compiled(model, paths)
        return paths
    except Exception as e:  # noqa: BLE001 - a cache is an optimisation: the answer was given already
        first = shorten(str(e).split("\n")[0])  # exporter errors carry the whole traced graph after line 1
        log.warning("could not save the compiled model (%s); the next start will be the slow one", first)
        return None


def cached_onnx(model: HybridCNNRNN, cache_dir: str | os.PathLike | None = None) -> Path:
    """The model's backbone as ONNX, exported on first use and then read from the cache."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"cnn-{backbone_key(model)}.onnx"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        export_onnx(model, path)
    return path


class OpenVINOEngine:
    """The backbone compiled by OpenVINO for this CPU (latency mode, the process's torch thread count).

    Frames go through in chunks of at most `max_batch`: the activations of a 16-frame batch cost
    ~180 MB, of 2 frames ~40 MB, at the same speed (measured side by side: 16, 8, 4, 2 within noise).
    """

    name = "openvino"

    def __init__(
        self,
        network,
        precision: str = "fp32",
        threads: int | None = None,
        max_batch: int = MAX_BATCH,
        blob_dir: str | os.PathLike | None = None,
    ):
        """network: an ONNX (or OpenVINO IR) file, or an openvino.Model (e.g. a quantised one).
        blob_dir: where OpenVINO may keep the compiled network, so the next process starts faster."""
        self.precision, self.max_batch = precision, max(1, int(max_batch))
        self.compiled = compile_network(network, precision, int(threads or torch.get_num_threads()), blob_dir)
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: calls from several threads take turns

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.detach().float().permute(0, 2, 3, 1).contiguous().numpy()  # no copy for channels_last input
        with self._lock:  # copy: the request reuses its output buffer
            outs = [
                self._request.infer({0: c})[0].copy()
                for c in np.split(nhwc, range(self.max_batch, len(nhwc), self.max_batch))
            ]
        return torch.from_numpy(outs[0] if len(outs) == 1 else np.concatenate(outs))


def openvino_available() -> bool:
    """Are onnx (the exporter writes through it) and OpenVINO installed? Found, not imported (onnx takes 0.7 s)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "openvino"))


def make_engine(
    model: HybridCNNRNN,
    engine: str | None = None,
    precision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> CNNEngine:
    """An engine for `model`'s CNN: "torch", "openvino", or "auto" (OpenVINO when it is installed and works).

    `engine` and `precision` default to $HYBRID_ENGINE / $HYBRID_PRECISION, else "auto" / "fp32".
    "auto" falls back to PyTorch (with a log line) when OpenVINO is missing or the export fails;
    asking for "openvino" by name raises instead.
    """
    engine, precision = engine_settings(engine, precision)
    if engine == "torch" or (engine == "auto" and not openvino_available()):
        return TorchEngine(model)
    if not openvino_available():
        raise ConfigError("engine 'openvino' needs the packages openvino and onnx (pip install -r requirements.txt)")
    try:
        try:
            path = cached_onnx(model, cache_dir)
        except OSError:  # read-only cache: export into a throwaway folder instead
            with tempfile.TemporaryDirectory(prefix="hybrid-") as tmp:
                return OpenVINOEngine(export_onnx(model, Path(tmp) / "cnn.onnx"), precision)
        return OpenVINOEngine(path, precision, blob_dir=path.parent / "openvino")
    except Exception as e:  # noqa: BLE001 - any export/compile failure means: use the reference
        if engine == "openvino":
            raise
        log.warning("OpenVINO engine unavailable (%s); using PyTorch for the CNN", e)
        return TorchEngine(model)
