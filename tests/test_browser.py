"""The app in Debian's Chromium, driven by Playwright: upload, webcam recording (fake device), examples,
bad input, the model card, a phone-sized screen. Screenshots go to $HYBRID_SCREENSHOTS (else tmp_path)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from app_server import AppServer
from conftest import shared_data
from playwright.sync_api import expect
from synth import index_clip

pytestmark = pytest.mark.browser

LABELS = re.compile(r"^(alpha|beta|gamma) — \d+%$")
TIMEOUT_MS = 90_000
FRAMES_DRAWN = "() => [...document.querySelectorAll('#frames .gallery-item img')].every(i => i.naturalWidth > 0)"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("browser-app")
    examples = root / "examples"
    examples.mkdir()
    index_clip(examples / "synthetic.mp4", 60, size=(160, 120))
    srv = AppServer(root, tiny_model_dir, extra_env={"HYBRID_EXAMPLES": str(examples)}).wait_ready()
    yield srv
    srv.stop()


def open_page(browser, server, width: int = 1280, height: int = 900):
    ctx = browser.new_context(viewport={"width": width, "height": height}, permissions=["camera", "microphone"])
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url)
    page.wait_for_selector("#run")
    return page


def upload(page, path: Path) -> None:
    page.locator("#video-in input[type=file]").set_input_files(str(path))


def wait_for_answer(page) -> str:
    """Wait until the answer panel shows a class and the frames are drawn; returns the verdict line."""
    page.wait_for_function(
        "() => { const h = document.querySelector('#verdict h2'); return h && / — \\d+%$/.test(h.innerText) }",
        timeout=TIMEOUT_MS,
    )
    page.locator("#frames .gallery-item").first.wait_for(state="visible")
    return page.locator("#verdict h2").inner_text().strip()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_idle_then_upload_shows_the_answer_the_frames_and_the_plots(browser, server, tmp_path, shots):
    page = open_page(browser, server)
    assert "Drop a clip, record one, or pick an example below" in page.locator("#verdict").inner_text()
    assert not page.locator("#frames").is_visible() and not page.locator("#answer").is_visible()
    page.screenshot(path=str(shots / "idle.png"), full_page=True)

    upload(page, index_clip(tmp_path / "clip.mp4", 90, size=(320, 240)))
    assert LABELS.match(wait_for_answer(page))
    answer = page.locator("#answer").inner_text()
    assert all(name in answer for name in ("alpha", "beta", "gamma")) and "%" in answer
    expect(page.locator("#frames .gallery-item")).to_have_count(4)  # the tiny model reads 4 frames
    assert re.search(r"at \d+\.\d\d s", page.locator("#frames").inner_text())
    # one event fills every output, but the browser draws them one by one: wait for each, don't sample once
    expect(page.locator("#features svg")).to_be_visible()
    expect(page.locator("#belief svg")).to_be_visible()
    assert "CNN" in page.locator("#timings").inner_text()
    page.screenshot(path=str(shots / "result.png"), full_page=True)

    first = page.locator("#frames .gallery-item img").first
    before = first.get_attribute("src")
    page.get_by_label("Where the CNN fired (activation)").check()
    page.wait_for_function(
        "(src) => { const i = document.querySelector('#frames .gallery-item img'); return i && i.src !== src }",
        arg=before,
    )
    page.close()


def test_a_file_the_browser_cannot_play_gets_a_playable_preview(browser, server, tmp_path):
    page = open_page(browser, server)
    upload(page, index_clip(tmp_path / "clip.avi", 60, size=(320, 240), codec="mpeg4"))
    # Chromium can't preview it: Gradio's "Video not playable" error toast is raised, and hidden by the page's js
    toast = page.locator(".toast-message-text", has_text="Video not playable").first
    toast.wait_for(state="attached")
    assert not toast.is_visible()  # sampled at once: the toast would go by itself after a few seconds
    assert LABELS.match(wait_for_answer(page))
    page.wait_for_function(
        "() => { const v = document.querySelector('#video-in video');"
        " return v && v.src.includes('.preview.mp4') && v.readyState >= 1 && !v.error }"
    )
    page.close()


def test_a_refused_avi_still_plays_in_the_page(browser, server, tmp_path):
    """The preview is made when the clip arrives, not after a successful run: a clip refused as too long for
    Classify (the tests' limit is MAX_DURATION_S) is still there to watch."""
    from app_server import MAX_DURATION_S

    page = open_page(browser, server)
    n = int((MAX_DURATION_S + 1.5) * 30)
    upload(page, index_clip(tmp_path / "long.avi", n, size=(160, 120), codec="mpeg4"))
    page.locator("#verdict").get_by_text(re.compile("the limit here is")).wait_for(state="visible")
    assert "Timeline" in page.locator("#verdict").inner_text()
    page.wait_for_function(
        "() => { const v = document.querySelector('#video-in video');"
        " return v && v.src.includes('.preview.mp4') && v.readyState >= 1 && !v.error && isFinite(v.duration) }"
    )
    page.close()


def test_bad_file_shows_the_reason_and_the_app_keeps_serving(browser, server, tmp_path, shots):
    page = open_page(browser, server)
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 40)
    upload(page, bad)
    page.get_by_text(re.compile("Can't use this video")).first.wait_for(state="visible")
    assert re.search("not a video|text file", page.locator("#verdict").inner_text())
    assert not page.locator("#frames").is_visible()
    page.screenshot(path=str(shots / "error.png"), full_page=False)

    page.locator("#video-in button[aria-label='Clear']").first.click()
    page.wait_for_function("() => document.querySelector('#verdict').innerText.includes('Drop a clip')")
    upload(page, index_clip(tmp_path / "good.mp4", 30))
    assert LABELS.match(wait_for_answer(page))
    page.close()


def test_webcam_recording_gets_a_prediction(browser, server, shots):
    page = open_page(browser, server)
    page.locator("#video-in button[aria-label='Capture from camera']").click()
    page.get_by_text("Click to Access Webcam").click()
    record = page.locator("#video-in button[aria-label='start recording']")
    record.wait_for(state="visible")
    record.click()
    page.wait_for_timeout(2500)  # the fake camera draws a moving test pattern
    record.click()
    assert LABELS.match(wait_for_answer(page))
    assert re.search(r"VP[89]|vp[89]", page.locator("#timings").inner_text())  # a browser webm recording
    expect(page.locator("#frames .gallery-item")).to_have_count(4)
    # the player then shows the recording's length (the browser's own file has none: "Infinity")
    page.wait_for_function("() => { const v = document.querySelector('#video-in video'); "
                           "return v && isFinite(v.duration) && v.duration > 1; }", timeout=30_000)  # fmt: skip
    page.screenshot(path=str(shots / "webcam.png"), full_page=False)
    page.close()


def test_example_runs_from_the_lazy_cache(browser, server):
    page = open_page(browser, server)
    page.get_by_text("synthetic.mp4").click()
    assert LABELS.match(wait_for_answer(page))
    first = page.locator("#verdict h2").inner_text()
    page.reload()
    page.wait_for_selector("#run")
    page.get_by_text("synthetic.mp4").click()
    assert wait_for_answer(page) == first  # the same answer, now from the cache
    page.close()


def test_model_card_tab_and_a_hub_id_that_cannot_load(browser, server, shots):
    page = open_page(browser, server)
    page.get_by_role("tab", name="Model card").click()
    page.locator("#card").get_by_text("Knows 3 actions").wait_for(state="visible")
    assert "`" not in page.locator("#card").inner_text()  # markdown rendered, not shown raw
    page.screenshot(path=str(shots / "card.png"), full_page=False)
    page.locator("#repo textarea, #repo input").first.fill("someone/not-here")
    page.locator("#repo textarea, #repo input").first.press("Enter")
    page.locator("#card").get_by_text("Can't load this model").wait_for(state="visible")
    assert "someone/not-here" in page.locator("#card").inner_text()
    page.close()


def test_phone_width(browser, server, tmp_path, shots):
    page = open_page(browser, server, width=390, height=844)
    assert no_sideways_scroll(page)
    page.screenshot(path=str(shots / "phone-idle.png"), full_page=True)
    upload(page, index_clip(tmp_path / "clip.mp4", 60))
    assert LABELS.match(wait_for_answer(page))
    assert no_sideways_scroll(page)
    box = page.locator("#verdict h2").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    # the charts are drawn wide enough that their text is not shrunk to nothing: >= 55 % of their view box
    for chart in ("#features svg", "#belief svg"):
        svg = page.locator(chart)
        natural = svg.evaluate("s => s.viewBox.baseVal.width")
        assert svg.bounding_box()["width"] >= 0.55 * natural, (chart, natural)
    page.locator("#frames").scroll_into_view_if_needed()  # the frames load as they come into view
    page.wait_for_function(FRAMES_DRAWN)
    page.screenshot(path=str(shots / "phone-result.png"), full_page=True)
    # every tab in sight (the strip wraps; nothing behind a "⋯" menu), each opens without sideways scrolling
    assert (
        page.get_by_role("button", name="More tabs").count() == 0
        or not page.get_by_role("button", name="More tabs").is_visible()
    )
    for name in ("Live (webcam)", "Timeline (long videos)", "Teach your own", "Model card", "Classify a clip"):
        tab = page.get_by_role("tab", name=name)
        expect(tab).to_be_visible()
        tab.click()
        assert no_sideways_scroll(page), name
    page.close()


@pytest.mark.data
def test_a_real_clip(browser, server, tmp_path):
    clip = shared_data("ut-interaction") / "set1" / "hugging"
    path = sorted(clip.glob("*.avi"))[0]
    local = tmp_path / path.name
    shutil.copy(path, local)  # an upload from the test's own folder
    page = open_page(browser, server)
    upload(page, local)
    assert LABELS.match(wait_for_answer(page))
    assert "4 frames sampled from" in page.locator("#timings").inner_text()
    page.close()


def test_a_clip_no_known_action_fits_gets_the_grey_verdict(browser, tiny_model_dir, tmp_path, shots):
    """A model with an open-set threshold the clip does not reach: the page says so in grey, the closest
    class smaller, and the Classify tab names what the model knows."""
    import json

    folder = tmp_path / "tiny-openset"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "openset_threshold": 0.99}))
    server = AppServer(tmp_path / "app", folder).wait_ready()
    try:
        page = open_page(browser, server)
        expect(page.locator("#knows")).to_contain_text("This model knows 3 actions")
        upload(page, index_clip(tmp_path / "clip.mp4", 60, size=(160, 120)))
        verdict = page.locator("#verdict h2 .not-known")
        expect(verdict).to_have_text("Not one of the actions I know")
        assert page.evaluate("(e) => getComputedStyle(e).color", verdict.element_handle()) == "rgb(134, 142, 150)"
        assert re.search(r"closest: (alpha|beta|gamma) \d+%", page.locator("#verdict").inner_text())
        expect(page.locator("#belief svg")).to_be_visible()
        page.screenshot(path=str(shots / "not-known.png"), full_page=False)
        page.close()
    finally:
        server.stop()


def test_the_players_trim_tool_loads_after_the_answer_and_on_trim(browser, server, tmp_path):
    """Gradio's player fetches its trim tool (ffmpeg.wasm, 31 MB) as soon as a clip is in it; the page holds that
    fetch until the answer is drawn (gradio_compat.LATER_TRIM_JS), and a press on Trim loads it at once."""
    page = open_page(browser, server)
    asked: list[float] = []
    page.on("request", lambda r: asked.append(time.monotonic()) if "ffmpeg-core.wasm" in r.url else None)
    upload(page, index_clip(tmp_path / "clip.mp4", 90, size=(320, 240)))
    assert LABELS.match(wait_for_answer(page))
    answered = time.monotonic()
    assert not asked  # not while the clip was being classified
    page.wait_for_timeout(3000)  # TRIM_AFTER_MS after the answer
    assert asked and asked[0] >= answered
    page.close()

    page = open_page(browser, server)
    asked.clear()
    page.on("request", lambda r: asked.append(time.monotonic()) if "ffmpeg-core.wasm" in r.url else None)
    page.route("**/gradio_api/queue/join*", lambda route: None)  # the run never answers: only Trim can release
    upload(page, index_clip(tmp_path / "clip2.mp4", 90, size=(320, 240)))
    trim = page.get_by_label("Trim video to selection")
    trim.wait_for(state="visible")
    page.wait_for_timeout(1000)
    assert not asked
    trim.click()
    page.wait_for_function("() => true")
    deadline = time.monotonic() + 10
    while not asked and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert asked, "pressing Trim did not load the trim tool"
    expect(page.get_by_role("button", name="Trim", exact=True)).to_be_visible()
    page.close()
