"""Live recognition: camera frames (or a file played like a camera) -> a running belief, one state per session.

How a model trained on whole clips decides on an endless stream
---------------------------------------------------------------
The model learned from clips of a few seconds (UT-Interaction: 1.7-6 s, median 3.5 s), each read as
`num_frames` frames spread evenly over the clip: one frame every ~0.1-0.4 s. Live, frames are taken at that
same pace, one every `window_s / num_frames` seconds (window_s = 4 s: 16 frames -> 4 frames per second;
anything the camera sends in between is skipped before the CNN), and the answer at any moment is the model's
answer for about the last `window_s` seconds. Every taken frame costs one CNN pass; then the policy:

- "carry" (unidirectional RNNs): the RNN state goes from frame to frame, one RNN step per taken frame and
  lane. A GRU can't forget, and the model never saw more than num_frames steps, so the state restarts: `lanes`
  copies run staggered by num_frames / lanes frames, each restarting after num_frames steps, and the answer
  comes from the lane with the longest history (with 2 lanes: the last 9-16 frames). Whenever that lane
  holds exactly num_frames frames, its answer is the offline answer for those frames.
- "window" (any model, the only way for a bidirectional RNN): the last num_frames per-frame features sit in
  a ring buffer and the head re-reads them at every taken frame (the head is tiny next to the CNN): the
  answer is always exactly the offline answer for the last num_frames taken frames.

"auto" picks carry (2 lanes) for causal models and window for bidirectional ones. Checked on 96 held-out
UT-Interaction clips played frame by frame (benchmarks/live_agreement.py; README, "Live webcam"): the live
answer at the end of a clip matches the offline one for 88-90 % of clips with a 4 s window, for both
policies; a single lane (plain periodic restarts) only 74 %.

Frames are never queued: `offer()` runs the CNN only on frames that are due, and a caller that is busy
hands over only the newest frame (Gradio's streaming input does), so a camera faster than the model costs
dropped frames, not delay (benchmarks/live_speed.py measures it).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import openset
from .config import DEFAULT_WINDOW_S
from .errors import ConfigError, ModelError, shorten
from .model import HybridCNNRNN
from .pipeline import Recognizer
from .runtime import CNNEngine

POLICIES = ("auto", "carry", "window")


def is_causal(model: HybridCNNRNN) -> bool:
    """Can this model's head step frame by frame (a unidirectional RNN)?"""
    return not model.config.bidirectional


def resolve_policy(model: HybridCNNRNN, policy: str = "auto") -> str:
    if policy not in POLICIES:
        raise ConfigError(f"policy (HYBRID_LIVE_POLICY) must be one of {POLICIES}, not {shorten(policy)!r}")
    if policy == "auto":
        return "carry" if is_causal(model) else "window"
    if policy == "carry" and not is_causal(model):
        raise ModelError("a bidirectional RNN needs whole windows; use the 'window' policy for this model")
    return policy


class DueClock:
    """Which frames of a stream to take: one every `period` seconds on average, never a backlog.

    A frame is taken when it is the one nearest its due time: at most half the gap between offered frames
    early (a quarter period at most). After a slow stretch (frames late) the clock restarts from the late
    frame instead of taking a burst to catch up.
    """

    def __init__(self, period: float):
        self.period = float(period)
        self.due: float | None = None
        self.seen: float | None = None  # time of the last frame offered

    def __call__(self, t: float) -> bool:
        gap = t - self.seen if self.seen is not None and t > self.seen else self.period
        self.seen = t
        if self.due is not None and t < self.due - min(0.25 * self.period, 0.5 * gap):
            return False
        self.due = t + self.period if self.due is None else max(self.due + self.period, t + 0.5 * self.period)
        return True

    def reset(self) -> None:
        self.due = self.seen = None


@dataclass
class LiveUpdate:
    """The belief after one taken frame."""

    t: float  # seconds since the session's first frame
    label: str
    score: float
    probs: np.ndarray  # [K] class probabilities
    context: int  # frames behind this answer (num_frames once warmed up; 9-16 with 2 carry lanes)
    taken: int  # frames through the CNN so far
    skipped: int  # frames offered but not taken (not due, or stale)
    cnn_ms: float  # preprocess + CNN for this frame
    latency_ms: float  # from offer() to this answer (preprocess + CNN + RNN)
    known: bool | None = None  # one of the model's classes? (None: the model has no open-set threshold)

    @property
    def shown(self) -> str:
        """What the answer is: the closest class, or openset.UNKNOWN when it is none of them."""
        return openset.shown(self.label, self.known)

    def topk(self, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(labels[i], float(self.probs[i])) for i in order]


@dataclass
class Span:
    """One stretch of the rolling history: the same answer from `start` to `end` (s since the first frame)."""

    label: str
    start: float
    end: float
    score: float  # the highest confidence while it lasted


@dataclass
class LiveSession:
    """Per-session live state over a shared Recognizer (its model and CNN engine are read-only here).

    offer(frame) -> LiveUpdate when the frame was taken, None when it was skipped. Not thread-safe: one
    session belongs to one caller (the app keeps one per browser tab in gr.State).
    """

    recognizer: Recognizer
    window_s: float | None = None  # None: the length of the model's training clips, else DEFAULT_WINDOW_S
    policy: str = "auto"
    lanes: int = 2
    history_s: float = 60.0  # how much of the rolling history to keep
    t0: float | None = None
    taken: int = 0
    skipped: int = 0
    last: LiveUpdate | None = None
    history: deque[Span] = field(default_factory=deque)
    _lanes: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _window: deque[torch.Tensor] = field(default_factory=deque, repr=False)
    _last_t: float = float("-inf")
    _k0: int = 0

    def __post_init__(self) -> None:
        self.policy = resolve_policy(self.model, self.policy)
        if self.window_s is None:
            self.window_s = self.model.config.clip_seconds or DEFAULT_WINDOW_S
        if self.window_s <= 0 or self.lanes < 1:
            raise ConfigError("window_s must be positive and lanes at least 1")
        self.T = self.model.num_frames
        self.clock = DueClock(self.window_s / self.T)
        self.reset()

    @property
    def period(self) -> float:
        """Seconds between taken frames (the model's training pace for a window_s clip)."""
        return self.clock.period

    @property
    def model(self) -> HybridCNNRNN:
        return self.recognizer.model

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    def reset(self) -> None:
        """Forget everything seen (the RNN states, the window, the history); the next frame starts afresh."""
        self.t0, self.taken, self.skipped, self.last, self._last_t = None, 0, 0, None, float("-inf")
        self.history = deque()
        self.clock.reset()
        self._restart()

    def _restart(self) -> None:
        """Empty RNN states and window (the counters and history stay): the next frame is a first frame."""
        lanes = min(self.lanes, self.T)
        self._k0 = self.taken  # lane offsets count from here
        self._lanes = [{"state": None, "n": 0, "start": i * self.T // lanes} for i in range(lanes)]
        self._window = deque(maxlen=self.T)

    # --- the RNN half (the CNN half is Recognizer.encode) ------------------------------------------------
    @torch.inference_mode()
    def push_feature(self, feat: torch.Tensor) -> tuple[torch.Tensor, int]:
        """One taken frame's features [D] or [1,D] -> (class logits [K], frames behind them)."""
        feat = feat.reshape(1, -1)
        k = self.taken - self._k0
        self.taken += 1
        self._window.append(feat[0])  # the last T frames' features (the window policy's input; the look gate's)
        if self.policy == "window":
            out = self.model.forward_head(torch.stack(list(self._window))[None])
            return out.logits[0], len(self._window)
        best: tuple[int, torch.Tensor] | None = None
        for lane in self._lanes:
            if k < lane["start"]:
                continue
            if lane["n"] == self.T:  # a full window behind it: start over
                lane["state"], lane["n"] = None, 0
            logits, lane["state"] = self.model.step(feat, lane["state"])
            lane["n"] += 1
            if best is None or lane["n"] > best[0]:
                best = (lane["n"], logits[0])
        assert best is not None  # lane 0 starts at frame 0
        return best[1], best[0]

    # --- the stream ------------------------------------------------------------------------------------
    def offer(self, frame: np.ndarray, t: float | None = None) -> LiveUpdate | None:
        """A camera frame (RGB uint8 [h,w,3]) at time t (s; default: now). Taken -> the new belief;
        skipped (not due yet, or older than a frame already taken) -> None. After a gap longer than the
        window (the stream was stopped and started again) the RNN starts afresh; the history stays."""
        start = time.perf_counter()
        now = time.monotonic() if t is None else float(t)
        if self.t0 is None:
            self.t0 = now
        rel = now - self.t0
        if rel <= self._last_t or not self.clock(rel):
            self.skipped += 1
            return None
        if rel - self._last_t > self.window_s:  # a gap (stream stopped and started again): old state is stale
            self._restart()
        self._last_t = rel
        feat = self.recognizer.encode(np.asarray(frame)[None])[0]
        cnn_ms = (time.perf_counter() - start) * 1000
        logits, context = self.push_feature(feat)
        probs = logits.float().softmax(-1).numpy()
        i = int(probs.argmax())
        sim = None  # the look of the frames behind this answer (models that store exemplars)
        if self.model.config.openset_exemplars and self._window:
            sim = self.model.similarity(torch.stack(list(self._window)[-context:]))
        _, known = openset.decide(logits, self.model.config, sim)
        update = LiveUpdate(
            t=rel, label=self.labels[i], score=float(probs[i]), probs=probs, context=context, taken=self.taken,
            skipped=self.skipped, cnn_ms=cnn_ms, latency_ms=(time.perf_counter() - start) * 1000, known=known,
        )  # fmt: skip
        self._remember(update)
        self.last = update
        return update

    def _remember(self, u: LiveUpdate) -> None:
        h = self.history
        if h and h[-1].label == u.shown:
            h[-1].end, h[-1].score = u.t, max(h[-1].score, u.score)
        else:
            if h:
                h[-1].end = u.t
            h.append(Span(u.shown, u.t, u.t, u.score))
        while len(h) > 1 and h[0].end < u.t - self.history_s:
            h.popleft()

    def status(self) -> dict[str, Any]:
        """JSON-friendly summary: policy, pace, counters, the current answer."""
        u = self.last
        return {
            "policy": self.policy,
            "lanes": len(self._lanes) if self.policy == "carry" else None,
            "window_s": self.window_s,
            "take_fps": round(1 / self.period, 2),
            "taken": self.taken,
            "skipped": self.skipped,
            "label": u.shown if u else None,
            "score": round(u.score, 4) if u else None,
            "context": u.context if u else 0,
            "latency_ms": round(u.latency_ms, 1) if u else None,
        }


def new_session(
    model: HybridCNNRNN | Recognizer, engine: str | CNNEngine | None = None, **kwargs: Any
) -> LiveSession:  # fmt: skip
    """A LiveSession for a Recognizer, or for `model` with `engine` (default: the model's fast CNN engine)."""
    rec = model if isinstance(model, Recognizer) else Recognizer(model, engine=engine)
    return LiveSession(rec, **kwargs)
