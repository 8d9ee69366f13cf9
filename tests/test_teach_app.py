"""The Teach tab end to end: each session's takes and models (hybrid/app/teach.py), the /teach API from gradio_client,
and a person in Chromium teaching two actions, using the model in the Classify tab and publishing it to the Hub."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from test_teach import write_takes

from hybrid import HybridCNNRNN
from hybrid.app import clip
from hybrid.app.errors import AppError
from hybrid.app.settings import TeachLimits
from hybrid.app.teach import TAUGHT, TeachStore


@pytest.fixture(scope="module")
def takes(tmp_path_factory) -> Path:
    return write_takes(tmp_path_factory.mktemp("takes"), 3)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    return write_takes(tmp_path_factory.mktemp("fresh"), 1, seed=11)


def files(root: Path, action: str) -> list[str]:
    return sorted(str(p) for p in (root / action).glob("*.avi"))


def test_takes_are_checked_and_kept_per_session(tmp_path, takes):
    store = TeachStore(TeachLimits(max_takes=5, max_take_s=10), root=tmp_path / "teach")
    with pytest.raises(AppError, match="Give the action a name"):
        store.add("a", "  ", files(takes, "left"))
    with pytest.raises(AppError, match="Give the action a name"):
        store.add("a", "<b>x</b>", files(takes, "left"))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(AppError, match="notes.mp4"):
        store.add("a", "left", [*files(takes, "left"), str(text)])
    assert store.takes("a") == []  # all or none
    store.add("a", "left", files(takes, "left"))
    store.add("b", "right", files(takes, "right")[:1])
    assert [t.action for t in store.takes("a")] == ["left"] * 3 and [t.action for t in store.takes("b")] == ["right"]
    with pytest.raises(AppError, match="At most 5 takes"):
        store.add("a", "right", files(takes, "right"))
    assert all(t.thumb.is_file() and t.path.is_file() and 1 < t.seconds < 4 for t in store.takes("a"))
    gone = store.takes("a")[0]
    store.remove("a", 0)
    assert not gone.path.exists() and len(store.takes("a")) == 2
    with pytest.raises(AppError, match="at least 2 takes"):
        store.add("a", "right", files(takes, "right")[:1]) and store.train("a")
    # a session that ends, or sits unused past the TTL, leaves nothing behind
    folder_a, folder_b = store.workshop("a").folder, store.workshop("b").folder
    store.end("a")
    assert not folder_a.exists() and folder_b.exists()
    store.sweep(now=time.monotonic() + 3600)
    assert not folder_b.exists()
    store.close()
    assert not (tmp_path / "teach").exists()


def test_too_long_a_take_is_refused(tmp_path, takes):
    store = TeachStore(TeachLimits(max_take_s=1.0), root=tmp_path / "teach")
    with pytest.raises(AppError, match=r"^take0.avi lasts 2 s or more; the limit here is 1 s") as e:
        store.add("a", "left", files(takes, "left")[:1])
    assert e.value.title == "Can't use this take"


def test_a_taught_model_answers_in_its_own_session_only(app_ctx, takes, fresh):
    ctx = dataclasses.replace(app_ctx, teach=TeachStore(root=Path(app_ctx.settings.models_dir).parent / "teach"))
    ctx.teach.add("mine", "left", files(takes, "left"))
    ctx.teach.add("mine", "right", files(takes, "right"))
    seen = []
    shop = ctx.teach.train("mine", lambda frac, desc: seen.append((frac, desc)))
    assert shop.taught.labels == ["left", "right"] and shop.zip.is_file()
    assert seen[0][1].startswith("Waiting") and any(d.startswith("Cross-validation") for _, d in seen)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == pytest.approx(1.0)
    choice = TAUGHT + shop.token
    assert HybridCNNRNN.from_pretrained(shop.models[shop.token]).labels == ["left", "right"]
    for action in ("left", "right"):
        out = clip.classify(ctx, files(fresh, action)[0], choice, "", session="mine")
        assert out.details["label"] == action, out.details
    with pytest.raises(AppError, match="last as long as the page"):
        clip.classify(ctx, files(fresh, "left")[0], choice, "", session="someone-else")
    ctx.teach.end("mine")
    with pytest.raises(AppError, match="last as long as the page"):
        ctx.resolve(choice, "", "mine")


# --- the running app: gradio_client and a person in Chromium ----------------------------------------------------
def teach_folders(server) -> list[Path]:
    """The sessions' folders under the app's private cache (hybrid-*/hybrid-teach-*/s-*), while the app may be
    removing some of them."""
    import glob

    return [Path(p) for p in glob.glob(str(server.temp / "hybrid-*" / "hybrid-teach-*" / "s-*"))]


def test_teach_api_from_gradio_client(server, takes, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
    paths = files(takes, "left") + files(takes, "right")
    summary, zipped = client.predict([handle_file(p) for p in paths], ",".join(["left"] * 3 + ["right"] * 3),
                                     api_name="/teach")  # fmt: skip
    assert summary["labels"] == ["left", "right"] and summary["takes"] == {"left": 3, "right": 3}
    assert summary["cv_protocol"] == "stratified 3-fold" and summary["cv_accuracy"] >= 0.5
    import zipfile

    with zipfile.ZipFile(zipped) as z:
        z.extractall(tmp_path / "model")
    assert HybridCNNRNN.from_pretrained(tmp_path / "model").labels == ["left", "right"]
    with pytest.raises(Exception, match="3 files but 2 labels"):
        client.predict([handle_file(p) for p in paths[:3]], "left,right", api_name="/teach")


def open_tab(page, name: str) -> None:
    """Click a tab: every tab is in sight, on a phone too (the strip wraps, no "⋯" menu)."""
    from playwright.sync_api import expect

    tab = page.get_by_role("tab", name=name)
    expect(tab).to_be_visible()
    tab.click()


def test_a_person_teaches_two_actions_uses_and_publishes_them(server, hub, browser, takes, fresh, shots):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url)
    open_tab(page, "Teach your own")
    expect(page.locator("#teach-counts")).to_contain_text("No takes yet")
    for action in ("left", "right"):
        page.locator("#teach-action input, #teach-action textarea").first.fill(action)
        page.locator("#teach-files input[type=file]").set_input_files(files(takes, action))
        expect(page.locator("#teach-counts")).to_contain_text(f"{action}: 3 takes")
    expect(page.locator("#teach-takes .gallery-item")).to_have_count(6)
    page.screenshot(path=str(shots / "teach-takes.png"), full_page=True)
    # another person's page sees none of these takes
    other = browser.new_page(viewport={"width": 390, "height": 900})
    other.goto(server.url)
    open_tab(other, "Teach your own")
    expect(other.locator("#teach-counts")).to_contain_text("No takes yet")
    assert len(teach_folders(server)) >= 1
    page.locator("#teach-train").click()
    expect(page.locator("#teach-summary")).to_contain_text("Cross-validated accuracy")
    assert "stratified 3-fold" in page.locator("#teach-summary").inner_text()
    expect(page.locator("#teach-confusion img")).to_be_visible()
    expect(page.locator("#teach-zip")).to_contain_text(".zip")
    page.screenshot(path=str(shots / "teach-trained.png"), full_page=True)
    # use it: the Classify tab names a new take with it
    page.locator("#teach-use").click()
    expect(page.locator("#model input")).to_have_value("Taught here #1: left, right")
    open_tab(page, "Classify a clip")
    expect(page.locator("#knows")).to_contain_text("2 actions")
    page.locator("#video-in input[type=file]").set_input_files(files(fresh, "right")[0])
    expect(page.locator("#verdict h2")).to_contain_text("right")
    page.screenshot(path=str(shots / "teach-classify.png"))
    # publish it to the (loopback) Hub
    open_tab(page, "Teach your own")
    page.get_by_text("Publish to the Hugging Face Hub").click()
    page.locator("#teach-repo input, #teach-repo textarea").first.fill("me/my-actions")
    page.locator("#teach-token input").fill(hub.token)
    private = page.locator("#teach-private input")
    expect(private).to_be_checked()  # private unless the person says otherwise
    private.uncheck()
    page.locator("#teach-publish").click()
    expect(page.locator("#teach-published")).to_contain_text("Published")
    repo = hub.repos["me/my-actions"]
    assert not repo.private and {"config.json", "model.safetensors", "README.md"} <= set(repo.files)
    assert b"cross-validation" in repo.files["README.md"].lower()
    # ... and back: the Classify tab loads it from the Hub by its repo id and names a new take with it
    open_tab(page, "Classify a clip")
    page.locator("#repo input, #repo textarea").first.fill("me/my-actions")
    page.locator("#repo input, #repo textarea").first.press("Enter")
    # once loaded, the repo is the picker's chosen entry (one visible choice) and the box empties
    expect(page.locator("#model input")).to_have_value("me/my-actions (Hub)")
    expect(page.locator("#repo input, #repo textarea").first).to_have_value("")
    expect(page.locator("#knows")).to_contain_text("2 actions")
    page.locator("#video-in button[aria-label='Clear']").first.click()
    page.locator("#video-in input[type=file]").set_input_files(files(fresh, "left")[0])
    expect(page.locator("#verdict h2")).to_contain_text("left")
    # closing the page ends its session: its takes and models go
    before = len(teach_folders(server))
    page.close()
    deadline = time.monotonic() + 20
    while len(teach_folders(server)) >= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(teach_folders(server)) < before
    other.close()


def test_webcam_takes_are_recorded_one_after_another(server, browser, shots):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url)
    open_tab(page, "Teach your own")
    page.locator("#teach-action input, #teach-action textarea").first.fill("wave")
    for n in (1, 2):
        page.locator("#teach-cam").get_by_text("Click to Access Webcam").click()
        record = page.locator("#teach-cam button[aria-label='start recording']")
        record.wait_for(state="visible")
        record.click()
        page.wait_for_timeout(2000)  # the fake camera draws a moving test pattern
        record.click()  # stopping adds the take
        expect(page.locator("#teach-counts")).to_contain_text(f"wave: {n} take")
    expect(page.locator("#teach-takes .gallery-item")).to_have_count(2)
    assert "a second action" in page.locator("#teach-counts").inner_text()
    page.screenshot(path=str(shots / "teach-webcam.png"), full_page=True)
    page.close()
