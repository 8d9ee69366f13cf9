"""Uniform sampling without decoding the frames nothing refers to: for each uniform target, the nearest decoded one.

Most B-frames of an H.264 clip are never a reference for another frame (the 10 s 720p benchmark clip: 122 of its
300 frames). The decoder can skip those (PyAV, skip_frame="NONREF") and every other frame still decodes exactly,
on frame threads (PyAV's default, slice threads, leaves a one-slice stream on one core): the benchmark clip's
decode then takes 0.37 s instead of 0.50-0.60 s the exact way on an AMD EPYC core pair. (Skipping every B-frame
would save more, but with x264's default B-pyramid some B-frames are references: P-frames after them decode wrong.)
Naming an action does not need frame-exact sampling, so each target takes the nearest decoded frame, at most
MAX_SHIFT frames away, and the Clip reports the indices actually used (method "reference frames").

Only where it is safe and pays: an MP4 or Matroska file (by its bytes) with an H.264 or HEVC stream that has
B-frames (without them every frame is a reference: nothing to skip, and OpenCV is as fast), a believable frame
rate and count, no rotation, targets at least MIN_SPACING frames apart, shorter than video.SEEK_MIN_FRAMES (longer
clips seek). The file passes video.open_video's checks first, and FFmpeg is held to the same demuxers and the
local-file protocol as OpenCV's (container.FFMPEG_DICT). The count is checked against the packets demuxed
(Matroska stores none, OpenCV's is duration x fps: there the packets are counted first, a demux pass of a few ms).
A frame past the duration cap or a read past its time limit raises VideoError as video.read_clip does. Anything
else unexpected (no PyAV, a count that does not match, a target without a frame near it, a decoder error) reads
the clip the exact way, video.read_clip, which also says what is wrong with a damaged file. Training reads exact
frames (features.py); answers read these.
"""

from __future__ import annotations

import bisect
import os
import time
from typing import Any

import cv2
import numpy as np

from . import container
from .errors import ConfigError, VideoError, shorten
from .video import (
    DURATION_SLACK,
    KEEP_SIDE,
    SEEK_MIN_FRAMES,
    Clip,
    VideoLimits,
    claimed_rate,
    fourcc,
    open_video,
    read_clip,
    shrink,
    too_long,
    too_slow,
    uniform_indices,
)

MAX_SHIFT = 3  # frames: x264 puts at most 3 B-frames in a row by default, one of them a reference
MIN_SPACING = 4  # frames between targets: closer than this, shifting would bunch the samples
CODECS = {"h264", "hevc"}  # PyAV's names; OpenCV's for them (FOURCCS) spare opening anything else twice
FOURCCS = {"h264", "avc1", "avc3", "H264", "hevc", "hev1", "hvc1", "HEVC"}
SAMPLINGS = ("fast", "exact")


def read_clip_fast(
    path: str | os.PathLike,
    num_frames: int,
    *,
    limits: VideoLimits = VideoLimits(),
    keep_side: int | None = KEEP_SIDE,
) -> Clip:
    """video.read_clip's Clip, sampled from the frames other frames refer to where that applies (module docstring)."""
    started = time.monotonic()
    probe = _probe(path, limits)  # raises VideoError for a file that can't be used at all
    if probe is not None and probe["count"] >= MIN_SPACING * num_frames:
        clip = _reference_frames(path, num_frames, limits, keep_side, probe, started)
        if clip is not None:
            return clip
    return read_clip(path, num_frames, limits=limits, keep_side=keep_side)


def sampling_setting(sampling: str | None = None) -> str:
    """ "fast" (read_clip_fast) or "exact" (video.read_clip): as asked, else $HYBRID_SAMPLING, else "fast"."""
    value = (sampling or os.environ.get("HYBRID_SAMPLING") or "fast").lower()
    if value not in SAMPLINGS:
        raise ConfigError(f"sampling (HYBRID_SAMPLING) must be one of {SAMPLINGS}, not {shorten(value)!r}")
    return value


def read_clip_as(sampling: str, path: str | os.PathLike, num_frames: int, *, limits: VideoLimits = VideoLimits()):
    """read_clip_fast ("fast") or video.read_clip ("exact")."""
    reader = read_clip_fast if sampling == "fast" else read_clip
    return reader(path, num_frames, limits=limits)


def _probe(path: str | os.PathLike, limits: VideoLimits) -> dict[str, Any] | None:
    """What OpenCV makes of the file (after open_video's checks), or None where the fast way does not apply."""
    cap = open_video(path, limits)
    try:
        fps, count = claimed_rate(cap)
        rotated = cap.get(cv2.CAP_PROP_ORIENTATION_META) not in (0.0, -1.0)
        size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        codec = fourcc(cap)
    finally:
        cap.release()
    if fps is None or count is None or count >= SEEK_MIN_FRAMES or rotated or codec not in FOURCCS:
        return None
    if limits.max_duration_s and count / fps > limits.max_duration_s * DURATION_SLACK:
        return None  # the exact way checks the real length and refuses it
    kind = container.sniff(path)
    if kind not in (container.MP4, container.MATROSKA):
        return None
    return {"fps": fps, "count": count, "size": size, "codec": codec, "estimated": kind == container.MATROSKA}


def _reference_frames(
    path: str | os.PathLike, num_frames: int, limits: VideoLimits, keep_side: int | None, probe: dict, started: float
) -> Clip | None:  # fmt: skip
    try:
        import av
    except ImportError:
        return None
    name = os.path.basename(os.fspath(path))
    fps, total = probe["fps"], probe["count"]
    best: dict[int, tuple[int, int, Any]] = {}  # target -> (distance, index, frame)
    try:
        with av.open(os.fspath(path), options=dict(container.FFMPEG_DICT)) as c:
            stream = c.streams.video[0]
            if stream.codec_context.name not in CODECS or not stream.codec_context.has_b_frames:
                return None  # without B-frames every frame is a reference: nothing to skip
            if probe["estimated"]:
                total = _count_packets(av, path, limits, started, 2 * total)
                if total is None or total < MIN_SPACING * num_frames:
                    return None
            targets = uniform_indices(total, num_frames)
            stream.codec_context.skip_frame = "NONREF"
            stream.thread_type = "FRAME"
            tb = float(stream.time_base)
            start = stream.start_time
            packets = 0
            for packet in c.demux(stream):
                if packet.size:
                    packets += 1
                    if packets > total:
                        return None  # more frames than claimed: the exact way counts them
                _check_time(name, limits, started)
                for frame in packet.decode():
                    if frame.pts is None:
                        return None
                    if start is None:
                        start = frame.pts
                    t = (frame.pts - start) * tb
                    if limits.max_duration_s and t > limits.max_duration_s * DURATION_SLACK:
                        raise too_long(name, t, limits.max_duration_s)
                    _offer(best, targets, round(t * fps), frame)
    except VideoError:
        raise
    except Exception:  # noqa: BLE001 - a decoder or demuxer error: the exact way reads it and says what is wrong
        return None
    picks = [best.get(t) for t in targets]
    if packets != total or any(p is None for p in picks) or len({p[1] for p in picks}) < len(picks):
        return None
    indices = [p[1] for p in picks]
    frames = [shrink(p[2].to_ndarray(format="bgr24"), keep_side) for p in picks]
    return Clip(
        frames=np.stack(frames),
        indices=indices,
        timestamps_s=[i / fps for i in indices],
        fps=fps,
        total_frames=total,
        duration_s=total / fps,
        size=probe["size"],
        method="reference frames",
        codec=probe["codec"],
    )


def _count_packets(av: Any, path: str | os.PathLike, limits: VideoLimits, started: float, most: int) -> int | None:
    """The video stream's frames (non-empty packets) by demuxing alone, None past `most` (raises past max_read_s)."""
    with av.open(os.fspath(path), options=dict(container.FFMPEG_DICT)) as c:
        n = 0
        for packet in c.demux(c.streams.video[0]):
            n += packet.size > 0
            if n > most:
                return None
            _check_time(os.path.basename(os.fspath(path)), limits, started)
    return n


def _check_time(name: str, limits: VideoLimits, started: float) -> None:
    if limits.max_read_s and time.monotonic() - started > limits.max_read_s:
        raise too_slow(name, limits.max_read_s)


def _offer(best: dict[int, tuple[int, int, Any]], targets: list[int], index: int, frame: Any) -> None:
    """Keep `frame` (frame number `index`) for every target within MAX_SHIFT that it is nearer to (ties: the
    earlier frame, the one decoded first)."""
    lo = bisect.bisect_left(targets, index - MAX_SHIFT)
    hi = bisect.bisect_right(targets, index + MAX_SHIFT)
    for t in targets[lo:hi]:
        d = abs(index - t)
        if t not in best or d < best[t][0]:
            best[t] = (d, index, frame)
