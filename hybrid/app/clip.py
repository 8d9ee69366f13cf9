"""The Classify tab: an uploaded or recorded clip -> everything the page shows (top-5, the sampled frames under a
heat map with their ImageNet concepts, how alike the frames look, the belief after every RNN step, timings, JSON)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import charts, viz
from ..config import HybridConfig
from ..errors import HybridError, VideoError
from ..fast_clip import read_clip_as
from ..pipeline import Prediction
from ..video import open_video
from .context import AppContext
from .errors import AppError, unexpected

log = logging.getLogger(__name__)

OVERLAY_GRADCAM = "Evidence for the answer (Grad-CAM)"
OVERLAY_ACTIVATION = "Where the CNN fired (activation)"
OVERLAYS = (OVERLAY_GRADCAM, OVERLAY_ACTIVATION)

Progress = Callable[[float, str], Any]


@dataclass
class Result:
    """One classified clip: the prediction, explained (heat maps, Grad-CAM of the answer, concepts)."""

    pred: Prediction
    config: HybridConfig
    model_ref: str
    load_s: float


def run_model(
    ctx: AppContext, video_path: str, choice: str | None, repo_id: str | None, progress: Progress | None = None,
    session: str | None = None, explain: bool = True,
) -> Result:  # fmt: skip
    """Decode, CNN, RNN, explain (cached per file and model; explain False: no heat maps, Grad-CAM or concepts,
    and not cached). Raises AppError."""
    say = progress or (lambda frac, desc: None)
    if not video_path:
        raise AppError("No video", "Drop a video file in the box or record one with the webcam first.")
    video_path = ctx.previews.original_of(video_path)
    key, ref = ctx.resolve(choice, repo_id, session)
    try:
        cache_key = ctx.results.key(video_path, key)
    except OSError as e:
        raise AppError("Can't read this video", f"{Path(video_path).name}: no such file") from e
    hit = ctx.results.get(cache_key)
    if hit is not None:
        return hit
    try:  # a file that can't be used is refused before any model loads
        open_video(video_path, ctx.settings.limits).release()
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from None
    say(0.05, "Loading the model")
    rec, load_s = ctx.models.get(key, ref)
    try:
        say(0.2, "Decoding and sampling frames")
        t0 = time.perf_counter()
        clip = read_clip_as(rec.sampling, video_path, rec.model.num_frames, limits=rec.limits)
        decode_ms = (time.perf_counter() - t0) * 1000
        say(0.55, f"CNN on {len(clip.indices)} frames, then the RNN and the heat maps")
        with ctx.run_lock:
            pred = rec.predict_clip(clip, topk=5, explain=explain)
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from e
    except HybridError as e:
        raise AppError("Something is wrong with this model", str(e)) from e
    pred.timings_ms = {"decode": decode_ms, **pred.timings_ms}
    pred.timings_ms["total"] += decode_ms
    result = Result(pred, rec.model.config, ref, load_s)
    if explain:
        ctx.results.put(cache_key, result)
    return result


def answer(ctx: AppContext, video_path: str | None, choice: str | None = None, repo_id: str | None = None,
           session: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The /classify API: a video -> the CLI's `predict --json` answer (label, score, topk, known, openset_score,
    threshold, similarity, similarity_threshold, frames, timings_ms, video) plus the model. Raises AppError."""
    result = run_model(ctx, video_path or "", choice, repo_id, None, session, explain=False)
    return {**result.pred.to_dict(), "model": _model_name(result.model_ref)}


# --- what the page shows ------------------------------------------------------------------------------
def gallery_items(result: Result, overlay: str = OVERLAY_GRADCAM) -> list[tuple[np.ndarray, str]]:
    """(image, caption) per sampled frame: the frame under a heat map, its time, and the top ImageNet concepts
    (or, for a model whose backbone was fine-tuned, the RNN's belief after that frame)."""
    p, c = result.pred, result.config
    maps = p.heatmaps if overlay == OVERLAY_ACTIVATION else p.gradcam
    items = []
    for i, frame in enumerate(p.frames):
        heat = viz.heat_on_frame(maps[i], frame.shape[:2], c.image_size, c.resize_mode)
        img = viz.badge(viz.overlay(frame, heat), f"{p.timestamps_s[i]:.2f} s")
        if p.concepts:
            caption = viz.frame_caption(p.timestamps_s[i], p.concepts[i] if i < len(p.concepts) else [])
        else:
            k = int(np.argmax(p.step_probs[i]))
            # the number first: a narrow tile cuts the end of a caption; the time is on the frame's badge
            caption = f"{float(p.step_probs[i][k]):.0%} {p.labels[k]}"
        items.append((img, caption))
    return items


def label_value(pred: Prediction) -> dict[str, float]:
    """gr.Label value: top-5 classes and their probabilities."""
    return {label: float(score) for label, score in pred.topk}


def verdict_markdown(result: Result) -> str:
    """One sentence: the answer, how sure, and when the RNN settled on it; or, for a clip below the model's
    open-set threshold, that it is none of the actions the model knows (the closest one smaller)."""
    p = result.pred
    if p.known is False:
        return (
            '## <span class="not-known">Not one of the actions I know</span>\n'
            f"closest: **{p.label}** {p.score:.0%} — not named: {p.why_unknown}. It knows: "
            + " · ".join(p.labels) + "."
        )  # fmt: skip
    T = len(p.indices)
    d = viz.decision_step(p.step_probs)
    when = (
        "only at the last frame"
        if d == T - 1 and T > 1
        else f"from frame {d + 1} of {T} on ({p.timestamps_s[d]:.1f} s into the clip)"
        if d > 0
        else "from the first frame on"
    )
    runner = f"; next: **{p.topk[1][0]}** {p.topk[1][1]:.0%}" if len(p.topk) > 1 else ""
    return f"## {p.label} — {p.score:.0%}\nThe RNN settled on this {when}{runner}."


def timings_markdown(result: Result) -> str:
    """'decode 120 ms · CNN 410 ms · RNN 3 ms · total 0.6 s' plus what was read."""
    t, v = result.pred.timings_ms, result.pred.video
    parts = [f"decode {t['decode']:.0f} ms", f"CNN {t['preprocess'] + t['cnn']:.0f} ms", f"RNN {t['rnn']:.0f} ms"]
    parts.append(f"total {t['total'] / 1000:.2f} s")
    if result.load_s:
        parts.append(f"model load {result.load_s:.1f} s (first use)")
    clip = (
        f"{len(result.pred.indices)} frames sampled from {v['total_frames']} ({v['width']}×{v['height']}, "
        f"{v['duration_s']:.1f} s, {v['fps']:.0f} fps, {v['codec']})"
    )
    return "**Time:** " + " · ".join(parts) + "  \n**Read:** " + clip


def details(result: Result) -> dict[str, Any]:
    """JSON-friendly result: the CLI's --json --detail keys plus the model used."""
    out = result.pred.to_dict(detail=True)
    out["model"] = _model_name(result.model_ref)
    return out


def _model_name(ref: str) -> str:
    """A Hub repo id as it is, a folder by its name (no server path goes out)."""
    return ref if not Path(ref).is_absolute() else Path(ref).name


@dataclass
class Outputs:
    label: dict[str, float]
    verdict: str
    gallery: list[tuple[np.ndarray, str]]
    features: str  # SVG
    belief: str  # SVG
    timings: str
    details: dict[str, Any]


def render(result: Result, overlay: str = OVERLAY_GRADCAM) -> Outputs:
    p = result.pred
    return Outputs(
        label=label_value(p),
        verdict=verdict_markdown(result),
        gallery=gallery_items(result, overlay),
        features=charts.similarity_svg(p.features, p.timestamps_s),
        belief=charts.belief_svg(p.step_probs, p.labels, p.timestamps_s, p.attention, threshold=_drawn(result)),
        timings=timings_markdown(result),
        details=details(result),
    )


def _drawn(result: Result) -> float | None:
    """The open-set threshold as a probability on the belief chart (for a max-softmax score only)."""
    c = result.config
    return c.openset_threshold if c.openset_score == "maxprob" else None


def redraw(ctx: AppContext, video_path: str | None, choice: str | None, repo_id: str | None, overlay: str,
           session: str | None = None):  # fmt: skip
    """Gallery items for another overlay from the cached result, or None when there is no result yet."""
    if not video_path:
        return None
    try:
        key, _ = ctx.resolve(choice, repo_id, session)
        result = ctx.results.get(ctx.results.key(ctx.previews.original_of(video_path), key))
    except (AppError, OSError):
        return None
    return None if result is None else gallery_items(result, overlay)


def classify(
    ctx: AppContext,
    video_path: str | None,
    choice: str | None = None,
    repo_id: str | None = None,
    overlay: str = OVERLAY_GRADCAM,
    progress: Progress | None = None,
    session: str | None = None,
) -> Outputs:
    """The app's main handler: an uploaded video -> everything the page shows. Raises AppError (and, given the
    browser session, keeps its words in ctx.failures for the answer panel)."""
    try:
        return render(run_model(ctx, video_path or "", choice, repo_id, progress, session), overlay)
    except AppError as e:
        err = AppError(e.title, e.message)  # without the cause's traceback and whatever its frames hold
    except Exception as e:  # a bug or an unforeseen file: say so plainly, keep serving
        log.exception("classification failed")
        err = unexpected(e)
    if session:
        ctx.failures.put(session, err)
    raise err
