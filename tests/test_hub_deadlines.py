"""Hostile Hub repos (a file sent 1 byte every 2 s, weights that claim 5 GB) stop within the configured deadline or
size cap, leave nothing in the Hugging Face cache, and never hold up other users: the app's model cache loads
outside its lock, and `python app.py` keeps classifying while a Hub load is stuck.

Hub loads run in worker processes (hub_server.HubWorker: huggingface_hub reads HF_ENDPOINT at import) with short
deadlines set by environment (HYBRID_HUB_TIMEOUT_S); each call is given a hard limit here, so a load that ignores
its deadline fails the test instead of hanging it.
"""

from __future__ import annotations

import gc
import json
import re
import threading
import time
import weakref
from pathlib import Path

import pytest
from hub_server import TRICKLE_S, FakeHub, HubWorker

from hybrid import HybridCNNRNN, ModelError
from hybrid.app import clip
from hybrid.app.errors import AppError
from hybrid.app.models import ModelCache

DEADLINE_S = 4  # HYBRID_HUB_TIMEOUT_S in the workers
SLACK_S = 3  # start-up, the last trickled byte, a slow shared CPU
LIMIT_S = 45  # the worker is killed past this: on code that ignores the deadline a trickled load takes many minutes


@pytest.fixture(scope="module")
def tiny_files(tiny_model_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tiny_model_dir.iterdir()}


def other_weights(files: dict[str, bytes], tag: str) -> dict[str, bytes]:
    """The same files with weights of other bytes (same tensors, other metadata): the CDN serves blobs by sha256."""
    from safetensors.torch import load, save

    return files | {"model.safetensors": save(load(files["model.safetensors"]), metadata={"format": "pt", "tag": tag})}


@pytest.fixture(scope="module")
def fake_hub(tiny_files):
    with FakeHub() as server:
        server.add_repo("acme/fine", tiny_files)
        server.add_repo("acme/trickle-config", tiny_files, trickle={"config.json": "body"})
        server.add_repo("acme/trickle-headers", tiny_files, trickle={"config.json": "headers"})
        trickled = other_weights(tiny_files, "trickle")
        server.add_repo("acme/trickle-weights", trickled, trickle={"model.safetensors": "body"})
        server.add_repo("acme/huge", tiny_files, claimed_sizes={"model.safetensors": 5 * 10**9})
        yield server


class Worker:
    """A HubWorker whose calls have a hard time limit: past it the process is killed (and respawned next call)."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env, self.cwd, self.worker = env, cwd, None

    def call(self, cmd: str, **args) -> dict:
        if self.worker is None or self.worker.proc.poll() is not None:
            self.worker = HubWorker(self.env, self.cwd)
        answer: dict = {}

        def call() -> None:
            try:
                answer.update(self.worker.call(cmd, **args))
            except RuntimeError as e:  # the worker died
                answer.update(error=type(e).__name__, message=str(e))

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(LIMIT_S)
        if thread.is_alive():
            self.worker.proc.kill()
            self.worker.proc.wait()
            self.worker = None
            pytest.fail(f"{cmd} {args} gave no answer within {LIMIT_S} s")
        return answer

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_home")


@pytest.fixture(scope="module")
def worker(fake_hub, hf_home, tmp_path_factory):
    env = {
        "HF_ENDPOINT": fake_hub.url,
        "HF_HOME": str(hf_home),
        "HYBRID_HUB_TIMEOUT_S": str(DEADLINE_S),
        "HYBRID_HUB_MIN_MB_PER_S": "100",  # the weights' transfer deadline: ~DEADLINE_S for the tiny model
    }
    w = Worker(env, tmp_path_factory.mktemp("cwd"))
    first = w.call("load", ref="acme/fine")  # also imports torch & co. before the timed calls
    assert "error" not in first, first
    yield w
    w.close()


def cached_files(hf_home: Path, repo_id: str, hub_cache: Path | None = None) -> list[str]:
    """Everything the Hugging Face cache holds for a repo (blobs, snapshot links, refs, locks, *.incomplete)."""
    name = "models--" + repo_id.replace("/", "--")
    hub_cache = hub_cache or hf_home / "hub"
    folders = (hub_cache / name, hub_cache / ".locks" / name)
    return sorted(str(p) for d in folders for p in d.rglob("*") if not p.is_dir())


def refused_in_time(answer: dict, *phrases: str, within: float) -> str:
    assert answer.get("error") == "ModelError", answer
    for phrase in phrases:
        assert phrase in answer["message"], answer["message"]
    assert answer["seconds"] < within, answer
    assert "Retrying" not in answer["stderr"], answer["stderr"][-2000:]
    return answer["message"]


@pytest.mark.parametrize("repo_id", ["acme/trickle-config", "acme/trickle-headers"])
def test_a_trickled_config_stops_at_the_deadline_and_leaves_nothing(worker, fake_hub, hf_home, repo_id):
    kept = cached_files(hf_home, "acme/fine")
    answer = worker.call("load", ref=repo_id)
    refused_in_time(answer, repo_id, f"within {DEADLINE_S} s", "HYBRID_HUB_TIMEOUT_S", within=DEADLINE_S + SLACK_S)
    assert fake_hub.count("GET", f"/{repo_id}/resolve/main/model.safetensors") == 0
    assert cached_files(hf_home, repo_id) == []
    assert cached_files(hf_home, "acme/fine") == kept and kept  # another repo's files stay


def test_trickled_weights_stop_at_the_transfer_deadline_and_leave_nothing(worker, fake_hub, hf_home, tiny_files):
    answer = worker.call("load", ref="acme/trickle-weights")
    refused_in_time(answer, "acme/trickle-weights", "model.safetensors", within=DEADLINE_S + SLACK_S)
    assert fake_hub.count("GET", "/acme/trickle-weights/resolve/main/config.json") == 1  # the config came at once
    assert cached_files(hf_home, "acme/trickle-weights") == []
    time.sleep(2 * TRICKLE_S)  # the CDN notices the hang-up at its next byte: nothing keeps reading in the worker
    assert ok_load(worker, "acme/fine")


def test_weights_over_the_size_cap_are_refused_before_downloading(worker, fake_hub, hf_home):
    fake_hub.clear_requests()
    answer = worker.call("load", ref="acme/huge")
    message = refused_in_time(answer, "acme/huge", "5,000 MB", "HYBRID_MAX_MODEL_MB", within=SLACK_S)
    assert "too large" in message
    assert [p for m, p in fake_hub.requests if p.startswith("/lfs/")] == []  # the CDN was never asked
    assert cached_files(hf_home, "acme/huge") == []  # its config.json was fetched, then removed with the refusal


def test_a_refused_load_of_a_cached_repo_keeps_the_files_it_had(worker, fake_hub, hf_home, tiny_files):
    """A repo loaded once, then replaced on the Hub by one that is refused: the cache goes back to what it held."""
    fake_hub.add_repo("acme/changes", tiny_files)
    assert ok_load(worker, "acme/changes")
    before = cached_files(hf_home, "acme/changes")
    ref = hf_home / "hub" / "models--acme--changes" / "refs" / "main"
    commit = ref.read_text()
    config = json.loads(tiny_files["config.json"]) | {"hidden_size": 16}  # a new config.json blob
    files = tiny_files | {"config.json": json.dumps(config).encode()}
    fake_hub.add_repo("acme/changes", files, claimed_sizes={"model.safetensors": 5 * 10**9})
    refused_in_time(worker.call("load", ref="acme/changes"), "too large", within=SLACK_S)
    assert cached_files(hf_home, "acme/changes") == before and ref.read_text() == commit


@pytest.mark.parametrize("repo_id", ["acme/trickle-headers", "acme/trickle-weights"])
def test_an_aborted_load_leaves_no_thread_and_the_hub_sees_the_hang_up(fake_hub, repo_id, monkeypatch, tmp_path):
    """In this process: once the deadline has passed nothing keeps reading. No thread is left, and the fake Hub's
    handler (a byte every TRICKLE_S) finds the connection shut and ends: the socket was cut, not just abandoned."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", fake_hub.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake_hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HYBRID_HUB_TIMEOUT_S", "2")
    monkeypatch.setenv("HYBRID_HUB_MIN_MB_PER_S", "1000")
    before = set(threading.enumerate())
    outcome: list[BaseException] = []

    def load() -> None:  # in a thread, so that a load ignoring its deadline fails the test instead of hanging it
        try:
            HybridCNNRNN.from_pretrained(repo_id, cache_dir=tmp_path)
        except BaseException as e:  # noqa: BLE001 - checked below
            outcome.append(e)

    t0 = time.perf_counter()
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    loader.join(2 + SLACK_S)
    assert not loader.is_alive(), "the load went on past its deadline"
    assert len(outcome) == 1 and isinstance(outcome[0], ModelError), outcome
    assert re.search(r"did not deliver (config\.json|model\.safetensors).* within 2", str(outcome[0])), outcome
    assert time.perf_counter() - t0 < 2 + SLACK_S
    before.add(loader)

    def new_threads() -> set[threading.Thread]:  # tqdm's monitor: one per process, started by the first progress bar
        return {t for t in threading.enumerate() if t not in before and t.name != "tqdm_monitor"}

    until = time.monotonic() + 2 * TRICKLE_S + 1
    while new_threads() and time.monotonic() < until:
        time.sleep(0.1)
    assert new_threads() == set()
    assert cached_files(tmp_path, repo_id, hub_cache=tmp_path) == []


def test_bad_deadline_settings_are_a_clear_error(fake_hub, hf_home, tmp_path):
    env = {"HF_ENDPOINT": fake_hub.url, "HF_HOME": str(hf_home), "HYBRID_HUB_TIMEOUT_S": "soon"}
    w = Worker(env, tmp_path)
    try:
        answer = w.call("load", ref="acme/fine")
    finally:
        w.close()
    assert answer.get("error") == "ConfigError" and "HYBRID_HUB_TIMEOUT_S" in answer["message"], answer


def ok_load(worker: Worker, repo_id: str) -> bool:
    answer = worker.call("load", ref=repo_id)
    assert "error" not in answer, answer
    return True


# --- the app's model cache -----------------------------------------------------------------------------------
class FakeModel:
    """Stands in for a loaded model (weakref-able; big enough that keeping it would matter)."""

    def __init__(self, ref: str):
        self.ref, self.payload = ref, bytearray(10**6)


@pytest.fixture
def loads():
    """A loader for the cache: `loads.plan[ref]` is a callable run inside the load (wait, raise...)."""

    class Loads:
        calls: list[str] = []
        plan: dict = {}

        @staticmethod
        def load(ref: str) -> FakeModel:
            Loads.calls.append(ref)
            model = FakeModel(ref)
            Loads.plan.get(ref, lambda m: None)(model)
            return model

    return Loads


def test_a_slow_load_blocks_neither_cached_models_nor_a_second_request_for_it(loads):
    cache = ModelCache(loads.load)
    b, _ = cache.get("B", "B")
    started, gate = threading.Event(), threading.Event()
    loads.plan["A"] = lambda model: (started.set(), gate.wait(5))
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("A", "A"))) for _ in range(2)]
    threads[0].start()
    assert started.wait(5)
    threads[1].start()
    t0 = time.perf_counter()
    hit, load_s = cache.get("B", "B")
    assert time.perf_counter() - t0 < 0.5, "a cached model waited for another model's load"
    assert hit is b and load_s == 0.0
    gate.set()
    for t in threads:
        t.join(10)
    assert len(got) == 2 and got[0][0] is got[1][0] and got[0][0].ref == "A"
    assert loads.calls.count("A") == 1  # the second request shared the first one's load
    assert cache.get("A", "A") == (got[0][0], 0.0)


def test_a_failed_load_is_not_kept_and_the_next_request_tries_again(loads):
    cache = ModelCache(loads.load)
    refs: list[weakref.ref] = []

    def fail_once(model: FakeModel) -> None:
        refs.append(weakref.ref(model))
        if len(refs) == 1:
            raise ModelError("config.json of acme/flaky is malformed")  # the half-built model is in this frame

    loads.plan["acme/flaky"] = fail_once
    with pytest.raises(AppError, match="malformed") as info:
        cache.get("hub:acme/flaky", "acme/flaky")
    assert info.value.title == "Can't load this model"
    gc.collect()
    assert refs[0]() is None, "the error still references the half-built model"
    model, _ = cache.get("hub:acme/flaky", "acme/flaky")  # tried again, not a cached failure
    assert loads.calls == ["acme/flaky", "acme/flaky"] and model is refs[1]()


def test_waiters_get_the_failure_of_the_load_they_shared(loads):
    cache = ModelCache(loads.load)
    started, gate = threading.Event(), threading.Event()

    def fail(model: FakeModel) -> None:
        started.set()
        gate.wait(5)
        raise ModelError("model 'acme/gone' was not found on the Hub")

    loads.plan["acme/gone"] = fail
    errors: list = []

    def get() -> None:
        try:
            cache.get("hub:acme/gone", "acme/gone")
        except AppError as e:
            errors.append(e.message)

    threads = [threading.Thread(target=get) for _ in range(3)]
    threads[0].start()
    assert started.wait(5)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert errors == ["model 'acme/gone' was not found on the Hub"] * 3 and loads.calls == ["acme/gone"]


# --- python app.py: a stuck Hub load does not hold up other users ----------------------------------------------
APP_DEADLINE_S = 12


@pytest.fixture(scope="module")
def slow_hub_server(tmp_path_factory, tiny_model_dir, hub, tiny_files):
    from app_server import AppServer

    hub.add_repo("acme/app-trickle", tiny_files, trickle={"config.json": "body"})
    env = {"HYBRID_HUB_TIMEOUT_S": str(APP_DEADLINE_S)}
    srv = AppServer(tmp_path_factory.mktemp("app"), tiny_model_dir, hub_url=hub.url, extra_env=env).wait_ready()
    yield srv
    srv.stop()


def test_a_trickling_hub_repo_does_not_hold_up_other_users(slow_hub_server, model_name, index_clip_path, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from synth import index_clip

    url, overlay = slow_hub_server.url, clip.OVERLAY_GRADCAM
    slow, other = Client(url, verbose=False), Client(url, verbose=False)
    other.predict(handle_file(str(index_clip_path)), model_name, "", overlay, api_name="/predict")  # warm
    fresh = index_clip(tmp_path / "other.mp4", 45)  # not in the app's result cache: the CNN runs again

    t0 = time.monotonic()
    stuck = slow.submit(handle_file(str(index_clip_path)), model_name, "acme/app-trickle", overlay, api_name="/predict")
    time.sleep(1)
    t1 = time.monotonic()
    *_, details = other.submit(handle_file(str(fresh)), model_name, "", overlay, api_name="/predict").result(
        timeout=APP_DEADLINE_S
    )
    other_s = time.monotonic() - t1
    assert details["frames"] == 4
    assert other_s < 8 and not stuck.done(), f"the other user waited {other_s:.1f} s"

    with pytest.raises(AppError, match="HYBRID_HUB_TIMEOUT_S"):
        stuck.result(timeout=APP_DEADLINE_S + 30)
    assert time.monotonic() - t0 < APP_DEADLINE_S + 6
    assert cached_files(slow_hub_server.root / "hf", "acme/app-trickle") == []


def test_within_a_load_no_file_goes_through_xet():
    """hf_xet transfers run outside the deadline's reach: inside a load's phase the Xet hash header is dropped, so
    huggingface_hub takes the HTTP path (which the hooks time); outside a phase responses are left as they are."""
    import httpx2
    from huggingface_hub.utils import parse_xet_file_data_from_response

    from hybrid import hub_transfer

    def answer() -> httpx2.Response:
        headers = {"X-Xet-Hash": "abc", "X-Xet-Refresh-Route": "/api/models/x/xet-read-token/main"}
        return httpx2.Response(200, headers=headers, request=httpx2.Request("HEAD", "http://127.0.0.1/x"))

    outside = answer()
    hub_transfer._on_response(outside)
    assert parse_xet_file_data_from_response(outside) is not None
    with hub_transfer.phase("acme/x", "model.safetensors", 5.0, 10**6):
        inside = answer()
        hub_transfer._on_response(inside)
    assert parse_xet_file_data_from_response(inside) is None and "X-Xet-Hash" not in inside.headers
