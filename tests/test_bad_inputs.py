"""The bad-input corpus: every file a user may drop gets a clear VideoError (or a right answer where it is valid).

Checked through read_clip, through Recognizer, and through the CLI (exit 2 and one `error:` line, no
traceback; exit 0 and JSON on good files), each refusal within seconds. All files are generated here; the
hostile ones (playlists, external references, lying headers) by hostile.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hostile
import numpy as np
import pytest
import synth
from synth import read_index

from hybrid.cli import main
from hybrid.errors import VideoError
from hybrid.fast_clip import read_clip_fast
from hybrid.video import VideoLimits, read_clip

pytestmark = pytest.mark.skipif(not synth.HAS_FFMPEG, reason="ffmpeg is needed to make the test clips")

SIZE = (128, 64)
AV1 = next((e for e in ("libaom-av1", "libsvtav1", "librav1e") if synth.has_encoder(e)), None)

# name -> (limits, message the error must contain). Made by the `corpus` fixture.
BAD = {
    "empty.mp4": (VideoLimits(), "empty.mp4 is empty (0 bytes)"),
    "notes.mp4": (VideoLimits(), "notes.mp4 is a text file, not a video"),
    "noise.mp4": (VideoLimits(), "noise.mp4 is not a video file this app reads (its bytes are none of MP4/MOV"),
    "cut.mp4": (VideoLimits(), "cut.mp4 is an incomplete MP4/MOV: its index (the 'moov' box) is missing"),
    "cut-faststart.mp4": (VideoLimits(), "cut-faststart.mp4 is truncated or damaged: it should last 6.7 s"),
    "audio.m4a": (VideoLimits(), "audio.m4a has no video track (it is audio only)"),
    "audio.mp4": (VideoLimits(), "audio.mp4 has no video track (it is audio only)"),
    "audio.webm": (VideoLimits(), "audio.webm has no video track (it is audio only)"),
    "av1.mp4": (VideoLimits(), "av1.mp4: no frame could be decoded (its codec, AV1, has no decoder"),
    "long.mp4": (VideoLimits(max_duration_s=5), "long.mp4 lasts 20 s or more; the limit here is 5 s"),
    "big.mp4": (VideoLimits(max_bytes=20_000), "MB; the limit is 0.0 MB"),
    "8k.avi": (VideoLimits(max_side=4096), "8k.avi is 7680x4320; frames larger than 4096 px on a side are refused"),
    "missing.mp4": (VideoLimits(), "missing.mp4: no such file"),
    "folder.mp4": (VideoLimits(), "folder.mp4 is not a regular file"),
    # files that name other files or URLs: refused from their bytes, before FFmpeg opens anything
    "self.m3u8": (VideoLimits(), "self.m3u8 is an HLS/M3U playlist: it names other files or URLs"),
    "local.m3u8": (VideoLimits(), "local.m3u8 is an HLS/M3U playlist"),
    "live.m3u8": (VideoLimits(), "live.m3u8 is an HLS/M3U playlist"),
    "playlist.mp4": (VideoLimits(), "playlist.mp4 is an HLS/M3U playlist"),
    "list.m3u": (VideoLimits(), "list.m3u is a text file, not a video"),
    "concat.mp4": (VideoLimits(), "concat.mp4 is an FFmpeg concat script: it names other files"),
    "stream.sdp": (VideoLimits(), "stream.sdp is an SDP session description (a network stream)"),
    "manifest.mpd": (VideoLimits(), "manifest.mpd is a DASH manifest (.mpd)"),
    "dref.mp4": (VideoLimits(), "dref.mp4 is an MP4/MOV whose video data lies in another file or URL"),
    # headers that lie, damage that once got the wrong words
    "huge.png": (VideoLimits(), "huge.png is a still image (PNG), not a video"),
    "huge.gif": (VideoLimits(), "huge.gif declares 65535x65535 frames; larger than 8192 px on a side are refused"),
    "headless.ts": (VideoLimits(), "headless.ts is a damaged MPEG-TS file: it starts in the middle of a packet"),
    "blank.mp4": (VideoLimits(), "blank.mp4: no frame could be decoded: the file is damaged (its H.264 video"),
    "sparse.mkv": (VideoLimits(max_duration_s=60), "sparse.mkv lasts 120 s or more; the limit here is 60 s"),
}
GOOD = ["one.mp4", "8k.avi", "phone.mp4", "browser.webm"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad_inputs")
    (d / "empty.mp4").touch()
    (d / "folder.mp4").mkdir()
    (d / "notes.mp4").write_text("Shopping list\n- eggs\n- milk\n")
    (d / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    full = synth.index_clip(d / "full.mp4", 200, 30, SIZE).read_bytes()  # moov at the end
    (d / "cut.mp4").write_bytes(full[: len(full) * 6 // 10])
    fast = synth.index_clip(d / "fast.mp4", 200, 30, SIZE, extra=["-movflags", "+faststart"]).read_bytes()
    (d / "cut-faststart.mp4").write_bytes(fast[: len(fast) // 2])  # moov first: half the frames decode
    synth.audio_only(d / "audio.m4a")
    synth.audio_only(d / "audio.mp4")
    synth._run(
        ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus", str(d / "audio.webm")]
    )
    if AV1:
        extra = {"libaom-av1": ["-cpu-used", "8"], "libsvtav1": ["-preset", "12"]}.get(AV1, [])
        synth.index_clip(d / "av1.mp4", 10, 30, SIZE, AV1, extra=extra)
    synth.lavfi_clip(d / "long.mp4", 20)
    synth.lavfi_clip(d / "big.mp4", 10, size=(320, 240), extra=["-crf", "10"])
    eight_k = np.zeros((4320, 7680, 3), np.uint8)
    eight_k[:2160] = 255  # white top half: the picture survives the downscale
    synth.cv2_write(d / "8k.avi", [eight_k, eight_k], 10, "MJPG")
    synth.index_clip(d / "one.mp4", 1, 30, SIZE)
    synth.rotated_clip(d / "phone.mp4", 30, 90, size=(96, 128))
    synth.browser_webm(d / "browser.webm", 60, 30, SIZE)
    hostile.write_corpus(d, synth.lavfi_clip(d / "segment.ts", 3, size=(128, 96)))  # a real file they point at
    return d


def bad_case(corpus: Path, name: str) -> tuple[Path, VideoLimits, str]:
    if name == "av1.mp4" and not AV1:
        pytest.skip("this ffmpeg has no AV1 encoder")
    limits, msg = BAD[name]
    return corpus / name, limits, msg


@pytest.mark.parametrize("reader", [read_clip, read_clip_fast], ids=["exact", "fast"])
@pytest.mark.parametrize("name", BAD)
def test_read_clip_refuses_with_a_clear_message(corpus, name, reader):
    path, limits, msg = bad_case(corpus, name)
    t0 = time.monotonic()
    with pytest.raises(VideoError) as e:
        reader(path, 16, limits=limits)
    assert msg in str(e.value)
    assert time.monotonic() - t0 < 5


PLAYLISTS = ["local.m3u8", "playlist.mp4", "concat.mp4", "list.m3u", "manifest.mpd", "stream.sdp"]


@pytest.mark.parametrize("name", PLAYLISTS)
def test_ffmpeg_itself_opens_no_playlist_once_the_reader_is_imported(corpus, name):
    """The second wall: the sniff aside, OpenCV's FFmpeg opens only local files with allow-listed demuxers.
    The control (a fresh interpreter without those options) shows these files do reach the server-side clip."""
    probe = (
        "import sys, cv2\n"
        "if sys.argv[2] == 'restricted': import hybrid.video\n"
        "cap = cv2.VideoCapture(sys.argv[1], cv2.CAP_FFMPEG)\n"
        "print(sum(1 for _ in iter(cap.grab, False)) if cap.isOpened() else -1)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_CAPTURE_OPTIONS"}
    root = Path(__file__).resolve().parents[1]

    def frames(mode: str) -> int:
        cmd = [sys.executable, "-c", probe, str(corpus / name), mode]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=60)
        return int(out.stdout.strip().splitlines()[-1])

    if name == "local.m3u8":  # (FFmpeg's own probe takes HLS only by its extension: .m3u8 is the hole)
        assert frames("bare") == 30  # the segment's 30 frames: without the options FFmpeg follows the playlist
    assert frames("restricted") == -1


def test_read_clip_answers_valid_odd_inputs(corpus):
    one = read_clip(corpus / "one.mp4", 16)
    assert one.total_frames == 1 and one.indices == [0] * 16 and read_index(one.frames[0]) == 0

    big = read_clip(corpus / "8k.avi", 16)  # 8K is under the default max_side (8192)
    assert big.size == (7680, 4320) and big.frames.shape == (16, 270, 480, 3)
    assert big.frames[:, :100].min() > 200 and big.frames[:, -100:].max() < 50  # white top, black bottom

    phone = read_clip(corpus / "phone.mp4", 8)
    assert phone.size == (96, 128) and phone.frames.shape[1:3] == (128, 96)
    assert [read_index(f) for f in phone.frames] == phone.indices  # upright

    rec = read_clip(corpus / "browser.webm", 8)
    assert rec.method == "scan" and rec.total_frames == 60
    assert [read_index(f) for f in rec.frames] == rec.indices


def test_the_library_leaves_no_files_behind(corpus, tmp_path, monkeypatch):
    before = sorted(os.listdir(corpus))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for name in [*BAD, *GOOD]:
        try:
            read_clip(corpus / name, 8, limits=BAD.get(name, (VideoLimits(), ""))[0])
        except VideoError:
            pass
    assert sorted(os.listdir(corpus)) == before and not os.listdir(scratch)


@pytest.fixture(scope="module")
def recognizer(tiny_model_dir):
    from hybrid.pipeline import Recognizer

    return Recognizer(tiny_model_dir, engine="torch")


@pytest.mark.parametrize("name", BAD)
def test_recognizer_refuses_with_a_clear_message(corpus, recognizer, name, monkeypatch):
    path, limits, msg = bad_case(corpus, name)
    monkeypatch.setattr(recognizer, "limits", limits)
    with pytest.raises(VideoError) as e:
        recognizer(path)
    assert msg in str(e.value)


@pytest.mark.parametrize("name", GOOD)
def test_recognizer_answers_valid_odd_inputs(corpus, recognizer, name):
    pred = recognizer(corpus / name)
    assert pred.label in recognizer.labels and len(pred.indices) == 4
    assert pred.frames.shape[0] == 4 and np.isfinite(pred.step_probs).all()


# name -> extra CLI arguments (only limits the CLI has: --max-duration)
CLI_BAD = {name: [] for name in BAD if name not in ("big.mp4", "8k.avi", "long.mp4", "sparse.mkv")} | {
    "long.mp4": ["--max-duration", "5"],
    "sparse.mkv": ["--max-duration", "60"],
}


@pytest.mark.parametrize("name", CLI_BAD)
def test_cli_prints_one_error_line_and_exits_2(corpus, tiny_model_dir, name, capsys, monkeypatch):
    monkeypatch.setenv("HYBRID_ENGINE", "torch")
    path, _, msg = bad_case(corpus, name)
    rc = main(["predict", str(path), "--model", str(tiny_model_dir), *CLI_BAD[name]])
    out = capsys.readouterr()
    assert rc == 2 and out.out == ""
    assert out.err.startswith("error: ") and msg in out.err and "Traceback" not in out.err


@pytest.mark.parametrize("name", GOOD)
def test_cli_json_on_valid_odd_inputs(corpus, tiny_model_dir, name, capsys, monkeypatch):
    monkeypatch.setenv("HYBRID_ENGINE", "torch")
    assert main(["predict", str(corpus / name), "--model", str(tiny_model_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 4 and out["video"]["width"] > 0 and out["video"]["total_frames"] >= 1


def test_cli_subprocess_bad_and_good_file(corpus, tiny_model_dir):
    env = {**os.environ, "HYBRID_ENGINE": "torch"}
    root = Path(__file__).resolve().parents[1]

    def start(name: str, *extra: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "hybrid", "predict", str(corpus / name), "--model", str(tiny_model_dir), *extra]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, env=env)

    bad, good = start("notes.mp4"), start("browser.webm", "--json")  # side by side: each pays the torch import
    bad_out, bad_err = bad.communicate(timeout=300)
    good_out, good_err = good.communicate(timeout=300)

    assert bad.returncode == 2 and bad_out == ""
    assert bad_err == "error: notes.mp4 is a text file, not a video\n"  # one line: no traceback, no log noise

    assert good.returncode == 0, good_err
    out = json.loads(good_out)
    assert out["label"] in ("alpha", "beta", "gamma") and out["frames"] == 4 and len(out["topk"]) == 3
    assert out["video"]["total_frames"] == 60 and out["video"]["sampling"] == "scan"


@pytest.mark.parametrize("command", ["predict", "timeline"])
def test_cli_refuses_a_bad_file_before_torch_loads(corpus, tiny_model_dir, command):
    """A refused file costs the CLI a fraction of a second, not the 5-13 s and ~775 MB of torch and the model."""
    probe = (
        "import sys\n"
        "from hybrid.cli import main\n"
        "rc = main([sys.argv[1], sys.argv[2], '--model', sys.argv[3]])\n"
        "print(rc, 'torch' in sys.modules, 'timm' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-c", probe, command, str(corpus / "self.m3u8"), str(tiny_model_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=120)
    assert out.stdout.split() == ["2", "False", "False"], out.stderr
    assert out.stderr.startswith("error: self.m3u8 is an HLS/M3U playlist")


APP_BAD = [n for n, (lim, _) in BAD.items() if lim == VideoLimits() and n != "huge.gif"] + ["sparse.mkv"]


@pytest.mark.parametrize("name", APP_BAD)
def test_the_app_refuses_with_the_same_words(app_ctx, corpus, app_env, name):
    from hybrid.app import clip
    from hybrid.app.errors import AppError

    path, _, msg = bad_case(corpus, name)
    with pytest.raises(AppError) as e:
        clip.classify(app_ctx, str(path), app_env, "")
    assert msg in e.value.message and e.value.title in ("Can't use this video", "Can't read this video")


def test_the_whole_corpus_is_refused_with_memory_flat(corpus):
    """Every bad file, read in a fresh process capped at 3 GB of address space: each refused within seconds, the
    peak resident memory within 150 MB of what the process had before (a self-naming playlist once took GBs)."""
    probe = (
        "import json, resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from hybrid.video import VideoLimits, read_clip\n"
        "from hybrid.errors import VideoError\n"
        "def peak():\n"
        "    return int(dict(l.split(':', 1) for l in open('/proc/self/status'))['VmHWM'].split()[0]) // 1024\n"
        "base, slow = peak(), []\n"
        "for path in sys.argv[1:]:\n"
        "    t0 = time.monotonic()\n"
        "    try:\n"
        "        read_clip(path, 16, limits=VideoLimits(max_duration_s=60))\n"
        "    except VideoError:\n"
        "        pass\n"
        "    if time.monotonic() - t0 > 5: slow.append(path)\n"
        "print(json.dumps({'base': base, 'peak': peak(), 'slow': slow}))\n"
    )
    names = [n for n in BAD if n not in ("8k.avi", "av1.mp4", "big.mp4")]  # (8K frames are big by design)
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-c", probe, *(str(corpus / n) for n in names)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["slow"] == [] and result["peak"] - result["base"] < 150, result
