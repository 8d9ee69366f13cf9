"""Reading videos with OpenCV: T frames sampled uniformly over the whole clip, bounded memory.

Every frame returned comes with its exact index in the file; the container's frame count is a hint
that is checked before it is used. Three ways to the frames, picked per clip:

- sequential: one decoding pass; `grab()` (decode, no colour conversion) up to each target and
  convert only the targets, then on to the end so the count is known. If the container's count was
  wrong, a second pass takes the targets of the true count. Best for short clips: with a typical GOP
  (250 frames) every seek decodes from the previous keyframe, so seeking a 10 s clip costs far more.
  A count a little off (Matroska: duration x fps) keeps the frames taken when each still lies in its
  own 1/T segment of the true length; only a count far off costs the second pass.
- seek: long clips (>= SEEK_MIN_FRAMES). First the end is checked (jump a few frames before the
  claimed end and decode to EOF), then each target is reached by a seek or by grabbing forward,
  whichever measured cheaper, and every frame's timestamp is checked against its index. Any doubt
  falls back to the sequential pass.
- scan: no believable count (browser webcam webm: fps 1000, frame count a huge negative number).
  One pass converting every stride-th frame into a buffer of at most `budget` frames; when it is
  full every other frame is dropped and the stride doubles. Samples are the kept frames nearest to
  the uniform targets.

Memory never exceeds a fixed number of downscaled frames (long side <= keep_side), whatever the
length. `iter_frames` streams frames at a chosen rate in one pass for timelines and live use.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # damaged files are reported as VideoError, not log noise
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read by OpenCV at every open

from . import container  # noqa: E402

# Read by OpenCV at every open: local files only, the allow-listed demuxers only (see container.py). Set, not
# defaulted: no inherited setting may let FFmpeg open playlists or URLs.
os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = container.FFMPEG_OPTIONS

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .errors import ConfigError, VideoError  # noqa: E402

SEEK_MIN_FRAMES = 600  # shorter clips are decoded sequentially (measured faster and always exact)
END_PROBE_FRAMES = 8  # the end check lands this many frames before the claimed last frame
SCAN_MIN_BUDGET = 64  # frames the scan buffer may hold (at least 4 per sample)
DURATION_SLACK = 1.05  # a clip may run this much over a duration cap (container lengths are rounded)
KEEP_SIDE = 480  # px: decoded frames are kept with at most this long side (the CNN reads ~224)
FPS_RANGE = (1.0, 480.0)  # a container's frame rate outside this is not believed (webcam webm says 1000)
MAX_CLAIMED_FRAMES = 50_000_000  # nor a frame count above this (or negative, as browser recordings say)
_CODEC_NAMES = {"AV01": "AV1", "av01": "AV1", "hevc": "HEVC", "h264": "H.264", "avc1": "H.264", "VP80": "VP8"}
# codecs this OpenCV/FFmpeg build decodes: a file of one of these that gives no frame is damaged, not unsupported
_DECODABLE = {"h264", "avc1", "avc3", "H264", "hevc", "hev1", "hvc1", "HEVC", "mp4v", "FMP4", "XVID", "DIVX", "DX50",
              "MJPG", "VP80", "VP90", "vp09", "theo", "mpg1", "mpg2", "FLV1", "WMV2", "WMV3"}  # fmt: skip


# file name endings taken for videos (dataset folders, example folders); what a file *is* comes from its bytes
VIDEO_EXTS = frozenset({".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif", ".wmv"})


@dataclass(frozen=True)
class VideoLimits:
    """What a caller accepts; anything beyond is refused with a VideoError."""

    max_duration_s: float | None = None  # None: any length
    max_side: int = 8192  # longest side of the stored frame, in pixels
    max_bytes: int | None = None  # file size cap
    max_read_s: float | None = None  # reading (decode + whatever the caller does between frames) stops past this


@dataclass
class Clip:
    frames: np.ndarray  # [T,H,W,3] uint8 RGB (downscaled so the long side <= keep_side)
    indices: list[int]  # frame number of each sample in the file (0-based, presentation order)
    timestamps_s: list[float]  # time of each sample
    fps: float
    total_frames: int  # counted (or verified), not taken on trust from the container
    duration_s: float
    size: tuple[int, int]  # displayed (width, height) of the file's frames, after rotation
    method: str = "sequential"  # "sequential", "seek" or "scan" (see the module docstring)
    codec: str = field(default="")


# ---------------------------------------------------------------- opening and diagnosing files


def fourcc(cap: cv2.VideoCapture) -> str:
    """The four-character code of an open capture's codec as OpenCV reports it ("h264", "FMP4"...), or "unknown"."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    s = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return s if s.isprintable() and s.strip() else "unknown"


def _quiet_open(path: str, threads: int | None = None) -> cv2.VideoCapture:
    """VideoCapture without OpenCV's warning lines on stderr for files it can't open (we raise instead).

    The OPENCV_LOG_LEVEL set above only counts if cv2 was not imported first, hence the scoped level.
    threads: decoder threads (None: FFmpeg's choice, one per core).
    """
    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(min(level, log.LOG_LEVEL_ERROR))
    try:
        if threads is not None:
            return cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, int(threads)])
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    finally:
        log.setLogLevel(level)


def claimed_rate(cap: cv2.VideoCapture) -> tuple[float | None, int | None]:
    """(fps, frame count) as the container claims them, each None where it is not believable. Without a
    believable fps the count (duration * fps) means nothing either. A hint: frames are counted as decoded."""
    fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    if not (math.isfinite(fps) and FPS_RANGE[0] <= fps <= FPS_RANGE[1]):
        return None, None
    return float(fps), (int(count) if math.isfinite(count) and 0 < count < MAX_CLAIMED_FRAMES else None)


def open_video(
    path: str | os.PathLike, limits: VideoLimits = VideoLimits(), threads: int | None = None
) -> cv2.VideoCapture:
    """Open a file for decoding or raise VideoError with a reason a person understands (threads: the decoder's).

    Only self-contained video files get to FFmpeg: what the file is comes from its bytes (container.sniff).
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise VideoError(f"{name}: no such file")
    if not os.path.isfile(path):
        raise VideoError(f"{name} is not a regular file (a folder or a device?)")
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError(f"{name} is empty (0 bytes)")
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise VideoError(f"{name} is {size / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB")
    try:
        kind = container.sniff(path)
        declared = container.declared_size(path, kind)
    except container.RefusedFile as e:
        raise VideoError(f"{name} {e}") from None
    except OSError as e:
        raise VideoError(f"{name} can't be read ({e.strerror or e})") from None
    if declared and max(declared) > limits.max_side:
        w, h = declared
        raise VideoError(f"{name} declares {w}x{h} frames; larger than {limits.max_side} px on a side are refused")
    cap = _quiet_open(path, threads)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{name} {container.diagnose(path)}")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w <= 0 or h <= 0:
        cap.release()
        raise VideoError(f"{name} {container.diagnose(path)}")
    if max(w, h) > limits.max_side:
        cap.release()
        raise VideoError(f"{name} is {w}x{h}; frames larger than {limits.max_side} px on a side are refused")
    return cap


def claimed_seconds(path: str | os.PathLike) -> float | None:
    """A file's length as its container claims it (fps and frame count, nothing decoded); None when unbelievable."""
    try:
        cap = open_video(path)
    except VideoError:
        return None
    try:
        fps, count = claimed_rate(cap)
        return count / fps if fps and count else None
    finally:
        cap.release()


def _no_frames_error(name: str, codec: str) -> VideoError:
    label = _CODEC_NAMES.get(codec, codec)
    if codec in _DECODABLE:
        return VideoError(
            f"{name}: no frame could be decoded: the file is damaged (its {label} video stream holds no readable "
            "frame; a cut or broken upload?)"
        )
    return VideoError(
        f"{name}: no frame could be decoded (its codec, {label}, has no decoder in this OpenCV/FFmpeg build, "
        "or the file is damaged). Re-encode it as H.264 MP4 or VP9 WebM."
    )


def too_long(name: str, seconds: float, limit: float) -> VideoError:
    """The refusal of a file that runs past the duration cap."""
    return VideoError(f"{name} lasts {seconds:.0f} s or more; the limit here is {limit:.0f} s")


def too_slow(name: str, limit: float) -> VideoError:
    """The refusal of a file whose reading runs past VideoLimits.max_read_s."""
    return VideoError(f"{name}: reading it took over {limit:.0f} s, the limit here (a very slow file?)")


# ---------------------------------------------------------------- small pieces


def uniform_indices(total: int, num: int) -> list[int]:
    """num indices spread evenly over [0, total): centres of num equal segments."""
    return [min(total - 1, int((i + 0.5) * total / num)) for i in range(num)]


def _in_segments(indices: list[int], total: int) -> bool:
    """Does the i-th index fall in the i-th of len(indices) equal segments of [0, total)?

    True for the targets of a slightly wrong count (Matroska counts are duration x fps, and the
    duration often includes an audio tail): still one frame from each segment, no second pass needed.
    """
    n = len(indices)
    return all(math.floor(i * total / n) <= t < max(math.ceil((i + 1) * total / n), 1) for i, t in enumerate(indices))


def shrink(frame_bgr: np.ndarray, keep_side: int | None) -> np.ndarray:
    """BGR frame -> RGB, downscaled so its long side is at most keep_side.

    Area-averaging by an integer factor first (OpenCV's fast path) then bilinear for the rest:
    as smooth as INTER_AREA and 4-7x faster at non-integer ratios such as 720p -> 480.
    """
    h, w = frame_bgr.shape[:2]
    if keep_side and max(h, w) > keep_side:
        s = keep_side / max(h, w)
        k = int(1 / s)
        if k >= 2:
            frame_bgr = cv2.resize(frame_bgr, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != size:
            frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


class _Decimator:
    """Keeps every stride-th item of a stream of unknown length; never more than budget + 1 items.

    When the budget is exceeded every other kept item is dropped and the stride doubles, so the kept
    indices stay an even grid over everything seen so far (spacing <= 2 * seen / budget).
    """

    def __init__(self, budget: int):
        self.budget, self.stride, self.items = budget, 1, {}
        self.peak = 0  # most items ever held (for tests)

    def wants(self, index: int) -> bool:
        return index % self.stride == 0

    def add(self, index: int, item) -> None:
        self.items[index] = item
        self.peak = max(self.peak, len(self.items))
        if len(self.items) > self.budget:
            self.stride *= 2
            self.items = {i: v for i, v in self.items.items() if i % self.stride == 0}


class _Clock:
    """Seconds of each decoded frame from the container's timestamps, relative to the first frame.

    Timestamps that do not move forward (missing in some AVI files at EOF) are replaced by the
    previous time plus one frame.
    """

    def __init__(self, fps: float | None):
        self.step = 1.0 / (fps or 30.0)
        self.t0: float | None = None
        self.last: float | None = None

    def __call__(self, ms: float) -> float:
        if self.t0 is None:
            self.t0 = ms
        t = (ms - self.t0) / 1000.0
        if self.last is not None and not t > self.last:
            t = self.last + self.step
        self.last = t
        return t


class _Reader:
    """A VideoCapture plus `pos`: the index of the frame the next grab() returns (presentation order).

    Every decoded frame passes grab(), which enforces the caps that hold whatever the metadata says: the
    duration by the frame's own timestamp (300 frames spread over 10 hours last 10 hours, not 300 / fps) and
    the time reading may take (limits.max_read_s).
    """

    def __init__(self, path: str | os.PathLike, limits: VideoLimits, threads: int | None = None):
        self.path, self.limits, self.threads = path, limits, threads
        self.name = os.path.basename(os.fspath(path))
        self.opened = time.monotonic()
        self.cap = open_video(path, limits, threads)
        self.pos = 0
        self.last_ms = 0.0  # container time of the current frame
        self.ms0: float | None = None  # container time of frame 0
        self.max_s = 0.0  # latest frame time seen, relative to frame 0
        self.fps, self.count = claimed_rate(self.cap)
        self.codec = fourcc(self.cap)
        with open(path, "rb") as f:  # Matroska/WebM store no frame count: OpenCV's is duration x fps
            self.estimated_count = f.read(4) == container.MATROSKA_MAGIC
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def start(self) -> float:
        """Decode frame 0 (or raise: nothing decodable) and return its container time in ms."""
        if not self.grab():
            raise _no_frames_error(self.name, self.codec)
        return self.last_ms

    def grab(self, check: bool = True) -> bool:
        """Decode the next frame; `check` False only where the caller measures the length itself (end probe)."""
        if not self.cap.grab():
            return False
        self.pos += 1
        self.last_ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        if self.ms0 is None:
            self.ms0 = self.last_ms
        t = (self.last_ms - self.ms0) / 1000.0
        if math.isfinite(t) and t > self.max_s:
            self.max_s = t
        cap, deadline = self.limits.max_duration_s, self.limits.max_read_s
        if check and cap and self.max_s > cap * DURATION_SLACK:
            raise too_long(self.name, self.max_s, cap)
        if deadline and time.monotonic() - self.opened > deadline:
            raise too_slow(self.name, deadline)
        return True

    def seek(self, index: int, check: bool = True) -> bool:
        """Jump to frame `index` and decode it (OpenCV decodes from the keyframe before it)."""
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self.pos = index
        return self.grab(check)

    def retrieve(self, keep_side: int | None) -> np.ndarray:
        ok, frame = self.cap.retrieve()
        if not ok or frame is None:
            raise VideoError(f"{self.name}: frame {self.pos - 1} could not be decoded (damaged file?)")
        return shrink(frame, keep_side)

    def reopen(self) -> None:
        self.cap.release()
        self.cap, self.pos, self.ms0 = open_video(self.path, self.limits, self.threads), 0, None

    def close(self) -> None:
        self.cap.release()


class _Unseekable(Exception):
    """Seeking gave a frame other than the one asked for: fall back to decoding in order."""


@dataclass
class _Costs:
    """Measured seconds per grabbed frame and per seek, to pick the cheaper way to the next target."""

    grab: float
    seek: float
    n_seek: int = 1

    def add_seek(self, dt: float) -> None:
        self.seek = (self.seek * self.n_seek + dt) / (self.n_seek + 1)
        self.n_seek += 1


def _pts_index(r: _Reader, ms0: float) -> int:
    return round((r.last_ms - ms0) * r.fps / 1000.0)


def _probe_end(r: _Reader, ms0: float) -> tuple[int, _Costs] | None:
    """True frame count, found by seeking just before the claimed end and decoding to EOF.

    A seek past the real end (Matroska counts include an audio track that outlasts the video) is
    retried further back. None when the landing frame's timestamp disagrees with its index or the
    tail runs far past the claimed end: then the count can't be trusted and the caller decodes in order.
    """
    count = r.count
    for back in (0, count // 50, count // 5):  # frames further back on each retry
        start = max(1, count - 1 - END_PROBE_FRAMES - back)
        t0 = time.perf_counter()
        if r.seek(start, check=False):
            break
    else:
        return None
    if _pts_index(r, ms0) != start:
        return None
    t1 = time.perf_counter()
    while r.grab(check=False):
        if r.pos > count + max(END_PROBE_FRAMES, count // 50):
            return None
    grab = (time.perf_counter() - t1) / max(1, r.pos - start)
    return r.pos, _Costs(grab=grab, seek=t1 - t0)


def _fetch_seeking(r: _Reader, targets: list[int], ms0: float, costs: _Costs, keep_side: int | None):
    """Frames at `targets` (sorted), each reached by a seek or by grabbing forward, whichever costs less."""
    frames: dict[int, np.ndarray] = {}
    r.pos = -1  # unknown after the end probe: the first target needs a seek
    for t in sorted(set(targets)):
        gap = t - r.pos
        t0 = time.perf_counter()
        if r.pos < 0 or gap * costs.grab > costs.seek:
            if not r.seek(t):
                raise _Unseekable
            costs.add_seek(time.perf_counter() - t0)
        else:
            while r.pos <= t:
                if not r.grab():
                    raise _Unseekable
            costs.grab = 0.5 * costs.grab + 0.5 * (time.perf_counter() - t0) / (gap + 1)
        if _pts_index(r, ms0) != t:
            raise _Unseekable
        frames[t] = r.retrieve(keep_side)
    return frames


def _sequential(r: _Reader, targets: list[int], keep_side: int | None, to_eof: bool, max_frames: int | None):
    """One pass from the current position; returns (frames at targets, frames counted or None)."""
    frames: dict[int, np.ndarray] = {}

    def step() -> bool:
        ok = r.grab()
        if ok and max_frames is not None and r.pos > max_frames:
            raise too_long(r.name, max_frames / r.fps, r.limits.max_duration_s)
        return ok

    for t in sorted(set(targets)):
        while r.pos <= t:
            if not step():
                return frames, r.pos  # EOF before the target: the count was wrong
        frames[t] = r.retrieve(keep_side)
    if not to_eof:
        return frames, None
    while step():
        pass
    return frames, r.pos


def _max_frames(r: _Reader) -> int | None:
    cap = r.limits.max_duration_s
    return int(cap * DURATION_SLACK * r.fps) + 1 if cap and r.fps else None


def _refuse_if_too_long(r: _Reader) -> None:
    """Refuse clips over the duration cap whose length is verified at the end (metadata alone is a hint).

    Leaves the reader just after frame 0.
    """
    cap = r.limits.max_duration_s
    if not (cap and r.count and r.fps and r.count / r.fps > cap * DURATION_SLACK):
        return
    ms0 = r.last_ms
    probe = _probe_end(r, ms0)
    if probe is not None and probe[0] / r.fps > cap * DURATION_SLACK:
        raise too_long(r.name, probe[0] / r.fps, cap)
    r.reopen()
    r.start()


def _check_truncated(r: _Reader, counted: int, ms0: float) -> None:
    """The container's frame table promised r.count frames; far fewer decoded and time stops short too.

    Not for Matroska, whose count comes from a duration that may include a longer audio track.
    """
    if r.estimated_count:
        return
    lasted = (r.last_ms - ms0) / 1000.0 + 1.0 / r.fps
    promised = r.count / r.fps
    if counted < 0.9 * r.count and lasted < 0.9 * promised:
        raise VideoError(
            f"{r.name} is truncated or damaged: it should last {promised:.1f} s ({r.count} frames) but decoding "
            f"stops after {lasted:.1f} s ({counted} frames)"
        )


# ---------------------------------------------------------------- public entry points


def read_clip(
    path: str | os.PathLike,
    num_frames: int,
    *,
    limits: VideoLimits = VideoLimits(),
    keep_side: int | None = KEEP_SIDE,
) -> Clip:
    """Sample `num_frames` frames uniformly over the whole clip (RGB, long side <= keep_side).

    Training caches CNN features of these frames (features.py): a change to which frames come back, or to
    keep_side, must bump features.CACHE_VERSION so stale cached features are not reused.
    """
    if num_frames < 1:
        raise ConfigError("num_frames must be at least 1")
    r = _Reader(path, limits)
    try:
        ms0 = r.start()
        _refuse_if_too_long(r)
        if r.count is None:
            return _scan_clip(r, num_frames, keep_side, ms0)

        total, verified = r.count, False  # verified: counted by decoding in order
        if r.count >= SEEK_MIN_FRAMES:
            probe = _probe_end(r, ms0)
            if probe is not None:
                total, costs = probe
                targets = uniform_indices(total, num_frames)
                try:
                    frames = _fetch_seeking(r, targets, ms0, costs, keep_side)
                    return _clip(r, frames, targets, total, "seek")
                except _Unseekable:  # timestamps disagree with frame numbers: decode in order instead
                    pass
            r.reopen()
            r.start()

        for _ in range(2):
            targets = uniform_indices(total, num_frames)
            frames, counted = _sequential(r, targets, keep_side, to_eof=not verified, max_frames=_max_frames(r))
            if counted is None or counted == total:
                return _clip(r, frames, targets, total, "sequential")
            if len(frames) == len(set(targets)) and _in_segments(targets, counted):
                return _clip(r, frames, targets, counted, "sequential")  # count was a little off (mkv)
            _check_truncated(r, counted, ms0)
            total, verified = counted, True  # now counted by decoding: one more pass takes the right frames
            r.reopen()
            r.start()
        raise VideoError(f"{r.name}: the frame count changed between two readings (damaged file?)")
    finally:
        r.close()


def _clip(r: _Reader, frames: dict[int, np.ndarray], targets: list[int], total: int, method: str) -> Clip:
    return Clip(
        frames=np.stack([frames[t] for t in targets]),
        indices=list(targets),
        timestamps_s=[t / r.fps for t in targets],
        fps=r.fps,
        total_frames=total,
        duration_s=max(total / r.fps, r.max_s + 1.0 / r.fps),  # sparse timestamps last as long as they say
        size=r.size,
        method=method,
        codec=r.codec,
    )


def _scan_clip(r: _Reader, num_frames: int, keep_side: int | None, ms0: float) -> Clip:
    """No believable count: one pass into a decimating buffer, then the kept frames nearest the targets."""
    keep = _Decimator(max(SCAN_MIN_BUDGET, 4 * num_frames))
    clock = _Clock(r.fps)
    cap = r.limits.max_duration_s
    while True:
        index, t = r.pos - 1, clock(r.last_ms)
        if cap and t > cap * DURATION_SLACK:
            raise too_long(r.name, t, cap)
        if keep.wants(index):
            keep.add(index, (r.retrieve(keep_side), t))
        if not r.grab():
            break
    total, last_t = r.pos, clock.last
    fps = r.fps or ((total - 1) / last_t if total > 1 and last_t > 0 else 30.0)
    have = sorted(keep.items)
    picked = [min(have, key=lambda i, t=t: abs(i - t)) for t in uniform_indices(total, num_frames)]
    return Clip(
        frames=np.stack([keep.items[i][0] for i in picked]),
        indices=picked,
        timestamps_s=[keep.items[i][1] for i in picked],
        fps=fps,
        total_frames=total,
        duration_s=last_t + 1.0 / fps,
        size=r.size,
        method="scan",
        codec=r.codec,
    )


def iter_frames(
    path: str | os.PathLike,
    fps: float | None = None,
    *,
    limits: VideoLimits = VideoLimits(),
    keep_side: int | None = KEEP_SIDE,
    threads: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame index, time in s, RGB frame) about `fps` times a second (None: every frame).

    threads: decoder threads (None: one per core). One is faster where the CNN runs beside the decoder
    (timelines): with every core taken by both, FFmpeg's frame threads and OpenVINO's only contend.

    One decoding pass: skipped frames are only grabbed (decoded, never converted), so memory is one
    frame and time is one decode of the file. Times come from the container's timestamps, which stay
    right where the frame rate and count are broken (browser webm). Raises VideoError like read_clip,
    before the first frame when the file can't be used, mid-way if it runs past max_duration_s.
    """
    if fps is not None and not fps > 0:
        raise ConfigError("fps must be positive (or None for every frame)")
    r = _Reader(path, limits, threads)
    try:
        r.start()
        _refuse_if_too_long(r)
        clock, cap = _Clock(r.fps), limits.max_duration_s
        step = 1.0 / fps if fps else 0.0
        due = 0.0  # time of the next frame to yield
        while True:
            t = clock(r.last_ms)
            if cap and t > cap * DURATION_SLACK:
                raise too_long(r.name, t, cap)
            if t + 1e-3 >= due:
                yield r.pos - 1, t, r.retrieve(keep_side)
                while due <= t + 1e-3 and step:
                    due += step
            if not r.grab():
                return
    finally:
        r.close()
