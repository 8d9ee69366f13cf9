"""A model exported and compiled by OpenVINO: videos -> Predictions and timelines without importing torch or timm.

The CLI's cold start was mostly imports (torch 1.8 s, timm through torchvision and torch._dynamo 2 s, onnx
0.7 s) and building the model, for ~0.4 s of work. Once a model folder has been run through the PyTorch
pipeline, runtime.save_compiled writes the network as two ONNX graphs keyed by the bytes of the folder's
config.json and model.safetensors:

    <cache>/model-<sha256 of export version + config.json + model.safetensors>-frames.onnx
        resized RGB uint8 frames [N,H,W,3] -> per-frame features [N,D] (normalisation, CNN, spatial pool)
    <cache>/model-<same>-head.onnx
        features [T,D] -> HEAD_OUTPUTS (RNN head, softmax, open-set score, exemplar similarity)

Two graphs, not one, so that a timeline runs each frame through the CNN once and each window through the head.
`CompiledModel.cached(folder)` finds them by re-hashing those files (a changed file is simply a miss), so it
only ever runs weights that passed every check of checkpoint.py when they were exported. Answers match the
PyTorch pipeline's (tests/test_compiled.py); explanations (heat maps, Grad-CAM, ImageNet concepts) need the full
model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import HybridConfig
from .errors import ConfigError, ModelError, shorten
from .fast_clip import read_clip_as, sampling_setting
from .model_dir import CONFIG_NAME, WEIGHTS_NAME, default_model_dir
from .prediction import Prediction, make_prediction, with_decode_time
from .transforms import resize_frames
from .video import VideoLimits

ENGINES = ("auto", "torch", "openvino")
PRECISIONS = ("fp32", "bf16")
WHOLE_VERSION = "2"  # bump when the exported graphs change, so old cache files are not reused (1: one graph)
PARTS = ("frames", "head")  # the two graphs, as named in their files
HEAD_OUTPUTS = ("probs", "step_probs", "attention", "openset_score", "similarity")  # the head graph's, in order


def default_cache_dir() -> Path:
    return Path(os.environ.get("HYBRID_CACHE") or Path.home() / ".cache" / "hybrid")


def engine_settings(engine: str | None = None, precision: str | None = None) -> tuple[str, str]:
    """(engine, precision) as asked, else $HYBRID_ENGINE / $HYBRID_PRECISION, else "auto" / "fp32"; ConfigError
    when either is not one of ENGINES / PRECISIONS."""
    engine = (engine or os.environ.get("HYBRID_ENGINE") or "auto").lower()
    precision = (precision or os.environ.get("HYBRID_PRECISION") or "fp32").lower()
    if engine not in ENGINES:
        raise ConfigError(f"engine (HYBRID_ENGINE) must be one of {ENGINES}, not {shorten(engine)!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision (HYBRID_PRECISION) must be one of {PRECISIONS}, not {shorten(precision)!r}")
    return engine, precision


def cpu_threads() -> int:
    """Threads for OpenVINO when torch does not say: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compile_network(network: Any, precision: str, threads: int, blob_dir: str | os.PathLike | None = None):
    """An ONNX/IR file (or an openvino.Model) compiled for this CPU: latency mode, `threads` threads, bf16 only
    where the CPU computes it natively. blob_dir: where OpenVINO keeps the compiled network for the next process."""
    import openvino as ov

    props = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": int(threads),
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
    }
    core = ov.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        props["INFERENCE_PRECISION_HINT"] = "f32"  # no native bf16 here: it would only be slower
    if blob_dir is not None:
        core.set_property({"CACHE_DIR": str(blob_dir)})
    if isinstance(network, os.PathLike):
        network = str(network)  # a path lets OpenVINO use its compiled-blob cache
    return core.compile_model(network, "CPU", props)


def model_key(folder: str | os.PathLike) -> str:
    """Hash of what the exported graph is made of: its version, the folder's config.json and weights."""
    h = hashlib.sha256(f"whole|{WHOLE_VERSION}|".encode())
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        with open(Path(folder) / name, "rb") as f:
            h.update(name.encode())
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:32]


def cache_paths(folder: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Where the folder's two graphs are (or would be) exported: {part: path} for each of PARTS."""
    base = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"model-{model_key(folder)}"
    return {part: base.with_name(f"{base.name}-{part}.onnx") for part in PARTS}


def local_folder(ref: str | os.PathLike | None) -> Path | None:
    """The model folder a CLI --model names (None: the bundled default), or None for anything else (a Hub repo
    id, a missing path): those go the full way, which says what is wrong with them."""
    try:
        folder = default_model_dir() if ref is None else Path(os.fspath(ref)).expanduser()
        ok = folder.is_dir() and (folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file()
    except (ModelError, OSError, ValueError):  # a name too long for the OS, a NUL byte: the full way says why
        return None
    return folder if ok else None


class CompiledModel:
    """The two graphs of one model folder, compiled by OpenVINO (see the module docstring)."""

    def __init__(
        self,
        config: HybridConfig,
        networks: dict[str, Path],
        precision: str = "fp32",
        threads: int | None = None,
        limits: VideoLimits = VideoLimits(),
        sampling: str | None = None,
    ):
        """networks: {part: ONNX file} for each of PARTS (cache_paths). sampling: as pipeline.Recognizer's."""
        self.config, self.limits = config, limits
        self.sampling = sampling_setting(sampling)
        threads = threads or cpu_threads()
        self._requests = {
            part: compile_network(networks[part], precision, threads, networks[part].parent / "openvino")
            .create_infer_request()
            for part in PARTS
        }  # fmt: skip
        self._lock = threading.Lock()  # one infer request per graph: calls from several threads take turns

    @classmethod
    def cached(
        cls,
        folder: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        precision: str | None = None,
        limits: VideoLimits = VideoLimits(),
        sampling: str | None = None,
    ) -> CompiledModel | None:
        """The folder's compiled model when its export is in the cache and the engine settings allow it, else
        None ($HYBRID_ENGINE=torch asks for the PyTorch reference)."""
        try:
            engine, precision = engine_settings(None, precision)
        except ConfigError:  # the full way says what is wrong with the setting
            return None
        if engine == "torch":
            return None
        try:
            paths = cache_paths(folder, cache_dir)
            if not all(p.is_file() for p in paths.values()):
                return None
            cfg = HybridConfig.from_dict(json.loads((Path(folder) / CONFIG_NAME).read_text(encoding="utf-8")))
        except (OSError, ValueError, ModelError):
            return None
        try:
            return cls(cfg, paths, precision, limits=limits, sampling=sampling)
        except Exception:  # noqa: BLE001 - a damaged cache file or an OpenVINO failure: the full way instead
            return None

    def features(self, frames: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
        """RGB uint8 frames [N,h,w,3] -> per-frame features [N,D] float32 (Recognizer.features' numbers).
        `timings` gets "preprocess" (resizing) and "cnn" ms added."""
        t0 = time.perf_counter()
        x = resize_frames(frames, self.config)  # uint8 [N,H,W,3]: the graph normalises
        t1 = time.perf_counter()
        with self._lock:
            feats = np.array(self._requests["frames"].infer({0: x})[0])  # a copy: the request reuses its buffer
        if timings is not None:
            timings["preprocess"] = timings.get("preprocess", 0.0) + (t1 - t0) * 1000
            timings["cnn"] = timings.get("cnn", 0.0) + (time.perf_counter() - t1) * 1000
        return feats

    def read(self, feats: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame features [T,D] (T = config.num_frames) -> the head graph's outputs by name (HEAD_OUTPUTS):
        probs [K] (the clip's), step_probs [T,K], attention [T], openset_score [], similarity [] (0: no
        exemplars)."""
        T = self.config.num_frames
        if feats.shape[0] != T:
            raise ConfigError(f"the compiled model reads {T} frames at a time, not {feats.shape[0]}")
        with self._lock:
            res = self._requests["head"].infer({0: np.ascontiguousarray(feats, dtype=np.float32)})
            return {name: np.array(res[i]) for i, name in enumerate(HEAD_OUTPUTS)}

    def read_window(self, feats: np.ndarray) -> tuple[np.ndarray, float, float | None]:
        """Features [T,D] of one window -> (clip probabilities [K], open-set score, similarity or None)."""
        out = self.read(feats)
        return out["probs"], float(out["openset_score"]), self._similarity(out)

    def _similarity(self, out: dict[str, np.ndarray]) -> float | None:
        return float(out["similarity"]) if self.config.openset_exemplars else None

    def predict_clip(self, clip, topk: int = 5) -> Prediction:
        """Already decoded frames (video.Clip) -> Prediction (timings: preprocess, cnn, rnn)."""
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        feats = self.features(clip.frames, timings)
        t1 = time.perf_counter()
        out = self.read(feats)
        timings["rnn"] = (time.perf_counter() - t1) * 1000
        pred = make_prediction(
            self.config, clip, out["step_probs"], out["attention"], feats, float(out["openset_score"]),
            self._similarity(out), timings, topk,
        )  # fmt: skip
        pred.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        return pred

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def __call__(self, path: str | os.PathLike, topk: int = 5) -> Prediction:
        """A video file -> Prediction, read within self.limits (as Recognizer.__call__)."""
        t0 = time.perf_counter()
        clip = read_clip_as(self.sampling, path, self.config.num_frames, limits=self.limits)
        return with_decode_time(self.predict_clip(clip, topk=topk), t0)
