"""Security: what the app loads, what it reads, what it serves and how much it takes in.

Mostly against `python app.py` over HTTP, the way an attacker reaches it (one server for the module: the
`server` and `hub` fixtures of conftest.py). Requirement -> tests (in this file unless a file is named):

requirement                     tests
------------------------------  ----------------------------------------------------------------------------------
only safetensors are loaded:    test_a_pickled_checkpoint_in_a_model_folder_never_runs (folder, CLI, Model picker)
a pickle never runs             test_a_pickled_checkpoint_on_the_hub_never_runs_in_the_app (repo id, over HTTP)
                                test_the_payloads_do_run_when_unpickled (the control: the payloads do run code)
                                test_hub.py::test_repo_with_only_pickled_weights_is_refused (message, no .bin GET)
                                test_hub.py::test_local_folder_with_pickled_weights_only_is_refused (message)
                                test_hub.py::test_download_from_hub (only config.json and model.safetensors fetched)
                                test_hub.py::test_backbone_pretrained_in_config_never_downloads
repo ids validated: no URL      test_refused_repo_ids_open_no_file_and_no_socket (every handler; audit hooks)
scheme, absolute path, `..`,    test_the_app_refuses_paths_and_urls_as_models_without_asking_the_hub (HTTP, picker)
`~`, local folder               test_app.py::test_repo_ids_that_are_accepted, ::test_repo_ids_that_are_refused
                                test_app.py::test_a_repo_id_that_names_a_local_folder_is_refused
                                test_app.py::test_models_offered_and_resolved (a picker value that is a path)
                                test_hub.py::test_bad_references_are_refused_without_network (the loader's own)
the API reads uploaded files    test_predict_reads_only_uploaded_files (bare strings, `..`, URLs on this machine)
only, never a path (or URL)     test_mcp_tool_reads_no_local_path_and_caps_inline_files (the MCP tool)
the caller names                test_app.py::test_api_never_reads_a_path_the_caller_names (a local file object)
Gradio serves its cache only    test_file_route_serves_uploads_and_nothing_else (/etc, sources, models, `..`, links)
(`allowed_paths` minimal)       test_app.py::test_blocks_expose_predict_with_the_video_first (allowed_paths == [])
upload size capped              test_a_streamed_upload_over_the_cap_is_cut_off_and_leaves_nothing (no length sent)
                                test_mcp_tool_reads_no_local_path_and_caps_inline_files (a base64 file)
                                test_the_reader_refuses_files_over_the_cap (files Gradio fetched from a URL itself)
                                test_app.py::test_api_bad_input_and_limits_then_keeps_serving (a plain 413)
only self-contained media:      test_bad_inputs.py BAD (playlists of every kind, a playlist renamed .mp4, concat,
no playlist, no external ref    SDP, DASH, an MP4 with an external dref), ::test_ffmpeg_itself_opens_no_playlist_
                                once_the_reader_is_imported (OpenCV's FFmpeg restricted; the control follows it)
                                test_app.py::test_browser_preview_never_follows_a_playlist (the ffmpeg command)
limits that types and sparse    test_checkpoint.py (strings for numbers, NaN, 300 M-parameter backbones and heads
timestamps slip past            refused on the meta device, header vs config, NaN weights, memory after 5 refusals)
                                test_bad_inputs.py sparse.mkv (300 frames over 10 h vs a 60 s cap)
one request can't hold the      test_hub_deadlines.py (trickled config and weights, announced 5 GB, the model
queue; deadlines everywhere     cache's lock, another user answered meanwhile over HTTP, the HF cache cleaned)
                                test_video.py::test_reading_past_its_deadline_stops_with_a_clear_message
memory given back               test_checkpoint.py::test_refusing_big_hostile_models_leaves_memory_where_it_was
                                test_app.py::test_a_remembered_failure_keeps_nothing_of_the_failed_run_alive
hostile model cards             test_card_html.py (forms, inputs, scripts, iframes, javascript: links removed)
clean stop, odd uploads         test_stop_and_upload.py (SIGTERM with requests in flight; empty file names)
clear words                     test_bad_inputs.py (cut TS, lying GIF/PNG headers, undecodable H.264),
                                test_a_huge_repo_id_is_refused_without_echoing_it, ::test_cli_refuses_a_bad_file_
                                before_torch_loads, test_runtime.py::test_a_bad_engine_setting_is_one_clear_cli_line
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import io
import json
import os
import pickle
import re
import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from app_server import MAX_FILE_MB
from conftest import call_raw

from hybrid import HybridCNNRNN, ModelError
from hybrid.app import card, clip, live
from hybrid.app import models as app_models
from hybrid.app import timeline as app_timeline
from hybrid.app.context import AppContext
from hybrid.app.errors import AppError
from hybrid.app.settings import AppSettings
from hybrid.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
NOT_A_REPO_ID = "Not a Hub repo id"  # the title of every refusal of the repo id box


# --- helpers --------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this calls os.mkdir(marker): the marker folder is the proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _torch_pickle(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save(_Payload(marker), buf)
    return buf.getvalue()


def _pickles(marker: Path) -> dict[str, bytes]:
    """The checkpoints a PyTorch user might leave in a model folder or repo, each running code when unpickled."""
    raw, zipped = pickle.dumps(_Payload(marker)), _torch_pickle(marker)
    return {"pytorch_model.bin": zipped, "model.pt": zipped, "model.pth": raw, "model.ckpt": raw}


def test_the_payloads_do_run_when_unpickled(tmp_path):
    """The control for the pickle tests below: loading these files the unsafe way does create the marker."""
    for name in _pickles(tmp_path):
        marker = tmp_path / name
        data = _pickles(marker)[name]
        if data[:2] == b"PK":  # torch.save's zip
            torch.load(io.BytesIO(data), weights_only=False)
        else:
            pickle.loads(data)
        assert marker.is_dir(), name


def _model_folder(folder: Path, tiny_model_dir: Path, files: dict[str, bytes]) -> Path:
    """A model folder with the tiny model's config.json and the given files (no model.safetensors unless given)."""
    folder.mkdir(parents=True)
    shutil.copy(tiny_model_dir / "config.json", folder)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _upload(server, path: Path) -> str:
    """POST /gradio_api/upload, as the page does: the file's path in the server's upload folder."""
    r = httpx.post(server.url + "/gradio_api/upload", files={"files": (path.name, path.read_bytes())}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()[0]


def _file(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _answer(server, video, model: str | None, repo_id: str = "") -> tuple[str, object]:
    """One /predict call with raw JSON -> ("complete", outputs) or ("error", Gradio's error dict or None)."""
    stream = call_raw(server, [video, model, repo_id, clip.OVERLAY_GRADCAM])
    event = re.findall(r"^event: (\w+)", stream, re.M)[-1]
    data = re.findall(r"^data: (.*)$", stream, re.M)
    return event, json.loads(data[-1]) if data else None


def _hub_asked(hub) -> list[str]:
    """Paths the server asked the fake Hub for, but huggingface_hub's once-per-process agent registry."""
    return [p for _, p in hub.requests if not p.startswith("/api/agent-harnesses")]


@pytest.fixture(scope="module")
def clip_upload(server, index_clip_path) -> str:
    return _upload(server, index_clip_path)


# --- only safetensors -----------------------------------------------------------------------------------
def test_a_pickled_checkpoint_in_a_model_folder_never_runs(app_ctx, app_env, tiny_model_dir, index_clip_path, tmp_path,
                                                           monkeypatch):  # fmt: skip
    marker = tmp_path / "pickle-ran"
    models = tmp_path / "models"
    _model_folder(models / "pickled", tiny_model_dir, _pickles(marker))
    _model_folder(models / "disguised", tiny_model_dir, {"model.safetensors": _torch_pickle(marker)})
    refusals = {"pickled": "pickled checkpoints are never loaded", "disguised": "unreadable"}
    for name, phrase in refusals.items():
        folder = models / name
        with pytest.raises(ModelError, match=phrase):
            HybridCNNRNN.from_pretrained(folder)
        with pytest.raises(ModelError, match=phrase):
            HybridCNNRNN.from_pretrained(folder)
        assert cli_main(["predict", str(index_clip_path), "--model", str(folder)]) == 2
    ctx = AppContext.create(AppSettings(models_dir=models))
    assert {"pickled", "disguised"} <= set(app_models.bundled_models(ctx.settings))  # both offered in the picker
    for name, phrase in refusals.items():
        with pytest.raises(AppError, match=phrase) as err:
            clip.classify(ctx, str(index_clip_path), name, "")
        assert err.value.title == "Can't load this model"
    assert not marker.exists()


def test_a_pickled_checkpoint_on_the_hub_never_runs_in_the_app(server, hub, tiny_model_dir, model_name, clip_upload,
                                                               tmp_path):  # fmt: skip
    marker = tmp_path / "pickle-ran"  # the server runs as this user: it could create it
    config = (tiny_model_dir / "config.json").read_bytes()
    hub.add_repo("evil/pickled", {"config.json": config, **_pickles(marker)})
    hub.add_repo("evil/disguised", {"config.json": config, "model.safetensors": _torch_pickle(marker)})
    hub.clear_requests()
    event, error = _answer(server, _file(clip_upload), model_name, "evil/pickled")
    assert event == "error" and error["title"] == "Can't load this model"
    assert "has no model.safetensors" in error["error"] and "pickled .bin/.pt checkpoints are refused" in error["error"]
    event, error = _answer(server, _file(clip_upload), model_name, "evil/disguised")
    assert event == "error" and "model.safetensors of evil/disguised is unreadable" in error["error"]
    asked = _hub_asked(hub)
    assert "/evil/pickled/resolve/main/config.json" in asked  # the app did go to the Hub for them
    assert not [p for p in asked if p.endswith((".bin", ".pt", ".pth", ".ckpt"))]
    assert not marker.exists()


# --- repo ids ---------------------------------------------------------------------------------------------
BAD_REPO_IDS = [
    "https://huggingface.co/tests/tiny",
    "http://127.0.0.1:9/tests/tiny",
    "hf://tests/tiny",
    "file:///etc/passwd",
    "/etc/passwd",
    str(ROOT / "assets" / "models" / "ut-interaction-lite0"),  # a real model folder, typed in the repo id box
    "assets",  # a folder in the app's working directory
    "../tests/tiny",
    "tests/../../etc",
    "..",
    "~",
    "~/.cache/huggingface",
    "C:\\models\\tiny",
    "\\\\host\\share\\tiny",
    "tests/tiny/../../../etc/passwd",
    "tests/ti\x00ny",
]


class IOWatch:
    """Python audit events: every file opened, folder listed or changed, socket, URL and process started."""

    WATCHED = ("open", "os.", "shutil.", "socket.", "subprocess.", "urllib.", "http.")

    def __init__(self):
        self.thread: int | None = None
        self.seen: list[tuple[str, tuple]] = []
        sys.addaudithook(self._hook)  # a hook can't be removed: it records only inside `watch()`

    def _hook(self, event: str, args: tuple) -> None:
        if threading.get_ident() == self.thread and event.startswith(self.WATCHED):
            self.seen.append((event, args))

    @contextlib.contextmanager
    def watch(self):
        """What this thread does inside the block: the list of (event, args)."""
        self.seen, self.thread = [], threading.get_ident()
        try:
            yield self.seen
        finally:
            self.thread = None


@pytest.fixture(scope="module")
def io_watch() -> IOWatch:
    return IOWatch()


def test_refused_repo_ids_open_no_file_and_no_socket(app_ctx, app_env, index_clip_path, io_watch, monkeypatch):
    monkeypatch.chdir(ROOT)  # where `python app.py` runs: "assets" is a folder here
    frame = np.zeros((48, 64, 3), np.uint8)
    handlers = {
        "classify": lambda ref: clip.classify(app_ctx, str(index_clip_path), app_env, ref),
        "timeline": lambda ref: app_timeline.make_timeline(app_ctx, str(index_clip_path), app_env, ref),
        "live": lambda ref: live.live_frame(app_ctx, frame, None, app_env, ref),
        "card": lambda ref: card.model_card(app_ctx, app_env, ref),
    }
    for call in handlers.values():  # once first, so that lazy imports don't count below
        with pytest.raises(AppError):
            call("/etc")
    with io_watch.watch() as seen:  # the control: reading a file is seen
        index_clip_path.read_bytes()
    assert [event for event, _ in seen] == ["open"]
    for ref in BAD_REPO_IDS:
        for name, call in handlers.items():
            with io_watch.watch() as seen:
                try:
                    call(ref)
                except AppError as e:
                    error = e
                else:
                    error = None
            assert error is not None and error.title == NOT_A_REPO_ID, (name, ref)
            assert seen == [], (name, ref, seen[:3])
        assert clip.redraw(app_ctx, str(index_clip_path), app_env, ref, clip.OVERLAY_ACTIVATION) is None
    assert app_ctx.models._items == {}  # nothing was loaded


def test_a_huge_repo_id_is_refused_without_echoing_it(app_ctx, app_env, index_clip_path, capsys):
    """A 400 KB "repo id" used to come back whole in the error: the message stays a line long."""
    huge = "a/" + "b" * 400_000
    with pytest.raises(AppError) as e:
        clip.classify(app_ctx, str(index_clip_path), app_env, huge)
    assert e.value.title == NOT_A_REPO_ID and len(e.value.message) < 300 and "bbb..." in e.value.message
    for ref in (huge, "/" + "c" * 400_000, "https://" + "d" * 400_000):
        with pytest.raises(ModelError) as e:
            HybridCNNRNN.from_pretrained(ref)
        assert len(str(e.value)) < 300, str(e.value)[:200]
    capsys.readouterr()
    assert cli_main(["predict", str(index_clip_path), "--model", huge]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err) < 300


def test_the_app_refuses_paths_and_urls_as_models_without_asking_the_hub(server, hub, model_name, clip_upload,
                                                                        tiny_model_dir):  # fmt: skip
    hub.clear_requests()
    for ref in BAD_REPO_IDS:
        event, error = _answer(server, _file(clip_upload), model_name, ref)
        assert event == "error" and error["title"] == NOT_A_REPO_ID, (ref, error)
        assert re.search("without https:// or a local path|only Hub repo ids are accepted", error["error"]), ref
    # the Model picker takes only the names it offers
    for choice in ("../../etc", "/etc/passwd", str(tiny_model_dir), "tests/tiny"):
        event, error = _answer(server, _file(clip_upload), choice)
        assert event == "error" and "not in the list of choices" in error["error"], (choice, error)
    assert _hub_asked(hub) == []
    event, error = _answer(server, _file(clip_upload), model_name, "tests/absent")  # the control: well-formed
    assert event == "error" and "not found on the Hub" in error["error"]
    assert "/tests/absent/resolve/main/config.json" in _hub_asked(hub)


# --- the API reads uploaded files only ----------------------------------------------------------------------
def test_predict_reads_only_uploaded_files(server, hub, model_name, clip_upload, index_clip_path):
    event, outputs = _answer(server, _file(clip_upload), model_name)  # the control: an upload is read
    assert event == "complete" and outputs[-1]["frames"] == 4
    outside = server.root / "outside.mp4"  # a real clip beside the upload folder, not uploaded
    shutil.copy(index_clip_path, outside)
    hub.clear_requests()
    named = [
        "/etc/passwd",  # a bare string, not a file object
        str(outside),
        clip_upload,  # even an upload's path, unless sent as a file object
        _file(f"{server.temp}/../outside.mp4"),
        _file(f"{Path(clip_upload).parent}/../../outside.mp4"),
        _file("../outside.mp4"),
        _file(f"file://{outside}"),
        _file(f"{hub.url}/clip.mp4"),  # a URL on this machine (SSRF): never fetched
        {"path": "clip.mp4", "url": f"{hub.url}/clip.mp4", "meta": {"_type": "gradio.FileData"}},
    ]
    for video in named:
        event, error = _answer(server, video, model_name)
        assert event == "error" and not error.get("error"), (video, error)  # Gradio's refusal: the handler never ran
    assert _hub_asked(hub) == []


def test_mcp_tool_reads_no_local_path_and_caps_inline_files(server, hub, model_name, index_clip_path):
    pytest.importorskip("mcp", reason="gradio[mcp] is not installed in this environment")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    too_big = index_clip_path.read_bytes() + bytes(int(MAX_FILE_MB * 2**20))
    videos = {
        "/etc/passwd": "provide a url",
        str(index_clip_path): "provide a url",
        f"file://{index_clip_path}": "provide a url",
        f"{hub.url}/clip.mp4": "",  # refused by Gradio before any request; its message is hidden
        "data:video/mp4;base64," + base64.b64encode(too_big).decode(): "exceeds the maximum file size",
    }

    async def calls() -> list:
        async with streamable_http_client(server.url + "/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                args = {"model": model_name, "repo_id": "", "overlay": clip.OVERLAY_GRADCAM}
                return [await session.call_tool("predict", {"video": v, **args}) for v in videos]

    hub.clear_requests()
    for (video, phrase), result in zip(videos.items(), asyncio.run(calls())):
        text = " ".join(getattr(c, "text", "") for c in result.content)
        assert result.isError and phrase in text, (video[:80], text[:300])
    assert _hub_asked(hub) == []


# --- size cap -----------------------------------------------------------------------------------------------
def _multipart(name: str, size: int, chunk: int = 256 * 1024):
    """A multipart body sent in chunks (Transfer-Encoding: chunked): the server sees no Content-Length."""
    yield f'--B\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'.encode()
    yield b"Content-Type: video/mp4\r\n\r\n"
    for start in range(0, size, chunk):
        yield bytes(min(chunk, size - start))
    yield b"\r\n--B--\r\n"


def test_a_streamed_upload_over_the_cap_is_cut_off_and_leaves_nothing(server):
    # Gradio reads app.py's f"{MB}mb" as MiB, the reader's cap is MB x 1e6: over both, then under both
    over, under = int(MAX_FILE_MB * 2**20) + 1, int(MAX_FILE_MB * 1e6) - 4096
    before = set(server.files_left())
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    r = httpx.post(server.url + "/gradio_api/upload", content=_multipart("big.mp4", over), headers=headers)
    assert r.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.request.headers
    assert r.status_code == 413 and "maximum allowed size" in r.text
    assert set(server.files_left()) == before  # nothing of it kept
    r = httpx.post(server.url + "/gradio_api/upload", content=_multipart("fits.mp4", under), headers=headers)
    assert r.status_code == 200 and r.json()[0].endswith("/fits.mp4")  # the control: under the cap


def test_the_reader_refuses_files_over_the_cap(app_ctx, app_env, index_clip_path, monkeypatch):
    """Gradio downloads a URL named in a file object itself, with no size cap: the reader's cap still holds."""
    size = index_clip_path.stat().st_size
    ctx = AppContext.create(replace(app_ctx.settings, max_file_mb=(size - 1) / 1e6))  # the cap just under it
    with pytest.raises(AppError, match="the limit is") as err:
        clip.classify(ctx, str(index_clip_path), app_env, "")
    assert err.value.title == "Can't use this video"
    with pytest.raises(AppError, match="the limit is"):
        app_timeline.make_timeline(ctx, str(index_clip_path), app_env, "")


# --- what the server serves -------------------------------------------------------------------------------
def _get(server, path: str, method: str = "GET") -> tuple[int, bytes]:
    """A request with the path sent as written (httpx would resolve the `..` before sending)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_file_route_serves_uploads_and_nothing_else(server, hub, model_name, tiny_model_dir, clip_upload,
                                                    index_clip_path):  # fmt: skip
    status, body = _get(server, "/gradio_api/file=" + clip_upload)  # the controls: an upload is served...
    assert status == 200 and body == index_clip_path.read_bytes()
    event, outputs = _answer(server, _file(clip_upload), model_name)
    assert event == "complete" and _get(server, outputs[2][0]["image"]["url"].split(server.url, 1)[-1])[0] == 200
    # ...and so are the app's outputs; nothing else is, whatever the path looks like
    served = {server.temp.resolve(), (server.root / "tmp" / "examples-cache").resolve()}  # Gradio's own folders
    secrets = [Path("/etc/passwd"), ROOT / "app.py", ROOT / "hybrid" / "hub.py", *ROOT.glob("assets/models/*/*")]
    secrets += [tiny_model_dir / "config.json", tiny_model_dir / "model.safetensors"]  # the model the app loaded
    # what the server itself wrote outside them: its log, the Hugging Face cache, the CNN engine it exported
    secrets += [p for p in server.root.rglob("*") if p.is_file() and not any(d in p.parents for d in served)]
    assert server.log in secrets
    up = Path(clip_upload).parent
    cache = up.parent  # the app's own folder inside GRADIO_TEMP_DIR (removed at a stop)
    names = [str(p) for p in secrets] + [
        "app.py",
        "./hybrid/hub.py",
        f"../{ROOT.name}/app.py",
        "//etc/passwd",
        "%2Fetc%2Fpasswd",
        f"{server.temp}/../server.log",
        f"{up}/../../server.log",
        f"{up}/../../../server.log",
        f"{cache}/../../server.log",
        f"{cache}/%2e%2e/%2e%2e/server.log",
        f"{server.temp}/%2e%2e/server.log",
        f"{server.temp}%2F..%2Fserver.log",
        f"{server.temp}/..%2fserver.log",
        f"{server.temp}/%252e%252e/server.log",
        f"{server.temp}/{os.path.relpath(ROOT / 'app.py', server.temp)}",
        f"file://{ROOT}/app.py",
        f"{hub.url}/tests/tiny/resolve/main/config.json",  # a URL on this machine (SSRF)
    ]
    link = cache / "link-out.py"  # a link inside the cache does not lead out of it either
    link.symlink_to(ROOT / "app.py")
    names.append(str(link))
    hub.clear_requests()
    leaks = []
    try:
        for name in names:
            for prefix in ("/gradio_api/file=", "/file="):
                for method in ("GET", "HEAD"):
                    status, body = _get(server, prefix + name, method)
                    if status not in (403, 404):
                        leaks.append((method, prefix + name, status, body[:80]))
        for path in ("/assets/../../app.py", "/static/../../app.py", "/gradio_api/static/../../../app.py"):
            status, body = _get(server, path)
            if status not in (403, 404):
                leaks.append(("GET", path, status, body[:80]))
    finally:
        link.unlink()
    assert leaks == []
    assert _hub_asked(hub) == []
