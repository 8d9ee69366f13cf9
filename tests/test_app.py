"""The Gradio app without a browser: figures (viz), handlers (hybrid/app, app.Handlers), and `python app.py`
driven by gradio_client (a synthetic clip, a real one from ../shared/data, Hub repo ids, bad input, limits,
paths the API must not read, and no files left behind after a stop)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from app_server import FOREIGN_REPO, HUB_MODEL, MAX_DURATION_S
from conftest import call_raw, shared_data
from synth import ffmpeg_write, index_clip, index_frame

from hybrid import ModelError, charts, viz
from hybrid.app import card, clip, models, preview
from hybrid.app.context import AppContext
from hybrid.app.errors import AppError, failure_markdown
from hybrid.app.recent import Previews
from hybrid.app.settings import AppSettings
from hybrid.model_dir import DEFAULT_MODEL
from hybrid.pipeline import Recognizer

ROOT = Path(__file__).resolve().parents[1]

LABELS = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module", autouse=True)
def _temp_in_tmp_path(tmp_path_factory):
    """Gradio (imported in-process below) and gradio_client's downloads write under tmp_path, not /tmp."""
    folder = tmp_path_factory.mktemp("temp")
    old_env, old_tempdir = os.environ.get("GRADIO_TEMP_DIR"), tempfile.tempdir
    os.environ["GRADIO_TEMP_DIR"], tempfile.tempdir = str(folder / "gradio"), str(folder)
    yield
    tempfile.tempdir = old_tempdir
    if old_env is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old_env


# --- viz: pure functions ----------------------------------------------------------------------------
def test_seen_region_follows_the_resize_mode():
    frame, size = (100, 200), (50, 50)  # a wide frame into a square input
    assert viz.seen_region(frame, size, "squash") == ((0, 50, 0, 50), (0, 100, 0, 200))
    # center_crop: the input shows the middle 100x100 of the frame
    assert viz.seen_region(frame, size, "center_crop") == ((0, 50, 0, 50), (0, 100, 50, 150))
    # letterbox: the whole frame fills the middle 25 rows of the input
    assert viz.seen_region(frame, size, "letterbox") == ((12, 37, 0, 50), (0, 100, 0, 200))


def test_heat_map_lands_where_the_model_looked():
    heat = np.zeros((4, 4), np.float32)
    heat[:2, 2:] = 1.0  # hot: top right of the model input
    frame = np.full((100, 200, 3), 128, np.uint8)
    on = viz.heat_on_frame(heat, (100, 200), (64, 64), "center_crop")
    assert on.shape == (100, 200)
    assert np.isnan(on[:, :50]).all() and np.isnan(on[:, 150:]).all()  # cut off by the crop: unseen
    assert on[10, 140] > 0.8 and on[90, 60] < 0.2
    img = viz.overlay(frame, on)
    assert img.shape == frame.shape and img.dtype == np.uint8
    assert (img[:, :50] < 60).all()  # unseen parts are dimmed
    assert np.abs(img[10, 140].astype(int) - 128).sum() > 60  # hot part is coloured
    assert np.abs(img[90, 60].astype(int) - 128).sum() < 60  # cold part keeps the photo
    squash = viz.heat_on_frame(heat, (100, 200), (64, 64), "squash")
    assert not np.isnan(squash).any() and squash[5, 190] > 0.8


def test_badge_and_caption():
    img = np.full((120, 160, 3), 255, np.uint8)
    out = viz.badge(img, "1.23 s")
    assert out.shape == img.shape and out[:20, :60].mean() < img[:20, :60].mean()  # dark label top left
    assert (out[60:, 80:] == 255).all()
    caption = viz.frame_caption(1.234, [("great white shark, white shark", 0.41), ("cup", 0.12), ("x", 0.01)])
    assert caption == "41% great white shark · 12% cup · at 1.23 s"


def test_decision_step_is_when_the_answer_stops_changing():
    p = np.array([[0.6, 0.4], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.2, 0.8]])
    assert viz.decision_step(p) == 3
    assert viz.decision_step(np.array([[0.9, 0.1], [0.8, 0.2]])) == 0
    assert viz.decision_step(np.array([[0.9, 0.1], [0.2, 0.8]])) == 1


def _svg(text: str):
    """Parse a chart: it must be well-formed SVG on its own."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("role") == "img" and root.get("aria-label")
    return root


SVG = "{http://www.w3.org/2000/svg}"


def test_belief_chart_draws_each_class_and_the_decision():
    rng = np.random.default_rng(0)
    T, K = 8, 9
    probs = rng.dirichlet(np.ones(K), T)
    probs[-3:, 4] += 2
    probs /= probs.sum(1, keepdims=True)
    labels = [f"class{k}" for k in range(K)]
    labels[4] = "<b>class4</b> & co"  # a class name is text, never markup
    root = _svg(charts.belief_svg(probs, labels, np.linspace(0, 3.5, T), attention=np.full(T, 1 / T), threshold=0.3))
    curves = root.findall(f"{SVG}polyline")
    assert len(curves) == 6  # the answer + the 5 strongest others, not all 9
    answer = curves[-1]  # drawn last, on top, bold
    assert float(answer.get("stroke-width")) > float(curves[0].get("stroke-width"))
    assert answer.get("stroke") == viz.class_color(labels, labels[4])
    ys = [float(pt.split(",")[1]) for pt in answer.get("points").split()]
    assert np.argmin(ys) == np.argmax(probs[:, 4]) and len(ys) == T  # higher probability, higher on the chart
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert labels[4] in texts and "settled here" in texts and "below this: not one I know" in texts
    hovers = [t.text for t in root.iter(f"{SVG}title")]
    assert any(h.startswith(f"{labels[4]}: ") and "after frame 8" in h for h in hovers)
    assert len(root.findall(f"{SVG}rect")) >= T  # the attention bars


def test_similarity_chart_shows_where_the_scene_changes():
    rng = np.random.default_rng(1)
    a, b = rng.random(1280), rng.random(1280)  # two scenes: post-ReLU-like (non-negative) features
    feats = np.stack([(a if t < 6 else b) + 0.05 * rng.random(1280) for t in range(16)]).astype(np.float32)
    sim = charts.similarity(feats)
    assert sim.shape == (16, 16) and np.allclose(np.diag(sim), 1.0, atol=1e-6)
    assert sim[:6, :6].min() > sim[:6, 6:].max() and sim[6:, 6:].min() > sim[6:, :6].max()  # two bright blocks
    root = _svg(charts.similarity_svg(feats, list(np.arange(16) * 0.5)))
    cells = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(cells) == 256

    def brightness(cell) -> int:
        return sum(int(cell.get("fill")[i : i + 2], 16) for i in (1, 3, 5))

    grid = np.array([brightness(c) for c in cells]).reshape(16, 16)
    assert grid[:6, :6].min() > grid[:6, 6:].max()  # colours follow the similarity
    least = np.unravel_index(sim.argmin(), sim.shape)
    assert grid[least] == grid.min() and cells[0].get("fill") == "#fcfdbf"  # stretched: the least alike is black
    assert "0.0 s and 0.0 s: 1.00 alike" in [c.find(f"{SVG}title").text for c in cells]
    one = _svg(charts.similarity_svg(feats[:1], [0.0]))  # one frame, or all alike: still a picture
    assert len([r for r in one.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == 1


@pytest.mark.parametrize(("lo", "hi", "ticks"), [(0, 10, [0, 2, 4, 6, 8, 10]), (0.3, 9.6, [2, 4, 6, 8]),
                                                 (0.81, 1.0, [0.85, 0.9, 0.95, 1.0]), (2.0, 2.0, [2.0])])  # fmt: skip
def test_chart_ticks_are_round_numbers(lo, hi, ticks):
    assert charts.nice_ticks(lo, hi, 5 if lo == 0.81 else 6) == pytest.approx(ticks)


# --- hybrid/app -------------------------------------------------------------------------------------
@pytest.mark.parametrize("good", ["owner/name", "gpt2", "Org-1/model_v2.1", " owner/name "])
def test_repo_ids_that_are_accepted(good):
    assert models.validate_repo_id(good) == good.strip()


@pytest.mark.parametrize(
    "bad",
    [
        "https://huggingface.co/owner/name",
        "hf://owner/name",
        "file:///etc/passwd",
        "/etc/passwd",
        "../owner/name",
        "owner/../name",
        "a/b/c",
        "owner\\name",
        "~/models",
        "",
        "owner/na me",
        "owner--x/name",
        "ownér/name",
    ],
)
def test_repo_ids_that_are_refused(bad):
    with pytest.raises(AppError, match="not a Hugging Face repo id"):
        models.validate_repo_id(bad)


def test_a_repo_id_that_names_a_local_folder_is_refused(tmp_path, monkeypatch):
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AppError, match="local path"):
        models.validate_repo_id("owner/name")


def test_models_offered_and_resolved(app_ctx, app_env, tiny_model_dir):
    assert models.bundled_models(app_ctx.settings) == {app_env: tiny_model_dir.resolve()}
    assert models.default_choice(app_ctx.settings) == app_env
    assert models.resolve_model(app_ctx.settings, app_env, "") == (
        f"dir:{tiny_model_dir.resolve()}",
        str(tiny_model_dir.resolve()),
    )
    assert models.resolve_model(app_ctx.settings, app_env, "owner/name") == (
        "hub:owner/name",
        "owner/name",
    )  # typed id wins
    with pytest.raises(AppError, match="not one of the bundled models"):
        models.resolve_model(app_ctx.settings, "../../etc", "")


def test_the_idle_model_tip_names_a_bundled_model_or_nothing(app_ctx):
    assert models.idle_model_tip(app_ctx.settings) == ""  # only the tiny model here
    bundled = AppSettings(models_dir=ROOT / "assets" / "models")
    tip = models.idle_model_tip(bundled)
    assert models.IDLE_MODEL in tip and "no_interaction" in tip and "none of their actions" in tip
    labels = json.loads((models.bundled_models(bundled)[models.IDLE_MODEL] / "config.json").read_text())["labels"]
    assert "no_interaction" in labels and len(labels) == 7


def test_without_any_model_the_app_still_builds_and_says_why(tmp_path, monkeypatch):
    import app

    def no_default():
        raise ModelError("no bundled model")

    monkeypatch.setattr(models, "default_model_dir", no_default)
    none = AppSettings(models_dir=tmp_path / "no-models")
    assert models.bundled_models(none) == {} and models.default_choice(none) is None
    assert "/predict" in app.build_demo(AppContext.create(none)).get_api_info()["named_endpoints"]
    with pytest.raises(AppError, match="type a Hub repo id"):
        models.resolve_model(none, None, "")
    repo = AppSettings(model="owner/name", models_dir=tmp_path / "no-models")  # a repo id, not a folder:
    assert models.default_repo_id(repo) == "owner/name" and models.bundled_models(repo) == {}  # the repo box


def test_captions_show_the_belief_when_the_backbone_no_longer_names_imagenet_concepts(
    tiny_model_dir, index_clip_path, tmp_path
):
    tuned = tmp_path / "tuned"
    shutil.copytree(tiny_model_dir, tuned)
    config = json.loads((tuned / "config.json").read_text())
    (tuned / "config.json").write_text(json.dumps({**config, "imagenet_concepts": False}))
    ctx = AppContext.create(AppSettings(model=str(tuned), models_dir=tmp_path / "no-models"))
    out = clip.classify(ctx, str(index_clip_path), tuned.name, "", clip.OVERLAY_GRADCAM)
    steps = out.details["step_probs"]
    for (_, caption), probs in zip(out.gallery, steps):
        k = int(np.argmax(probs))  # the belief after that frame (the JSON's numbers are rounded to 5 places)
        pct, label = re.fullmatch(r"(\d+)% (\w+)", caption).groups()
        assert label == LABELS[k] and abs(int(pct) - 100 * probs[k]) <= 0.5 + 1e-3, (caption, probs[k])
    assert "concepts" not in out.details or not out.details["concepts"]


def test_classify_returns_everything_the_page_shows(app_ctx, app_env, index_clip_path):
    out = clip.classify(app_ctx, str(index_clip_path), app_env, "", clip.OVERLAY_GRADCAM)
    assert set(out.label) == set(LABELS) and abs(sum(out.label.values()) - 1) < 1e-4  # 3 classes: top-5 = all
    answer = max(out.label, key=out.label.get)
    assert out.verdict.startswith(f"## {answer} — ")
    assert len(out.gallery) == 4  # the tiny model reads 4 frames
    times = out.details["timestamps_s"]
    for (img, caption), t in zip(out.gallery, times):
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert caption.endswith(f"at {t:.2f} s") and "%" in caption  # ImageNet concepts, then the time
    assert times == sorted(times) and 0 <= times[0] and times[-1] < 4.0  # 120 frames at 30 fps
    for stage in ("decode", "CNN", "RNN", "total", "model load"):
        assert stage in out.timings
    assert "4 frames sampled from 120 (320×240" in out.timings
    d = json.loads(json.dumps(out.details))  # JSON-friendly as it is
    assert d["label"] == answer and d["frames"] == 4 and d["labels"] == LABELS and d["model"] == app_env
    assert np.array(d["step_probs"]).shape == (4, 3)
    assert _svg(out.features) is not None and _svg(out.belief) is not None


def test_overlays_switch_without_rerunning_the_model(app_ctx, app_env, index_clip_path, monkeypatch):
    path = str(index_clip_path)
    cam = clip.classify(app_ctx, path, app_env, "", clip.OVERLAY_GRADCAM).gallery
    monkeypatch.setattr(Recognizer, "predict_clip", lambda *a, **k: pytest.fail("model re-run"))
    act = clip.redraw(app_ctx, path, app_env, "", clip.OVERLAY_ACTIVATION)
    assert len(act) == len(cam) and any(not np.array_equal(a[0], c[0]) for a, c in zip(act, cam))
    assert clip.redraw(app_ctx, None, app_env, "", clip.OVERLAY_ACTIVATION) is None


def _audio_only(path: Path) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac"]
    subprocess.run([*cmd, str(path)], check=True)
    return path


def test_bad_input_gets_a_clear_message(app_ctx, app_env, tmp_path, index_clip_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(index_clip_path.read_bytes()[:2000])
    cases = {
        None: "Drop a video file",
        str(empty): "empty|0 bytes",
        str(text): "not a video|text file",
        str(_audio_only(tmp_path / "tone.mp4")): "audio only|no video",
        str(truncated): "tru?ncated|damaged|no frame|decode",
        str(tmp_path / "missing.mp4"): "no such file|not found",
    }
    for path, words in cases.items():
        with pytest.raises(AppError) as err:
            clip.classify(app_ctx, path, app_env, "", session="tab-1")
        assert re.search(words, err.value.message, re.I), (path, err.value.message)
        assert Path(path or "x").name in err.value.message or path is None  # names the file it means
        assert err.value.title in ("No video", "Can't use this video", "Can't read this video")
        assert app_ctx.failures.pop("tab-2") is None  # another session sees nothing of it
        shown = failure_markdown(app_ctx.failures.pop("tab-1"), app_ctx.settings)
        assert shown.startswith(f"#### {err.value.title}\n{err.value.message}")
        assert "MP4 (H.264)" in shown or path is None


def test_a_remembered_failure_keeps_nothing_of_the_failed_run_alive(app_ctx, app_env, index_clip_path, monkeypatch):
    """The answer panel's memory of a failure holds words only: the half-built model in the failing frames
    is freed once the request is over (it used to stay referenced through the stored exception's traceback)."""
    import gc
    import weakref

    refs = []

    class Big:
        pass

    def failing_run(*args, **kwargs):
        model = Big()  # stands for a model built before its weights were refused
        refs.append(weakref.ref(model))
        try:
            raise ModelError("weights refused")
        except ModelError as e:
            raise AppError("Can't load this model", str(e)) from e

    monkeypatch.setattr(clip, "run_model", failing_run)
    with pytest.raises(AppError):
        clip.classify(app_ctx, str(index_clip_path), app_env, "", session="s1")
    gc.collect()
    assert refs and refs[0]() is None
    assert failure_markdown(app_ctx.failures.pop("s1"), app_ctx.settings).startswith(
        "#### Can't load this model\nweights refused"
    )


def test_av1_is_either_decoded_or_refused_clearly(app_ctx, app_env, tmp_path):
    av1 = index_clip(tmp_path / "av1.mp4", 20, size=(64, 48), codec="libaom-av1", extra=["-cpu-used", "8"])
    try:
        out = clip.classify(app_ctx, str(av1), app_env, "")
    except AppError as e:
        assert "AV1" in e.message and "Re-encode" in e.message
    else:
        assert len(out.gallery) == 4


def test_unexpected_failures_are_reported_not_raised_raw(app_ctx, app_env, index_clip_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(clip, "run_model", boom)
    with pytest.raises(AppError, match="RuntimeError: disk on fire"):
        clip.classify(app_ctx, str(index_clip_path), app_env, "")


def test_unknown_hub_model_is_a_clear_error_offline(app_ctx, app_env, index_clip_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(AppError) as err:
        clip.classify(app_ctx, str(index_clip_path), app_env, "someone/not-cached-here")
    assert err.value.title == "Can't load this model" and "someone/not-cached-here" in err.value.message


def test_browser_preview_only_for_files_browsers_cannot_play(app_ctx, tmp_path):
    avi = index_clip(tmp_path / "clip.avi", 30, size=(161, 120), codec="mpeg4")  # odd width on purpose
    copy = preview.browser_preview(app_ctx, str(avi))
    assert copy and copy.endswith("clip.preview.mp4") and Path(copy).parent == avi.parent
    assert preview.probe(copy)[0] == "h264"
    assert app_ctx.previews.original_of(copy) == str(avi.resolve())  # the model keeps reading the original
    mp4 = index_clip(tmp_path / "clip.mp4", 10, size=(64, 48))
    assert preview.browser_preview(app_ctx, str(mp4)) is None
    assert preview.browser_preview(app_ctx, str(tmp_path / "none.avi")) is None


def test_a_webcam_recording_gets_a_copy_that_knows_its_length(app_ctx, tmp_path):
    """A browser's MediaRecorder webm has no duration (the player shows 0:00 / Infinity): its streams are remuxed,
    not re-encoded, into a file that has one; the model still reads the recording."""
    from synth import browser_webm

    rec = browser_webm(tmp_path / "webcam.webm", 45, fps=30)
    codec, duration = preview.probe(str(rec))
    assert codec in ("vp8", "vp9") and duration is None
    copy = preview.browser_preview(app_ctx, str(rec))
    assert copy and copy.endswith("webcam.preview.webm")
    codec2, duration2 = preview.probe(copy)
    assert codec2 == codec and duration2 == pytest.approx(1.5, abs=0.2)
    assert app_ctx.previews.original_of(copy) == str(rec.resolve())


def test_the_preview_table_stays_bounded():
    previews = Previews(size=3)
    for i in range(10):
        previews.put(f"/tmp/p{i}.preview.mp4", f"/tmp/p{i}.avi")
    assert previews.get("/tmp/p0.preview.mp4") is None and previews.get("/tmp/p9.preview.mp4") == "/tmp/p9.avi"
    assert len(previews._items) == 3


def test_browser_preview_never_follows_a_playlist(app_ctx, tmp_path):
    """The preview transcode (an ffmpeg command) reads the upload only: a playlist naming a server-side clip,
    whatever its extension, gets no preview (and the ffmpeg command itself is held to local files and the
    allow-listed demuxers, see hybrid/container.py)."""
    secret = index_clip(tmp_path / "server-side.avi", 20, size=(64, 48), codec="mpeg4")
    for name in ("upload.m3u8", "upload.avi"):
        fake = tmp_path / name
        fake.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
        assert preview.probe(str(fake))[0] is None and preview.browser_preview(app_ctx, str(fake)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server-side.avi", "upload.avi", "upload.m3u8"]


def test_model_card_lists_classes_and_the_card(app_ctx, app_env, tmp_path, tiny_model_dir):
    text = card.model_card(app_ctx, app_env, "")
    assert "**Knows 3 actions:** `alpha` · `beta` · `gamma`" in text
    assert "4 frames" in text and "96×64 px" in text
    assert "## Model" in text and "library_name" not in text  # the card body, without its YAML header
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    (bare / "README.md").unlink()
    ctx = AppContext.create(AppSettings(model=str(bare), models_dir=tmp_path / "no-models"))
    assert "This model has no card" in card.model_card(ctx, "bare", "")


# --- app.py handlers and the Blocks contract ----------------------------------------------------------
def test_predict_handler_maps_errors_to_gr_error(app_ctx, app_env, index_clip_path):
    import gradio as gr

    import app

    ui, quiet = app.Handlers(app_ctx), lambda *a, **k: None
    with pytest.raises(gr.Error) as err:
        ui.predict(None, app_env, "", clip.OVERLAY_GRADCAM, progress=quiet)
    assert err.value.title == "No video" and "Drop a video file" in err.value.message
    with pytest.raises(gr.Error, match="not a Hugging Face repo id"):
        ui.predict(str(index_clip_path), app_env, "/etc", clip.OVERLAY_GRADCAM, progress=quiet)
    out = ui.predict(str(index_clip_path), app_env, "", clip.OVERLAY_GRADCAM, progress=quiet)
    assert len(out) == 7 and out[0].startswith("## ")


def test_blocks_expose_predict_with_the_video_first(app_ctx, app_env):
    import app

    demo = app.build_demo(app_ctx)
    info = demo.get_api_info()
    params = info["named_endpoints"]["/predict"]["parameters"]
    assert params[0]["component"] == "Video"
    assert [p["component"] for p in params[1:]] == ["Dropdown", "Textbox", "Radio"]
    # helpers (card, redraw, preview) are private
    assert set(info["named_endpoints"]) == {"/predict", "/classify", "/timeline", "/teach"}
    teach = info["named_endpoints"]["/teach"]["parameters"]
    assert [p["component"] for p in teach] == ["File", "Textbox"]
    kw = app.launch_kwargs(app_ctx)
    assert kw["max_file_size"] == app_ctx.settings.limits.max_bytes and kw["allowed_paths"] == []


# --- python app.py + gradio_client ------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def _predict(client, path, model: str, repo_id: str = ""):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), model, repo_id, clip.OVERLAY_GRADCAM, api_name="/predict")


def test_lean_api_answers_json_only(client, model_name, index_clip_path, tmp_path):
    """/classify and /timeline: a video -> the CLI's JSON, no pictures (nothing for the client to download)."""
    from gradio_client import handle_file

    got = client.predict(handle_file(str(index_clip_path)), api_name="/classify")  # the default model
    assert got["label"] in LABELS and got["model"] == model_name and got["frames"] == 4
    assert set(got) >= {"label", "score", "topk", "known", "openset_score", "threshold", "similarity", "timings_ms",
                        "video"}  # fmt: skip
    assert got["video"]["total_frames"] == 120
    tl = client.predict(handle_file(str(index_clip_path)), 1.0, 0.5, api_name="/timeline")
    assert tl["window_s"] == 1.0 and tl["stride_s"] == 0.5 and tl["duration_s"] == pytest.approx(4.0, abs=0.1)
    assert tl["segments"] and all(s["label"] in LABELS or s["label"] == "unknown" for s in tl["segments"])
    assert tl["segments"][0]["start"] == 0 and tl["segments"][-1]["end"] == pytest.approx(tl["duration_s"])
    with pytest.raises(Exception, match="not a Hugging Face repo id"):
        client.predict(handle_file(str(index_clip_path)), "", "https://example.com/x", api_name="/classify")
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_has_default"] for p in info["/classify"]["parameters"]] == [False, True, True]
    assert info["/timeline"]["description"].startswith("Label every stretch of a long video")


def test_api_predict_on_a_synthetic_clip(client, model_name, index_clip_path):
    verdict, label, gallery, features, belief, timings, details = _predict(client, index_clip_path, model_name)
    assert label["label"] in LABELS and len(label["confidences"]) == 3
    assert verdict.startswith(f"## {label['label']}")
    assert len(gallery) == 4 and all(Path(item["image"]).is_file() for item in gallery)
    assert all(item["caption"].endswith(" s") for item in gallery)
    assert features.startswith("<svg") and belief.startswith("<svg") and "belief after every frame" in belief
    assert "CNN" in timings and details["frames"] == 4 and details["label"] == label["label"]


@pytest.mark.data
def test_api_predict_on_a_real_clip(client, model_name):
    clip = shared_data("demo-clips") / "demo.mp4"
    *_, details = _predict(client, clip, model_name)
    assert details["frames"] == 4 and details["video"]["width"] == 340 and details["video"]["duration_s"] > 9


@pytest.mark.data
def test_api_the_default_model_names_its_own_scenes_and_refuses_other_footage(client):
    """The bundled default through the API: a UT-Interaction clip is named; a kitchen clip and an NTU RGB+D clip
    look unlike every clip it was trained on, so "known" is false, the closest class still given."""
    hug = sorted((shared_data("ut-interaction") / "set2" / "hugging").glob("*.avi"))[0]
    verdict, label, *_, details = _predict(client, hug, DEFAULT_MODEL)
    assert details["known"] is True and details["label"] == "hugging" and verdict.startswith("## hugging — ")
    for name in ("flipping_a_pancake.mkv", "S001C001P001R001A001_rgb.avi"):
        verdict, label, *_, details = _predict(client, shared_data("demo-clips") / name, DEFAULT_MODEL)
        assert details["known"] is False and details["similarity"] < details["similarity_threshold"], name
        assert "Not one of the actions I know" in verdict and f"closest: **{details['label']}**" in verdict
        assert details["label"] == label["label"]  # the closest class stays the label, for compatibility


def test_api_loads_a_hub_repo_once_and_explains_bad_ones(client, model_name, hub, index_clip_path):
    from gradio_client.exceptions import AppError

    *_, details = _predict(client, index_clip_path, model_name, HUB_MODEL)
    assert details["model"] == HUB_MODEL
    assert hub.count("HEAD", f"/{HUB_MODEL}/resolve/main/model.safetensors") == 1  # -> the CDN
    hub.clear_requests()
    _predict(client, index_clip_path, model_name, HUB_MODEL)
    assert hub.requests == []  # loaded once, then served from the app's model cache
    with pytest.raises(AppError, match="hybrid"):
        _predict(client, index_clip_path, model_name, FOREIGN_REPO)
    with pytest.raises(AppError, match="not found"):
        _predict(client, index_clip_path, model_name, "tests/missing")
    with pytest.raises(AppError, match="not a Hugging Face repo id"):
        _predict(client, index_clip_path, model_name, "https://huggingface.co/tests/tiny")


def test_api_bad_input_and_limits_then_keeps_serving(client, server, model_name, tmp_path, index_clip_path):
    from gradio_client.exceptions import AppError

    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(AppError, match="not a video"):
        _predict(client, text, model_name)
    long = ffmpeg_write(tmp_path / "long.mp4", (index_frame(i % 4, (64, 48)) for i in range(15 * 10)), fps=10)
    with pytest.raises(AppError, match=f"limit here is {MAX_DURATION_S}"):
        _predict(client, long, model_name)
    big = tmp_path / "big.mp4"
    big.write_bytes(np.random.default_rng(0).bytes(3_000_000))  # over the 2 MB cap of the test server
    r = httpx.post(server.url + "/gradio_api/upload", files={"files": ("big.mp4", big.read_bytes())}, timeout=30)
    assert r.status_code == 413
    *_, details = _predict(client, index_clip_path, model_name)  # still serving
    assert details["frames"] == 4


def test_api_never_reads_a_path_the_caller_names(server, model_name, index_clip_path):
    stream = call_raw(
        server,
        [{"path": str(index_clip_path), "meta": {"_type": "gradio.FileData"}}, model_name, "", clip.OVERLAY_GRADCAM],
    )
    assert "event: error" in stream and "complete" not in stream
    stream = call_raw(server, [None, model_name, "/etc", clip.OVERLAY_GRADCAM])
    assert "event: error" in stream


def test_api_info_names_predict_with_video_first(server):
    endpoints = server.api_info()["named_endpoints"]
    assert list(endpoints) == ["/predict", "/classify", "/timeline", "/teach"]
    assert endpoints["/predict"]["parameters"][0]["component"] == "Video"
    assert [p["parameter_name"] for p in endpoints["/teach"]["parameters"]] == ["files", "labels"]


def test_mcp_server_offers_predict_where_gradio_mcp_is_installed(server):
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        pytest.skip("gradio[mcp] is not installed in this environment (requirements.txt installs it)")
    tools = httpx.get(server.url + "/gradio_api/mcp/schema", timeout=10).json()
    assert [t["name"] for t in tools] == ["predict", "classify", "timeline", "teach"]
    assert list(tools[0]["inputSchema"]["properties"])[0] == "video"


def _readme() -> str:
    return (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_front_matter_configures_a_gradio_space():
    import gradio
    import yaml

    text = _readme()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    for key in ("title", "emoji", "colorFrom", "colorTo", "short_description", "license", "models"):
        assert key in meta, key
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__ and meta["app_file"] == "app.py"
    assert (Path(__file__).resolve().parents[1] / meta["app_file"]).is_file()
    requirements = (Path(__file__).resolve().parents[1] / "requirements.txt").read_text()
    assert re.search(rf"^gradio(\[mcp\])?=={re.escape(meta['sdk_version'])}$", requirements, re.M)
    assert re.fullmatch(r"3\.\d+", str(meta["python_version"])) and len(meta["short_description"]) <= 60
    body = text.split("---\n", 2)[2]
    assert re.findall(r"^## .*", body, re.M)[0] == "## Start here"  # the commands still come first


def test_readme_gradio_client_snippet_works(server, tmp_path, index_clip_path, monkeypatch):
    app_section = _readme().split("## App", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", app_section, re.S).group(1)
    assert 'api_name="/classify"' in code and 'api_name="/timeline"' in code
    for name in ("clip.mp4", "long.mp4"):
        shutil.copy(index_clip_path, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    assert 'Client("http://127.0.0.1:7860/")' in code
    code = code.replace('Client("http://127.0.0.1:7860/")', f'Client("{server.url}", download_files="{tmp_path}")')
    exec(code, scope)  # noqa: S102 - our own README
    assert scope["answer"]["label"] in LABELS and scope["answer"]["frames"] == 4 and scope["segments"]
    # ... and the curl one, as a shell runs it
    shell = re.search(r"```bash\n(URL=.*?)```", app_section, re.S).group(1).replace("http://127.0.0.1:7860", server.url)
    proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + shell], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "event: complete" in proc.stdout
    answer = json.loads(proc.stdout.split("data: ", 1)[1].splitlines()[0])[0]
    assert answer["label"] in LABELS and answer["frames"] == 4


def test_a_stop_leaves_nothing_in_the_temp_folders(tiny_model_dir, model_name, tmp_path):
    """A server of its own, stopped (SIGTERM) after a clip: what is left of its files."""
    from app_server import AppServer
    from gradio_client import Client

    server = AppServer(tmp_path / "app", tiny_model_dir).wait_ready()
    try:
        client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
        _predict(client, index_clip(tmp_path / "clip.avi", 40, codec="mpeg4"), model_name)
        assert server.files_left()  # uploads and frames are there while it serves
        t0 = time.monotonic()
        server.stop()
        assert time.monotonic() - t0 < 20
    finally:
        server.stop()
    assert server.files_left() == []
    assert not list(server.temp.glob("*"))  # nor the per-file folders Gradio made
    assert not [p for p in (server.root / "tmp").rglob("*") if p.is_file()]  # nor anywhere else in TMPDIR


def test_the_idle_panel_promises_examples_only_where_there_are_some_and_long_clips_point_to_the_timeline(app_ctx):
    import app

    assert "example" not in app.idle_text(False) and app.idle_text(False).startswith("#### Drop a clip or record one")
    assert app.idle_text(True).startswith("#### Drop a clip, record one, or pick an example below")
    long = AppError("Can't use this video", "talk.mp4 lasts 95 s or more; the limit here is 60 s")
    assert "**Timeline** tab" in failure_markdown(long, app_ctx.settings)
    other = AppError("Can't use this video", "notes.mp4 is a text file, not a video")
    assert "Timeline" not in failure_markdown(other, app_ctx.settings)


def test_a_hub_repo_loaded_on_the_page_is_a_picker_entry(app_ctx, app_env):
    assert models.resolve_model(app_ctx.settings, "hub:owner/name", "") == ("hub:owner/name", "owner/name")
    assert models.resolve_model(app_ctx.settings, "hub:owner/name", "other/repo")[1] == "other/repo"  # typed wins
    with pytest.raises(AppError, match="not a Hugging Face repo id"):
        models.resolve_model(app_ctx.settings, "hub:../../etc", "")
    got = models.picker_choices(app_ctx.settings, ["a/b"], {"taught:x": "Taught here #1: wave, clap"})
    assert got == [(app_env, app_env), ("a/b (Hub)", "hub:a/b"), ("Taught here #1: wave, clap", "taught:x")]


def test_model_errors_on_the_page_suggest_only_what_the_page_allows():
    from hybrid.app.models import page_words

    offline = ("can't reach the Hugging Face Hub, and model 'a/b' (config.json) is not in the local cache: check "
               "the network (or HF_ENDPOINT / proxy settings), or pass a local model folder")  # fmt: skip
    assert page_words(offline).endswith("check the network, or pick a bundled model")
    missing = "model 'a/b' is not a local folder and was not found on the Hub (check the name)"
    assert page_words(missing) == "model 'a/b' was not found on the Hub (check the name)"
    stalled = "the download stalled (x); it is stalled or too slow now: try again later, or pass a local model folder"
    assert page_words(stalled).endswith("try again later, or pick a bundled model")
