"""Deadlines, size caps and clean-up for Hub downloads: what keeps one hostile repo from holding a request.

huggingface_hub can keep one download going for many minutes: each read may wait HF_HUB_DOWNLOAD_TIMEOUT (so a
file sent 1 byte every few seconds never times out), a failed metadata request is retried 5 times with 60 s
timeouts, and a broken transfer resumes 5 times, the count starting over with every byte received. So each step
of a Hub load runs as a _Phase (`phase`), found through a context variable (per thread, per task): two event hooks
on huggingface_hub's shared httpx2 client cap every request's timeouts at the time left, refuse a file announced
over the size cap, count the bytes received, and a timer shuts the phase's sockets at its deadline, so a read
blocked in the kernel returns at once. What they raise is a ModelError, none of the errors huggingface_hub
retries. Outside a phase the hooks do nothing. A Xet transfer would run in hf_xet's own code, out of their
reach, so within a phase the Xet hash header is dropped and the file comes over HTTP. `cache_guard` takes a
failed load's files back out of the Hugging Face cache.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2  # huggingface_hub's HTTP client (a dependency of huggingface-hub 2.x)
from huggingface_hub import constants, get_session, set_client_factory
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils._http import default_client_factory  # the client huggingface_hub makes by default

from .env import env_number
from .errors import ModelError

SMALL_FILE_MAX_BYTES = 1_000_000  # config.json, README.md: far more than a real one needs


@dataclass(frozen=True)
class HubLimits:
    """How long Hub downloads may take and how large the weights may be (read from the environment per load)."""

    timeout_s: float = 20.0  # HYBRID_HUB_TIMEOUT_S: metadata and config.json together; also the weights' base time
    max_model_mb: float = 500.0  # HYBRID_MAX_MODEL_MB: larger weights are refused before they are downloaded
    min_mb_per_s: float = 2.0  # HYBRID_HUB_MIN_MB_PER_S: the weights get timeout_s plus their size at this rate

    @classmethod
    def from_env(cls) -> HubLimits:
        d = cls()
        return cls(
            timeout_s=env_number("HYBRID_HUB_TIMEOUT_S", d.timeout_s),
            max_model_mb=env_number("HYBRID_MAX_MODEL_MB", d.max_model_mb),
            min_mb_per_s=env_number("HYBRID_HUB_MIN_MB_PER_S", d.min_mb_per_s),
        )

    def paced(self, **kw: Any) -> dict[str, Any]:
        """phase() arguments for a file of any size: timeout_s plus its announced size at min_mb_per_s."""
        return dict(rate=self.min_mb_per_s * 1e6, why="HYBRID_HUB_TIMEOUT_S plus its size at HYBRID_HUB_MIN_MB_PER_S",
                    **kw)  # fmt: skip


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:.2g} MB"


class _Phase:
    """One step of a Hub load: a deadline, a cap on the bytes received, and the sockets to shut at the deadline."""

    def __init__(
        self,
        repo_id: str,
        filename: str,
        seconds: float,
        max_bytes: int,
        rate: float | None = None,
        why: str = "HYBRID_HUB_TIMEOUT_S",
        cap: str = "far more than a real one needs",
        kind: str = "model",
    ):
        """rate (bytes/s): once the file's size is announced, the deadline becomes seconds + size / rate.
        kind: what the repo is, in messages ("model", "dataset")."""
        self.repo_id, self.filename, self.base_s, self.max_bytes = repo_id, filename, seconds, max_bytes
        self.rate, self.why, self.cap, self.kind = rate, why, cap, kind
        self.start = time.monotonic()
        self.size: int | None = None  # as announced (X-Linked-Size, Content-Length)
        self.received = 0
        self.expired = False
        self._sized = False
        self._lock = threading.Lock()
        self._streams: list[Any] = []  # httpcore network streams of this phase's connections
        self._timer: threading.Timer | None = None
        self._arm(seconds)

    def _arm(self, seconds: float) -> None:
        """(Re)set the deadline to `seconds` after the phase began."""
        with self._lock:
            if self.expired:
                return
            if self._timer is not None:
                self._timer.cancel()
            self.seconds = seconds
            self._timer = threading.Timer(max(0.0, self.start + seconds - time.monotonic()), self._expire)
            self._timer.name, self._timer.daemon = "hybrid-hub-deadline", True
            self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            streams, self._streams = self._streams, []
        for stream in streams:
            _shut(stream)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._streams = []

    def left(self) -> float:
        return self.start + self.seconds - time.monotonic()

    def over(self) -> bool:
        return self.expired or self.left() <= 0

    def check(self) -> None:
        if self.over():
            raise self.late()

    def watch(self, stream: Any) -> None:
        """Shut this connection at the deadline (at once when it has passed)."""
        if stream is None:
            return
        with self._lock:
            if not self.expired:
                self._streams.append(stream)
                return
        _shut(stream)

    def on_response(self, response: httpx2.Response) -> None:
        self.watch(response.extensions.get("network_stream"))
        size = _announced_size(response)
        if size is not None and size > self.max_bytes:
            raise self.too_large(size)
        if not self._sized and (size is not None or response.request.method == "GET"):
            self._sized, self.size = True, size
            if self.rate:  # unknown size: as much time as the largest file allowed would get
                self._arm(self.base_s + (size if size is not None else self.max_bytes) / self.rate)

    def on_bytes(self, n: int) -> None:
        self.received += n
        if self.received > self.max_bytes:
            raise self.too_large(None)
        self.check()

    def late(self) -> ModelError:
        what = f"{self.filename} ({_mb(self.size)})" if self.rate and self.size is not None else self.filename
        advice = "try again later, or pass a local model folder" if self.kind == "model" else "try again later"
        return ModelError(
            f"{self.kind} {self.repo_id!r}: the Hub did not deliver {what} within {round(self.seconds, 1):g} s "
            f"({self.why}); it is stalled or too slow now: {advice}"
        )

    def too_large(self, size: int | None) -> ModelError:
        how = f"is {_mb(size)}" if size is not None else "sends more than that"
        return ModelError(
            f"{self.kind} {self.repo_id!r} is too large to load here: {self.filename} {how}, over the limit of "
            f"{_mb(self.max_bytes)} ({self.cap})"
        )


_PHASE: ContextVar[_Phase | None] = ContextVar("hybrid_hub_phase", default=None)


def _announced_size(response: httpx2.Response) -> int | None:
    linked = response.headers.get(constants.HUGGINGFACE_HEADER_X_LINKED_SIZE)
    text = linked or (None if response.is_redirect else response.headers.get("Content-Length"))
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _shut(stream: Any) -> None:
    """Shut a connection's socket: a read blocked on it returns at once (closing it would not wake the read)."""
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _PhaseStream(httpx2.SyncByteStream):
    """A response body, counted against its phase; a read cut by the deadline is reported as the deadline."""

    def __init__(self, inner: httpx2.SyncByteStream, phase: _Phase):
        self._inner, self._phase = inner, phase

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._phase.on_bytes(len(chunk))
                yield chunk
        except ModelError:
            raise
        except Exception:
            if self._phase.over():
                raise self._phase.late() from None
            raise

    def close(self) -> None:
        self._inner.close()


def _on_request(request: httpx2.Request) -> None:
    phase = _PHASE.get()
    if phase is None:
        return
    phase.check()
    left = phase.left()
    timeouts = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        k: left if timeouts.get(k) is None else min(timeouts[k], left) for k in ("connect", "read", "write", "pool")
    }
    prior = request.extensions.get("trace")

    def trace(name: str, info: dict[str, Any]) -> None:  # httpcore's: every new connection of the phase is watched
        if name.endswith(("connect_tcp.complete", "start_tls.complete")):
            phase.watch(info.get("return_value"))
        if prior is not None:
            prior(name, info)

    request.extensions["trace"] = trace
    request.headers["Connection"] = "close"  # a phase's connections never go back to the shared pool


def _on_response(response: httpx2.Response) -> None:
    phase = _PHASE.get()
    if phase is not None:
        # A Xet transfer would run in hf_xet's own code, where no deadline reaches: without its hash header,
        # huggingface_hub downloads the file over HTTP (the Hub serves every file that way too), through the hooks.
        response.headers.pop(constants.HUGGINGFACE_HEADER_X_XET_HASH, None)
        phase.on_response(response)
        response.stream = _PhaseStream(response.stream, phase)


def _client_factory() -> httpx2.Client:
    """huggingface_hub's own client, plus the phase hooks."""
    client = default_client_factory()
    hooks = client.event_hooks
    client.event_hooks = {
        "request": [*hooks.get("request", []), _on_request],
        "response": [*hooks.get("response", []), _on_response],
    }
    return client


set_client_factory(_client_factory)  # at import, before this process's first Hub request: no client in use is closed


@contextlib.contextmanager
def phase(repo_id: str, filename: str, seconds: float, max_bytes: int, **kw: Any) -> Iterator[_Phase]:
    """Run a step of a Hub load as a _Phase; whatever fails once its time is up is reported as the deadline."""
    if _on_request not in get_session().event_hooks.get("request", []):  # the factory was replaced meanwhile
        set_client_factory(_client_factory)
    phase = _Phase(repo_id, filename, seconds, max_bytes, **kw)
    token = _PHASE.set(phase)
    try:
        yield phase
    except Exception:
        if phase.over():
            raise phase.late() from None
        raise
    finally:
        _PHASE.reset(token)
        phase.close()


@contextlib.contextmanager
def cache_guard(
    repo_id: str, cache_dir: str | os.PathLike | None, filenames: tuple[str, ...], repo_type: str = "model"
) -> Iterator[None]:
    """On failure, take out of the Hugging Face cache what this load put there for this repo.

    New blobs, snapshot links of `filenames`, *.incomplete files, .no_exist markers and locks go, a ref that moved
    is put back, folders left empty are removed. Files that were there before stay, and so do new snapshot links of
    other files (a model card fetched meanwhile) with their blobs. Other repos are not looked at."""
    root = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)
    name = repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    folders = (root / name, root / ".locks" / name)
    before = _cache_listing(folders)
    try:
        yield
    except BaseException:
        _cache_undo(folders, before, filenames)
        raise


def _cache_listing(folders: tuple[Path, ...]) -> dict[Path, bytes | None]:
    """Every folder, file and link under `folders` (themselves included); refs with their content (a commit)."""
    found: dict[Path, bytes | None] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        found[folder] = None
        for path in folder.rglob("*"):
            is_ref = path.relative_to(folder).parts[0] == "refs" and path.is_file() and not path.is_symlink()
            try:
                found[path] = path.read_bytes() if is_ref else None
            except OSError:
                found[path] = None
    return found


def _cache_undo(folders: tuple[Path, ...], before: dict[Path, bytes | None], filenames: tuple[str, ...]) -> None:
    snapshots = folders[0] / "snapshots"
    now = _cache_listing(folders)
    others = [p for p in now if p not in before and p.parent.parent == snapshots and p.name not in filenames]
    kept_blobs = {os.path.realpath(p) for p in others}
    for path in sorted(now, key=lambda p: len(p.parts), reverse=True):  # deepest first: files before their folders
        with contextlib.suppress(OSError):
            if path in before:
                if before[path] is not None and now[path] != before[path]:
                    path.write_bytes(before[path])  # a ref this load moved
            elif path in others or os.path.realpath(path) in kept_blobs:
                continue
            elif path.is_dir() and not path.is_symlink():
                path.rmdir()  # only when empty
            else:
                path.unlink()
