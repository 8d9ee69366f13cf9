"""A copy browsers can play for uploads they can't (avi, MPEG-4 Part 2, HEVC...)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import av

from .. import container
from .context import AppContext

# (container, codec) pairs browsers play; anything else gets an H.264 preview
PLAYABLE = {(".mp4", "h264"), (".mp4", "av1"), (".webm", "vp8"), (".webm", "vp9"), (".webm", "av1"), (".ogg", "theora")}


def probe(path: str) -> tuple[str | None, float | None]:
    """(the first video stream's codec name, the container's duration in s) according to FFmpeg (PyAV, in this
    process: ffprobe's process cost ~0.1 s of CPU on every upload, beside the run that decodes the same clip);
    None where it is unknown (a browser's MediaRecorder webm has no duration) or the file is not a video."""
    try:
        container.sniff(path)  # only self-contained video files reach FFmpeg (see hybrid/container.py)
        with av.open(path, options=dict(container.FFMPEG_DICT)) as c:
            codec = c.streams.video[0].codec_context.codec.canonical_name  # ffprobe's codec_name
            duration = c.duration / av.time_base if c.duration else None
    except (container.RefusedFile, OSError, IndexError, ValueError, av.FFmpegError):
        return None, None
    return codec, duration if duration is not None and duration > 0 else None


def browser_preview(ctx: AppContext, path: str | None, max_side: int = 640) -> str | None:
    """For an upload browsers can't play: a small H.264 MP4 beside it (for the player only); for one they play
    but whose file has no duration (a webcam recording: the player shows "Infinity"), the same streams remuxed
    (seconds, no re-encoding); else None. The preview is remembered (bounded) so the model still reads the upload
    itself."""
    if not path or not os.path.isfile(path) or not shutil.which("ffmpeg"):
        return None
    codec, duration = probe(path)
    if codec is None:
        return None
    playable = (Path(path).suffix.lower(), codec) in PLAYABLE
    if playable and duration is not None:
        return None
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", *container.FFMPEG_CLI_OPTIONS, "-i", path]
    cmd += ["-t", str(ctx.settings.timeline_max_s), "-map", "0:v:0", "-map", "0:a:0?"]
    if playable:  # a muxer writing to a file records the duration and the cues the live recording lacked
        out = str(Path(path).with_name(Path(path).stem + ".preview" + Path(path).suffix.lower()))
        cmd += ["-c", "copy", out]
    else:
        out = str(Path(path).with_name(Path(path).stem + ".preview.mp4"))
        scale = f"scale='trunc(min({max_side},iw)/2)*2':-2"
        cmd += ["-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p"]
        cmd += ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", out]
    try:
        subprocess.run(cmd, capture_output=True, timeout=300, check=True)
    except (subprocess.SubprocessError, OSError):
        Path(out).unlink(missing_ok=True)
        return None
    ctx.previews.put(out, path)
    return out
