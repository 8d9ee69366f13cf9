"""The Live and Timeline tabs in Debian's Chromium (Playwright): Chromium's fake webcam streams into the app and
the live answer appears and keeps updating; two tabs keep separate sessions; a long clip becomes a drawn
timeline with JSON and CSV downloads. Screenshots go to $HYBRID_SCREENSHOTS (else tmp_path)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from app_server import AppServer
from playwright.sync_api import expect
from synth import lavfi_clip

pytestmark = pytest.mark.browser

ANSWER = re.compile(r"^(alpha|beta|gamma) — \d+%$")
TIMEOUT_MS = 90_000


def live_app(root: Path, model_dir: Path) -> AppServer:
    # a 1 s window: the tiny model (4 frames) takes a frame every 0.25 s, so a few seconds show many updates
    return AppServer(root, model_dir, extra_env={"HYBRID_LIVE_WINDOW_S": "1"}).wait_ready()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    srv = live_app(tmp_path_factory.mktemp("live-app"), tiny_model_dir)
    yield srv
    srv.stop()


@pytest.fixture
def own_server(tmp_path, tiny_model_dir):
    """An app of the test's own, for a test that stops it (the module's server goes on for the others)."""
    srv = live_app(tmp_path / "app", tiny_model_dir)
    yield srv
    srv.stop()


def open_tab(browser, server, name: str, width: int = 1280, height: int = 900):
    ctx = browser.new_context(viewport={"width": width, "height": height}, permissions=["camera"])
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.get_by_role("tab", name=name).click()
    return page


def start_webcam(page) -> None:
    page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    page.locator("#live-cam button[aria-label='capture photo']").click()  # starts streaming


def frames_taken(page) -> int:
    m = re.search(r"frame (\d+) at", page.locator("#live-status").inner_text())
    return int(m.group(1)) if m else 0


def wait_for_frames(page, n: int) -> None:
    page.wait_for_function(
        "(n) => { const m = /frame (\\d+) at/.exec(document.querySelector('#live-status').innerText);"
        " return m && +m[1] >= n }",
        arg=n,
        timeout=TIMEOUT_MS,
    )


def test_fake_webcam_live_answer_appears_and_updates(browser, server, shots):
    page = open_tab(browser, server, "Live (webcam)")
    assert "Start the webcam" in page.locator("#live-verdict").inner_text()
    start_webcam(page)
    wait_for_frames(page, 1)
    assert ANSWER.match(page.locator("#live-verdict h2").inner_text().strip())
    first = page.locator("#live-status").inner_text()
    wait_for_frames(page, frames_taken(page) + 3)  # the label keeps being recomputed from new frames
    status = page.locator("#live-status").inner_text()
    assert status != first and "frames/s taken" in status and "policy: carry (2 lanes)" in status
    assert "warming up" not in page.locator("#live-verdict").inner_text()  # 4+ frames: a full window
    answer = page.locator("#live-label").inner_text()
    assert all(name in answer for name in ("alpha", "beta", "gamma")) and "%" in answer
    expect(page.locator("#live-strip .seg").first).to_be_visible()
    expect(page.locator("#live-history li").first).to_be_attached()
    skipped = int(re.search(r"\((\d+) skipped\)", status).group(1))
    assert skipped > 0  # the camera sends faster than the model's pace: extra frames are dropped
    page.screenshot(path=str(shots / "live.png"), full_page=True)

    page.locator("#live-reset").click()  # forgets the session, the stream goes on from scratch
    page.wait_for_function("() => /frame (1|2|3) at/.test(document.querySelector('#live-status').innerText)")
    page.close()


def test_two_tabs_stream_with_their_own_sessions(browser, server):
    a = open_tab(browser, server, "Live (webcam)")
    start_webcam(a)
    wait_for_frames(a, 6)
    b = open_tab(browser, server, "Live (webcam)")
    start_webcam(b)
    wait_for_frames(b, 1)
    assert frames_taken(b) < frames_taken(a)  # b starts at its own first frame, a goes on
    a.close()
    b.close()


def run_timeline(page, clip: Path) -> dict:
    """Upload `clip` on the Timeline tab, run it, download the JSON it offers; returns that JSON."""
    page.locator("#tl-video input[type=file]").set_input_files(str(clip))
    page.locator("#tl-video video").wait_for(state="attached")
    page.locator("#tl-run").click()
    page.locator("#tl-strip .seg").first.wait_for(state="visible")
    links = page.locator("#tl-files a")
    expect(links).to_have_count(2)
    with page.expect_download() as dl:
        links.first.click()
    return json.loads(Path(dl.value.path()).read_text())


def test_timeline_tab_draws_segments_and_offers_downloads(browser, server, tmp_path, shots):
    page = open_tab(browser, server, "Timeline (long videos)")
    data = run_timeline(page, lavfi_clip(tmp_path / "long.mp4", 20, size=(320, 240), fps=15))
    assert data["segments"][0]["start"] == 0 and data["segments"][-1]["end"] == pytest.approx(20.0)
    summary = page.locator("#tl-summary").inner_text()
    assert re.search(r"\d+ segments? over 20\.0 s", summary) and "windows of 4 s every 2 s" in summary
    # one event fills every output, but the browser draws them one by one: wait for each, don't sample once
    expect(page.locator("#tl-plot img")).to_be_visible()
    expect(page.locator("#tl-table")).to_contain_text(re.compile(r"(alpha|beta|gamma)"))  # a segment row
    links = page.locator("#tl-files a")
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    assert [h.rsplit(".", 1)[-1] for h in hrefs] == ["json", "csv"], hrefs
    page.screenshot(path=str(shots / "timeline.png"), full_page=True)
    page.close()


def test_a_stop_leaves_no_upload_or_download_behind(browser, own_server, tmp_path):
    """A timeline's upload and its JSON/CSV downloads go when the app stops (an app of this test's own)."""
    page = open_tab(browser, own_server, "Timeline (long videos)")
    assert run_timeline(page, lavfi_clip(tmp_path / "long.mp4", 8, size=(320, 240), fps=15))["segments"]
    page.close()
    assert any(p.suffix == ".json" for p in own_server.files_left())
    assert own_server.stop() == 0
    assert own_server.files_left() == []
    assert not [p for p in (own_server.root / "tmp").rglob("*") if p.is_file()]
