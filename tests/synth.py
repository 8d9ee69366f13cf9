"""Synthetic clips the tests make themselves (no real data needed): frames that encode their own index.

`index_frame(i)` draws i as 12 bits, one wide black/white bar each, so the number survives lossy codecs
and downscaling; `read_index(frame)` gets it back. Clips are written with ffmpeg (any codec it has)
or cv2.VideoWriter. Awkward real-world files are reproduced too: browser_webm (MediaRecorder-style,
broken fps/count), rotated_clip (phone rotation metadata), gapped_clip (dropped-frame timestamps),
with_audio (audio outlasting the video), plus lavfi_clip / audio_only for cheap long or video-less files.
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


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')[-2000:]}")


def has_encoder(name: str) -> bool:
    """Can this ffmpeg encode with `name` (e.g. libx265, libaom-av1, libsvtav1)?"""
    if not HAS_FFMPEG:
        return False
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.startswith(" "))


def _browser_steps(fps: float) -> tuple[int, int]:
    base = round(1000 / fps)
    return base, max(1, 2 * base // 3)


def browser_time(i: int, fps: float = 30) -> float:
    """Timestamp in seconds of frame i of a browser_webm clip."""
    base, spread = _browser_steps(fps)
    return (i * base + (i * i * 7) % spread) / 1000


def browser_webm(path: str | Path, n: int, fps: float = 30, size=(320, 240), codec: str = "libvpx") -> Path:
    """An index-coded webm like a browser's MediaRecorder writes (the OpenCV metadata comes out broken).

    Live Matroska (no duration, no cues, unknown sizes), millisecond timestamps with jitter and no
    declared frame rate: OpenCV reports fps 1000 and a frame count near -9.2e18, so only decoding
    tells the length. Built by re-timing a normal encode through IVF, which carries no frame rate.
    """
    path = Path(path)
    tmp = path.with_name(path.stem + ".src.webm")
    index_clip(tmp, n, fps, size, codec)
    base, spread = _browser_steps(fps)
    jitter = f"setts=ts=N*{base}+mod(N*N*7\\,{spread})"  # strictly increasing, uneven steps (ms)
    try:
        with open(path, "wb") as out:
            retime = subprocess.Popen(
                ["ffmpeg", "-v", "error", "-i", str(tmp), "-c", "copy", "-bsf:v", jitter, "-f", "ivf", "-"],
                stdout=subprocess.PIPE,
            )
            live = subprocess.run(
                ["ffmpeg", "-v", "error", "-f", "ivf", "-i", "-", "-c", "copy", "-live", "1", "-f", "webm", "-"],
                stdin=retime.stdout,
                stdout=out,
            )
            retime.stdout.close()
            if retime.wait() != 0 or live.returncode != 0:
                raise RuntimeError("ffmpeg failed to make the browser-style webm")
    finally:
        tmp.unlink(missing_ok=True)
    return path


def rotated_clip(path: str | Path, n: int, rotate: int = 90, size=(240, 320), fps: float = 30) -> Path:
    """A phone-style mp4: frames stored turned, with rotation metadata that turns them back upright.

    Displayed upright (as ffmpeg and players show it), frame i is index_frame(i, size); the stored
    pixels are that picture turned by -rotate degrees. ffmpeg 5 writes the `rotate` tag only when
    stream-copying, hence encode first, then remux.
    """
    path = Path(path)
    tmp = path.with_name(path.stem + ".unrotated.mp4")
    k = {90: -1, 180: 2, 270: 1}[rotate]  # np.rot90 turns counter-clockwise for k > 0
    ffmpeg_write(tmp, (np.ascontiguousarray(np.rot90(index_frame(i, size), k)) for i in range(n)), fps)
    try:
        _run(
            [
                "ffmpeg",
                "-y",
                "-v",
                "error",
                "-i",
                str(tmp),
                "-c",
                "copy",
                "-metadata:s:v:0",
                f"rotate={rotate}",
                str(path),
            ]
        )
    finally:
        tmp.unlink(missing_ok=True)
    return path


def lavfi_clip(
    path: str | Path,
    seconds: float,
    size=(64, 48),
    fps: float = 10,
    codec: str = "libx264",
    extra: list[str] | None = None,
) -> Path:
    """A cheap test-pattern clip of any length straight from ffmpeg (no Python frames)."""
    cmd = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}"]
    cmd += ["-t", str(seconds), "-c:v", codec, "-pix_fmt", "yuv420p"] + (extra or []) + [str(path)]
    _run(cmd)
    return Path(path)


def audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An AAC file with no video track (path decides the container: .m4a, .mp4...)."""
    _run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-c:a", "aac", str(path)])
    return Path(path)


def with_audio(src: str | Path, dst: str | Path, seconds: float) -> Path:
    """Remux src's video with a sine audio track of `seconds` (longer than the video: Matroska then
    reports a duration, and OpenCV a frame count, past the last video frame)."""
    cmd = ["ffmpeg", "-y", "-v", "error", "-i", str(src), "-f", "lavfi", "-i", f"sine=f=440:d={seconds}"]
    _run(cmd + ["-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "libopus", str(dst)])
    return Path(dst)


def gapped_clip(path: str | Path, n: int, gap_at: int, gap: int, size=(320, 240)) -> Path:
    """An index-coded 30 fps H.264 mp4 whose timestamps jump `gap` frames after frame `gap_at` (as when a
    camera drops frames): time-based frame numbers then disagree with the decoded order."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".even.mp4")
    index_clip(tmp, n, 30, size, extra=["-bf", "0"])  # no B-frames: pts == dts, so one expression moves both
    try:
        tick = 15360 // 30  # libx264 in mp4 at 30 fps: time base 1/15360
        retime = f"setts=ts=N*{tick}+gte(N\\,{gap_at})*{gap * tick}"
        _run(["ffmpeg", "-y", "-v", "error", "-i", str(tmp), "-c", "copy", "-bsf:v", retime, str(path)])
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sparse_clip(path: str | Path, n: int, seconds_apart: float, size=(64, 48)) -> Path:
    """n frames whose timestamps lie `seconds_apart` apart (a clip that lasts hours while its stream claims
    an ordinary frame rate: OpenCV reports 15 fps for the Matroska one)."""
    cmd = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate=15"]
    cmd += ["-frames:v", str(n), "-vf", f"setpts=N*{seconds_apart}/TB", "-fps_mode", "passthrough"]
    _run(cmd + ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)])
    return Path(path)


def lavfi_gif(path: str | Path, seconds: float = 1.0, size=(64, 48)) -> Path:
    """A small animated GIF of the test pattern."""
    _run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate=10",
          "-t", str(seconds), str(path)])  # fmt: skip
    return Path(path)
