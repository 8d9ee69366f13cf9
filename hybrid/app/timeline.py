"""The Timeline tab: a long video -> labelled segments (hybrid/timeline.py), drawn, and as JSON and CSV files."""

from __future__ import annotations

import html
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import viz
from ..config import DEFAULT_WINDOW_S
from ..errors import ConfigError, HybridError, VideoError
from ..timeline import Timeline, build_timeline
from ..video import open_video
from .clip import Progress
from .context import AppContext
from .errors import AppError, unexpected

log = logging.getLogger(__name__)

TIMELINE_COLUMNS = ["start (s)", "end (s)", "action", "confidence", "windows"]


@dataclass
class TimelineOutputs:
    summary: str  # markdown
    strip: str  # HTML: the coloured timeline and its legend
    figure: Any  # matplotlib Figure: each class's probability per window
    table: list[list[Any]]  # one row per segment: start, end, label, confidence
    files: list[str]  # the JSON and CSV downloads
    details: dict[str, Any]


def make_timeline(
    ctx: AppContext, video_path: str | None, choice: str | None, repo_id: str | None,
    window_s: float = DEFAULT_WINDOW_S, stride_s: float | None = None, progress: Progress | None = None,
    session: str | None = None,
) -> TimelineOutputs:  # fmt: skip
    """A video -> its timeline (sliding windows, hybrid/timeline.py), drawn and written as JSON and CSV
    beside the upload (inside Gradio's cache, so they are served and cleaned up with it). Raises AppError."""
    tl, data, video_path = compute(ctx, video_path, choice, repo_id, window_s, stride_s, progress, session)
    base = f"{Path(video_path).stem}.timeline-w{tl.window_s:g}-s{tl.stride_s:g}"
    json_path, csv_path = (Path(video_path).with_name(f"{base}.{ext}") for ext in ("json", "csv"))
    json_path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    csv_path.write_text(tl.to_csv(), encoding="utf-8")
    segs = [(s.start, s.end, s.label, s.score) for s in tl.segments]
    strip = viz.segments_html(segs, 0.0, tl.duration_s, tl.labels) + viz.legend_html(
        tl.labels, {s.label for s in tl.segments}
    )
    counts: dict[str, float] = {}
    for s in tl.segments:
        counts[s.label] = counts.get(s.label, 0.0) + s.end - s.start
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    summary = (
        f"**{len(tl.segments)} segment{'s' if len(tl.segments) != 1 else ''}** over {viz.clock(tl.duration_s)} · "
        + " · ".join(f"{html.escape(k)} {v / tl.duration_s:.0%} of the time" for k, v in top)
        + f"  \n{len(tl.windows)} windows of {tl.window_s:g} s every {tl.stride_s:g} s · {tl.frames} frames through "
        f"the CNN ({tl.sample_fps:.1f} per second of video) · {tl.timings_ms['total'] / 1000:.1f} s"
    )
    centres = [(w.start + w.end) / 2 for w in tl.windows]
    figure = viz.timeline_figure(centres, np.array([w.probs for w in tl.windows]), tl.labels, tl.duration_s)
    table = [[round(s.start, 2), round(s.end, 2), s.label, round(s.score, 3), s.windows] for s in tl.segments]
    return TimelineOutputs(summary, strip, figure, table, [str(json_path), str(csv_path)], data)


def compute(
    ctx: AppContext, video_path: str | None, choice: str | None, repo_id: str | None,
    window_s: float = DEFAULT_WINDOW_S, stride_s: float | None = None, progress: Progress | None = None,
    session: str | None = None,
) -> tuple[Timeline, dict[str, Any], str]:  # fmt: skip
    """A video -> (its timeline, the same as JSON-ready data with the model's name, the video's path): the
    `timeline --json` contract, what the /timeline API answers. Raises AppError."""
    say = progress or (lambda frac, desc: None)
    if not video_path:
        raise AppError("No video", "Drop a video file in the box first.")
    video_path = ctx.previews.original_of(video_path)
    if not os.path.isfile(video_path):
        raise AppError("Can't read this video", f"{Path(video_path).name}: no such file")
    key, ref = ctx.resolve(choice, repo_id, session)
    limits = ctx.settings.timeline_limits
    try:
        open_video(video_path, limits).release()  # refused before any model loads
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from None
    say(0.02, "Loading the model")
    rec, _ = ctx.models.get(key, ref)
    try:
        tl = build_timeline(
            rec, video_path, float(window_s), None if stride_s is None else float(stride_s), limits,
            progress=lambda f: say(0.05 + 0.9 * f, "Decoding, CNN per frame, RNN per window"),
        )  # fmt: skip
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from e
    except ConfigError as e:
        raise AppError("Check the window and stride", str(e)) from e
    except HybridError as e:
        raise AppError("Something is wrong with this model", str(e)) from e
    except Exception as e:  # a bug or an unforeseen file: say so plainly, keep serving
        log.exception("timeline failed")
        raise unexpected(e) from e
    data = tl.to_dict()
    data["model"] = ref if key.startswith("hub:") else Path(ref).name
    return tl, data, video_path
