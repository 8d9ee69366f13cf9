"""A small Hugging Face Hub look-alike for tests: the real huggingface_hub client talks to it over HTTP.

`FakeHub` serves model repos on 127.0.0.1 the way the Hub does for huggingface_hub 2.4:
- HEAD/GET /{repo}/resolve/{revision}/{file}: small files answer 200 with ETag (git sha1), X-Repo-Commit and
  Content-Length; weights (*.safetensors, *.bin) answer 302 to a second "CDN" server (another origin) with
  X-Linked-Etag (sha256), X-Linked-Size and Location, like Git LFS files on the real Hub.
- Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound) so the client raises its typed errors.
- Push: POST /api/repos/create, /api/validate-yaml, /api/models/{repo}/preupload/{rev} (every file "regular",
  so its content comes inline as base64), /api/models/{repo}/commit/{rev} (ndjson), and
  GET /api/models/{repo}[/revision/{rev}] (repo info, files with their sizes). Dataset repos (add_repo's repo_type)
  answer under /datasets/{repo}/resolve/... and /api/datasets/{repo}. Writes need "Authorization: Bearer <token>".
Every request is recorded in `hub.requests` as (method, path) so tests can count downloads.
Hostile repos (add_repo's `trickle` and `claimed_sizes`): a file sent 1 byte every TRICKLE_S (its body, or the
whole answer, headers included), or an LFS file whose metadata claims another size than it has.

`HubWorker` runs a Python process with its own environment (HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE are read by
huggingface_hub at import) and sends it commands; `python tests/hub_server.py` is that worker.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TRICKLE_S = 2.0  # a trickled file gets 1 byte this often
WRITE_ROUTE = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)?)/(?P<kind>preupload|commit)/(?P<rev>[^/]+)$")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commit: str = ""
    private: bool = False
    history: list[str] = field(default_factory=list)
    trickle: dict[str, str] = field(default_factory=dict)  # file -> "body" (GET bodies) or "headers" (every answer)
    claimed_sizes: dict[str, int] = field(default_factory=dict)  # LFS file -> the size its metadata claims

    def new_commit(self, message: str) -> str:
        digest = hashlib.sha1(message.encode() + self.commit.encode())
        for name in sorted(self.files):
            digest.update(name.encode() + git_sha1(self.files[name]).encode())
        self.commit = digest.hexdigest()
        self.history.append(self.commit)
        return self.commit


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its open connections so `stop()` can cut them."""

    daemon_threads = True

    def __init__(self, *args, **kw):
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kw)

    def process_request(self, request, client_address) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class FakeHub:
    """Hub endpoint + CDN, each a ThreadingHTTPServer on a free 127.0.0.1 port."""

    def __init__(self, token: str = "hf_test_token"):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self.port = self.cdn_port = 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = self._serve(self.port, self._hub_handler())
        cdn = self._serve(self.cdn_port, self._cdn_handler())
        self.port, self.cdn_port = hub.server_address[1], cdn.server_address[1]
        self._servers = [hub, cdn]
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections (clients pool them), like a network outage."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        self._servers = []

    @contextlib.contextmanager
    def down(self):
        """Nothing listens on the Hub's port inside this block (connection refused), then it comes back."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @staticmethod
    def _serve(port: int, handler) -> ThreadingHTTPServer:
        server = _Server(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- content -------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        private: bool = False,
        trickle: dict[str, str] | None = None,
        claimed_sizes: dict[str, int] | None = None,
        repo_type: str = "model",
    ) -> str:
        """Create (or replace) a repo holding `files`; returns its commit sha.

        repo_type "dataset": served under /datasets/{repo} and /api/datasets/{repo}, as the Hub does.

        trickle: file -> "body" (a GET's headers at once, then its body 1 byte every TRICKLE_S; LFS files on the
        CDN) or "headers" (every answer about the file, headers included, 1 byte every TRICKLE_S).
        claimed_sizes: LFS file -> the size its metadata (X-Linked-Size) claims; the CDN still serves the real bytes.
        """
        key = f"datasets/{repo_id}" if repo_type == "dataset" else repo_id
        with self._lock:
            repo = self.repos[key] = Repo(
                files=dict(files), private=private, trickle=dict(trickle or {}), claimed_sizes=dict(claimed_sizes or {})
            )
            return repo.new_commit("initial")

    def add_folder(self, repo_id: str, folder: str | os.PathLike, **kw) -> str:
        files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        return self.add_repo(repo_id, files, **kw)

    def count(self, method: str, path_end: str) -> int:
        """How many requests with this method had a path ending in `path_end`."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.endswith(path_end))

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def _blob(self, sha256: str) -> tuple[bytes, str | None] | None:
        """(content, trickle mode) of the LFS file with this sha256, or None."""
        with self._lock:
            for repo in self.repos.values():
                for name, data in repo.files.items():
                    if hashlib.sha256(data).hexdigest() == sha256:
                        return data, repo.trickle.get(name)
        return None

    # --- HTTP ----------------------------------------------------------------------------
    def _base_handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def record(self) -> str:
                """Read the body (always: the connection is kept alive) and log (method, path)."""
                self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = unquote(urlsplit(self.path).path)
                with hub._lock:
                    hub.requests.append((self.command, path))
                return path

            def reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, trickle: str | None = None
            ) -> None:
                """trickle: None, "body" (headers at once, then the body 1 byte per TRICKLE_S) or "headers"
                (the whole answer, status line and headers included, 1 byte per TRICKLE_S)."""
                content = b"" if self.command == "HEAD" else body
                if trickle == "headers":
                    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
                    lines += [f"{k}: {v}" for k, v in {**(headers or {}), "Content-Length": str(len(body))}.items()]
                    return self.drip("\r\n".join([*lines, "", ""]).encode() + content)
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if trickle == "body":
                    self.drip(content)
                elif content:
                    self.wfile.write(content)

            def drip(self, data: bytes) -> None:
                """Send `data` 1 byte every TRICKLE_S; stop when the client hangs up (or the server stops)."""
                self.close_connection = True
                for i in range(len(data)):
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(TRICKLE_S)

            def reply_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                self.reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

            def error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
                headers = {"X-Error-Message": message}
                if code:
                    headers["X-Error-Code"] = code
                if commit:
                    headers["X-Repo-Commit"] = commit
                self.reply_json(status, {"error": message}, headers)

            def body(self) -> bytes:
                return self._body

            def authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {hub.token}"

        return Handler

    def _hub_handler(self):
        hub, Base = self, self._base_handler()

        class Hub(Base):
            def do_HEAD(self) -> None:
                self.route()

            def do_GET(self) -> None:
                self.route()

            def do_POST(self) -> None:
                self.route()

            def route(self) -> None:
                path = self.record()
                try:
                    if self.command in ("HEAD", "GET") and "/resolve/" in path:
                        return self.resolve(path)
                    if self.command == "GET" and path.startswith("/api/models/"):
                        return self.repo_info(path[len("/api/models/") :])
                    if self.command == "GET" and path.startswith("/api/datasets/"):
                        return self.repo_info(path[len("/api/") :])
                    if self.command == "POST" and path == "/api/repos/create":
                        return self.create_repo()
                    if self.command == "GET" and path == "/api/agent-harnesses":  # huggingface_hub's user agent
                        return self.reply_json(200, {"standardEnvVars": [], "harnesses": {}})
                    if self.command == "POST" and path == "/api/validate-yaml":
                        return self.reply_json(200, {"errors": [], "warnings": []})
                    m = WRITE_ROUTE.match(path)
                    if self.command == "POST" and m:
                        return self.write(m["kind"], m["repo"], m["rev"])
                    self.error(404, None, f"no route for {self.command} {path}")
                except Exception as e:  # a bug in the fake must show up in the test, not hang it
                    self.error(500, None, f"fake hub error: {e!r}")

            def repo(self, repo_id: str) -> Repo | None:
                repo = hub.repos.get(repo_id)
                if repo is None or (repo.private and not self.authorized()):
                    self.error(404, "RepoNotFound", "Repository not found")
                    return None
                return repo

            def resolve(self, path: str) -> None:
                repo_id, _, rest = path.lstrip("/").partition("/resolve/")
                revision, _, filename = rest.partition("/")
                repo = self.repo(repo_id)
                if repo is None:
                    return
                if revision not in ("main", repo.commit):
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                data = repo.files.get(filename)
                if data is None:
                    return self.error(404, "EntryNotFound", f"{filename} does not exist", commit=repo.commit)
                headers = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
                trickle = repo.trickle.get(filename)
                if filename.endswith(LFS_SUFFIXES):  # like Git LFS files: redirect to the CDN
                    sha = hashlib.sha256(data).hexdigest()
                    headers |= {
                        "ETag": f'"{git_sha1(data)}"',
                        "X-Linked-Etag": f'"{sha}"',
                        "X-Linked-Size": str(repo.claimed_sizes.get(filename, len(data))),
                        "Location": f"http://127.0.0.1:{hub.cdn_port}/lfs/{sha}",
                    }
                    return self.reply(302, b"", headers, trickle="headers" if trickle == "headers" else None)
                headers |= {"ETag": f'"{git_sha1(data)}"', "Content-Type": "application/octet-stream"}
                self.reply(200, data, headers, trickle=trickle)

            def repo_info(self, rest: str) -> None:
                repo_id, sep, _revision = rest.partition("/revision/")
                repo = self.repo(repo_id)
                if repo is not None:
                    sizes = {n: repo.claimed_sizes.get(n, len(data)) for n, data in repo.files.items()}
                    siblings = [{"rfilename": n, "size": sizes[n]} for n in sorted(repo.files)]
                    repo_id = repo_id.removeprefix("datasets/")
                    self.reply_json(
                        200, {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": repo.private,
                              "siblings": siblings},
                    )  # fmt: skip

            def create_repo(self) -> None:
                if not self.authorized():
                    return self.error(401, None, "Invalid username or password.")
                req = json.loads(self.body())
                repo_id = "/".join(p for p in (req.get("organization"), req["name"]) if p)
                url = f"{hub.url}/{repo_id}"
                with hub._lock:
                    if repo_id in hub.repos:
                        return self.reply_json(409, {"error": "You already created this model repo", "url": url})
                    repo = hub.repos[repo_id] = Repo(
                        files={".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                        private=req.get("visibility") == "private" or bool(req.get("private")),
                    )
                    repo.new_commit("initial commit")
                self.reply_json(200, {"url": url, "name": repo_id, "id": repo_id})

            def write(self, kind: str, repo_id: str, revision: str) -> None:
                body = self.body()
                if not self.authorized():
                    return self.error(401, None, "Invalid username or password.")
                repo = self.repo(repo_id)
                if repo is None:
                    return
                if revision != "main":
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                if kind == "preupload":
                    files = json.loads(body)["files"]
                    return self.reply_json(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                         "oid": git_sha1(repo.files[f["path"]]) if f["path"] in repo.files else None}
                        for f in files
                    ]})  # fmt: skip
                if self.headers.get("Content-Type") != "application/x-ndjson":
                    return self.error(400, None, "commit payload must be ndjson")
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                if not lines or lines[0].get("key") != "header":
                    return self.error(400, None, "commit payload must start with a header")
                with hub._lock:
                    for item in lines[1:]:
                        value = item["value"]
                        if item["key"] == "file" and value.get("encoding") == "base64":
                            repo.files[value["path"]] = base64.b64decode(value["content"])
                        elif item["key"] == "deletedFile":
                            repo.files.pop(value["path"], None)
                        else:
                            return self.error(400, None, f"unsupported commit operation {item['key']!r}")
                    sha = repo.new_commit(lines[0]["value"]["summary"])
                self.reply_json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                                      "success": True})  # fmt: skip

        return Hub

    def _cdn_handler(self):
        hub, Base = self, self._base_handler()

        class Cdn(Base):
            def do_HEAD(self) -> None:
                self.serve()

            def do_GET(self) -> None:
                self.serve()

            def serve(self) -> None:
                path = self.record()
                found = hub._blob(path.rsplit("/", 1)[-1]) if path.startswith("/lfs/") else None
                if found is None:
                    return self.reply(404, b"NoSuchKey")
                data, trickle = found
                etag = f'"{hashlib.sha256(data).hexdigest()}"'
                self.reply(200, data, {"ETag": etag, "Content-Type": "application/octet-stream"}, trickle=trickle)

        return Cdn


# --- a Python process with its own Hub environment ------------------------------------------------


class HubWorker:
    """`python tests/hub_server.py` with env; `call(cmd, **args)` -> the worker's JSON answer."""

    def __init__(self, env: dict[str, str], cwd: str | os.PathLike):
        root = Path(__file__).resolve().parents[1]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        full_env |= {"PYTHONPATH": str(root), "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
        full_env |= env
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            text=True,
        )

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"hub worker died (exit code {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def state_digest(model) -> str:
    """sha256 over the model's float32 state dict: equal digests = identical weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _run(req: dict[str, Any]) -> dict[str, Any]:
    import time

    from hybrid import HybridCNNRNN, ModelError, hub

    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        if req["cmd"] == "load":
            model = HybridCNNRNN.from_pretrained(req["ref"], **req.get("kwargs", {}))
            out |= {"labels": model.labels, "digest": state_digest(model), "config": model.config.to_dict()}
        elif req["cmd"] == "card":
            out["text"] = hub.read_card(req["ref"])
        elif req["cmd"] == "push":
            out["url"] = hub.push_folder(req["folder"], req["repo_id"], HybridCNNRNN, **req.get("kwargs", {}))
        elif req["cmd"] == "mixin_push":
            model = HybridCNNRNN.from_pretrained(req["folder"])
            out["url"] = str(model.push_to_hub(req["repo_id"]))
        elif req["cmd"] == "examples":
            from hybrid.app.examples import dataset_examples

            found = dataset_examples(req["repo_id"], req["max_bytes"])
            out |= {"clips": [str(p) for p in found.clips], "problem": found.problem}
        elif req["cmd"] == "cli":
            from hybrid.cli import main

            try:
                out["rc"] = main(req["argv"])
            except SystemExit as e:  # argparse
                out["rc"] = e.code
        else:
            raise ValueError(f"unknown command {req['cmd']!r}")
    except ModelError as e:
        out["error"], out["message"] = "ModelError", str(e)
    except Exception as e:  # reported, so the test shows what escaped
        out["error"], out["message"] = type(e).__name__, f"{e!r}"
    out["seconds"] = time.perf_counter() - t0
    return out


@contextlib.contextmanager
def _capture_fds():
    """Collect everything written to fds 1 and 2 (print, logging, C code) while a command runs."""
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    files = {fd: tempfile.TemporaryFile() for fd in (1, 2)}
    captured: dict[str, str] = {}
    try:
        sys.stdout.flush(), sys.stderr.flush()
        for fd, f in files.items():
            os.dup2(f.fileno(), fd)
        yield captured
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        for fd, f in files.items():
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
            f.seek(0)
            captured["stdout" if fd == 1 else "stderr"] = f.read().decode(errors="replace")
            f.close()


def worker_main() -> None:
    """Read JSON commands on stdin, answer one JSON line each on the real stdout."""
    answer = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        req = json.loads(line)
        with _capture_fds() as captured:
            out = _run(req)
        answer.write(json.dumps({**out, **captured}) + "\n")
        answer.flush()


if __name__ == "__main__":
    worker_main()
