"""The Live tab: one webcam frame for one browser session (LiveState in gr.State) -> the running answer."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from .. import viz
from ..errors import HybridError
from ..stream import LiveSession
from .context import AppContext
from .errors import AppError


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
    ctx: AppContext, frame: np.ndarray | None, state: LiveState | None, choice: str | None, repo_id: str | None,
    now: float | None = None, session: str | None = None,
) -> tuple[LiveView | None, LiveState]:  # fmt: skip
    """One webcam frame for one session -> (the new view, or None when the frame was skipped; the state).

    The first frame (or a change of model) makes a new LiveSession on the cached Recognizer. Frames arriving
    sooner than the model's pace are skipped before the CNN (see hybrid/stream.py). Raises AppError.
    """
    s = ctx.settings
    key, ref = ctx.resolve(choice, repo_id, session)
    if state is None or state.key != key:
        rec, _ = ctx.models.get(key, ref)
        try:
            session = LiveSession(rec, s.live_window_s, s.live_policy, history_s=s.live_history_s)
        except HybridError as e:
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
    over = f"over the last {u.context * session.period:.1f} s ({u.context} frames){warm}"
    if u.known is False:
        verdict = (
            f'## <span class="not-known">Nothing I know in view</span>\nclosest: **{u.label}** {u.score:.0%}, {over}'
        )
    else:
        verdict = f"## {u.label} — {u.score:.0%}\n{over}"
    span = session.history_s
    t1 = max(u.t, span)
    spans = [(x.start, x.end + session.period, x.label, x.score) for x in session.history]
    changes = "".join(
        f'<li><b style="color:{viz.class_color(labels, x.label)}">{html.escape(x.label)}</b> '
        f"from {viz.clock(x.start)} ({x.score:.0%})</li>"
        for x in list(session.history)[-4:][::-1]
    )
    history = (
        f'<div id="live-strip">{viz.segments_html(spans, t1 - span, t1, labels)}</div>'
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
