"""Live recognition (hybrid/stream.py) and the app's live handler: streaming == batched forward, the window
and carry policies, the pace frames are taken at, stale frames, the newest-frame mailbox, separate sessions."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import shared_data
from synth import index_frame

from benchmarks.live_measure import LatestFrame, measure
from hybrid import HybridCNNRNN, ModelError
from hybrid.app import live
from hybrid.app.errors import AppError
from hybrid.pipeline import Recognizer
from hybrid.runtime import TorchEngine
from hybrid.stream import DEFAULT_WINDOW_S, DueClock, LiveSession
from hybrid.transforms import preprocess
from hybrid.video import iter_frames

T = 4  # the tiny model's frames per clip


@pytest.fixture(scope="module")
def tiny() -> HybridCNNRNN:
    torch.manual_seed(0)
    return HybridCNNRNN(labels=["alpha", "beta", "gamma"], num_frames=T, image_size=(64, 96), hidden_size=32,
                        proj_dim=32).eval()  # fmt: skip


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """10 distinct frames (index-coded bars over a colour ramp), 120x160."""
    return np.stack([index_frame(i * 37, (160, 120)) for i in range(10)])


def session(model, **kw) -> LiveSession:
    """A session taking one frame per second of stream time (offer frames at t = 0, 1, 2...)."""
    return LiveSession(Recognizer(model, engine="torch"), window_s=float(model.num_frames), **kw)


def batched_probs(model, frames: np.ndarray) -> np.ndarray:
    """The offline path: every frame through the CNN at once, the head over the clip -> [T,K] per step."""
    with torch.inference_mode():
        return model(preprocess(frames, model.config)[None]).step_logits[0].softmax(-1).numpy()


def test_carry_streaming_equals_the_batched_forward(tiny, frames):
    s = session(tiny, policy="carry", lanes=1)
    ups = [s.offer(f, t=float(i)) for i, f in enumerate(frames[:T])]
    np.testing.assert_allclose(np.stack([u.probs for u in ups]), batched_probs(tiny, frames[:T]), atol=1e-5)
    assert [u.context for u in ups] == [1, 2, 3, 4] and ups[-1].taken == T and ups[-1].skipped == 0


def test_carry_lanes_restart_and_match_the_window_when_full(tiny, frames):
    s = session(tiny, policy="carry", lanes=2)
    ups = [s.offer(f, t=float(i)) for i, f in enumerate(frames)]
    # lanes start at frames 0 and 2 and restart after T=4 steps: the answer comes from the older one
    assert [u.context for u in ups] == [1, 2, 3, 4, 3, 4, 3, 4, 3, 4]
    for i, u in enumerate(ups):
        if u.context == T:  # a full window behind it: exactly the offline answer for those frames
            np.testing.assert_allclose(u.probs, batched_probs(tiny, frames[i - T + 1 : i + 1])[-1], atol=1e-5)


def test_window_policy_is_the_offline_answer_for_the_last_frames(tiny, frames):
    s = session(tiny, policy="window")
    ups = [s.offer(f, t=float(i)) for i, f in enumerate(frames)]
    for i, u in enumerate(ups):
        first = max(0, i - T + 1)
        assert u.context == i - first + 1
        np.testing.assert_allclose(u.probs, batched_probs(tiny, frames[first : i + 1])[-1], atol=1e-5)


def test_bidirectional_models_stream_through_the_window():
    torch.manual_seed(1)
    bi = HybridCNNRNN(labels=["a", "b"], num_frames=3, image_size=(64, 64), hidden_size=16, proj_dim=16,
                      bidirectional=True).eval()  # fmt: skip
    frames = np.stack([index_frame(i * 91, (96, 64)) for i in range(5)])
    s = session(bi)  # auto -> window
    assert s.policy == "window"
    last = [s.offer(f, t=float(i)) for i, f in enumerate(frames)][-1]
    np.testing.assert_allclose(last.probs, batched_probs(bi, frames[-3:])[-1], atol=1e-5)  # sees the whole window
    with pytest.raises(ModelError, match="bidirectional"):
        session(bi, policy="carry")


def test_frames_are_taken_at_the_model_pace_never_in_a_burst():
    clock = DueClock(0.2)
    taken = [i / 30 for i in range(90) if clock(i / 30)]  # a 30 fps camera for 3 s
    assert 14 <= len(taken) <= 16
    assert min(np.diff(taken)) >= 0.15 - 1e-9
    clock = DueClock(0.2)
    slow = [0.0, 0.5, 1.0, 1.5]  # slower than the pace: every frame is taken...
    assert all(clock(t) for t in slow)
    assert not clock(1.52) and clock(1.7)  # ...and no catching up with a burst afterwards


def test_stale_and_early_frames_are_skipped_before_the_cnn(tiny, frames, monkeypatch):
    s = session(tiny)
    calls = []
    rec = s.recognizer
    monkeypatch.setattr(rec, "encode", lambda x, f=rec.encode: calls.append(1) or f(x))
    assert s.offer(frames[0], t=10.0) is not None
    assert s.offer(frames[1], t=10.2) is None  # not due (one frame per second here)
    assert s.offer(frames[2], t=11.0) is not None
    assert s.offer(frames[3], t=10.9) is None  # older than a frame already taken
    assert len(calls) == 2 and s.taken == 2 and s.skipped == 2 and s.last.t == pytest.approx(1.0)


def test_history_merges_runs_of_one_answer_and_reset_forgets(tiny, frames, monkeypatch):
    s = session(tiny, policy="window")
    answers = iter([0, 0, 1, 1, 1, 0, 2, 2, 0, 0])  # the head's answer per frame: it changes five times
    scores = iter([0.5, 0.6, 0.7, 0.9, 0.8, 0.5, 0.4, 0.6, 0.7, 0.5])

    def scripted(feat: torch.Tensor) -> tuple[torch.Tensor, int]:
        i, p = next(answers), next(scores)
        probs = torch.full((3,), (1 - p) / 2)
        probs[i] = p
        return probs.log(), 1

    monkeypatch.setattr(s, "push_feature", scripted)
    for i, f in enumerate(frames):
        s.offer(f, t=float(i))
    got = [(x.label, x.start, x.end, round(x.score, 3)) for x in s.history]
    assert got == [("alpha", 0, 2, 0.6), ("beta", 2, 5, 0.9), ("alpha", 5, 6, 0.5), ("gamma", 6, 8, 0.6),
                   ("alpha", 8, 9, 0.7)]  # fmt: skip
    monkeypatch.undo()
    s.reset()
    assert s.last is None and not s.history and s.taken == 0
    u = s.offer(frames[5], t=100.0)
    assert u.t == 0.0 and u.context == 1  # a fresh start: nothing of before
    np.testing.assert_allclose(u.probs, batched_probs(tiny, frames[5:6])[-1], atol=1e-5)


def test_after_a_gap_longer_than_the_window_the_rnn_starts_afresh(tiny, frames):
    for policy in ("carry", "window"):
        s = session(tiny, policy=policy)  # window 4 s, one frame per second
        for i in range(3):
            s.offer(frames[i], t=float(i))
        u = s.offer(frames[5], t=60.0)  # the stream stopped and started again a minute later
        assert u.context == 1 and s.taken == 4 and len(s.history) >= 1  # counters and history stay
        np.testing.assert_allclose(u.probs, batched_probs(tiny, frames[5:6])[-1], atol=1e-5)
        assert [s.offer(frames[6 + i], t=61.0 + i).context for i in range(3)] == [2, 3, 4]


def test_latest_frame_mailbox_hands_over_only_the_newest():
    box = LatestFrame()
    for i in range(5):
        box.put(np.full((2, 2, 3), i, np.uint8), float(i))
    t, frame = box.get(timeout=1)
    assert t == 4.0 and frame[0, 0, 0] == 4 and box.dropped == 4
    got = []
    worker = threading.Thread(target=lambda: got.append(box.get(timeout=5)))
    worker.start()
    box.put(np.zeros((2, 2, 3), np.uint8), 5.0)
    worker.join(5)
    assert got and got[0][0] == 5.0
    box.close()
    assert box.get(timeout=1) is None


def test_measure_reports_the_live_figures(tiny, frames):
    """benchmarks/live_measure.py (what live_speed.py and run.py report) on the tiny model."""
    out = measure(tiny, list(frames[:6]), TorchEngine(tiny), warmup=2)
    assert set(out) == {"stream_fps", "stream_latency_ms", "stream_latency_p90_ms"}
    assert all(v > 0 for v in out.values())


@pytest.mark.data
def test_replay_of_a_real_clip_matches_the_batched_forward_on_the_frames_taken(tiny):
    clip = sorted((shared_data("ut-interaction") / "set1" / "punching").glob("*.avi"))[0]
    rec = Recognizer(tiny, engine="torch")
    s = LiveSession(rec, policy="carry", lanes=1, window_s=1.0)  # 4 frames per second
    taken, ups = [], []
    for _, t, frame in iter_frames(clip):  # every frame, as a 30 fps camera would send them
        u = s.offer(frame, t)
        if u is not None:
            taken.append(frame)
            ups.append(u)
        if len(ups) == T:
            break
    assert s.skipped > 0 and len(ups) == T  # most camera frames are not due
    times = np.array([u.t for u in ups])
    np.testing.assert_allclose(np.diff(times), 0.25, atol=1 / 30 + 1e-6)
    np.testing.assert_allclose(np.stack([u.probs for u in ups]), batched_probs(tiny, np.stack(taken)), atol=1e-4)
    again = LiveSession(rec, window_s=1.0)
    assert sum(again.offer(frame, t) is not None for _, t, frame in iter_frames(clip)) >= 8


# --- the app's live handler ---------------------------------------------------------------------------------
def test_live_handler_keeps_one_state_per_session(app_ctx, app_env, frames):
    period = DEFAULT_WINDOW_S / 4
    a_frames, b_frames = frames[:6], frames[4:][::-1]
    a = b = None
    views_a, views_b = [], []
    for i in range(6):  # two browser tabs, interleaved
        va, a = live.live_frame(app_ctx, a_frames[i], a, app_env, "", now=100.0 + i * period)
        vb, b = live.live_frame(app_ctx, b_frames[i], b, app_env, "", now=500.0 + i * period)
        views_a.append(va)
        views_b.append(vb)
    assert a is not b and a.session is not b.session and a.session.taken == b.session.taken == 6
    assert a.session.model is b.session.model  # one model and engine, shared
    solo = None
    for i in range(6):  # tab A alone gives the same answers: B never leaked into A's state
        view, solo = live.live_frame(app_ctx, a_frames[i], solo, app_env, "", now=7.0 + i * period)
        assert view.verdict == views_a[i].verdict and view.label == views_a[i].label
    np.testing.assert_allclose(solo.session.last.probs, a.session.last.probs, atol=1e-6)
    assert not np.allclose(a.session.last.probs, b.session.last.probs)


def test_live_view_shows_the_answer_history_and_pace(app_ctx, app_env, frames):
    state = None
    period = DEFAULT_WINDOW_S / 4
    view, state = live.live_frame(app_ctx, frames[0], state, app_env, "", now=0.0)
    assert view.verdict.startswith("## ") and "warming up (1 of 4 frames)" in view.verdict
    assert set(view.label) == {"alpha", "beta", "gamma"} and abs(sum(view.label.values()) - 1) < 1e-4
    skipped, state = live.live_frame(app_ctx, frames[1], state, app_env, "", now=0.01)
    assert skipped is None  # too soon: the page stays as it is
    for i in range(2, 7):
        view, state = live.live_frame(app_ctx, frames[i], state, app_env, "", now=(i - 1) * period)
    assert "warming up" not in view.verdict and "(4 frames)" in view.verdict  # 2 carry lanes: 3-4 frames
    assert 'id="live-strip"' in view.history and "<li>" in view.history
    assert "frame 6 " in view.status and "1 skipped" in view.status and "policy: carry (2 lanes)" in view.status
    state = live.live_reset(state)
    assert state.session.taken == 0 and live.live_view(state.session) is live.LIVE_IDLE


def test_live_handler_reports_bad_models_and_frames(app_ctx, app_env, frames):
    with pytest.raises(AppError, match="not a Hugging Face repo id"):
        live.live_frame(app_ctx, frames[0], None, app_env, "https://example.com/x")
    with pytest.raises(AppError, match="RGB image"):
        live.live_frame(app_ctx, np.zeros((4, 4)), None, app_env, "")
    view, state = live.live_frame(app_ctx, None, None, app_env, "")  # no frame yet: a state, nothing to show
    assert view is None and state.session.taken == 0


def test_the_live_window_follows_the_length_of_the_models_training_clips(tiny):
    """A model trained on 1.5 s gestures is read 1.5 s at a time; one that doesn't say, DEFAULT_WINDOW_S; the
    app's HYBRID_LIVE_WINDOW_S, when set, wins."""
    from dataclasses import replace

    from hybrid.app.settings import AppSettings

    quick = HybridCNNRNN(replace(tiny.config, clip_seconds=1.5)).eval()
    assert LiveSession(Recognizer(quick, engine="torch")).window_s == 1.5
    assert LiveSession(Recognizer(quick, engine="torch")).period == pytest.approx(1.5 / T)
    assert LiveSession(Recognizer(tiny, engine="torch")).window_s == DEFAULT_WINDOW_S
    assert AppSettings.from_env({}).live_window_s is None
    assert AppSettings.from_env({"HYBRID_LIVE_WINDOW_S": "2.5"}).live_window_s == 2.5
    for bad in (-1.0, 601.0, float("nan"), "2"):
        with pytest.raises(ModelError, match="clip_seconds"):
            replace(tiny.config, clip_seconds=bad)
