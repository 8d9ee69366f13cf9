"""Measuring the live path (hybrid.stream): its capacity with every frame taken, and a camera thread feeding it
through a one-slot mailbox as a browser stream does. Used by live_speed.py and run.py."""

from __future__ import annotations

import threading
import time

import numpy as np

from hybrid.errors import ConfigError
from hybrid.model import HybridCNNRNN
from hybrid.runtime import CNNEngine
from hybrid.stream import DueClock, new_session


class LatestFrame:
    """A one-slot mailbox between a camera and a slower worker: put() replaces an unread frame (counted as
    dropped), get() waits for the newest. The worker never sees a stale backlog."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[float, np.ndarray] | None = None
        self.dropped = 0
        self.closed = False

    def put(self, frame: np.ndarray, t: float) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = (t, frame)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> tuple[float, np.ndarray] | None:
        """The newest frame (t, frame), or None once closed and empty (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self.closed, timeout):
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def measure(
    model: HybridCNNRNN, frames: list[np.ndarray], engine: CNNEngine | None = None, warmup: int = 3
) -> dict[str, float]:  # fmt: skip
    """Per-frame cost of the live path with every frame taken (the most it can process):
    {"stream_fps", "stream_latency_ms" (median frame -> label), "stream_latency_p90_ms"}."""
    session = new_session(model, engine)
    session.clock = DueClock(0.0)  # every frame is due
    times = []
    for i, frame in enumerate(frames):
        u = session.offer(frame, t=i * 1e-3)
        assert u is not None
        if i >= warmup:
            times.append(u.latency_ms)
    if not times:
        raise ConfigError(f"need more than {warmup} frames")
    ms = np.asarray(times)
    return {
        "stream_fps": round(float(1000 * len(ms) / ms.sum()), 1),
        "stream_latency_ms": round(float(np.median(ms)), 1),
        "stream_latency_p90_ms": round(float(np.percentile(ms, 90)), 1),
    }


def measure_realtime(
    model: HybridCNNRNN, frames: list[np.ndarray], camera_fps: float = 30.0, engine: CNNEngine | None = None,
    every_frame: bool = True,
) -> dict[str, float]:  # fmt: skip
    """A camera thread offers `frames` at camera_fps into a LatestFrame; a worker runs the live path on the
    newest. Latency is from a frame's capture to its answer (waiting included); frames replaced while the
    worker was busy are dropped. every_frame=False: frames taken at the model's pace (as in the app)."""
    session = new_session(model, engine)
    if every_frame:
        session.clock = DueClock(0.0)
    session.offer(frames[0], t=-1.0)  # warm up outside the clock
    session.reset()
    box, lat, t_start = LatestFrame(), [], time.monotonic()

    def camera() -> None:
        for i, frame in enumerate(frames):
            time.sleep(max(0.0, t_start + i / camera_fps - time.monotonic()))
            box.put(frame, time.monotonic())
        box.close()

    cam = threading.Thread(target=camera, daemon=True)
    cam.start()
    while (item := box.get()) is not None:
        t, frame = item
        if session.offer(frame, t) is not None:
            lat.append((time.monotonic() - t) * 1000)
    cam.join()
    wall = time.monotonic() - t_start
    ms = np.asarray(lat or [np.nan])
    return {
        "camera_fps": camera_fps,
        "offered": len(frames),
        "processed": session.taken,
        "dropped_busy": box.dropped,  # replaced in the mailbox while the worker was busy
        "skipped_not_due": session.skipped,  # arrived before the model's pace asked for a frame
        "processed_fps": round(session.taken / wall, 1),
        "latency_ms": round(float(np.median(ms)), 1),
        "latency_p90_ms": round(float(np.percentile(ms, 90)), 1),
    }
