"""Long videos -> a timeline: sliding windows with a stride, one label per stretch of the video.

One decoding pass (video.iter_frames) takes frames at the model's pace for a `window_s` clip
(num_frames / window_s per second, as the live path does), so every window holds exactly num_frames frames
spread evenly over window_s seconds, like a training clip. Each frame goes through the CNN once, however many
windows it belongs to; only the last num_frames feature vectors are kept, so memory stays flat in the video's
length. Each window re-reads its num_frames features with the RNN head (a few ms; carrying the RNN state
across windows would not give the same answer, since a window must start from an empty state).

Windows -> segments: each window speaks for the stretch around its centre (between the midpoints to its
neighbours' centres; the first and last reach the ends of the video), and neighbouring stretches with the
same label merge. The segments cover [0, duration] without gaps or overlaps. A video shorter than one window
gets one segment: the ordinary whole-clip prediction.
"""

from __future__ import annotations

import csv
import io
import time
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from . import openset
from .config import DEFAULT_WINDOW_S, HybridConfig
from .errors import ConfigError, VideoError
from .prediction import Prediction
from .prefetch import ahead
from .video import VideoLimits, claimed_rate, iter_frames, open_video, read_clip

BATCH = 4  # frames per CNN call (the OpenVINO engine's chunk size)
PREFETCH = 2 * BATCH  # decoded frames that may wait for the CNN
DECODE_THREADS = 1  # 2 min of 1080p on 2 cores: 7.5 s with 1 decoder thread beside the CNN, 8.7 s with 2


class WindowReader(Protocol):
    """What a timeline needs of a model: pipeline.Recognizer (PyTorch) and compiled.CompiledModel (no torch)."""

    config: HybridConfig
    limits: VideoLimits

    def features(self, frames: np.ndarray) -> np.ndarray:
        """RGB uint8 frames [N,h,w,3] -> per-frame features [N,D]."""
        ...

    def read_window(self, feats: np.ndarray) -> tuple[np.ndarray, float, float | None]:
        """Features [T,D] -> (clip probabilities [K], open-set score, similarity or None)."""
        ...

    def predict_clip(self, clip: Any, topk: int = 5) -> Prediction: ...


@dataclass
class Window:
    start: float  # time of its first frame (s)
    end: float  # time of its last frame + one frame step
    label: str  # the closest class, or openset.UNKNOWN when the window is none of the model's classes
    score: float  # the closest class's probability
    probs: list[float]  # [K], in the order of Timeline.labels
    closest: str = ""  # the closest class (= label when known)


@dataclass
class Segment:
    start: float
    end: float
    label: str
    score: float  # mean confidence of the windows behind it, weighted by the time each speaks for
    windows: int  # how many windows it merges


@dataclass
class Timeline:
    segments: list[Segment]
    windows: list[Window]
    labels: list[str]
    duration_s: float
    window_s: float
    stride_s: float
    sample_fps: float  # frames taken per second of video
    frames: int  # frames through the CNN
    video: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, windows: bool = True) -> dict[str, Any]:
        r = 3
        out: dict[str, Any] = {
            "segments": [
                {
                    "start": round(s.start, r),
                    "end": round(s.end, r),
                    "label": s.label,
                    "score": round(s.score, 4),
                    "windows": s.windows,
                }
                for s in self.segments
            ],  # fmt: skip
            "duration_s": round(self.duration_s, r),
            "window_s": self.window_s,
            "stride_s": self.stride_s,
            "sample_fps": round(self.sample_fps, 3),
            "frames": self.frames,
            "labels": self.labels,
            "video": self.video,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if windows:
            out["windows"] = [
                {"start": round(w.start, r), "end": round(w.end, r), "label": w.label, "closest": w.closest,
                 "score": round(w.score, 4), "probs": [round(p, 4) for p in w.probs]}
                for w in self.windows
            ]  # fmt: skip
        return out

    def to_csv(self) -> str:
        """One row per segment: start, end, label, score, windows."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["start", "end", "label", "score", "windows"])
        for s in self.segments:
            w.writerow([f"{s.start:.3f}", f"{s.end:.3f}", s.label, f"{s.score:.4f}", s.windows])
        return buf.getvalue()


def segments_from_windows(windows: list[Window], duration: float) -> list[Segment]:
    """Each window speaks for the stretch around its centre; same-label neighbours merge (see module doc)."""
    if not windows:
        return []
    centres = [(w.start + w.end) / 2 for w in windows]
    bounds = [0.0] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [duration]
    out: list[Segment] = []
    for w, a, b in zip(windows, bounds, bounds[1:]):
        if b <= a:
            continue
        if out and out[-1].label == w.label:
            s = out[-1]
            s.score = (s.score * (s.end - s.start) + w.score * (b - a)) / (b - s.start)
            s.end, s.windows = b, s.windows + 1
        else:
            out.append(Segment(a, b, w.label, w.score, 1))
    return out


def _probe(path: str, limits: VideoLimits) -> dict[str, Any]:
    """What the container says (size, fps, frame count): a hint for progress and the end time, checked later."""
    cap = open_video(path, limits)
    try:
        fps, count = claimed_rate(cap)
        size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    ok = fps is not None and count is not None
    return {"width": size[0], "height": size[1], "fps": round(fps, 3) if ok else None,
            "claimed_duration_s": round(count / fps, 3) if ok else None}  # fmt: skip


def _duration(info: dict[str, Any], last_t: float, step: float) -> float:
    """The video's length: the container's when it agrees with what was decoded, else the last taken
    frame's time plus one step (the true end lies within one step of it)."""
    d = info.get("claimed_duration_s")
    if d is not None and last_t < d <= last_t + step + 1.5 / info["fps"]:
        return float(d)
    return last_t + step


def build_timeline(
    rec: WindowReader,
    path: str,
    window_s: float = DEFAULT_WINDOW_S,
    stride_s: float | None = None,
    limits: VideoLimits | None = None,
    progress: Callable[[float], Any] | None = None,
) -> Timeline:
    """Sliding-window labels over a video of any length (see the module docstring)."""
    cfg = rec.config
    T = cfg.num_frames
    stride_s = window_s / 2 if stride_s is None else stride_s
    if not (window_s > 0 and stride_s > 0):
        raise ConfigError("window and stride must be positive (seconds)")
    fps = T / window_s  # frames taken per second of video
    k = max(1, round(stride_s * fps))  # stride in taken frames
    limits = limits or rec.limits
    t_start = time.perf_counter()
    info = _probe(path, limits)
    expected = info.get("claimed_duration_s") or 0.0
    cnn_s = head_s = 0.0

    feats: deque[np.ndarray] = deque(maxlen=T)  # the last T feature vectors [D]
    times: deque[float] = deque(maxlen=T)
    windows: list[Window] = []
    pending: list[tuple[float, np.ndarray]] = []
    n = 0  # frames through the CNN
    last_t = 0.0
    last_end = -1  # frame count at the last window's end

    def window_now() -> None:
        nonlocal head_s
        t0 = time.perf_counter()
        probs, score, sim = rec.read_window(np.stack(feats))  # [K]
        known = openset.known(score, cfg.openset_threshold, sim, cfg.openset_similarity)
        head_s += time.perf_counter() - t0
        i = int(probs.argmax())
        label = openset.shown(cfg.labels[i], known)
        windows.append(Window(times[0], times[-1] + 1 / fps, label, float(probs[i]), probs.tolist(), cfg.labels[i]))

    def flush() -> None:
        nonlocal n, cnn_s, last_end
        if not pending:
            return
        t0 = time.perf_counter()
        batch = rec.features(np.stack([f for _, f in pending]))  # [B,D]
        cnn_s += time.perf_counter() - t0
        for (t, _), feat in zip(pending, batch):
            feats.append(feat)
            times.append(t)
            n += 1
            if n >= T and (n - T) % k == 0:
                window_now()
                last_end = n
        pending.clear()

    # the next frames decode in a thread (one decoder thread: measured faster beside the CNN than one per core)
    # while the CNN reads these; closing() stops that thread on any error here too
    frames = iter_frames(path, fps, limits=limits, threads=DECODE_THREADS)
    with closing(ahead(frames, depth=PREFETCH)) as taken:
        for _, t, frame in taken:
            pending.append((t, frame))
            last_t = t
            if len(pending) == BATCH:
                flush()
                if progress is not None and expected:
                    progress(min(1.0, t / expected))
        flush()
        duration = _duration(info, last_t, 1 / fps)
        if n < T:  # shorter than one window: the ordinary prediction over the whole clip
            pred = rec.predict_clip(read_clip(path, T, limits=limits))
            probs = pred.step_probs[-1]
            label = openset.shown(pred.label, pred.known)
            windows = [Window(0.0, duration, label, pred.score, [float(p) for p in probs], pred.label)]
            n += len(pred.indices)
        elif last_end != n:  # the tail: one more window ending at the last frame
            window_now()
    for w in windows:  # a last frame's step may reach past the end
        w.end = min(w.end, duration)
    if not windows:
        raise VideoError(f"{path}: no frames could be read")
    total = (time.perf_counter() - t_start) * 1000
    return Timeline(
        segments=segments_from_windows(windows, duration),
        windows=windows,
        labels=list(cfg.labels),
        duration_s=duration,
        window_s=float(window_s),
        stride_s=k / fps,  # the stride actually used: a whole number of taken frames
        sample_fps=fps,
        frames=n,
        video={k: v for k, v in info.items() if k != "claimed_duration_s"},
        timings_ms={"total": total, "cnn": cnn_s * 1000, "rnn": head_s * 1000,
                    "decode": total - (cnn_s + head_s) * 1000},
    )  # fmt: skip
