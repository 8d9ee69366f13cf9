"""Long-video timelines (hybrid/timeline.py): windows -> segments without gaps, each window the offline answer
for its frames, one decoding pass with a bounded number of frames in memory, short clips, the CLI and the
app's Timeline handler (drawing, JSON and CSV downloads)."""

from __future__ import annotations

import csv
import io
import json
import weakref

import numpy as np
import pytest
import torch
from conftest import shared_data
from synth import index_frame, lavfi_clip

from hybrid import cli, viz
from hybrid import timeline as tl_mod
from hybrid.app import timeline as app_timeline
from hybrid.app.errors import AppError
from hybrid.pipeline import Recognizer
from hybrid.timeline import Window, build_timeline, segments_from_windows
from hybrid.transforms import preprocess
from hybrid.video import iter_frames


@pytest.fixture(scope="module")
def rec(tiny_model_dir) -> Recognizer:
    return Recognizer(tiny_model_dir, engine="torch")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """12.5 s of ffmpeg's test pattern (moving), 160x120 at 10 fps."""
    return lavfi_clip(tmp_path_factory.mktemp("tl") / "long.mp4", 12.5, size=(160, 120), fps=10)


def assert_covers(segments, duration: float) -> None:
    assert segments[0].start == 0.0 and segments[-1].end == pytest.approx(duration)
    for a, b in zip(segments, segments[1:]):
        assert a.end == b.start and a.label != b.label  # no gap, no overlap, neighbours differ
    assert all(s.end > s.start and 0 <= s.score <= 1 for s in segments)


def test_segments_from_windows_cover_the_video_and_merge_agreeing_neighbours():
    w = [Window(i * 1.0, i * 1.0 + 2.0, label, score, []) for i, (label, score) in
         enumerate([("a", 0.9), ("a", 0.5), ("b", 0.8), ("b", 0.6), ("a", 0.7)])]  # fmt: skip
    segs = segments_from_windows(w, duration=6.5)
    assert [(s.label, s.windows) for s in segs] == [("a", 2), ("b", 2), ("a", 1)]
    assert_covers(segs, 6.5)
    # window centres 1, 2, 3, 4, 5: boundaries at the midpoints 1.5, 2.5, 3.5, 4.5
    assert [(s.start, s.end) for s in segs] == [(0.0, 2.5), (2.5, 4.5), (4.5, 6.5)]
    assert segs[0].score == pytest.approx((0.9 * 1.5 + 0.5 * 1.0) / 2.5)  # weighted by the time each speaks for
    assert segments_from_windows([], 3.0) == []


def test_segments_html_places_blocks_by_time_and_escapes_labels():
    labels = ["a<b", "c", "light"]
    out = viz.segments_html([(0, 5, "a<b", 0.5), (5, 10, "c", 1.0), (9, 30, "light", 0.2)], 0, 20, labels)
    assert out.count('class="seg"') == 3
    assert "left:0.000%;width:25.000%" in out and "left:25.000%;width:25.000%" in out
    assert "left:45.000%;width:55.000%" in out  # clipped to the strip's end
    assert "a&lt;b" in out and "a<b" not in out
    assert f"background:{viz.class_color(labels, 'c')}" in out and "height:100%" in out and "height:48%" in out
    assert viz.segments_html([(30, 40, "c", 1.0)], 0, 20, labels).count('class="seg"') == 0  # outside: not drawn
    assert viz.clock(5) == "5.0 s" and viz.clock(83.44) == "1:23.4"
    assert viz.ink_on("#fab005") != viz.ink_on("#1c7ed6")  # dark text on yellow, white on blue
    assert len({viz.class_color(labels, x) for x in labels}) == 3 and viz.ANSWER_COLOR not in viz.CLASS_COLORS


def test_timeline_windows_are_the_offline_answers_and_segments_have_no_gaps(rec, long_clip):
    tl = build_timeline(rec, str(long_clip), window_s=2.0, stride_s=1.0)
    T = rec.model.num_frames
    assert tl.sample_fps == 2.0 and tl.stride_s == 1.0 and tl.duration_s == pytest.approx(12.5)
    assert tl.frames == 25  # 12.5 s at 2 frames/s, each through the CNN once
    assert len(tl.windows) == 1 + (25 - T) // 2 + 1  # every 2 frames, plus one ending at the last frame
    assert_covers(tl.segments, 12.5)
    assert sum(s.windows for s in tl.segments) == len(tl.windows)
    # each window is exactly the model's answer for its 4 frames (recomputed from an independent decode)
    frames = [f for _, _, f in iter_frames(long_clip, 2.0)]
    with torch.inference_mode():
        feats = rec.model.pool_frames(rec.model.frame_maps(preprocess(np.stack(frames), rec.model.config)))
        for j, first in [(0, 0), (3, 6), (len(tl.windows) - 1, len(frames) - T)]:
            probs = rec.model.forward_head(feats[first : first + T][None]).logits[0].softmax(-1).numpy()
            np.testing.assert_allclose(tl.windows[j].probs, probs, atol=1e-4)
            assert tl.windows[j].start == pytest.approx(first / 2.0)
    d = json.loads(json.dumps(tl.to_dict()))
    assert set(d["segments"][0]) == {"start", "end", "label", "score", "windows"}
    rows = list(csv.DictReader(io.StringIO(tl.to_csv())))
    assert len(rows) == len(tl.segments) and rows[-1]["end"] == "12.500"


def test_one_decoding_pass_with_a_bounded_number_of_frames_alive(rec, monkeypatch):
    alive, peak, opened = set(), [0], []

    def fake_iter_frames(path, fps, limits=None, threads=None):
        opened.append(path)
        for i in range(300):  # 150 s at 2 frames/s
            frame = np.ascontiguousarray(index_frame(i, (96, 64)))
            alive.add(id(frame))
            weakref.finalize(frame, alive.discard, id(frame))
            peak[0] = max(peak[0], len(alive))
            yield i * 5, i / 2.0, frame

    monkeypatch.setattr(tl_mod, "iter_frames", fake_iter_frames)
    monkeypatch.setattr(tl_mod, "_probe", lambda path, limits: {"fps": 10.0, "claimed_duration_s": 150.0})
    tl = build_timeline(rec, "fake.mp4", window_s=2.0, stride_s=2.0)
    assert opened == ["fake.mp4"] and tl.frames == 300 and len(tl.windows) == 1 + (300 - 4) // 4  # ends on a stride
    # frames never pile up, however long the video: a batch, the prefetch queue, one on either side of it
    assert peak[0] <= tl_mod.BATCH + tl_mod.PREFETCH + 2
    assert_covers(tl.segments, 150.0)


def test_a_clip_shorter_than_one_window_gets_the_whole_clip_prediction(rec, tmp_path):
    short = lavfi_clip(tmp_path / "short.mp4", 1.2, size=(160, 120), fps=10)
    tl = build_timeline(rec, str(short), window_s=3.0)
    offline = rec(str(short))
    assert len(tl.segments) == 1 and len(tl.windows) == 1
    s = tl.segments[0]
    assert (s.start, s.label) == (0.0, offline.label) and s.end == pytest.approx(1.2)
    assert s.score == pytest.approx(offline.score, abs=1e-5)


@pytest.mark.data
def test_a_real_clip(rec):
    clip = sorted((shared_data("ut-interaction") / "set2" / "kicking").glob("*.avi"))[0]
    tl = build_timeline(rec, str(clip), window_s=1.0, stride_s=0.5)
    assert tl.video["width"] > 0 and tl.duration_s > 1.5
    assert_covers(tl.segments, tl.duration_s)


def test_cli_timeline_json_csv_and_errors(tiny_model_dir, long_clip, tmp_path, capsys):
    args = ["timeline", str(long_clip), "--model", str(tiny_model_dir), "--window", "4", "--stride", "2"]
    assert cli.main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["window_s"] == 4.0 and out["stride_s"] == 2.0 and out["duration_s"] == pytest.approx(12.5)
    assert out["segments"][0]["start"] == 0 and out["segments"][-1]["end"] == pytest.approx(12.5)
    assert all(set(s) >= {"start", "end", "label", "score"} for s in out["segments"])
    assert cli.main([*args, "--csv"]) == 0
    assert capsys.readouterr().out.startswith("start,end,label,score,windows\n0.000,")
    assert cli.main(args) == 0
    assert "windows of 4 s every 2 s" in capsys.readouterr().out
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 20)
    assert cli.main(["timeline", str(bad), "--model", str(tiny_model_dir)]) == 2
    assert "not a video" in capsys.readouterr().err
    assert cli.main([*args[:4], "--window", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err


# --- the app's Timeline handler -----------------------------------------------------------------------------
def test_app_timeline_draws_segments_and_writes_json_and_csv(app_ctx, app_env, long_clip, tmp_path):
    video = tmp_path / "upload.mp4"
    video.write_bytes(long_clip.read_bytes())
    out = app_timeline.make_timeline(app_ctx, str(video), app_env, "", 2.0, 1.0)
    segs = out.details["segments"]
    assert segs[0]["start"] == 0 and segs[-1]["end"] == pytest.approx(12.5) and out.details["model"] == app_env
    assert out.strip.count('class="seg"') == len(segs) and "legend" in out.strip
    assert len(out.table) == len(segs) and out.table[0][2] == segs[0]["label"]
    assert out.figure.axes and "windows of 2 s every 1 s" in out.summary
    json_path, csv_path = out.files
    assert json_path.endswith(".json") and csv_path.endswith(".csv")
    assert json.loads(open(json_path).read())["segments"] == segs
    assert open(csv_path).read().splitlines()[0] == "start,end,label,score,windows"
    assert [p.rsplit("/", 1)[1] for p in out.files] == ["upload.timeline-w2-s1.json", "upload.timeline-w2-s1.csv"]
    assert all(p.startswith(str(tmp_path)) for p in out.files)  # beside the upload, cleaned up with it


def test_app_timeline_errors_are_clear(app_ctx, app_env, tmp_path):
    with pytest.raises(AppError, match="Drop a video"):
        app_timeline.make_timeline(app_ctx, None, app_env, "")
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 20)
    with pytest.raises(AppError, match="not a video|text file") as err:
        app_timeline.make_timeline(app_ctx, str(bad), app_env, "")
    assert err.value.title == "Can't use this video"
    clip = lavfi_clip(tmp_path / "ok.mp4", 2, size=(64, 48), fps=10)
    with pytest.raises(AppError, match="positive"):
        app_timeline.make_timeline(app_ctx, str(clip), app_env, "", 0.0, 1.0)
