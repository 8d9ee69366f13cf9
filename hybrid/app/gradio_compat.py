"""Every workaround that reaches into Gradio's (6.31) or uvicorn's internals, in one place, each saying why.

- write_output_images_atomically: output images written by rename (a second request used to truncate a frame
  another client was downloading);
- PAGE_JS (QUIET_PREVIEW_JS, LATER_TRIM_JS): hides the "Video not playable" toast for uploads Chromium can't
  preview (a playable copy replaces them after the run); holds the video player's 31 MB trim tool (ffmpeg.wasm)
  until the run's answer is drawn, not while the clip is being classified;
- show_in_page: a js-only event that makes components visible (no second round trip to the server);
- refuse_unusable_uploads: an upload part without a usable file name gets a 400, not a 500;
- use_private_cache, stop_serving, exit_now: a stop within a second that leaves none of the run's files behind.

The patches of Gradio's module-level names apply to gradio 6.31.0 only and leave other versions untouched; the
rest degrades to doing nothing when an attribute it reads is missing. tests/test_stop_and_upload.py and
tests/test_load.py check them against the pinned Gradio.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

GRADIO_VERSION = "6.31.0"  # the version these workarounds were written for (requirements.txt pins it)


def write_output_images_atomically() -> None:
    """Replace gradio.processing_utils.save_pil_to_cache (gradio 6.31) with one that writes by rename.

    Gradio saves every output image (the gallery's frames) to a content-addressed path, <cache>/<sha256>/
    image.webp, and rewrites it in place each time (Path.write_bytes: truncate, then write). The same clip
    sent twice gives the same frames, so a second request truncated the file while the first one's client
    was downloading it: the server had already sent Content-Length from stat(), read 0 bytes, and closed the
    connection (h11 "Too little data for declared Content-Length"; gradio_client: RemoteProtocolError,
    9 of 160 requests at 8 clients x 20 clips). Gradio already copies files this way (save_file_to_cache:
    a temporary name in the same folder, then os.replace); do the same for images. A reader keeps the file
    it opened, a later one gets a complete file with the same bytes."""
    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "writes_atomically", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        return str(path)

    save_pil_to_cache.writes_atomically = True
    pu.save_pil_to_cache = save_pil_to_cache


# Chromium can't preview some uploads (avi, MPEG-4 Part 2, HEVC) and Gradio reports that as an "Error: Video not
# playable" toast, although the model reads the file and fix_preview swaps in a playable copy after the run. Hide
# just that message (a toast groups messages of one kind: a real error beside it stays visible).
QUIET_PREVIEW_JS = """
() => {
  const quiet = () => {
    for (const item of document.querySelectorAll('.toast-item')) {
      const msgs = [...item.querySelectorAll('.toast-message-item')];
      for (const m of msgs) {
        const text = m.querySelector('.toast-message-text');
        if (text && text.innerText.trim() === 'Video not playable') m.style.display = 'none';
      }
      const silent = msgs.length > 0 && msgs.every((m) => m.style.display === 'none');
      if ((item.style.display === 'none') !== silent) item.style.display = silent ? 'none' : '';
    }
  };
  new MutationObserver(quiet).observe(document.body, {childList: true, subtree: true});
}
"""


# Gradio's video player fetches ffmpeg.wasm (31 MB, for its Trim tool) and compiles it the moment a clip is in
# the player: 0.5-0.8 s of CPU on the cores that are classifying that very clip (a 10 s 720p upload, 2 cores:
# ~0.3 s more from upload to drawn results). Hold those fetches until the answer panel has changed and had
# TRIM_AFTER_MS to draw (the run is over), the Trim button is pressed, or TRIM_LATEST_MS have passed: the tool
# still loads for every clip, just after the answer.
LATER_TRIM_JS = """
() => {
  const TRIM_AFTER_MS = 1500, TRIM_LATEST_MS = 15000, TRIM = '[aria-label="Trim video to selection"]';
  // textContent: innerText would make the browser lay the page out at every look
  const answer = () => { const v = document.querySelector('#verdict .prose'); return v ? v.textContent : null; };
  const fetched = window.fetch.bind(window);
  let held = null;  // what every held fetch waits on, while some are held
  const hold = () => held || (held = new Promise((release) => {
    const was = answer();
    let timer = setTimeout(go, TRIM_LATEST_MS);
    const watch = setInterval(() => {
      if (answer() !== was) { clearInterval(watch); clearTimeout(timer); timer = setTimeout(go, TRIM_AFTER_MS); }
    }, 100);
    const trim = (e) => { if (e.target.closest && e.target.closest(TRIM)) go(); };
    document.addEventListener('click', trim, true);
    function go() {
      clearInterval(watch); clearTimeout(timer); document.removeEventListener('click', trim, true);
      held = null; release();
    }
  }));
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : (input && input.url) || String(input);
    // the player asks for ffmpeg-core.js, then for the .wasm once that arrived: holding the first holds both
    const first = url.includes('/static/ffmpeg/ffmpeg-core.js');
    return first ? hold().then(() => fetched(input, init)) : fetched(input, init);
  };
}
"""


def show_in_page(n: int) -> str:
    """A js= function that makes its `n` outputs visible in the page itself: an event with fn=None and this js
    never reaches the server, so results shown by it appear with the answer, not one more round trip (queue
    join and stream, ~0.1-0.2 s on 2 busy cores) later. The returned objects are Gradio's update dicts (what
    gr.update(visible=True) sends), which its front end applies to layout blocks too."""
    return "() => [" + ", ".join(["{__type__: 'update', visible: true}"] * n) + "]"


# The one function Gradio runs when the page loads (Blocks' js=): each part above, in turn.
PAGE_JS = "() => {\n" + "".join(f"  ({part.strip()})();\n" for part in (QUIET_PREVIEW_JS, LATER_TRIM_JS)) + "}"


STOP_WAIT_S = 3.0  # a stop gives the server this long to shut down, then removes the files and exits (< 5 s)


def use_private_cache() -> Path:
    """Give this run a cache folder of its own, inside $GRADIO_TEMP_DIR when the operator set one (else the
    system's temp folder), and point Gradio at it: uploads, outputs (the gallery's frames), previews, timeline
    files, the examples' copies. The stop removes the whole folder, whatever was still being written to it,
    and so does a small process once this one is gone (remove_when_gone, which the caller starts and holds).
    Gradio's own clean-up deletes the files it recorded one by one, iterating sets that request threads still
    add to ("Set changed size during iteration"), and not at all when its server is slow to stop.

    Gradio reads GRADIO_TEMP_DIR when a Blocks or its server app is made (build_demo, launch) and at each
    get_upload_folder(); a few of its modules copied it into DEFAULT_TEMP_DIR when imported (route_utils and
    routes: a folder made at launch; mcp: the files an MCP client sends inline): those copies follow too."""
    parent = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="hybrid-", dir=parent)).resolve()
    atexit.register(remove_cache, cache)  # when the process ends another way than through exit_now
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    for name in ("gradio.route_utils", "gradio.routes", "gradio.mcp", "gradio.screen_recording_utils"):
        module = sys.modules.get(name)
        if module is not None and isinstance(getattr(module, "DEFAULT_TEMP_DIR", None), str):
            module.DEFAULT_TEMP_DIR = str(cache)
    return cache


def remove_cache(cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)


_REAPER = """import shutil, signal, sys
for name in ("SIGHUP", "SIGINT", "SIGTERM"):  # what a stop may send to the whole group: outlive the app
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
sys.stdin.buffer.read()  # returns once the app has ended, however it ended
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


def remove_when_gone(folder: Path) -> subprocess.Popen:
    """A small process (a bare interpreter, ~10 MB) that removes `folder` once this process has ended.

    The stop removes the folder itself, twice, but a request thread still running (a model run can't be
    interrupted) may write in between, and a process killed by SIGKILL or crashing removes nothing. This one
    reads a pipe that only the app holds open; the system closes it when the app is gone, when no thread of
    the app can write any more."""
    cmd = [sys.executable, "-I", "-S", "-c", _REAPER, str(folder)]
    out = subprocess.DEVNULL
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=out, cwd="/", start_new_session=True)


def stop_serving(demo: gr.Blocks | None, wait_s: float = STOP_WAIT_S) -> None:
    """Stop taking work and give the server up to wait_s to shut down.

    Gradio's own Ctrl-C handling only asks the server to exit: its queue goes on starting events, and the
    server waits for every open connection to end (the event streams of clients with events pending, browsers'
    heartbeats, MCP sessions) up to the 5 s Gradio waits for its thread; then its shutdown hook deletes the
    files it recorded, iterating sets that request threads still add to. Here no further signal interrupts
    the stop; Blocks.close() stops the queue and ends the heartbeats; the connections still open are closed as
    a client leaving closes them (Gradio then drops their pending events), so the server shuts down at once;
    its file-deleting hook gets no set to iterate (the folder goes as a whole). Request threads still in a
    model run are not waited for: they end with the process."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if demo is None or not demo.is_running:
        return
    deadline = time.monotonic() + wait_s
    server = demo.server
    demo.temp_file_sets = []
    threading.Thread(target=demo.close, kwargs={"verbose": False}, name="stop-server", daemon=True).start()
    thread = getattr(server, "thread", None)
    while thread is not None and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
        drop_connections(server)


def drop_connections(server) -> None:
    """Close the connections a uvicorn server still holds, from another thread (as if the clients left)."""
    for conn in list(getattr(getattr(server, "server_state", None), "connections", ())):
        loop, transport = getattr(conn, "loop", None), getattr(conn, "transport", None)
        if loop is not None and transport is not None and not loop.is_closed():
            loop.call_soon_threadsafe(transport.close)


def exit_now(cache: Path, handlers_s: float = 1.0) -> None:
    """End the process, once stopped, without Python's teardown of the interpreter (seconds for torch and
    Gradio on a busy machine, and torch's threads can make it abort) and without waiting for request threads
    still running. The exit handlers still run, for up to handlers_s (Gradio's share tunnel, matplotlib's
    temporary config folder...). The cache goes last, right before the end, so that a request thread still
    running has no time to trip over its missing files; what it writes later goes with the reaper."""
    print("Stopped.", flush=True)
    atexit.unregister(remove_cache)
    handlers = threading.Thread(target=atexit._run_exitfuncs, name="exit-handlers", daemon=True)
    handlers.start()
    handlers.join(handlers_s)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    remove_cache(cache)
    os._exit(0)


def refuse_unusable_uploads() -> None:
    """Upload route (gradio 6.31): a part without a file name gets a 400 that says so, not a 500.

    Gradio's upload parser (route_utils.GradioMultiPartParser, vendored from Starlette) turns a multipart part
    without a `filename` parameter into a plain form field, which is how httpx and requests send a file whose
    name is empty (and how `filename*=` arrives: that parameter is not read); upload_fn then meets a string
    among the "files" and raises TypeError: HTTP 500. A name it refuses (".." and the like) does get a 400,
    but only after the part was written to a temporary file in the upload folder that nobody deletes, as is a
    file sent in another field than "files". This parser, used by the upload route only (routes.py keeps the
    original for its other routes), refuses such a part as soon as its headers are read, which makes Gradio
    delete the temporary files of the request and answer 400 with the message. Other Gradio versions are
    left untouched: this reaches into a module-level name of route_utils."""
    from gradio import route_utils

    if gr.__version__ != GRADIO_VERSION or getattr(route_utils.GradioMultiPartParser, "refuses_unusable_parts", False):
        return
    from gradio.exceptions import InvalidPathError
    from gradio_client.utils import strip_invalid_filename_characters
    from starlette.formparsers import MultiPartException

    class UploadParser(route_utils.GradioMultiPartParser):
        refuses_unusable_parts = True

        def on_headers_finished(self) -> None:
            super().on_headers_finished()
            part, problem = self._current_part, None
            if part.file is None:
                problem = 'a part has no file name: send each file as name="files"; filename="<its name>"'
            elif part.field_name != "files":
                problem = f'files go in the form field "files", not {part.field_name!r}'
            elif part.file.filename:  # the name upload_fn will give it (an empty one gets a generated name)
                name = strip_invalid_filename_characters(Path(part.file.filename).name)
                try:
                    route_utils.utils.safe_join(self.upload_dir or ".", name)
                except InvalidPathError:
                    problem = f"{part.file.filename!r} is not a usable file name"
            if problem:
                if self.upload_progress is not None:
                    self.upload_progress.set_done(self.upload_id)
                raise MultiPartException(f"Upload refused: {problem}.")

    route_utils.GradioMultiPartParser = UploadParser
