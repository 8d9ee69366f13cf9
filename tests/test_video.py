"""hybrid.video on clips the tests make: every frame returned is the one its index names, spread over the whole clip.

Index-coded clips (synth.index_frame) let each test read back which frame it got. Short clips take the
sequential path; SEEK_MIN_FRAMES patched to 1 sends the same clips down the seek path.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np
import pytest
import synth
from conftest import shared_data
from synth import read_index

from hybrid import video
from hybrid.errors import VideoError
from hybrid.video import VideoLimits, iter_frames, read_clip, uniform_indices

pytestmark = pytest.mark.skipif(not synth.HAS_FFMPEG, reason="ffmpeg is needed to make the test clips")

T = 16
N = 90  # frames in the small clips (3 s at 30 fps)
SIZE = (128, 64)  # (w, h): small to encode fast, wide enough for the 12 index bars

# id -> (file name, ffmpeg encoder, extra output args); all are index-coded, N frames at 30 fps
FFMPEG_CLIPS = {
    "h264-mp4": ("c.mp4", "libx264", None),
    "h264-gop15-mp4": ("c.mp4", "libx264", ["-g", "15"]),
    "hevc-mp4": ("c.mp4", "libx265", ["-x265-params", "log-level=error"]),
    "vp8-webm": ("c.webm", "libvpx", None),
    "vp9-webm": ("c.webm", "libvpx-vp9", None),
    "mpeg4-avi": ("c.avi", "mpeg4", None),
    "h264-mov": ("c.mov", "libx264", None),
    "h264-mkv": ("c.mkv", "libx264", None),
}
CLIPS = [*FFMPEG_CLIPS, "mjpg-avi-cv2", "browser-vp8-webm", "browser-vp9-webm"]


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    """make(kind) -> path of that index-coded clip (built once per module)."""
    folder, made = tmp_path_factory.mktemp("video"), {}

    def build(kind: str):
        if kind not in made:
            path = folder / kind
            path.mkdir()
            if kind in FFMPEG_CLIPS:
                name, codec, extra = FFMPEG_CLIPS[kind]
                if not synth.has_encoder(codec):
                    pytest.skip(f"this ffmpeg has no {codec} encoder")
                made[kind] = synth.index_clip(path / name, N, 30, SIZE, codec, extra=extra)
            elif kind == "mjpg-avi-cv2":
                frames = (synth.index_frame(i, SIZE) for i in range(N))
                made[kind] = synth.cv2_write(path / "c.avi", frames, 30, "MJPG")
            elif kind.startswith("browser-"):
                codec = "libvpx" if "vp8" in kind else "libvpx-vp9"
                made[kind] = synth.browser_webm(path / "c.webm", N, 30, SIZE, codec)
        return made[kind]

    return build


def check_clip(clip, n: int, num: int = T, size=SIZE, time=lambda i: i / 30) -> None:
    """Frames are exactly the indexed ones, one from each 1/num segment of the whole clip."""
    w, h = size
    assert clip.frames.shape == (num, h, w, 3) and clip.frames.dtype == np.uint8
    assert [read_index(f) for f in clip.frames] == clip.indices
    assert clip.total_frames == n
    assert clip.size == (w, h)
    for i, idx in enumerate(clip.indices):  # the whole clip is covered, never just its start
        assert math.floor(i * n / num) <= idx < math.ceil((i + 1) * n / num), (i, idx)
    assert clip.indices == sorted(clip.indices)
    assert np.allclose(clip.timestamps_s, [time(i) for i in clip.indices], atol=1e-3)


@pytest.mark.parametrize("kind", CLIPS)
def test_sequential_read_is_exact_for_every_container(make, kind):
    clip = read_clip(make(kind), T)
    check_clip(clip, N, time=synth.browser_time if kind.startswith("browser-") else lambda i: i / 30)
    if kind.startswith("browser-"):
        assert clip.method == "scan"  # fps 1000 and a negative frame count: only decoding tells
    else:
        assert clip.method == "sequential"
        assert clip.indices == uniform_indices(N, T)
        assert clip.fps == pytest.approx(30, abs=0.01) and clip.duration_s == pytest.approx(N / 30, abs=0.01)


@pytest.mark.parametrize("kind", [k for k in CLIPS if not k.startswith("browser-")])
def test_seek_read_is_exact_for_every_container(make, kind, monkeypatch):
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    clip = read_clip(make(kind), T)
    check_clip(clip, N)
    assert clip.method == "seek" and clip.indices == uniform_indices(N, T)


def test_browser_webm_metadata_is_broken_as_in_real_recordings(make):
    cap = cv2.VideoCapture(str(make("browser-vp8-webm")), cv2.CAP_FFMPEG)
    fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    cap.release()
    assert fps == 1000 and count < 0  # what OpenCV reports for Chrome/Firefox MediaRecorder files


def test_long_clip_takes_the_seek_path_with_default_settings(tmp_path):
    n = video.SEEK_MIN_FRAMES + 40
    path = synth.index_clip(tmp_path / "long.mp4", n, 30, SIZE)  # x264's default GOP: 250
    clip = read_clip(path, T)
    check_clip(clip, n)
    assert clip.method == "seek" and clip.indices == uniform_indices(n, T)


def test_matroska_count_past_the_video_end_short_clip(tmp_path):
    """flipping_a_pancake.mkv case: the audio outlasts the video, so duration x fps overcounts."""
    src = synth.index_clip(tmp_path / "v.mp4", N, 30, SIZE)
    path = synth.with_audio(src, tmp_path / "a.mkv", N / 30 + 0.1)  # count reads N + 3
    clip = read_clip(path, T)
    check_clip(clip, N)  # the frames taken for the claimed count still lie one per segment
    assert clip.method == "sequential"


def test_matroska_count_far_past_the_video_end(tmp_path):
    src = synth.index_clip(tmp_path / "v.mp4", N, 30, SIZE)
    path = synth.with_audio(src, tmp_path / "a.mkv", 2 * N / 30)  # claims twice the frames
    clip = read_clip(path, T)
    check_clip(clip, N)
    assert clip.indices == uniform_indices(N, T)  # a second pass with the decoded count


def test_matroska_count_past_the_end_on_the_seek_path(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    src = synth.index_clip(tmp_path / "v.mp4", N, 30, SIZE, extra=["-g", "10"])
    path = synth.with_audio(src, tmp_path / "a.mkv", N / 30 + 0.5)
    clip = read_clip(path, T)
    check_clip(clip, N)
    assert clip.method == "seek" and clip.indices == uniform_indices(N, T)  # the end probe found the real end


def test_timestamp_gaps_fall_back_to_decoding_in_order(tmp_path, monkeypatch):
    """Seeks land by timestamp; where timestamps skip (dropped frames) they are caught and not used."""
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    path = synth.gapped_clip(tmp_path / "gap.mp4", N, gap_at=45, gap=10, size=SIZE)
    clip = read_clip(path, T)
    assert clip.method == "sequential" and clip.indices == uniform_indices(N, T)
    assert [read_index(f) for f in clip.frames] == clip.indices and clip.total_frames == N


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_phone_rotation_is_applied(tmp_path, rotate):
    upright = (96, 128) if rotate != 180 else (128, 96)  # displayed (w, h)
    path = synth.rotated_clip(tmp_path / "phone.mp4", 40, rotate, size=upright)
    clip = read_clip(path, 8)
    check_clip(clip, 40, num=8, size=upright)  # bars read back only if the frames are upright
    assert clip.size == upright


def test_keep_side_downscales_and_none_keeps_full_size(make):
    path = make("h264-mp4")
    small = read_clip(path, 4, keep_side=96)
    assert small.frames.shape == (4, 48, 96, 3)
    assert [read_index(f) for f in small.frames] == small.indices
    assert small.size == SIZE  # the file's size, not the returned frames'
    full = read_clip(path, 4, keep_side=None)
    assert full.frames.shape == (4, 64, 128, 3)


def test_shrink_matches_area_filter_on_smooth_images():
    y, x = np.mgrid[0:720, 0:1280]
    img = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 3)
    ours = video.shrink(img, 480)
    ref = cv2.cvtColor(cv2.resize(img, (480, 270), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    assert ours.shape == ref.shape == (270, 480, 3)
    assert np.abs(ours.astype(int) - ref).mean() < 2.0


def test_single_frame_video(tmp_path):
    path = synth.index_clip(tmp_path / "one.mp4", 1, 30, SIZE)
    clip = read_clip(path, T)
    assert clip.total_frames == 1 and clip.indices == [0] * T
    assert all(read_index(f) == 0 for f in clip.frames)


def test_more_samples_than_frames(make):
    clip = read_clip(make("vp9-webm"), 2 * N)
    assert clip.total_frames == N and len(clip.indices) == 2 * N
    assert sorted(set(clip.indices)) == list(range(N))


# ---------------------------------------------------------------- memory bound of the scan


def test_decimator_holds_a_bounded_even_grid():
    keep = video._Decimator(64)
    for i in range(10_000):
        if keep.wants(i):
            keep.add(i, i)
    assert keep.peak <= 65
    kept = sorted(keep.items)
    assert kept[0] == 0 and all(b - a == keep.stride for a, b in zip(kept, kept[1:]))
    assert 10_000 - kept[-1] <= keep.stride and keep.stride <= 2 * 10_000 / 64


def test_scan_holds_at_most_its_budget_of_frames(tmp_path, monkeypatch):
    made = []

    class Spy(video._Decimator):
        def __init__(self, budget):
            super().__init__(budget)
            made.append(self)

    monkeypatch.setattr(video, "_Decimator", Spy)
    n = 200
    clip = read_clip(synth.browser_webm(tmp_path / "rec.webm", n, 30, SIZE), 8)
    check_clip(clip, n, num=8, time=synth.browser_time)
    (keep,) = made
    assert keep.budget == video.SCAN_MIN_BUDGET and keep.peak <= keep.budget + 1 and keep.stride >= 4


# ---------------------------------------------------------------- limits


def test_duration_limit(tmp_path):
    path = synth.lavfi_clip(tmp_path / "20s.mp4", 20)
    with pytest.raises(VideoError, match=r"lasts 2\d s or more; the limit here is 5 s"):
        read_clip(path, T, limits=VideoLimits(max_duration_s=5))
    assert read_clip(path, T, limits=VideoLimits(max_duration_s=30)).duration_s == pytest.approx(20)


def test_duration_limit_long_clip_refused_from_the_verified_end(tmp_path):
    path = synth.lavfi_clip(tmp_path / "long.mp4", 300, fps=5)  # 1500 frames
    with pytest.raises(VideoError, match=r"lasts 300 s or more; the limit here is 60 s"):
        read_clip(path, T, limits=VideoLimits(max_duration_s=60))


def test_duration_limit_without_metadata(make):
    with pytest.raises(VideoError, match="the limit here is 1 s"):
        read_clip(make("browser-vp8-webm"), T, limits=VideoLimits(max_duration_s=1))


def test_size_limits(make):
    path = make("h264-mp4")
    with pytest.raises(VideoError, match="128x64; frames larger than 100 px"):
        read_clip(path, T, limits=VideoLimits(max_side=100))
    with pytest.raises(VideoError, match=r"MB; the limit is 0\.0 MB"):
        read_clip(path, T, limits=VideoLimits(max_bytes=10))


# ---------------------------------------------------------------- iter_frames


def test_iter_frames_at_a_lower_rate(make):
    out = list(iter_frames(make("h264-mp4"), 10))
    assert [i for i, _, _ in out] == list(range(0, N, 3))
    assert all(read_index(f) == i and f.shape == (64, 128, 3) for i, _, f in out)
    assert np.allclose([t for _, t, _ in out], [i / 30 for i, _, _ in out], atol=1e-3)


def test_iter_frames_every_frame(make):
    out = list(iter_frames(make("mpeg4-avi"), None))
    assert [i for i, _, _ in out] == list(range(N)) and all(read_index(f) == i for i, _, f in out)


def test_iter_frames_on_broken_metadata_webm_uses_timestamps(make):
    out = list(iter_frames(make("browser-vp9-webm"), 10))
    times = np.array([t for _, t, _ in out])
    assert all(read_index(f) == i for i, _, f in out)
    assert np.allclose(times, [synth.browser_time(i) for i, _, _ in out], atol=1e-3)
    assert abs(len(out) - N / 30 * 10) <= 2
    assert np.all(np.diff(times) > 0.05) and np.all(np.diff(times) < 0.15)


def test_iter_frames_errors(make, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(VideoError, match="text file"):
        next(iter_frames(text, 5))
    with pytest.raises(VideoError, match="the limit here is 1 s"):  # mid-way: no metadata to refuse it up front
        list(iter_frames(make("browser-vp8-webm"), 5, limits=VideoLimits(max_duration_s=1)))
    long = synth.lavfi_clip(tmp_path / "long.mp4", 30)
    frames = iter_frames(long, 1, limits=VideoLimits(max_duration_s=5))
    with pytest.raises(VideoError, match="lasts 30 s"):  # before the first frame: the count is verified
        next(frames)


def test_iter_frames_stops_early_cleanly(make):
    frames = iter_frames(make("vp8-webm"), None)
    assert next(frames)[0] == 0
    frames.close()  # releases the capture (the generator's finally)


# ---------------------------------------------------------------- real clips


@pytest.mark.data
@pytest.mark.parametrize(
    "name, size",
    [
        ("demo.mp4", (340, 256)),
        ("test.mp4", (340, 256)),
        ("flipping_a_pancake.mkv", (426, 240)),
        ("S001C001P001R001A001_rgb.avi", (1920, 1080)),
    ],
)
@pytest.mark.parametrize("seek", [False, True])
def test_real_demo_clips(name, size, seek, monkeypatch):
    path = shared_data("demo-clips") / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    if seek:
        monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    clip = read_clip(path, T)
    counted = sum(1 for _ in iter(cv2.VideoCapture(str(path), cv2.CAP_FFMPEG).grab, False))
    assert clip.total_frames == counted and clip.size == size
    assert max(clip.frames.shape[1:3]) == min(480, max(size))
    n = clip.total_frames
    assert all(math.floor(i * n / T) <= x < math.ceil((i + 1) * n / T) for i, x in enumerate(clip.indices))
    assert len({f.tobytes() for f in clip.frames}) > 1
    if name.endswith(".mkv"):  # 311 claimed (audio outlasts the video), 310 real
        assert clip.method == ("seek" if seek else "sequential") and n == 310


def test_reading_past_its_deadline_stops_with_a_clear_message(tmp_path):
    path = synth.lavfi_clip(tmp_path / "slow.mp4", 4)
    assert read_clip(path, 8, limits=VideoLimits(max_read_s=60)).total_frames == 40
    with pytest.raises(VideoError, match=r"slow.mp4: reading it took over 0 s, the limit here"):
        read_clip(path, 8, limits=VideoLimits(max_read_s=1e-6))
    with pytest.raises(VideoError, match="reading it took over"):
        for _ in iter_frames(path, 10, limits=VideoLimits(max_read_s=0.05)):
            time.sleep(0.02)  # a slow consumer (the CNN) counts too: the deadline is the request's
