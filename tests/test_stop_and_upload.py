"""`python app.py` stopped while it works, and uploads whose file name is no name.

A SIGTERM with requests running and queued must end the process within 5 s and leave none of the app's files
(uploads, the answers' frames) in GRADIO_TEMP_DIR or anywhere else in TMPDIR, with nothing wrong in its log.
An upload part without a file name, or with one like ".." or in another field than "files", must get a 4xx
that says why (not a 500) and leave nothing on disk (a name Gradio can replace, like "/", may instead be
stored under one of its own), and the server must go on serving. A SIGKILL must leave nothing either.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from app_server import AppServer
from synth import index_clip

from hybrid.app.clip import OVERLAY_GRADCAM
from hybrid.app.settings import bundled_models_dir
from hybrid.model_dir import DEFAULT_MODEL

MODELS_DIR = bundled_models_dir()

STOP_BUDGET_S = 5
IN_FLIGHT = 24  # requests sent at once: a few run, the others wait in the queue
SHUTDOWN_ERRORS = ("Set changed size during iteration", "shutdown failed", "Traceback")


@pytest.fixture
def app(tmp_path, tiny_model_dir):
    """A `python app.py` of this test's own (offline: no Hub), stopped at the end whatever happened."""
    srv = AppServer(tmp_path / "app", tiny_model_dir).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture
def busy_app(tmp_path):
    """The same with the bundled model: a request takes long enough that some are running at any moment."""
    srv = AppServer(tmp_path / "app", MODELS_DIR / DEFAULT_MODEL).wait_ready(300)
    yield srv
    srv.stop()


def _files(srv: AppServer) -> list[Path]:
    """Files under GRADIO_TEMP_DIR and under the server's TMPDIR."""
    return [p for p in srv.root.joinpath("tmp").rglob("*") if p.is_file()] + srv.files_left()


def _leftovers(srv: AppServer) -> list[Path]:
    """What a stop must not leave: files there, and folders in GRADIO_TEMP_DIR."""
    return _files(srv) + (list(srv.temp.glob("*")) if srv.temp.exists() else [])


def _timed_stop(srv: AppServer) -> float:
    t0 = time.monotonic()
    srv.stop(timeout=60)
    return time.monotonic() - t0


def _left_after_exit(srv: AppServer, within: float = 3.0) -> list[Path]:
    """What is still there `within` s after the process ended (its reaper removes what came late)."""
    deadline = time.monotonic() + within
    while (left := _leftovers(srv)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_a_stop_with_requests_in_flight_is_quick_and_leaves_nothing(busy_app, tmp_path):
    """SIGTERM once the first answer is back, with more requests running and queued: the process ends within
    STOP_BUDGET_S, with no file of its own left, and nothing wrong in its log."""
    from gradio_client import Client, handle_file

    app = busy_app
    client = Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"))
    # clips of their own: each request writes frames of its own; avi (MPEG-4 Part 2): a clip browsers can't play
    clips = [index_clip(tmp_path / f"clip{i}.avi", 40 + 4 * i, codec="mpeg4") for i in range(IN_FLIGHT)]
    jobs = [client.submit(handle_file(str(c)), DEFAULT_MODEL, "", OVERLAY_GRADCAM, api_name="/predict") for c in clips]
    deadline = time.monotonic() + 300
    while not any(job.done() for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.02)
    answered = [job for job in jobs if job.done()]
    assert answered and len(answered[0].result(timeout=1)[2]) > 0  # an answer's frames, in Gradio's cache
    assert len(answered) < len(jobs)  # the others are running or waiting

    took = _timed_stop(app)
    log = app.log.read_text(errors="replace")
    problems = [f"the stop took {took:.1f} s"] if took >= STOP_BUDGET_S else []
    problems += [f"exit code {app.proc.returncode}"] if app.proc.returncode != 0 else []
    if left := _left_after_exit(app):
        problems.append(f"{len(left)} left behind: {[str(p.relative_to(app.root)) for p in left[:5]]}")
    problems += [f"the log says {err!r}" for err in SHUTDOWN_ERRORS if err in log]
    assert not problems, "\n".join(problems) + "\n" + log[-3000:]
    client.close()


def _upload(srv: AppServer, disposition: str, payload: bytes) -> httpx.Response:
    """POST one part to the upload route with its Content-Disposition parameters written as given."""
    boundary = "hybrid-test-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\nContent-Type: video/mp4\r\n\r\n".encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return httpx.post(srv.url + "/gradio_api/upload", content=body, headers=headers, timeout=30)


UNNAMED = {  # a part without a usable file name, and what may become of it
    'name="files"': "refused",  # no filename at all: how httpx and requests send a file named ""
    'name="files"; filename=""': "refused or renamed",
    'name="files"; filename="/"': "refused or renamed",
    'name="files"; filename=".."': "refused",
    'name="files"; filename="a/.."': "refused",
    'name="other"; filename="clip.mp4"': "refused",  # a file in another field than "files"
}


def test_an_upload_without_a_usable_file_name_is_refused(app):
    """A 4xx that says why (or, for a name Gradio can replace, a safe name of its own), never a 500; the
    server goes on serving; nothing of a refused upload stays on disk."""
    for disposition, fate in UNNAMED.items():
        payload = f"not a video, only bytes sent as {disposition}".encode()
        r = _upload(app, disposition, payload)
        if r.status_code == 200 and fate == "refused or renamed":
            (path,) = map(Path, r.json())
            assert app.temp in path.parents and path.name not in ("", ".", "..") and path.read_bytes() == payload
            continue
        assert 400 <= r.status_code < 500, (disposition, r.status_code, r.text)
        assert "upload refused" in r.text.lower(), (disposition, r.text)
        assert not [p for p in _files(app) if payload in p.read_bytes()], disposition  # the parser's temp file
    # what httpx sends for a file named "": the same refusal, with words that say what is missing
    r = httpx.post(app.url + "/gradio_api/upload", files={"files": ("", b"bytes", "video/mp4")}, timeout=30)
    assert r.status_code == 400 and "file name" in r.text, r.text
    # the server goes on serving: a proper upload is stored under its name
    ok = httpx.post(app.url + "/gradio_api/upload", files={"files": ("clip.mp4", b"bytes", "video/mp4")}, timeout=30)
    assert ok.status_code == 200 and Path(ok.json()[0]).name == "clip.mp4"
    assert _timed_stop(app) < STOP_BUDGET_S
    assert _left_after_exit(app) == []
    assert "Traceback" not in app.log.read_text(errors="replace")


def test_a_killed_app_leaves_nothing_either(app):
    """SIGKILL (`kill -9`, the OOM killer) gives the app no chance to clean up: its reaper does it."""
    r = httpx.post(app.url + "/gradio_api/upload", files={"files": ("clip.mp4", b"bytes", "video/mp4")}, timeout=30)
    assert r.status_code == 200 and app.files_left()
    app.proc.send_signal(signal.SIGKILL)
    app.proc.wait(30)
    assert _left_after_exit(app) == []
