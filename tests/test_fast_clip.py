"""Fast sampling (hybrid/fast_clip.py): the nearest reference frame to each uniform target, the indices it reports are
the frames' own, and everything it does not apply to is read exactly (video.read_clip)."""

from __future__ import annotations

import builtins
import subprocess

import numpy as np
import pytest
from synth import cv2_write, ffmpeg_write, index_clip, index_frame, read_index, rotated_clip

from hybrid import fast_clip
from hybrid.errors import ConfigError, VideoError
from hybrid.fast_clip import MAX_SHIFT, read_clip_as, read_clip_fast, sampling_setting
from hybrid.video import VideoLimits, read_clip, uniform_indices


@pytest.fixture(scope="module")
def bframes(tmp_path_factory):
    """150 frames of H.264 with libx264's default B-frames (frame i shows the number i)."""
    return index_clip(tmp_path_factory.mktemp("fast") / "b.mp4", 150)


def _types(path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pict_type",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line.strip(",") for line in out.split()]


def test_samples_only_reference_frames_near_the_uniform_targets(bframes):
    types = _types(bframes)
    assert types.count("B") > 50  # the case this is for (some of them references: x264's B-pyramid)
    clip, exact = read_clip_fast(bframes, 16), read_clip(bframes, 16)
    assert clip.method == "reference frames" and exact.method == "sequential"
    assert [read_index(f) for f in clip.frames] == clip.indices  # the indices are the frames' own
    assert 0 < sum(types[i] == "B" for i in clip.indices) < 16  # reference B-frames are taken, others skipped
    targets = uniform_indices(150, 16)
    assert exact.indices == targets
    assert all(abs(i - t) <= MAX_SHIFT for i, t in zip(clip.indices, targets))
    assert clip.indices == sorted(set(clip.indices))
    assert clip.total_frames == 150 and clip.fps == exact.fps and clip.size == exact.size
    assert clip.frames.shape == exact.frames.shape and clip.duration_s == pytest.approx(exact.duration_s)
    assert clip.timestamps_s == pytest.approx([i / clip.fps for i in clip.indices])


def test_without_b_frames_it_reads_exactly(tmp_path):
    """Every frame is a reference there: nothing to skip, so the exact way (as fast) reads it."""
    path = ffmpeg_write(tmp_path / "p.mp4", (index_frame(i) for i in range(120)), extra=["-bf", "0"])
    clip, exact = read_clip_fast(path, 12), read_clip(path, 12)
    assert clip.method == exact.method == "sequential" and clip.indices == exact.indices
    np.testing.assert_array_equal(clip.frames, exact.frames)


def test_matroska_frames_are_counted_not_estimated(tmp_path):
    """Matroska stores no frame count (OpenCV's is duration x fps, here stretched by a longer audio track): the
    packets are counted, so the targets are those of the true length."""
    video = index_clip(tmp_path / "v.mkv", 150)
    path = tmp_path / "with_audio.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-f", "lavfi", "-i", "sine=duration=7",
                    "-c:v", "copy", "-c:a", "libvorbis", str(path)], check=True)  # fmt: skip
    clip = read_clip_fast(path, 16)
    assert clip.method == "reference frames" and clip.total_frames == 150
    assert [read_index(f) for f in clip.frames] == clip.indices
    assert all(abs(i - t) <= MAX_SHIFT for i, t in zip(clip.indices, uniform_indices(150, 16)))


def test_what_it_does_not_apply_to_is_read_exactly(tmp_path, bframes, monkeypatch):
    cases = {
        "mpeg4.avi": cv2_write(tmp_path / "mpeg4.avi", (index_frame(i) for i in range(90))),  # not H.264
        "vp9.webm": ffmpeg_write(tmp_path / "vp9.webm", (index_frame(i) for i in range(90)), codec="libvpx-vp9"),
        "short.mp4": index_clip(tmp_path / "short.mp4", 40),  # targets closer than MIN_SPACING frames
    }
    for name, path in cases.items():
        clip, exact = read_clip_fast(path, 16), read_clip(path, 16)
        assert clip.method == exact.method != "reference frames", name
        assert clip.indices == exact.indices
        np.testing.assert_array_equal(clip.frames, exact.frames)
    real_import = builtins.__import__

    def no_pyav(name, *args, **kw):
        if name == "av":
            raise ImportError("no PyAV here")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pyav)
    assert read_clip_fast(bframes, 16).indices == read_clip(bframes, 16).indices


def test_a_rotated_phone_clip_is_read_upright(tmp_path):
    phone = rotated_clip(tmp_path / "phone.mp4", 120, 90, size=(96, 128))
    clip, exact = read_clip_fast(phone, 8), read_clip(phone, 8)
    assert clip.method == exact.method and clip.size == exact.size == (96, 128)
    assert [read_index(f) for f in clip.frames] == clip.indices  # upright
    np.testing.assert_array_equal(clip.frames, exact.frames)


def test_limits_hold_as_for_the_exact_reader(bframes, monkeypatch):
    with pytest.raises(VideoError, match="limit here is 2 s"):
        read_clip_fast(bframes, 16, limits=VideoLimits(max_duration_s=2))
    with pytest.raises(VideoError, match="MB; the limit"):
        read_clip_fast(bframes, 16, limits=VideoLimits(max_bytes=100))
    ticks = iter(range(0, 10_000, 5))  # every clock reading 5 s later: the read time limit passes at once
    monkeypatch.setattr(fast_clip.time, "monotonic", lambda: float(next(ticks)))
    with pytest.raises(VideoError, match="took over 3 s"):
        read_clip_fast(bframes, 16, limits=VideoLimits(max_read_s=3))


def test_the_setting_and_both_ways(bframes, monkeypatch):
    assert sampling_setting() == "fast" and sampling_setting("EXACT") == "exact"
    monkeypatch.setenv("HYBRID_SAMPLING", "exact")
    assert sampling_setting() == "exact"
    with pytest.raises(ConfigError, match="HYBRID_SAMPLING"):
        sampling_setting("nearest")
    assert read_clip_as("exact", bframes, 16).indices == uniform_indices(150, 16)
    assert read_clip_as("fast", bframes, 16).method == "reference frames"
