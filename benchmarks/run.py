"""Speed and memory of the hybrid pipeline on this machine, with VideoMAE-base as the yardstick.

    python benchmarks/run.py [--quick] [--json] [--threads N] [--workdir DIR] [--skip-app] [--skip-long]

Makes its own clips with ffmpeg (a 10 s 720p H.264 clip; 1 min and 60 min 1080p clips made by stream-copy
concatenation), then measures:
- clip_latency_s: path -> Prediction with Recognizer (model loaded once, as the app and CLI keep it), median
  of several runs, with the decode / preprocess / cnn / rnn breakdown; also with the PyTorch engine and bf16.
- videomae_latency_s: the same clip through transformers' video-classification pipeline with VideoMAE-base
  (random init, 16 frames, 224 px), same threads; videomae_speedup = videomae / ours.
- cnn_share: the CNN's part of our clip time.
- limit / clip_over_limit: the fastest decode that yields the sampled frames plus the CNN alone, and how far the
  clip's latency is above it.
- long_video_peak_rss_mb: peak RSS of a fresh process predicting the 60 min 1080p clip (and the 1 min one), with
  the model already exported (the compiled path every start after the first takes).
- stream_fps / stream_latency_ms: per-frame compute of a live path (CNN on one frame + one RNN step).
- cli_cold_s / cli_refused_s: `python -m hybrid predict` on the 10 s clip in fresh processes (after the first run
  exported the model), beside the PyTorch way (HYBRID_ENGINE=torch), and on a text file named .mp4.
- timeline_x_real_time: `python -m hybrid timeline` on a 10 min 1080p clip in a fresh process (compiled path).
- app_request_s: gradio_client round trip for the 10 s clip against `python app.py` (when app.py exists).
Progress goes to stderr; with --json the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABELS = ["hand_shaking", "hugging", "kicking", "pointing", "punching", "pushing"]  # the default model's shape


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-nostdin", *args], check=True)


def timed(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[list[float], list[Any]]:
    """Durations (s) and results of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times, results = [], []
    for _ in range(runs):
        t = time.perf_counter()
        results.append(fn())
        times.append(time.perf_counter() - t)
    return times, results


def med(values) -> float:
    return float(statistics.median(values))


# --- inputs ------------------------------------------------------------------------------------------------
def make_clip_720p(folder: Path) -> Path:
    """10 s, 1280x720, 30 fps, H.264 (libx264 defaults: preset medium, crf 23, keyframe every 250 frames)."""
    path = folder / "clip_720p_10s.mp4"
    if not path.is_file():
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=10",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    return path


def make_long_1080p(folder: Path, minutes: int) -> Path:
    """`minutes` of 1080p30 H.264: one cheap 1 min segment (testsrc, low bitrate) repeated by stream copy."""
    seg = folder / "seg_1080p_1min.mp4"
    if not seg.is_file():
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=30:duration=60", "-c:v", "libx264",
               "-preset", "ultrafast", "-b:v", "1M", "-pix_fmt", "yuv420p", str(seg))  # fmt: skip
    if minutes == 1:
        return seg
    path = folder / f"long_1080p_{minutes}min.mp4"
    if not path.is_file():
        listing = folder / "concat.txt"
        listing.write_text("".join(f"file '{seg.name}'\n" for _ in range(minutes)))
        ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(path))
    return path


def bench_model(folder: Path):
    """(model, model folder, where it came from): the bundled default model, else one of its real shape."""
    from hybrid import HybridCNNRNN, ModelError
    from hybrid.model_dir import default_model_dir

    try:
        src = default_model_dir()
        where = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src
        return HybridCNNRNN.from_pretrained(src), src, f"bundled: {where}"
    except ModelError:
        pass
    import torch

    torch.manual_seed(0)
    model = HybridCNNRNN(labels=LABELS, backbone_pretrained="imagenet-package", num_frames=16)
    out = folder / "model"
    model.save_pretrained(out)
    return model, out, "stand-in: Lite0 ImageNet backbone + random GRU head, 16 frames of 224x224"


# --- ours --------------------------------------------------------------------------------------------------
def bench_ours(model, clip: Path, runs: int, engine: str, precision: str) -> dict[str, Any]:
    from hybrid.pipeline import Recognizer

    rec = Recognizer(model, engine=engine, precision=precision)
    times, preds = timed(lambda: rec(clip), runs)
    parts = {k: round(med(p.timings_ms[k] for p in preds), 1) for k in ("decode", "preprocess", "cnn", "rnn")}
    total = med(p.timings_ms["total"] for p in preds)
    parts["other"] = round(total - sum(parts.values()), 1)
    return {
        "engine": rec.engine.name,
        "precision": rec.engine.precision,
        "latency_s": round(med(times), 4),
        "latency_min_s": round(min(times), 4),
        "cnn_share": round(parts["cnn"] / total, 3),
        "breakdown_ms": parts,
        "sampling": preds[-1].video["sampling"],
        "label": preds[-1].label,
    }


def bench_cnn_engines(model, clip: Path, runs: int) -> dict[str, float]:
    """The CNN alone on the clip's 16 preprocessed frames, every engine side by side (ms, median)."""
    import torch

    from hybrid.runtime import cached_onnx, make_engine
    from hybrid.transforms import preprocess
    from hybrid.video import read_clip

    x = preprocess(read_clip(clip, model.num_frames).frames, model.config)
    out = {}
    with torch.inference_mode():
        for name, engine, precision in [("torch_fp32", "torch", "fp32"), ("openvino_fp32", "openvino", "fp32"),
                                        ("openvino_bf16", "openvino", "bf16")]:  # fmt: skip
            e = make_engine(model, engine, precision)
            out[name] = round(med(timed(lambda e=e: e.frame_maps(x), runs)[0]) * 1000, 1)
    try:  # ONNX Runtime on the same exported graph, when it is installed (benchmarks/requirements.txt)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = torch.get_num_threads(), 1
        sess = ort.InferenceSession(str(cached_onnx(model)), so, providers=["CPUExecutionProvider"])
        nhwc = x.permute(0, 2, 3, 1).contiguous().numpy()
        out["onnxruntime_fp32"] = round(med(timed(lambda: sess.run(None, {"frames": nhwc}), runs)[0]) * 1000, 1)
    except ImportError:
        pass
    return out


def bench_stream(model, clip: Path, frames: int, engine: str, precision: str) -> dict[str, Any]:
    """Live-path cost per frame on decoded 720p frames, every frame taken (the most it can keep up with):
    LiveSession.offer (preprocess, CNN on 1 frame, RNN step per lane), through live_measure.measure."""
    import cv2
    import torch
    from live_measure import measure

    from hybrid.runtime import make_engine

    cap = cv2.VideoCapture(str(clip))
    raw = []
    while len(raw) < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        raw.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    model.eval().to(memory_format=torch.channels_last)
    out = {k: float(v) for k, v in measure(model, raw, make_engine(model, engine, precision)).items()}
    return {**out, "stream_note": "LiveSession.offer on every decoded 720p frame"}


# --- the machine's limit for the clip -----------------------------------------------------------------------
def decode_only(clip: Path, skip: str, threads: str = "FRAME") -> int:
    """Decode `clip` with PyAV and nothing else (no colour conversion, no copy): how many frames came out."""
    import av

    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        stream.codec_context.skip_frame, stream.thread_type = skip, threads
        return sum(1 for _ in c.decode(stream))


def bench_limit(clip: Path, runs: int, cnn_ms: float, latency_s: float) -> dict[str, Any]:
    """What the clip can't go below on this machine: the fastest decode that still yields the sampled frames
    (the fast sampling's: every reference frame; the exact sampling's: every frame), fastest of PyAV with frame
    threads, PyAV on one thread and OpenCV's grab(), plus the CNN alone on the 16 frames (OpenVINO fp32, from
    cnn_engines_ms_16_frames). `clip_over_limit`: clip_latency_s / that sum."""
    import cv2

    def opencv_grab() -> int:
        cap, n = cv2.VideoCapture(str(clip)), 0
        while cap.grab():
            n += 1
        cap.release()
        return n

    ways = {
        "pyav_nonref_frame_threads": lambda: decode_only(clip, "NONREF"),
        "pyav_nonref_one_thread": lambda: decode_only(clip, "NONREF", "SLICE"),
        "pyav_all_frame_threads": lambda: decode_only(clip, "DEFAULT"),
        "opencv_grab_all": opencv_grab,
    }
    ms = {name: round(med(timed(fn, runs)[0]) * 1000, 1) for name, fn in ways.items()}
    reference = min(ms["pyav_nonref_frame_threads"], ms["pyav_nonref_one_thread"])
    every = min(ms["pyav_all_frame_threads"], ms["opencv_grab_all"])
    limit_s = (reference + cnn_ms) / 1000
    return {
        "decode_only_ms": ms,
        "limit_s": round(limit_s, 4),
        "limit_exact_sampling_s": round((every + cnn_ms) / 1000, 4),
        "clip_over_limit": round(latency_s / limit_s, 2),
    }


# --- VideoMAE ----------------------------------------------------------------------------------------------
def bench_videomae(clip: Path, runs: int, ours: Callable[[], Any]) -> dict[str, Any]:
    """transformers' video-classification pipeline, VideoMAE-base shape, random weights (speed only).

    Each VideoMAE run is paired with one of ours (`ours()` -> Prediction) right after it, so both
    see the same load from whatever else runs on the machine; the speedups are ratios of medians."""
    import torch
    import transformers
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessor, pipeline

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = VideoMAEConfig(num_labels=6, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model = VideoMAEForVideoClassification(cfg).eval()
    pipe = pipeline("video-classification", model=model, image_processor=VideoMAEImageProcessor(), device="cpu")
    x = torch.randn(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    pipe(str(clip)), ours()  # warm up
    vm, fwd, mine, compute = [], [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        pipe(str(clip))
        vm.append(time.perf_counter() - t)
        t = time.perf_counter()
        pred = ours()
        mine.append(time.perf_counter() - t)
        compute.append((pred.timings_ms["cnn"] + pred.timings_ms["rnn"]) / 1000)
        with torch.inference_mode():
            t = time.perf_counter()
            model(pixel_values=x)
            fwd.append(time.perf_counter() - t)
    return {
        "videomae_latency_s": round(med(vm), 4),
        "videomae_speedup": round(med(vm) / med(mine), 2),
        "videomae_forward_s": round(med(fwd), 4),
        "videomae_compute_speedup": round(med(fwd) / med(compute), 1),  # the models alone: forward vs CNN+RNN
        "ours_latency_paired_s": round(med(mine), 4),
        "videomae_params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "transformers": transformers.__version__,
    }


# --- memory on long videos (fresh processes) ---------------------------------------------------------------
# `python -m hybrid ARGS`, then this process's peak resident memory (VmHWM starts afresh at exec; ru_maxrss
# from wait4 would also count the parent's pages at fork time, and this script's parent holds VideoMAE)
_CLI_WITH_PEAK = """import runpy, sys
try:
    runpy.run_module("hybrid", run_name="__main__", alter_sys=True)
finally:
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print("PEAK_KB", peak.split()[1], file=sys.stderr)
"""


def run_cli(args: list[str], threads: int, env: dict[str, str] | None = None, ok: bool = True):
    """`python -m hybrid ARGS` in a fresh process -> (wall s, peak RSS MB, stdout, exit status)."""
    cmd = [sys.executable, "-c", _CLI_WITH_PEAK, *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(env or {})}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t
    if ok and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed with status {proc.returncode}: {proc.stderr[-500:]}")
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return wall, round(peak_kb / 1024, 1), proc.stdout, proc.returncode


def measure_rss(video: Path, model_dir: Path, threads: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m hybrid predict VIDEO --json` in a fresh process, as users run it, and its peak memory."""
    wall, peak_mb, out, _ = run_cli(["predict", str(video), "--model", str(model_dir), "--json"], threads, env)
    pred = json.loads(out.strip().splitlines()[-1])
    return {
        "peak_rss_mb": peak_mb,
        "wall_s": round(wall, 3),  # process start, imports, model load and the prediction
        "predict_ms": round(sum(pred["timings_ms"].values()), 1),
        "decode_ms": round(pred["timings_ms"]["decode"], 1),
        "total_frames": pred["video"]["total_frames"],
    }


CLI_CACHE = "cli-cache"  # the engine cache of the benchmark's CLI processes (under the work folder)


def bench_cold_cli(clip: Path, model_dir: Path, folder: Path, threads: int, runs: int) -> dict[str, Any]:
    """`python -m hybrid predict` as a person runs it, each time a fresh process, with its own engine cache: the
    first run (builds the model, exports it whole), then `runs` more (the compiled model, no torch); beside them
    the PyTorch way (HYBRID_ENGINE=torch: what every start cost before the export) and a refused file."""
    env = {"HYBRID_CACHE": str(folder / CLI_CACHE)}
    shutil.rmtree(folder / CLI_CACHE, ignore_errors=True)
    args = ["predict", str(clip), "--model", str(model_dir), "--json"]
    first = run_cli(args, threads, env)
    cold, full = [], []
    for _ in range(runs):  # interleaved, so both see the same machine load
        cold.append(run_cli(args, threads, env))
        full.append(run_cli(args, threads, {**env, "HYBRID_ENGINE": "torch"}))
    bad = folder / "not_a_video.mp4"
    bad.write_text("these are notes, not a video\n")
    refused = [run_cli(["predict", str(bad), "--model", str(model_dir)], threads, env, ok=False) for _ in range(runs)]
    assert all(r[3] == 2 for r in refused), "a text file named .mp4 must be refused with status 2"
    return {
        "cli_cold_s": round(med(r[0] for r in cold), 3),
        "cli_cold_peak_rss_mb": round(med(r[1] for r in cold), 1),
        "cli_first_run_s": round(first[0], 3),  # once per model: PyTorch load + whole-model export
        "cli_torch_engine_s": round(med(r[0] for r in full), 3),
        "cli_refused_s": round(med(r[0] for r in refused), 3),
    }


def bench_timeline(video: Path, model_dir: Path, threads: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m hybrid timeline VIDEO --json` in a fresh process: wall time (start-up included), the
    timeline's own timings, times real time, peak memory. env: HYBRID_CACHE holding the model's export (every
    start after a model's first takes the compiled way)."""
    wall, peak_mb, out, _ = run_cli(["timeline", str(video), "--model", str(model_dir), "--json"], threads, env)
    tl = json.loads(out.strip().splitlines()[-1])
    return {
        "timeline_wall_s": round(wall, 2),
        "timeline_x_real_time": round(tl["duration_s"] / wall, 1),
        "timeline_peak_rss_mb": peak_mb,
        "timeline": {"duration_s": tl["duration_s"], "frames_through_cnn": tl["frames"], "windows": len(tl["windows"]),
                     "timings_ms": tl["timings_ms"]},
    }  # fmt: skip


# --- the app over HTTP -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"app.py did not listen on port {port} within {timeout:.0f} s")


def retitled_copies(clip: Path, folder: Path, n: int, stem: str) -> list[Path]:
    """n byte-different copies of a clip (same video, another title tag): the app's result cache can't answer."""
    copies = []
    for i in range(n):
        copy = folder / f"{stem}_{i}.mp4"
        ffmpeg("-i", str(clip), "-c", "copy", "-metadata", f"title={stem} {i} {time.time()}", str(copy))
        copies.append(copy)
    return copies


def start_app(
    model_dir: Path, folder: Path, extra_env: dict[str, str] | None = None, root: Path = ROOT
) -> tuple[subprocess.Popen, int]:
    """`python app.py` of the checkout `root` on a free local port with `model_dir` and its temp folder in
    `folder`, once it listens."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "HYBRID_MODEL": str(model_dir), "GRADIO_TEMP_DIR": str(folder / "gradio"),
           "GRADIO_ANALYTICS_ENABLED": "0", **(extra_env or {})}  # fmt: skip
    with open(folder / "app.log", "w") as app_log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=app_log, stderr=app_log)
    try:
        wait_for_port(port, proc, timeout=240)
    except BaseException:
        stop_app(proc)
        raise
    return proc, port


def bench_app(clip: Path, model_dir: Path, folder: Path, runs: int) -> dict[str, Any]:
    """Median gradio_client round trip for the clip; every request uploads a byte-different copy of it
    (same video, another title tag) so the app's per-file result cache can't answer from memory."""
    from gradio_client import Client, handle_file

    copies = retitled_copies(clip, folder, runs + 1, "app_clip")
    proc, port = start_app(model_dir, folder)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False, analytics_enabled=False)
        times = []
        for copy in copies:
            t = time.perf_counter()
            client.predict(handle_file(str(copy)), api_name="/predict")
            times.append(time.perf_counter() - t)
        # the first request also loads the model
        return {"app_request_s": round(med(times[1:]), 3), "app_first_request_s": round(times[0], 3)}
    finally:
        stop_app(proc)


def stop_app(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --- main --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (well under 10 minutes on 2 cores)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--workdir", type=Path, default=None, help="keep generated clips here (default: a temp dir)")
    p.add_argument("--long-minutes", type=int, default=60)
    p.add_argument("--skip-long", action="store_true")
    p.add_argument("--timeline-minutes", type=int, default=10)
    p.add_argument("--skip-timeline", action="store_true")
    p.add_argument("--skip-app", action="store_true")
    p.add_argument("--skip-videomae", action="store_true")
    args = p.parse_args(argv)
    if not shutil.which("ffmpeg"):
        print("error: ffmpeg is needed to make the benchmark clips", file=sys.stderr)
        return 2

    import torch

    torch.set_num_threads(args.threads)
    runs, vm_runs = (7, 3) if args.quick else (15, 5)
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="hybrid-bench-")
    folder = args.workdir or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    res: dict[str, Any] = {}
    try:
        log("making the 10 s 720p clip")
        clip = make_clip_720p(folder)
        model, model_dir, model_src = bench_model(folder)
        res["model"] = model_src
        res["clip"] = {"file": "testsrc2 1280x720 30 fps 10 s H.264 (libx264 defaults)",
                       "mbps": round(clip.stat().st_size * 8 / 10 / 1e6, 2)}  # fmt: skip

        log("ours: default engine, PyTorch engine, bf16")
        ours = bench_ours(model, clip, runs, "auto", "fp32")
        torch_ref = bench_ours(model, clip, runs, "torch", "fp32")
        bf16 = bench_ours(model, clip, runs, "openvino", "bf16")
        res.update(clip_latency_s=ours["latency_s"], cnn_share=ours["cnn_share"], breakdown_ms=ours["breakdown_ms"])
        res["ours"] = {"default": ours, "torch": torch_ref, "openvino_bf16": bf16}
        log("CNN engines side by side")
        res["cnn_engines_ms_16_frames"] = bench_cnn_engines(model, clip, runs)
        log("the machine's limit: decode alone + the CNN alone")
        res["limit"] = bench_limit(clip, runs, res["cnn_engines_ms_16_frames"]["openvino_fp32"], ours["latency_s"])
        res["clip_over_limit"] = res["limit"]["clip_over_limit"]

        if not args.skip_videomae:
            log("VideoMAE-base through the transformers pipeline")
            from hybrid.pipeline import Recognizer

            rec = Recognizer(model)
            res.update(bench_videomae(clip, vm_runs, lambda: rec(clip)))
            # the other engines against the same VideoMAE median (measured at other moments: rougher)
            res["videomae_speedup_torch"] = round(res["videomae_latency_s"] / torch_ref["latency_s"], 2)
            res["videomae_speedup_bf16"] = round(res["videomae_latency_s"] / bf16["latency_s"], 2)

        log("live-path compute per frame")
        res.update(bench_stream(model, clip, 40 if args.quick else 90, "auto", "fp32"))

        log("cold CLI starts (fresh processes)")
        res.update(bench_cold_cli(clip, model_dir, folder, args.threads, 3))

        res["long_video_peak_rss_mb"] = None
        if not args.skip_long:  # both lengths the same way: the compiled model bench_cold_cli exported
            log("1 min and long 1080p clips (fresh processes)")
            env = {"HYBRID_CACHE": str(folder / CLI_CACHE)}
            short = measure_rss(make_long_1080p(folder, 1), model_dir, args.threads, env)
            long = measure_rss(make_long_1080p(folder, args.long_minutes), model_dir, args.threads, env)
            res["long_video"] = {"1min": short, f"{args.long_minutes}min": long}
            res["long_video_peak_rss_mb"] = long["peak_rss_mb"]

        if not args.skip_timeline:
            log(f"timeline of a {args.timeline_minutes} min 1080p clip (fresh process)")
            env = {"HYBRID_CACHE": str(folder / CLI_CACHE)}  # exported by bench_cold_cli, as after any first run
            res.update(bench_timeline(make_long_1080p(folder, args.timeline_minutes), model_dir, args.threads, env))

        res["app_request_s"] = None
        if args.skip_app:
            res["app_note"] = "skipped (--skip-app)"
        elif not (ROOT / "app.py").is_file():
            res["app_note"] = "no app.py yet"
        else:
            log("app.py over gradio_client")
            try:
                res.update(bench_app(clip, model_dir, folder, 3 if args.quick else 5))
            except Exception as e:  # noqa: BLE001 - report it, keep the other figures
                res["app_note"] = f"failed: {type(e).__name__}: {e}"
    finally:
        if tmp is not None:
            tmp.cleanup()

    import openvino

    res["env"] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "openvino": openvino.__version__.split("-")[0],
        "quick": args.quick,
        "bench_s": round(time.perf_counter() - started, 1),
        "loadavg_1min_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],  # others' work skews timings
    }
    res["goals"] = {
        "clip_latency_s<=0.3": res["clip_latency_s"] <= 0.3,
        "clip_over_limit<=1.3": res["clip_over_limit"] <= 1.3,
        "videomae_speedup>=8": bool(res.get("videomae_speedup")) and res["videomae_speedup"] >= 8,
        "long_video_peak_rss_mb<=1200": res["long_video_peak_rss_mb"] is not None
        and res["long_video_peak_rss_mb"] <= 1200,
        "cli_cold_s<=2.5": res["cli_cold_s"] <= 2.5,
        "cli_refused_s<=1": res["cli_refused_s"] <= 1.0,
        "timeline_x_real_time>=20": bool(res.get("timeline_x_real_time")) and res["timeline_x_real_time"] >= 20,
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
