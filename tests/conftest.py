"""Shared fixtures: a small randomly initialised model folder, synthetic clips, the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HYBRID_CHROMIUM", "/usr/bin/chromium")  # Debian's; Playwright downloads no browser
SHARED_DATA = Path(os.environ.get("HYBRID_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


_running: list[pytest.Item] = []  # the test being set up, run or torn down (see pytest_runtest_protocol)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def shared_data(sub: str = "") -> Path:
    """A folder of ../shared/data, or skip the test with the reason; where HYBRID_REQUIRE_DATA=1 (CI) a missing
    folder fails the test instead, so a run without the real data can't pass by skipping.

    Only a test marked `data` (@pytest.mark.data, or a module's pytestmark) may ask: any other fails here,
    before anything is read, so `pytest -m "not data"` never touches ../shared/data and a new test that
    forgets the marker fails at once instead of drifting out of that selection."""
    item = _running[-1] if _running else None
    if item is None:
        pytest.fail("shared_data() is for tests and their fixtures, not for module level (it checks the data marker)")
    if item.get_closest_marker("data") is None:
        pytest.fail(f"{item.nodeid} reads ../shared/data: mark it @pytest.mark.data (or the module's pytestmark)")
    path = SHARED_DATA / sub
    if not path.exists():
        if os.environ.get("HYBRID_REQUIRE_DATA") == "1":
            pytest.fail(f"real data not present at {path}, and HYBRID_REQUIRE_DATA=1 asks for it")
        pytest.skip(f"real data not present at {path} (tests that need it run where ../shared/data exists)")
    return path


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory) -> Path:
    """The CNN engine's exported files (hybrid/runtime.py) go to a test folder, never ~/.cache; subprocesses
    started by tests inherit it. Tests that need their own set HYBRID_CACHE themselves."""
    folder = tmp_path_factory.mktemp("engine_cache")
    old = os.environ.get("HYBRID_CACHE")
    os.environ["HYBRID_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("HYBRID_CACHE", None)
    else:
        os.environ["HYBRID_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init HybridCNNRNN (Lite0, 4 frames of 64x96) saved with save_pretrained; for plumbing tests."""
    from hybrid import HybridCNNRNN

    folder = tmp_path_factory.mktemp("tiny_model")
    model = HybridCNNRNN(
        labels=["alpha", "beta", "gamma"], num_frames=4, image_size=(64, 96), hidden_size=32, proj_dim=32
    )
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def index_clip_path(tmp_path_factory) -> Path:
    """120 frames of H.264 at 30 fps, 320x240, each frame drawing its own index (see synth.py)."""
    from synth import index_clip

    return index_clip(tmp_path_factory.mktemp("clips") / "index.mp4", 120)


@pytest.fixture
def app_ctx(tiny_model_dir, tmp_path, monkeypatch):
    """A fresh AppContext (hybrid/app) whose only model is the tiny one; engines cached under tmp_path."""
    from hybrid.app.context import AppContext
    from hybrid.app.settings import AppSettings

    monkeypatch.setenv("HYBRID_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("HYBRID_CACHE", str(tmp_path / "engine-cache"))
    return AppContext.create(AppSettings(model=str(tiny_model_dir), models_dir=tmp_path / "no-models"))


@pytest.fixture
def app_env(app_ctx) -> str:
    """The picker name of app_ctx's model."""
    return Path(app_ctx.settings.model).resolve().name


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, with a fake webcam that needs no permission prompt."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # expect() retries until the page shows it: CPU inference can be slow

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    pw = sync_playwright().start()
    args = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
    yield b
    b.close()
    pw.stop()


@pytest.fixture(autouse=True)
def _own_browser_contexts(request):
    """A browser test's contexts (its tabs) are closed when it ends, passed or failed: a page it left open, a
    webcam still streaming, can't load the app or the machine in the next test. `browser` is per module."""
    b = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    yield
    for ctx in b.contexts if b is not None else []:
        ctx.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where browser tests save screenshots: HYBRID_SCREENSHOTS to keep them, else the test's tmp folder."""
    folder = Path(os.environ.get("HYBRID_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- `python app.py` against a fake Hub: one server per test module that asks for it -----------------------
@pytest.fixture(scope="module")
def hub(tiny_model_dir):
    """A FakeHub serving the tiny model and a non-hybrid repo (app_server.start_hub); tests may add repos."""
    from app_server import start_hub

    hub = start_hub(tiny_model_dir)
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir, hub):
    """`python app.py` with the tiny model bundled, Hugging Face pointed at `hub` (see app_server.AppServer)."""
    from app_server import AppServer

    srv = AppServer(tmp_path_factory.mktemp("app"), tiny_model_dir, hub_url=hub.url).wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def model_name(tiny_model_dir) -> str:
    """The tiny model's name in the app's Model picker."""
    return tiny_model_dir.resolve().name


def call_raw(server, data: list) -> str:
    """POST /gradio_api/call/predict with raw JSON (no upload), then read the event stream."""
    import httpx

    r = httpx.post(server.url + "/gradio_api/call/predict", json={"data": data}, timeout=30)
    if r.status_code != 200:
        return f"event: error\nstatus {r.status_code}"
    event_id = r.json()["event_id"]
    return httpx.get(server.url + f"/gradio_api/call/predict/{event_id}", timeout=60).text
