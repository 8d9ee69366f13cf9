"""`python app.py` as the tests' server: a subprocess on a free port, its own temp folders, a fake Hub.

The app runs as users start it (`python app.py`), with every folder it writes to (Gradio's uploads and
outputs, the Hugging Face cache, the CNN engine cache) under one test folder, and huggingface_hub pointed at
a FakeHub on 127.0.0.1 that serves a hybrid model ("tests/tiny"), a non-hybrid repo ("tests/not-hybrid").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HUB_MODEL, FOREIGN_REPO = "tests/tiny", "tests/not-hybrid"
MAX_FILE_MB, MAX_DURATION_S = 2, 12  # small limits, so the tests can cross them cheaply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, root: Path, model_dir: Path, hub_url: str | None = None, extra_env: dict | None = None):
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.temp = root / "gradio"  # GRADIO_TEMP_DIR: uploads and outputs
        self.log = root / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "HF_", "HYBRID_"))}
        env.update(
            GRADIO_SERVER_PORT=str(self.port),
            GRADIO_TEMP_DIR=str(self.temp),
            GRADIO_EXAMPLES_CACHE=str(root / "tmp" / "examples-cache"),  # under TMPDIR: Gradio serves from there
            GRADIO_ANALYTICS_ENABLED="False",
            HF_HOME=str(root / "hf"),
            HYBRID_CACHE=str(root / "engine-cache"),
            HYBRID_MODEL=str(model_dir),
            HYBRID_MAX_FILE_MB=str(MAX_FILE_MB),
            HYBRID_MAX_DURATION_S=str(MAX_DURATION_S),
            MPLCONFIGDIR=str(root / "mpl"),
            TMPDIR=str(root / "tmp"),  # anything else that uses tempfile stays in the test folder too
        )
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        if hub_url:
            env.update(HF_ENDPOINT=hub_url, HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="10")
        else:
            env["HF_HUB_OFFLINE"] = "1"
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> AppServer:
        """Wait until the app answers; one that doesn't in time is stopped (a fixture that fails here has no
        teardown to stop it, and a stray app would load the tests after it)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/gradio_api/info", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"app.py did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def api_info(self) -> dict:
        return json.loads(httpx.get(self.url + "/gradio_api/info", timeout=10).text)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (as a container stop or `kill` sends it) and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def files_left(self) -> list[Path]:
        return [p for p in self.temp.rglob("*") if p.is_file()] if self.temp.exists() else []


def start_hub(model_dir: Path):
    """A FakeHub serving the tiny model as HUB_MODEL and a repo that is not a hybrid model."""
    from hub_server import FakeHub

    hub = FakeHub().start()
    hub.add_folder(HUB_MODEL, model_dir)
    hub.add_repo(FOREIGN_REPO, {"config.json": b'{"model_type": "bert", "hidden_size": 8}', "README.md": b"# bert"})
    return hub
