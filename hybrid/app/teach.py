"""The Teach tab's work: each browser session's takes per action, a few-shot model trained from them
(hybrid/teach.py), what it measured; the model then joins that session's model picker, downloads as a zip or goes to
the Hub.

Each session's takes and models live in a folder of its own, under the app's private cache when the app runs as
`python app.py`: removed when the session ends (the page is closed), after `ttl_s` without use, and at stop."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DataError, HybridError, VideoError, shorten
from ..teach import MAX_ACTIONS, MIN_TAKES, Taught, teach, zip_model
from ..video import VIDEO_EXTS, read_clip
from .errors import AppError
from .models import TAUGHT, validate_repo_id
from .settings import TeachLimits

ACTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")  # an action's name: also its folder's name
THUMB_H = 72  # px, the height of a take's thumbnail strip

Progress = Callable[[float, str], Any]


@dataclass
class Take:
    action: str
    path: Path
    seconds: float
    thumb: Path  # a strip of a few of its frames (PNG)

    @property
    def caption(self) -> str:
        return f"{self.action} · {self.seconds:.1f} s"


@dataclass
class Workshop:
    """One session's takes, models and last result."""

    folder: Path
    takes: list[Take] = field(default_factory=list)
    models: dict[str, Path] = field(default_factory=dict)  # token -> model folder
    taught: Taught | None = None
    token: str | None = None  # of the last taught model
    zip: Path | None = None  # the last taught model's folder, zipped
    used: float = field(default_factory=time.monotonic)
    busy: bool = False  # training


class TeachStore:
    """Every session's Workshop, by session hash; sessions never see each other's."""

    def __init__(self, limits: TeachLimits = TeachLimits(), root: Path | None = None, max_side: int = 4096,
                 max_read_s: float = 120.0):  # fmt: skip
        self.limits = limits
        self.video_limits = limits.video(max_side, max_read_s)
        self._root = root
        self._shops: dict[str, Workshop] = {}
        self._lock = threading.Lock()
        self.train_lock = threading.Lock()  # one training at a time: the CPU is shared with everyone's clips

    @property
    def root(self) -> Path:
        """Made on first use, in Gradio's temp folder (the private cache of `python app.py`)."""
        with self._lock:
            if self._root is None:
                parent = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
                parent.mkdir(parents=True, exist_ok=True)
                self._root = Path(tempfile.mkdtemp(prefix="hybrid-teach-", dir=parent))
            self._root.mkdir(parents=True, exist_ok=True)
            return self._root

    def workshop(self, session: str | None) -> Workshop:
        if not session:
            raise AppError("No session", "Teaching needs the page open in a browser (or a gradio_client session).")
        self.sweep()
        root = self.root
        with self._lock:
            shop = self._shops.get(session)
            if shop is None:
                shop = self._shops[session] = Workshop(Path(tempfile.mkdtemp(prefix="s-", dir=root)))
            shop.used = time.monotonic()
            return shop

    # --- takes ------------------------------------------------------------------------------------------------
    def add(self, session: str | None, action: str, files: list[str]) -> list[Take]:
        """Check and keep these files as takes of `action` (all or none). Raises AppError saying what is wrong."""
        name = check_action(action)
        files = [f for f in files if f]
        if not files:
            raise AppError("No takes", "Record a take with the webcam or drop one or more video files first.")
        shop = self.workshop(session)
        actions = {t.action for t in shop.takes} | {name}
        if len(actions) > MAX_ACTIONS:
            raise AppError("Too many actions", f"Teach at most {MAX_ACTIONS} actions at a time.")
        if len(shop.takes) + len(files) > self.limits.max_takes:
            raise AppError("Too many takes", f"At most {self.limits.max_takes} takes in all; remove some first.")
        checked = [self._check(f) for f in files]
        out = []
        for src, (seconds, frames) in zip(files, checked):
            folder = shop.folder / "takes" / name
            folder.mkdir(parents=True, exist_ok=True)
            n = 1 + max([int(m.group(1)) for p in folder.iterdir() if (m := re.match(r"take(\d+)", p.name))] + [0])
            dest = folder / f"take{n}{Path(src).suffix.lower()}"
            shutil.copyfile(src, dest)
            thumb = shop.folder / "thumbs" / f"{name}-{n}.png"
            thumb.parent.mkdir(exist_ok=True)
            strip(frames).save(thumb)
            out.append(Take(name, dest, seconds, thumb))
        shop.takes += out
        return out

    def _check(self, path: str) -> tuple[float, np.ndarray]:
        """(seconds, a few frames) of a usable take; AppError naming the file otherwise."""
        name = shorten(Path(path).name)
        if Path(path).suffix.lower() not in VIDEO_EXTS:
            raise AppError("Not a video", f"{name}: takes are video files ({', '.join(sorted(VIDEO_EXTS))}).")
        try:
            clip = read_clip(path, 4, limits=self.video_limits)  # opens it within the limits, then decodes
        except (VideoError, OSError) as e:
            said = str(e)
            raise AppError("Can't use this take", said if name in said else f"{name}: {said}") from None
        return clip.duration_s, clip.frames

    def remove(self, session: str | None, index: int) -> None:
        shop = self.workshop(session)
        if not 0 <= index < len(shop.takes):
            raise AppError("No such take", "That take was already removed.")
        take = shop.takes.pop(index)
        take.path.unlink(missing_ok=True)
        take.thumb.unlink(missing_ok=True)

    def takes(self, session: str | None) -> list[Take]:
        return list(self.workshop(session).takes)

    # --- training ---------------------------------------------------------------------------------------------
    def train(self, session: str | None, progress: Progress | None = None) -> Workshop:
        """Teach a model from this session's takes; it becomes the session's latest model. Raises AppError."""
        shop = self.workshop(session)
        if shop.busy:
            raise AppError("Already training", "This page is training a model already; wait for it to finish.")
        say = progress or (lambda frac, desc: None)
        shop.busy = True
        try:
            say(0.0, "Waiting for the trainer (one model at a time)")
            with self.train_lock:
                n = len(shop.models) + 1
                out = shop.folder / "models" / f"model{n}"
                taught = teach(shop.folder / "takes", out, shop.folder / "cache", progress=_stages(say))
        except DataError as e:
            raise AppError("Can't teach with these takes", str(e)) from None
        except HybridError as e:
            raise AppError("Teaching failed", str(e)) from None
        finally:
            shop.busy = False
        token = secrets.token_urlsafe(9)
        shop.models[token], shop.taught, shop.token = out, taught, token
        shop.zip = zip_model(out, out.parent / f"{'-'.join(taught.labels)[:60]}-model{n}.zip")
        return shop

    def models_of(self, session: str | None) -> dict[str, Path]:
        """This session's taught models, as the picker values that name them (taught:<token>) -> folder."""
        with self._lock:
            shop = self._shops.get(session or "")
            return {TAUGHT + k: v for k, v in shop.models.items()} if shop else {}

    # --- clean-up ---------------------------------------------------------------------------------------------
    def end(self, session: str | None) -> None:
        """The session is over: its takes and models go."""
        with self._lock:
            shop = self._shops.pop(session or "", None)
        if shop is not None:
            shutil.rmtree(shop.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> None:
        """Sessions unused for ttl_s go (not while they train)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [k for k, s in self._shops.items() if not s.busy and now - s.used > self.limits.ttl_s]
        for k in old:
            self.end(k)

    def close(self) -> None:
        for k in list(self._shops):
            self.end(k)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


def check_action(text: str | None) -> str:
    """An action's name as typed, or AppError: letters, digits, space _ . -; up to 40 characters."""
    name = " ".join((text or "").split())
    if not ACTION.fullmatch(name):
        raise AppError(
            "Name the action",
            "Give the action a name first: up to 40 letters, digits, spaces, _ . or -, starting with a letter or "
            "digit (e.g. wave, clap, thumbs up).",
        )
    return name


def strip(frames: np.ndarray, height: int = THUMB_H) -> Image.Image:
    """A few RGB frames [N,h,w,3] side by side, `height` px high."""
    h, w = frames.shape[1:3]
    width = max(1, round(w * height / h))
    tiles = [Image.fromarray(f).resize((width, height), Image.BILINEAR) for f in frames]
    out = Image.new("RGB", (width * len(tiles) + 2 * (len(tiles) - 1), height), (255, 255, 255))
    for i, t in enumerate(tiles):
        out.paste(t, (i * (width + 2), 0))
    return out


def _stages(say: Progress) -> Callable[[str, int, int], None]:
    """teach()'s (stage, done, total) -> one progress bar: features 0-45 %, folds 45-90 %, the final model."""
    spans = {
        "features": (0.0, 0.45, "Features of take {} of {}"),
        "folds": (0.45, 0.45, "Cross-validation: fold {} of {}"),
        "epochs": (0.9, 0.1, "The final model: epoch {} of {}"),
    }

    def hear(stage: str, done: int, total: int) -> None:
        start, span, words = spans[stage]
        say(start + span * done / max(total, 1), words.format(done, total))

    return hear


def summary_markdown(taught: Taught, guidance: str = "") -> str:
    """What the Teach tab says of a trained model."""
    s = taught.summary()
    o = s["openset"]
    wrong = len(s["wrong"])
    lines = [
        f"### Cross-validated accuracy: {taught.accuracy:.0%} ({s['cv_correct']} takes)",
        f"Each take was judged by a model that never saw it ({s['cv_protocol']} cross-validation over "
        f"{sum(s['takes'].values())} takes of {len(s['labels'])} actions)"
        + (f"; {wrong} {'was' if wrong == 1 else 'were'} wrong, shown below." if wrong else "; none was wrong."),
        "",
        f"It also says *none of these* for a clip that looks unlike all your takes (similarity below "
        f"{o['similarity']:.2f})"
        + (f" or that it is unsure of (score below {o['threshold']:.2f})" if o["threshold"] else "")
        + ".",  # fmt: skip
        "",
        f"Trained in {sum(s['seconds'].values()):.0f} s (features {s['seconds']['features']:.0f} s, "
        f"cross-validation {s['seconds']['cross_validation']:.0f} s, final model {s['seconds']['training']:.0f} s).",
    ]
    if guidance:
        lines += ["", guidance]
    return "\n".join(lines)


# What the learning-curve benchmark measured (benchmarks/few_shot.py, README): shown before and after training.
GUIDANCE = (
    "**How many takes?** Measured on staged two-person interactions filmed outdoors (6 actions, tested on people "
    "the model never saw): about 33 % right with 1 take per action, 46 % with 2 or 3, 63 % with 5, 80 % with 10. "
    "Actions that look different (wave vs clap) need fewer takes than ones that differ in small details; vary "
    "each take a little (distance, speed). A fingertip drawing in the air is too small for it to see."
)


def takes_markdown(takes: list[Take]) -> str:
    """Takes per action, and what is still missing before training."""
    if not takes:
        return "_No takes yet._ Name an action, then record or drop a few takes of it."
    counts: dict[str, int] = {}
    for t in takes:
        counts[t.action] = counts.get(t.action, 0) + 1
    line = " · ".join(f"**{a}**: {n} take{'s' * (n != 1)}" for a, n in counts.items())
    missing = []
    if len(counts) < 2:
        missing.append("a second action")
    few = [a for a, n in counts.items() if n < MIN_TAKES]
    if few:
        missing.append(f"at least {MIN_TAKES} takes of {', '.join(few)}")
    return line + ("\n\nStill needed before training: " + " and ".join(missing) + "." if missing else "")


def thumb_of(shop: Workshop, path: str | Path) -> Path | None:
    """The thumbnail strip of the take stored at `path`."""
    return next((t.thumb for t in shop.takes if t.path == Path(path)), None)


def confusion(taught: Taught):
    from .. import viz

    return viz.confusion_figure(taught.cv["confusion"], taught.labels)


def picker_label(folder: Path, n: int) -> str:
    """How a taught model reads in the model picker."""
    try:
        labels = json.loads((folder / "config.json").read_text())["labels"]
    except (OSError, ValueError, KeyError):
        labels = []
    return f"Taught here #{n}: {', '.join(labels)}"[:80]


def publish(shop: Workshop, repo_id: str, token: str | None, private: bool) -> str:
    """Push the workshop's latest model to the Hub -> markdown with its URL. Raises AppError."""
    from ..hub import push_folder
    from ..model import HybridCNNRNN

    if shop.taught is None:
        raise AppError("No taught model", "Train a model first.")
    ref = validate_repo_id(repo_id)
    try:
        url = push_folder(shop.taught.out, ref, HybridCNNRNN, private=bool(private),
                          token=(token or "").strip() or None)  # fmt: skip
    except HybridError as e:
        raise AppError("Can't publish", str(e)) from None
    return f"Published: [{ref}]({url}) ({'private' if private else 'public'}). Load it anywhere with its repo id."


def file_paths(files: list | None) -> list[str]:
    """Gradio's file values as paths: strings as they are, file objects by their path (or name)."""
    return [f if isinstance(f, str) else getattr(f, "path", "") or getattr(f, "name", "") for f in files or []]


def teach_files(store: TeachStore, session: str | None, files: list[str], labels: str) -> Workshop:
    """The /teach API: files and their actions (comma-separated, in order) -> a trained workshop. The session's
    earlier takes are replaced. Raises AppError."""
    names = [x.strip() for x in (labels or "").split(",")]
    paths = file_paths(files)
    if len(names) != len(paths) or not paths:
        raise AppError("Files and labels differ", f"{len(paths)} files but {len(names)} labels: give one action "
                       "per file, in order, separated by commas.")  # fmt: skip
    shop = store.workshop(session)
    for i in reversed(range(len(shop.takes))):
        store.remove(session, i)
    for name in dict.fromkeys(names):
        store.add(session, name, [p for p, n in zip(paths, names) if n == name])
    return store.train(session)


__all__ = ["MIN_TAKES", "TAUGHT", "Take", "TeachLimits", "TeachStore", "Workshop", "check_action", "summary_markdown"]
