"""Example clips (hybrid/app/examples.py): from a folder, or from a Hub dataset repo fetched once at start and
treated like any upload; offered on the Classify and Timeline tabs."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_server import AppServer, start_hub
from hub_server import FakeHub, HubWorker
from synth import index_clip

from hybrid.app import examples
from hybrid.app.settings import AppSettings
from hybrid.errors import ConfigError

DATASET = "acme/clips"
CAP = 2_000_000  # bytes: the upload cap the fetch is given


def clip_bytes(tmp_path: Path, name: str, n: int = 60) -> bytes:
    return index_clip(tmp_path / name, n, size=(160, 120)).read_bytes()


# --- what HYBRID_EXAMPLES may name ----------------------------------------------------------------------------
def test_examples_setting_is_a_folder_or_a_dataset_repo_id(tmp_path):
    s = AppSettings.from_env({"HYBRID_EXAMPLES": str(tmp_path)})
    assert (s.examples_folder, s.examples_repo) == (tmp_path, "")
    s = AppSettings.from_env({"HYBRID_EXAMPLES": " acme/clips "})
    assert (s.examples_folder, s.examples_repo) == (None, "acme/clips")
    assert AppSettings.from_env({"HYBRID_EXAMPLES": "datasets/acme/clips"}).examples_repo == "acme/clips"
    assert AppSettings.from_env({}).examples_repo == "" and AppSettings.from_env({}).examples_folder is None
    for bad in ("/no/such/folder", "clips", "https://huggingface.co/datasets/acme/clips", "a/b/c"):
        with pytest.raises(ConfigError, match="HYBRID_EXAMPLES must be a folder or a Hub dataset repo id"):
            AppSettings.from_env({"HYBRID_EXAMPLES": bad})


def test_only_videos_with_plain_names_within_the_cap_are_taken():
    ok = ["a.mp4", "clips/b.webm", "Hand shaking 1.MOV", "x+y.avi"]
    bad = ["notes.txt", "../up.mp4", "clips/../../up.mp4", ".hidden.mp4", "a\nb.mp4", "a;rm.mp4", "model.safetensors"]
    assert all(examples.is_example_name(n, 10, CAP) for n in ok)
    assert not any(examples.is_example_name(n, 10, CAP) for n in bad)
    assert not examples.is_example_name("big.mp4", CAP + 1, CAP) and not examples.is_example_name("e.mp4", 0, CAP)


def test_folder_examples_are_its_videos_by_name(tmp_path):
    for name in ("b.mp4", "a.avi", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in examples.folder_examples(tmp_path)] == ["a.avi", "b.mp4"]
    assert examples.folder_examples(tmp_path / "missing") == []
    s = AppSettings(examples_dir=tmp_path / "missing", examples_folder=tmp_path)
    assert [p.name for p in examples.gather(s, None).clips] == ["a.avi", "b.mp4"]


# --- a Hub dataset, over HTTP, as hostile as any upload ---------------------------------------------------------
@pytest.fixture(scope="module")
def dataset_hub(tmp_path_factory):
    made = tmp_path_factory.mktemp("clips")
    with FakeHub() as hub:
        hub.add_repo(
            DATASET,
            {
                "a.mp4": clip_bytes(made, "a.mp4"),
                "clips/b.mp4": clip_bytes(made, "b.mp4", 45),
                "README.md": b"# clips",
                "big.mp4": b"\0" * 100,  # claims to be over the cap: never fetched
                "liar.mp4": b"\0" * (CAP + 1000),  # claims 1 kB, sends more than the cap
            },
            claimed_sizes={"big.mp4": CAP + 1, "liar.mp4": 1000},
            repo_type="dataset",
        )
        yield hub


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_home")


def worker(hub, hf_home, tmp_path, **env) -> HubWorker:
    return HubWorker({"HF_ENDPOINT": hub.url, "HF_HOME": str(hf_home), **env}, cwd=tmp_path)


def test_a_dataset_repo_gives_its_clips_and_refuses_what_is_over_the_cap(dataset_hub, hf_home, tmp_path):
    w = worker(dataset_hub, hf_home, tmp_path)
    try:
        out = w.call("examples", repo_id=DATASET, max_bytes=CAP)
    finally:
        w.close()
    assert "error" not in out, out
    assert [Path(p).name for p in out["clips"]] == ["a.mp4", "b.mp4"]  # by name: a.mp4, clips/b.mp4
    assert all(Path(p).read_bytes()[4:8] == b"ftyp" for p in out["clips"])
    assert (
        "1 file(s) left out" in out["problem"]
        and "liar.mp4" in out["problem"]
        and "HYBRID_MAX_FILE_MB" in out["problem"]
    )
    assert dataset_hub.count("GET", "/big.mp4") == 0  # refused from the file list, before any download
    assert not list(hf_home.rglob("liar.mp4")) and not list(hf_home.rglob("*.incomplete"))


def test_without_the_hub_the_cached_clips_are_offered(dataset_hub, hf_home, tmp_path):
    w = worker(dataset_hub, hf_home, tmp_path)
    try:
        first = w.call("examples", repo_id=DATASET, max_bytes=CAP)["clips"]
        with dataset_hub.down():
            down = w.call("examples", repo_id=DATASET, max_bytes=CAP)
    finally:
        w.close()
    w = worker(dataset_hub, hf_home, tmp_path, HF_HUB_OFFLINE="1")
    try:
        offline = w.call("examples", repo_id=DATASET, max_bytes=CAP)
    finally:
        w.close()
    assert [Path(p).name for p in down["clips"]] == [Path(p).name for p in first] == ["a.mp4", "b.mp4"]
    assert "can't be reached" in down["problem"]
    assert [Path(p).name for p in offline["clips"]] == ["a.mp4", "b.mp4"] and "HF_HUB_OFFLINE" in offline["problem"]


def test_a_dataset_file_that_trickles_is_given_up_at_the_deadline(dataset_hub, tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    files = {"a.mp4": clip_bytes(made, "a.mp4"), "slow.mp4": clip_bytes(made, "slow.mp4", 45)}  # other bytes
    dataset_hub.add_repo("acme/slow", files, trickle={"slow.mp4": "body"}, repo_type="dataset")
    w = worker(dataset_hub, tmp_path / "hf", tmp_path, HYBRID_HUB_TIMEOUT_S="3")
    try:
        out = w.call("examples", repo_id="acme/slow", max_bytes=CAP)
    finally:
        w.close()
    assert [Path(p).name for p in out["clips"]] == ["a.mp4"]
    assert "slow.mp4" in out["problem"] and "did not deliver" in out["problem"]
    assert out["seconds"] < 15  # the deadline (3 s plus the file's size at 2 MB/s), not the trickle's hours
    assert not list((tmp_path / "hf").rglob("slow.mp4")) and not list((tmp_path / "hf").rglob("*.incomplete"))


def test_an_unknown_or_empty_dataset_gives_no_examples_and_says_why(dataset_hub, tmp_path):
    dataset_hub.add_repo("acme/empty", {"README.md": b"# nothing"}, repo_type="dataset")
    w = worker(dataset_hub, tmp_path / "hf", tmp_path)
    try:
        unknown = w.call("examples", repo_id="acme/nope", max_bytes=CAP)
        empty = w.call("examples", repo_id="acme/empty", max_bytes=CAP)
        with dataset_hub.down():
            never = w.call("examples", repo_id=DATASET, max_bytes=CAP)
    finally:
        w.close()
    assert unknown["clips"] == [] and "refused" in unknown["problem"]
    assert empty["clips"] == [] and "no video files" in empty["problem"]
    assert never["clips"] == [] and "nothing is cached" in never["problem"]


# --- the page ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def examples_server(tmp_path_factory, tiny_model_dir):
    made = tmp_path_factory.mktemp("hub-clips")
    hub = start_hub(tiny_model_dir)
    hub.add_repo(DATASET, {"walk.mp4": clip_bytes(made, "walk.mp4", 90)}, repo_type="dataset")
    srv = AppServer(tmp_path_factory.mktemp("app"), tiny_model_dir, hub_url=hub.url,
                    extra_env={"HYBRID_EXAMPLES": DATASET}).wait_ready()  # fmt: skip
    yield srv
    srv.stop()
    hub.stop()


@pytest.mark.browser
def test_hub_examples_are_offered_on_classify_and_timeline(browser, examples_server, shots):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    page.goto(examples_server.url)
    page.wait_for_selector("#run")
    assert "pick an example below" in page.locator("#verdict").inner_text()
    page.get_by_role("button", name="walk.mp4").first.click()
    page.wait_for_function(
        "() => { const h = document.querySelector('#verdict h2'); return h && / — \\d+%$/.test(h.innerText) }"
    )
    page.screenshot(path=str(shots / "examples-classify.png"), full_page=True)

    page.get_by_role("tab", name="Timeline (long videos)").click()
    timeline = page.locator("#tl-video").locator("xpath=ancestor::div[contains(@class,'tabitem')]")
    timeline.get_by_role("button", name="walk.mp4").first.click()
    page.locator("#tl-summary").get_by_text("segment").first.wait_for()
    assert "3.0 s" in page.locator("#tl-summary").inner_text()  # the 90-frame clip at 30 fps
    page.screenshot(path=str(shots / "examples-timeline.png"), full_page=True)
    ctx.close()
