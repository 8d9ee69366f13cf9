"""What the Gradio app does, as plain functions (app.py only wires these to components; tests call them).

- Models: the bundled folders under assets/models (plus $HYBRID_MODEL), or a Hub repo id typed by the user
  (validated: never a local path, never a URL); loaded once and kept in a small cache.
- classify(): an uploaded video -> everything the page shows (top-5, frames with heat maps and ImageNet
  concepts, frames x features map, belief after every RNN step, timings) plus a JSON-friendly dict.
- live_frame(): one webcam frame for one browser session (LiveState in gr.State) -> the running answer.
- make_timeline(): a long video -> labelled segments (sliding windows), drawn, and as JSON and CSV files.
- Errors the library expects (VideoError, ModelError) become AppError with the library's own message.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import container, viz
from .card_html import safe_card_markdown
from .errors import HybridError, ModelError, VideoError, shorten
from .hub import CARD_NAME, CONFIG_NAME, default_model_dir
from .model import HybridCNNRNN
from .pipeline import Prediction, Recognizer
from .stream import DEFAULT_WINDOW_S, LiveSession
from .timeline import build_timeline
from .video import VideoLimits, open_video, read_clip

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "assets" / "models"
EXAMPLES_DIR = ROOT / "assets" / "examples"
VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".gif")

OVERLAY_GRADCAM = "Evidence for the answer (Grad-CAM)"
OVERLAY_ACTIVATION = "Where the CNN fired (activation)"
OVERLAYS = (OVERLAY_GRADCAM, OVERLAY_ACTIVATION)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


MAX_DURATION_S = _env_float("HYBRID_MAX_DURATION_S", 60.0)  # longer clips are refused
MAX_FILE_MB = _env_float("HYBRID_MAX_FILE_MB", 100.0)  # upload cap (Gradio max_file_size and the reader)
MAX_READ_S = _env_float("HYBRID_MAX_READ_S", 120.0)  # a clip that takes longer to decode is given up
LIMITS = VideoLimits(
    max_duration_s=MAX_DURATION_S, max_side=4096, max_bytes=int(MAX_FILE_MB * 1e6), max_read_s=MAX_READ_S
)


class AppError(Exception):
    """A failure to show a person as it is: a title and a message (app.py raises it as gr.Error)."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title, self.message = title, message


# --- models -----------------------------------------------------------------------------------------
def bundled_models() -> dict[str, Path]:
    """Picker name -> model folder: every assets/models/<name>/ with a config.json, and $HYBRID_MODEL."""
    found: dict[str, Path] = {}
    env = os.environ.get("HYBRID_MODEL", "").strip()
    if env and (Path(env) / CONFIG_NAME).is_file():
        found[Path(env).resolve().name] = Path(env).resolve()
    if MODELS_DIR.is_dir():
        for p in sorted(MODELS_DIR.iterdir()):
            if (p / CONFIG_NAME).is_file():
                found.setdefault(p.name, p.resolve())
    return found


IDLE_MODEL = "ut-interaction-idle-lite0"  # bundled: the six interactions plus no_interaction


def idle_model_tip() -> str:
    """A sentence for the webcam and timeline tabs, where stretches with no action are common: which bundled model
    can say so. Empty when that model isn't bundled."""
    if IDLE_MODEL not in bundled_models():
        return ""
    return (
        f" For the webcam and long videos, pick **{IDLE_MODEL}** in the Model menu: it also knows *no_interaction*, "
        "so moments without an action are not forced into one of the six."
    )


def default_choice() -> str | None:
    """The picker's initial value: the model the CLI would use, when it is a folder we know."""
    models = bundled_models()
    try:
        default = default_model_dir().resolve()
    except ModelError:
        default = None
    for name, folder in models.items():
        if folder == default:
            return name
    return next(iter(models), None)


def default_repo_id() -> str:
    """$HYBRID_MODEL when it names a Hub repo rather than a folder (the repo box starts with it), else ""."""
    env = os.environ.get("HYBRID_MODEL", "").strip()
    if not env or Path(env).exists():
        return ""
    try:
        return validate_repo_id(env)
    except AppError:
        return ""


def warm_up() -> None:
    """Load the default model (and build its CNN engine) in the background, so the first clip is quick."""

    def load() -> None:
        try:
            MODELS.get(*resolve_model(default_choice(), default_repo_id()))
        except Exception as e:  # noqa: BLE001 - the first request will report it properly
            log.warning("warm-up failed: %s", e)

    threading.Thread(target=load, name="warm-up", daemon=True).start()


# "name" or "owner/name": letters, digits, - _ . ; no "--" or "..", no leading/trailing "-" or "."
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9](?:[\w.-]{0,94}[\w])?/)?[A-Za-z0-9](?:[\w.-]{0,94}[\w])?$", re.ASCII)


def validate_repo_id(text: str) -> str:
    """A Hub repo id typed by a person, or AppError. Local paths and URLs are refused on purpose."""
    ref = (text or "").strip()
    if not _REPO_ID.match(ref) or ".." in ref or "--" in ref:
        raise AppError(
            "Not a Hub repo id",
            f"{shorten(ref)!r} is not a Hugging Face repo id. Type it as owner/name (letters, digits, - _ .), "
            "without https:// or a local path.",
        )
    if (Path.cwd() / ref).exists():  # the loader would read a same-named local folder: refuse the ambiguity
        raise AppError("Not a Hub repo id", f"{ref!r} names a local path here; only Hub repo ids are accepted.")
    return ref


def resolve_model(choice: str | None, repo_id: str | None) -> tuple[str, str]:
    """(cache key, reference for from_pretrained): a typed repo id wins over the picker."""
    if repo_id and repo_id.strip():
        ref = validate_repo_id(repo_id)
        return f"hub:{ref}", ref
    models = bundled_models()
    if choice in models:
        return f"dir:{models[choice]}", str(models[choice])
    if not models:
        raise AppError("No model", "No bundled model was found under assets/models; type a Hub repo id instead.")
    raise AppError("Unknown model", f"{choice!r} is not one of the bundled models ({', '.join(models)}).")


def _load_recognizer(ref: str) -> Recognizer:
    return Recognizer(HybridCNNRNN.from_pretrained(ref), limits=LIMITS)


class ModelCache:
    """Recognizers by key, least recently used dropped past `size`.

    Loads run outside the lock, one per key: a request for a key being loaded waits for that load (one future per
    key), a request for a cached key never waits. A failed load is not kept: the next request tries again.
    """

    def __init__(self, size: int = 3, load: Callable[[str], Recognizer] | None = None):
        self.size = size
        self._load = load or _load_recognizer
        self._items: OrderedDict[str, Recognizer] = OrderedDict()
        self._loading: dict[str, Future[Recognizer]] = {}
        self._lock = threading.Lock()  # held for dictionary updates only, never during a load

    def get(self, key: str, ref: str) -> tuple[Recognizer, float]:
        """(recognizer, seconds spent loading or waiting for the load: 0 when it was cached). Raises AppError."""
        t0 = time.perf_counter()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], 0.0
            future = self._loading.get(key)
            owner = future is None
            if owner:
                future = self._loading[key] = Future()
        if not owner:
            return future.result(), time.perf_counter() - t0
        error = None
        try:
            rec = self._load(ref)
        except ModelError as e:  # keep only the message: the traceback's frames may hold a half-built model
            error = AppError("Can't load this model", str(e))
        except BaseException as e:
            with self._lock:
                del self._loading[key]
            future.set_exception(e)
            raise
        with self._lock:
            del self._loading[key]
            if error is None:
                self._items[key] = rec
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if error is not None:
            future.set_exception(error)
            raise error  # outside the except block: no chained ModelError (nor its traceback) comes along
        future.set_result(rec)
        return rec, time.perf_counter() - t0

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


MODELS = ModelCache()


def _strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4 :].lstrip("\n")
    return text


def _card_text(key: str, ref: str) -> str:
    if key.startswith("dir:"):
        path = Path(ref) / CARD_NAME
        return path.read_text(encoding="utf-8") if path.is_file() else ""
    from .hub import read_card

    try:
        return read_card(ref)  # "" when the repo has no card, or it can't be fetched within the Hub's deadline
    except ModelError:  # a repo without a card is still a model
        return ""


MAX_CARD_CHARS = 200_000  # far longer than any real card; keeps the sanitizer's work bounded


def model_card(choice: str | None, repo_id: str | None) -> str:
    """Markdown for the model tab: what it knows (classes, frames, input size) and its card as written, with only
    allow-listed HTML left (card_html.py)."""
    key, ref = resolve_model(choice, repo_id)
    rec, _ = MODELS.get(key, ref)
    m, c = rec.model, rec.model.config
    rnn = f"{'bi-' if c.get('bidirectional') else ''}{str(c.get('rnn_type', 'gru')).upper()}"
    head = [
        f"### {ref if key.startswith('hub:') else Path(ref).name}",
        f"**Knows {len(m.labels)} actions:** " + " · ".join(f"`{x}`" for x in m.labels),
        "",
        f"**Reads** {m.num_frames} frames spread over the clip, each {m.image_size[1]}×{m.image_size[0]} px "
        f"({m.resize_mode}) · **CNN** `{c.get('backbone')}` · **RNN** {rnn} ({c.get('hidden_size')} units, "
        f"{c.get('temporal_pool')} pooling)",
        "",
        "---",
    ]
    body = _strip_front_matter(_card_text(key, ref)).strip()
    if len(body) > MAX_CARD_CHARS:
        body = body[:MAX_CARD_CHARS] + "\n\n_(the rest of this card is not shown: it is over 200 000 characters)_"
    if not body:
        body = "_This model has no card (README.md): no training data, metrics or limits are documented._"
    return safe_card_markdown("\n".join(head) + "\n\n" + body)  # a card from the Hub is hostile input


# --- explaining a prediction --------------------------------------------------------------------------
def grad_cam(model: HybridCNNRNN, fmap: torch.Tensor, class_index: int) -> np.ndarray:
    """Grad-CAM of the clip's class logit on every frame's last CNN map: [T,C,h,w] -> [T,h,w] in [0,1].

    Gradients flow only through the pooling and the RNN head (cheap). One scale for the whole clip, so a
    frame that barely moved the decision stays dark.
    """
    with torch.enable_grad():
        f = fmap.detach().clone().float().requires_grad_(True)  # clone: a normal tensor, not an inference one
        out = model.forward_head(model.pool_frames(f)[None])
        out.logits[0, class_index].backward()
    weights = f.grad.mean((2, 3), keepdim=True)  # [T,C,1,1]
    cam = torch.relu((weights * f.detach()).sum(1))  # [T,h,w]
    return (cam / cam.max().clamp_min(1e-12)).numpy()


@dataclass
class Result:
    """One classified clip: the prediction and the per-frame maps for both overlays."""

    pred: Prediction
    cams: np.ndarray  # [T,h,w] Grad-CAM for the answer
    config: dict[str, Any]
    model_ref: str
    load_s: float


class Recent:
    """The newest `size` items by key, thread-safe: a read or a write makes an item the newest, the oldest go."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: Any) -> Any:
        with self._lock:
            return self._items.pop(key, None)


class ResultCache(Recent):
    """Recent results by (file, model), so switching the overlay redraws without re-running the model."""

    def __init__(self, size: int = 6):
        super().__init__(size)

    @staticmethod
    def key(path: str, model_key: str) -> tuple:
        st = os.stat(path)
        return (os.path.abspath(path), st.st_size, st.st_mtime_ns, model_key)


RESULTS = ResultCache()
_RUN_LOCK = threading.Lock()  # one clip through the CNN at a time: CPU-bound, and engines need not be thread-safe

Progress = Callable[[float, str], Any]


def run_model(video_path: str, choice: str | None, repo_id: str | None, progress: Progress | None = None) -> Result:
    """Decode, CNN, RNN, explain (cached per file and model). Raises AppError."""
    say = progress or (lambda frac, desc: None)
    if not video_path:
        raise AppError("No video", "Drop a video file in the box or record one with the webcam first.")
    video_path = original_of(video_path)
    key, ref = resolve_model(choice, repo_id)
    try:
        cache_key = RESULTS.key(video_path, key)
    except OSError as e:
        raise AppError("Can't read this video", f"{Path(video_path).name}: no such file") from e
    hit = RESULTS.get(cache_key)
    if hit is not None:
        return hit
    try:
        open_video(video_path, LIMITS).release()  # a file that can't be used is refused before any model loads
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from None
    say(0.05, "Loading the model")
    rec, load_s = MODELS.get(key, ref)
    model = rec.model
    try:
        say(0.2, "Decoding and sampling frames")
        t0 = time.perf_counter()
        clip = read_clip(video_path, model.num_frames, limits=rec.limits)
        decode_ms = (time.perf_counter() - t0) * 1000
        say(0.55, f"CNN on {len(clip.indices)} frames, then the RNN")
        with _RUN_LOCK:
            pred = rec.predict_clip(clip, topk=5, explain=True)
            say(0.85, "Explaining the answer")
            cams = grad_cam(model, pred.fmap, model.labels.index(pred.label))
        pred.fmap = None  # [T,C',h,w]: not needed any more, don't keep it in the result cache
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from e
    except HybridError as e:
        raise AppError("Something is wrong with this model", str(e)) from e
    pred.timings_ms = {"decode": decode_ms, **pred.timings_ms}
    pred.timings_ms["total"] += decode_ms
    result = Result(pred, cams, model.config, ref, load_s)
    RESULTS.put(cache_key, result)
    return result


# --- what the page shows ------------------------------------------------------------------------------
def gallery_items(result: Result, overlay: str = OVERLAY_GRADCAM) -> list[tuple[np.ndarray, str]]:
    """(image, caption) per sampled frame: the frame under a heat map, its time, and the top ImageNet concepts
    (or, for a model whose backbone was fine-tuned, the RNN's belief after that frame)."""
    p, c = result.pred, result.config
    maps = p.heatmaps if overlay == OVERLAY_ACTIVATION else result.cams
    items = []
    for i, frame in enumerate(p.frames):
        heat = viz.heat_on_frame(maps[i], frame.shape[:2], c["image_size"], c.get("resize_mode", "squash"))
        img = viz.badge(viz.overlay(frame, heat), f"{p.timestamps_s[i]:.2f} s")
        if p.concepts:
            caption = viz.frame_caption(p.timestamps_s[i], p.concepts[i] if i < len(p.concepts) else [])
        else:
            k = int(np.argmax(p.step_probs[i]))
            caption = f"→ {p.labels[k]} {float(p.step_probs[i][k]):.0%}"  # the time is on the frame's badge
        items.append((img, caption))
    return items


def label_value(pred: Prediction) -> dict[str, float]:
    """gr.Label value: top-5 classes and their probabilities."""
    return {label: float(score) for label, score in pred.topk}


def verdict_markdown(result: Result) -> str:
    """One sentence: the answer, how sure, and when the RNN settled on it."""
    p = result.pred
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
    out["model"] = result.model_ref if not Path(result.model_ref).is_absolute() else Path(result.model_ref).name
    return out


@dataclass
class Outputs:
    label: dict[str, float]
    verdict: str
    gallery: list[tuple[np.ndarray, str]]
    features: Any  # matplotlib Figure
    belief: Any  # matplotlib Figure
    timings: str
    details: dict[str, Any]


def render(result: Result, overlay: str = OVERLAY_GRADCAM) -> Outputs:
    p = result.pred
    return Outputs(
        label=label_value(p),
        verdict=verdict_markdown(result),
        gallery=gallery_items(result, overlay),
        features=viz.feature_figure(p.features, p.timestamps_s),
        belief=viz.belief_figure(p.step_probs, p.labels, p.timestamps_s, p.attention),
        timings=timings_markdown(result),
        details=details(result),
    )


def redraw(video_path: str | None, choice: str | None, repo_id: str | None, overlay: str):
    """Gallery items for another overlay from the cached result, or None when there is no result yet."""
    if not video_path:
        return None
    try:
        key, _ = resolve_model(choice, repo_id)
        result = RESULTS.get(RESULTS.key(original_of(video_path), key))
    except (AppError, OSError):
        return None
    return None if result is None else gallery_items(result, overlay)


class Failures(Recent):
    """The last failure of each browser session, for the answer panel once the red toast fades.

    Keyed by Gradio's session hash (never by upload path, which two people sending the same bytes share) and
    holding only the title and message: nothing a failed run built (a half-loaded model, a traceback) stays
    referenced. Bounded: the oldest sessions are forgotten first.
    """

    def __init__(self, size: int = 256):
        super().__init__(size)

    def put(self, session: str, error: AppError) -> None:
        super().put(session, (error.title, error.message))

    def pop(self, session: str) -> AppError | None:
        item = super().pop(session)
        return None if item is None else AppError(*item)


FAILURES = Failures()


def failure_markdown(error: AppError | None) -> str:
    """What the answer panel says after a failed run: the reason, and what to try."""
    if error is None:
        return "#### No answer\nThe clip could not be classified; the reason is in the red message."
    hint = ""
    if error.title.startswith("Can't use") or error.title.startswith("Can't read"):
        hint = (
            f"\n\n_Try an MP4 (H.264) or WebM clip of at most {MAX_DURATION_S:.0f} s and {MAX_FILE_MB:.0f} MB, "
            "or record one with the webcam._"
        )
    return f"#### {error.title}\n{error.message}{hint}"


def classify(
    video_path: str | None,
    choice: str | None = None,
    repo_id: str | None = None,
    overlay: str = OVERLAY_GRADCAM,
    progress: Progress | None = None,
    session: str | None = None,
) -> Outputs:
    """The app's main handler: an uploaded video -> everything the page shows. Raises AppError (and, given the
    browser session, keeps its words in FAILURES for the answer panel)."""
    try:
        result = run_model(video_path or "", choice, repo_id, progress)
        return render(result, overlay)
    except AppError as e:
        err = AppError(e.title, e.message)  # without the cause's traceback and whatever its frames hold
    except Exception as e:  # a bug or an unforeseen file: say so plainly, keep serving
        log.exception("classification failed")
        err = AppError("Unexpected error", f"The app failed on this input ({type(e).__name__}: {shorten(e, 300)}).")
    if session:
        FAILURES.put(session, err)
    raise err


# --- a preview the browser can play -------------------------------------------------------------------
# (container, codec) pairs browsers play; anything else (avi, MPEG-4 Part 2, HEVC...) gets an H.264 preview
PLAYABLE = {(".mp4", "h264"), (".mp4", "av1"), (".webm", "vp8"), (".webm", "vp9"), (".webm", "av1"), (".ogg", "theora")}


class Previews(Recent):
    """Preview path -> the upload it was made from (what the model should read); the newest `size` only, so a
    long-running server's memory stays flat (Gradio deletes the files themselves after an hour)."""

    def __init__(self, size: int = 512):
        super().__init__(size)

    def put(self, preview: str, original: str) -> None:
        super().put(os.path.abspath(preview), os.path.abspath(original))

    def get(self, preview: str) -> str | None:
        return super().get(os.path.abspath(preview))


PREVIEWS = Previews()


def original_of(path: str) -> str:
    """The uploaded file behind a preview we made (if it still exists), else the path itself."""
    orig = PREVIEWS.get(path)
    return orig if orig and os.path.isfile(orig) else path


def video_codec(path: str) -> str | None:
    """The first video stream's codec name according to ffprobe (None when unknown or not a video)."""
    if not shutil.which("ffprobe"):
        return None
    try:
        container.sniff(path)  # only self-contained video files reach ffprobe (see hybrid/container.py)
    except (container.RefusedFile, OSError):
        return None
    cmd = ["ffprobe", "-v", "error", *container.FFMPEG_CLI_OPTIONS, "-select_streams", "v:0"]
    cmd += ["-show_entries", "stream=codec_name", "-of", "json"]
    try:
        out = subprocess.run([*cmd, "-i", path], capture_output=True, timeout=30, check=True).stdout
        return json.loads(out)["streams"][0]["codec_name"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError):
        return None


def browser_preview(path: str | None, max_side: int = 640) -> str | None:
    """For an upload browsers can't play: a small H.264 MP4 beside it (for the player only), else None."""
    if not path or not os.path.isfile(path) or not shutil.which("ffmpeg"):
        return None
    codec = video_codec(path)
    if codec is None or (Path(path).suffix.lower(), codec) in PLAYABLE:
        return None
    out = str(Path(path).with_name(Path(path).stem + ".preview.mp4"))
    scale = f"scale='trunc(min({max_side},iw)/2)*2':-2"
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-y", *container.FFMPEG_CLI_OPTIONS, "-i", path]
    cmd += ["-t", str(MAX_DURATION_S), "-map", "0:v:0", "-map", "0:a:0?"]
    cmd += ["-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", out]
    try:
        subprocess.run(cmd, capture_output=True, timeout=300, check=True)
    except (subprocess.SubprocessError, OSError):
        Path(out).unlink(missing_ok=True)
        return None
    PREVIEWS.put(out, path)
    return out


# --- examples -----------------------------------------------------------------------------------------
def example_videos(extra_dir: str | os.PathLike | None = None, limit: int = 12) -> list[Path]:
    """Clips the project ships (assets/examples) plus those in extra_dir (or $HYBRID_EXAMPLES)."""
    dirs = [EXAMPLES_DIR]
    extra = extra_dir or os.environ.get("HYBRID_EXAMPLES")
    if extra:
        dirs.append(Path(extra))
    found: list[Path] = []
    for d in dirs:
        if d.is_dir():
            found += sorted(p.resolve() for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    return found[:limit]


# --- live webcam ------------------------------------------------------------------------------------------
LIVE_WINDOW_S = _env_float("HYBRID_LIVE_WINDOW_S", DEFAULT_WINDOW_S)  # the stretch of video behind each answer
LIVE_POLICY = os.environ.get("HYBRID_LIVE_POLICY", "auto")  # auto, carry or window (see hybrid/stream.py)
LIVE_TIME_LIMIT_S = int(_env_float("HYBRID_LIVE_TIME_LIMIT_S", 300))  # a stream's length (Gradio's time_limit)
LIVE_HISTORY_S = 30.0  # how far back the rolling history strip reaches


@dataclass
class LiveState:
    """One browser tab's live state (kept in gr.State): which model, and its LiveSession."""

    key: str
    session: LiveSession


@dataclass
class LiveView:
    verdict: str  # markdown: the current action and its confidence
    label: dict[str, float]  # top 5
    history: str  # HTML: the rolling history strip and the last changes
    status: str  # markdown: pace, frames taken and skipped, time per frame


LIVE_IDLE = LiveView(
    verdict="#### Start the webcam\nThe answer appears here after the first frame and follows what the camera sees.",
    label={},
    history="",
    status="",
)


def live_frame(
    frame: np.ndarray | None, state: LiveState | None, choice: str | None, repo_id: str | None,
    now: float | None = None,
) -> tuple[LiveView | None, LiveState]:  # fmt: skip
    """One webcam frame for one session -> (the new view, or None when the frame was skipped; the state).

    The first frame (or a change of model) makes a new LiveSession on the cached model and engine. Frames
    arriving sooner than the model's pace are skipped before the CNN (see hybrid/stream.py). Raises AppError.
    """
    key, ref = resolve_model(choice, repo_id)
    if state is None or state.key != key:
        rec, _ = MODELS.get(key, ref)
        try:
            session = LiveSession(rec.model, rec.engine, LIVE_WINDOW_S, LIVE_POLICY, history_s=LIVE_HISTORY_S)
        except (ValueError, ModelError) as e:
            raise AppError("Can't stream with this model", str(e)) from e
        state = LiveState(key, session)
    if frame is None:
        return None, state
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] < 3:
        raise AppError("Not a camera frame", f"expected an RGB image, got an array of shape {frame.shape}")
    try:
        update = state.session.offer(np.ascontiguousarray(frame[..., :3]), now)
    except HybridError as e:
        raise AppError("Something is wrong with this model", str(e)) from e
    return (None if update is None else live_view(state.session)), state


def live_view(session: LiveSession) -> LiveView:
    """What the Live tab shows for a session's current belief."""
    u = session.last
    if u is None:
        return LIVE_IDLE
    labels = session.labels
    warm = "" if session.taken >= session.T else f" · warming up ({u.context} of {session.T} frames)"
    verdict = (
        f"## {u.label} — {u.score:.0%}\nover the last {u.context * session.period:.1f} s ({u.context} frames){warm}"
    )
    t1 = max(u.t, LIVE_HISTORY_S)
    spans = [(s.start, s.end + session.period, s.label, s.score) for s in session.history]
    changes = "".join(
        f'<li><b style="color:{viz.class_color(labels, s.label)}">{html.escape(s.label)}</b> '
        f"from {viz.clock(s.start)} ({s.score:.0%})</li>"
        for s in list(session.history)[-4:][::-1]
    )
    history = (
        f'<div id="live-strip">{viz.segments_html(spans, t1 - LIVE_HISTORY_S, t1, labels)}</div>'
        f'<ol class="changes" style="margin:6px 0 0;padding-left:1.2em;font-size:.9rem">{changes}</ol>'
    )
    st = session.status()
    status = (
        f"frame {st['taken']} at {viz.clock(u.t)} · {st['take_fps']:.1f} frames/s taken "
        f"({st['skipped']} skipped) · {u.latency_ms:.0f} ms per frame (CNN {u.cnn_ms:.0f}) · "
        f"policy: {st['policy']}" + (f" ({st['lanes']} lanes)" if st["lanes"] else "")
    )
    return LiveView(verdict, dict(u.topk(labels)), history, status)


def live_reset(state: LiveState | None) -> LiveState | None:
    """Forget what the session has seen (RNN states, window, history); the model stays loaded."""
    if state is not None:
        state.session.reset()
    return state


# --- long videos: timeline -----------------------------------------------------------------------------------
TIMELINE_MAX_S = _env_float("HYBRID_TIMELINE_MAX_S", 600.0)  # longer videos are refused by the Timeline tab
TIMELINE_LIMITS = VideoLimits(  # reading a timeline includes the CNN on every taken frame: more time
    max_duration_s=TIMELINE_MAX_S, max_side=4096, max_bytes=int(MAX_FILE_MB * 1e6), max_read_s=10 * MAX_READ_S
)


@dataclass
class TimelineOutputs:
    summary: str  # markdown
    strip: str  # HTML: the coloured timeline and its legend
    figure: Any  # matplotlib Figure: each class's probability per window
    table: list[list[Any]]  # one row per segment: start, end, label, confidence
    files: list[str]  # the JSON and CSV downloads
    details: dict[str, Any]


TIMELINE_COLUMNS = ["start (s)", "end (s)", "action", "confidence", "windows"]


def make_timeline(
    video_path: str | None, choice: str | None, repo_id: str | None, window_s: float = DEFAULT_WINDOW_S,
    stride_s: float | None = None, progress: Progress | None = None,
) -> TimelineOutputs:  # fmt: skip
    """A video -> its timeline (sliding windows, hybrid/timeline.py), drawn and written as JSON and CSV
    beside the upload (inside Gradio's cache, so they are served and cleaned up with it). Raises AppError."""
    say = progress or (lambda frac, desc: None)
    if not video_path:
        raise AppError("No video", "Drop a video file in the box first.")
    video_path = original_of(video_path)
    if not os.path.isfile(video_path):
        raise AppError("Can't read this video", f"{Path(video_path).name}: no such file")
    key, ref = resolve_model(choice, repo_id)
    try:
        open_video(video_path, TIMELINE_LIMITS).release()  # refused before any model loads
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from None
    say(0.02, "Loading the model")
    rec, _ = MODELS.get(key, ref)
    try:
        tl = build_timeline(
            rec, video_path, float(window_s), None if stride_s is None else float(stride_s), TIMELINE_LIMITS,
            progress=lambda f: say(0.05 + 0.9 * f, "Decoding, CNN per frame, RNN per window"),
        )  # fmt: skip
    except VideoError as e:
        raise AppError("Can't use this video", str(e)) from e
    except ValueError as e:
        raise AppError("Check the window and stride", str(e)) from e
    except HybridError as e:
        raise AppError("Something is wrong with this model", str(e)) from e
    except Exception as e:  # a bug or an unforeseen file: say so plainly, keep serving
        log.exception("timeline failed")
        raise AppError("Unexpected error", f"The app failed on this input ({type(e).__name__}: {e}).") from e
    data = tl.to_dict()
    data["model"] = ref if key.startswith("hub:") else Path(ref).name
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
