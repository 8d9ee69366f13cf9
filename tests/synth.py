"""Synthetic clips the tests make themselves (no real data needed): frames that encode their own index.

`index_frame(i)` draws i as 12 bits, one wide black/white bar each, so the number survives lossy codecs
and downscaling; `read_index(frame)` gets it back. Clips are written with ffmpeg (any codec it has)
or cv2.VideoWriter.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

BITS = 12
HAS_FFMPEG = shutil.which("ffmpeg") is not None


def index_frame(i: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """RGB uint8 [H,W,3]: top half = 12 bars (bit k of i: white=1), bottom half = a colour ramp."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    edges = np.linspace(0, w, BITS + 1).astype(int)
    for k in range(BITS):
        if (i >> k) & 1:
            img[: h // 2, edges[k] : edges[k + 1]] = 255
    img[h // 2 :, :, 0] = (i * 7) % 256
    img[h // 2 :, :, 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    return img


def read_index(frame: np.ndarray) -> int:
    """Inverse of index_frame on a decoded (possibly resized, lossy) RGB or BGR frame."""
    h, w = frame.shape[:2]
    gray = frame[: h // 2].mean(axis=(0, 2))  # [W]
    edges = np.linspace(0, w, BITS + 1).astype(int)
    value = 0
    for k in range(BITS):
        a, b = edges[k], edges[k + 1]
        pad = max(1, (b - a) // 4)  # ignore bar borders blurred by the codec
        if gray[a + pad : b - pad].mean() > 127:
            value |= 1 << k
    return value


def ffmpeg_write(path: str | Path, frames, fps: float = 30, codec: str = "libx264", extra: list[str] | None = None):
    """Encode RGB frames (iterable of [H,W,3] uint8, same size) with ffmpeg; returns the path."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
    cmd += ["-r", str(fps), "-i", "-", "-an", "-c:v", codec]
    if codec in ("libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"):
        cmd += ["-pix_fmt", "yuv420p"]
    cmd += (extra or []) + [str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        proc.stdin.write(first.tobytes())
        for f in frames:
            proc.stdin.write(f.tobytes())
        proc.stdin.close()
    finally:
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}")
    return Path(path)


def cv2_write(path: str | Path, frames, fps: float = 30, fourcc: str = "mp4v") -> Path:
    """Encode RGB frames with cv2.VideoWriter (mp4v / MJPG / XVID; cv2 can't write H.264 here)."""
    writer = None
    for f in frames:
        if writer is None:
            h, w = f.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return Path(path)


def index_clip(path: str | Path, n: int, fps: float = 30, size=(320, 240), codec: str = "libx264", **kw) -> Path:
    """A clip of n frames, frame i showing index i (ffmpeg; codec e.g. libx264, libvpx-vp9, mpeg4)."""
    return ffmpeg_write(path, (index_frame(i, size) for i in range(n)), fps, codec, **kw)
