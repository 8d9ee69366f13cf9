"""How fast is the live path? Frames per second and frame -> label latency of hybrid.stream on this machine.

    python benchmarks/live_speed.py [--json] [--frames 120] [--threads N]

Model: the bundled default model, else the stand-in of its shape (benchmarks/run.py's bench_model). Frames:
a 640x480 camera-like clip made with ffmpeg (testsrc2). Measured for the OpenVINO fp32 engine (the default) and
OpenVINO bf16 (PyTorch: capacity only):
- capacity: every frame taken, one after the other (live_measure.measure, the figures run.py reports as
  stream_fps / stream_latency_ms): the most frames per second the live path can process.
- realtime: a 30 fps camera thread hands frames to the live worker through a one-slot mailbox (newest
  wins), every frame taken: processed fps, frames dropped while busy, latency from capture to answer.
- paced: the same camera, frames taken at the model's pace (as the app does): latency, CPU headroom.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def camera_frames(folder: Path, n: int):
    from hybrid.video import iter_frames

    path = folder / "cam.mp4"
    cmd = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=640x480:rate=30:duration={n / 30 + 1}"]
    subprocess.run([*cmd, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return [f for _, _, f in iter_frames(path, keep_side=None)][:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from live_measure import measure, measure_realtime
    from run import bench_model

    from hybrid.runtime import make_engine

    res: dict = {"load_avg_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="hybrid-live-") as tmp:
        model, _, source = bench_model(Path(tmp))
        model.eval().to(memory_format=torch.channels_last)
        frames = camera_frames(Path(tmp), args.frames)
    res["model"] = source
    # PyTorch first: OpenVINO's worker threads, once started, slow other thread pools in the same process
    res["torch_fp32"] = {"capacity": measure(model, frames[:40], make_engine(model, "torch"))}
    for name, precision in [("openvino_fp32", "fp32"), ("openvino_bf16", "bf16")]:
        e = make_engine(model, "openvino", precision)
        res[name] = {
            "capacity": measure(model, frames, e),
            "realtime_30fps": measure_realtime(model, frames, 30.0, e),
            "paced_30fps": measure_realtime(model, frames, 30.0, e, every_frame=False),
        }
        print(f"[live] {name}: {json.dumps(res[name])}", file=sys.stderr, flush=True)
    res["load_avg_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res) if args.json else json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
