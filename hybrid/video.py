"""Reading videos with OpenCV: T frames sampled uniformly over the whole clip, bounded memory.

Two ways to reach the frames, both reporting the exact index of every frame they return:
- seek: when the container's frame count and fps look sane and the clip is long, jump to each
  target frame; the count is then checked (the frames past it must not exist) before it is trusted.
- scan: otherwise decode every frame once (grab), converting only every `stride`-th one; when the
  kept set outgrows its budget, drop every other frame and double the stride. Memory is a fixed
  number of (downscaled) frames whatever the length; exact for clips shorter than the budget.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # damaged files are reported as VideoError, not log noise
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np

from .errors import VideoError

SEEK_MIN_FRAMES = 240  # below this, one sequential pass is about as fast as seeking and always exact


@dataclass(frozen=True)
class VideoLimits:
    """What a caller accepts; anything beyond is refused with a VideoError."""

    max_duration_s: float | None = None  # None: any length
    max_side: int = 8192  # longest side of the stored frame, in pixels
    max_bytes: int | None = None  # file size cap


@dataclass
class Clip:
    frames: np.ndarray  # [T,H,W,3] uint8 RGB (downscaled so the long side <= keep_side)
    indices: list[int]  # frame number of each sample in the file (0-based, decode order)
    timestamps_s: list[float]  # time of each sample
    fps: float
    total_frames: int  # counted (or verified), not taken on trust from the container
    duration_s: float
    size: tuple[int, int]  # original (width, height), after rotation
    method: str = "scan"
    codec: str = field(default="")


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    s = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return s if s.isprintable() and s.strip() else "unknown"


def open_video(path: str | os.PathLike, limits: VideoLimits = VideoLimits()) -> cv2.VideoCapture:
    """Open a file for decoding or raise VideoError with a reason a person understands."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise VideoError(f"{name}: no such file")
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError(f"{name} is empty (0 bytes)")
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise VideoError(f"{name} is {size / 1e6:.0f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB")
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{name} is not a video that OpenCV/FFmpeg can open (wrong format or damaged file)")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w <= 0 or h <= 0:
        cap.release()
        raise VideoError(f"{name} has no video stream (audio only?)")
    if max(w, h) > limits.max_side:
        cap.release()
        raise VideoError(f"{name} is {w}x{h}; frames larger than {limits.max_side} px on a side are refused")
    return cap


def _sane_meta(cap: cv2.VideoCapture) -> tuple[float | None, int | None]:
    """fps and frame count if the container's numbers are believable (webcam webm: they are not)."""
    fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    fps_ok = math.isfinite(fps) and 1.0 <= fps <= 240.0
    count_ok = math.isfinite(count) and 0 < count < 10_000_000
    return (fps if fps_ok else None), (int(count) if count_ok else None)


def _shrink(frame_bgr: np.ndarray, keep_side: int | None) -> np.ndarray:
    """BGR frame -> RGB, downscaled (area filter) so its long side is at most keep_side."""
    h, w = frame_bgr.shape[:2]
    if keep_side and max(h, w) > keep_side:
        s = keep_side / max(h, w)
        frame_bgr = cv2.resize(frame_bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def uniform_indices(total: int, num: int) -> list[int]:
    """num indices spread evenly over [0, total): centres of num equal segments."""
    return [min(total - 1, int((i + 0.5) * total / num)) for i in range(num)]


def _seek(cap, targets: list[int], count: int, keep_side: int | None) -> list[np.ndarray] | None:
    """Frames at `targets`, or None when the container lied about its length."""
    frames = []
    for idx in targets:
        cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
        ok, frame = cap.read()
        if not ok or int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) - 1 != idx:
            return None
        frames.append(_shrink(frame, keep_side))
    cap.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
    if not cap.grab() or cap.grab():  # the last counted frame exists and nothing follows it
        return None
    return frames


def _scan(cap, num: int, keep_side: int | None, max_frames: int | None, name: str):
    """One pass over every frame; returns (kept {index: (frame, t_ms)}, total decoded)."""
    budget = max(64, 4 * num)
    stride, kept, n = 1, {}, 0
    while cap.grab():
        if n % stride == 0:
            ok, frame = cap.retrieve()
            if ok:
                kept[n] = (_shrink(frame, keep_side), cap.get(cv2.CAP_PROP_POS_MSEC))
            if len(kept) > budget:
                stride *= 2
                kept = {i: v for i, v in kept.items() if i % stride == 0}
        n += 1
        if max_frames is not None and n > max_frames:
            raise VideoError(f"{name} is longer than the {max_frames} frames allowed here")
    return kept, n


def read_clip(
    path: str | os.PathLike,
    num_frames: int,
    *,
    limits: VideoLimits = VideoLimits(),
    keep_side: int | None = 480,
) -> Clip:
    """Sample `num_frames` frames uniformly over the whole clip (RGB, long side <= keep_side)."""
    name = os.path.basename(os.fspath(path))
    cap = open_video(path, limits)
    try:
        fps, count = _sane_meta(cap)
        codec = _fourcc(cap)
        if fps and count and limits.max_duration_s and count / fps > limits.max_duration_s * 1.05:
            raise VideoError(f"{name} lasts {count / fps:.0f} s; the limit here is {limits.max_duration_s:.0f} s")
        if fps and count and count >= SEEK_MIN_FRAMES:
            targets = uniform_indices(count, num_frames)
            frames = _seek(cap, targets, count, keep_side)
            if frames is not None:
                return Clip(
                    np.stack(frames), targets, [i / fps for i in targets], fps, count, count / fps,
                    (frames[0].shape[1], frames[0].shape[0]), "seek", codec,
                )  # fmt: skip
            cap.release()
            cap = open_video(path, limits)  # the container lied: start over with a full scan
        max_frames = None
        if limits.max_duration_s:
            max_frames = int(limits.max_duration_s * (fps or 60.0) * 1.05) + 1
        kept, total = _scan(cap, num_frames, keep_side, max_frames, name)
    finally:
        cap.release()
    if not kept:
        raise VideoError(
            f"{name}: no frame could be decoded (codec '{codec}' may be unsupported here, or the file is "
            "damaged). Re-encode it as H.264 MP4 or VP9 WebM."
        )
    have = sorted(kept)
    picked = [min(have, key=lambda i, t=t: abs(i - t)) for t in uniform_indices(total, num_frames)]
    if fps is None:  # broken metadata (e.g. browser webm): time from the decoder's timestamps
        ms = [kept[i][1] for i in have]
        span = (ms[-1] - ms[0]) / 1000 if len(ms) > 1 else 0.0
        fps = (have[-1] - have[0]) / span if span > 0 else 30.0
        times = [max(0.0, (kept[i][1] - ms[0]) / 1000) for i in picked]
    else:
        times = [i / fps for i in picked]
    duration = total / fps
    if limits.max_duration_s and duration > limits.max_duration_s * 1.05:
        raise VideoError(f"{name} lasts {duration:.0f} s; the limit here is {limits.max_duration_s:.0f} s")
    frames = np.stack([kept[i][0] for i in picked])
    return Clip(frames, picked, times, fps, total, duration, (frames.shape[2], frames.shape[1]), "scan", codec)
