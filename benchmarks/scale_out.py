"""Throughput with 1 and N processes under torchrun: training features (clips/s into the shared cache) and
batch prediction (videos/s into one predictions.jsonl), side by side in one run.

    python benchmarks/scale_out.py [--clips 24] [--procs 1 2] [--device cpu] [--json]

Clips: 4 s of 320x240 H.264 at 30 fps (ffmpeg testsrc2), generated into a temporary folder. Features: the
default training recipe (frozen ImageNet Lite0, 64 frames decoded per clip, 4 augmentation copies), the fast
CNN engine on the CPU, each process computing its shard; the figure is the feature stage alone, from the
start to the barrier (rank 0's clock), and the whole command's wall time with process start-up. Batch
prediction: `python -m hybrid predict DIR --out FILE` with the bundled model. OMP_NUM_THREADS = cores / N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_clips(folder: Path, n: int) -> None:
    for i in range(n):
        cls = folder / f"class{i % 4}"
        cls.mkdir(parents=True, exist_ok=True)
        cmd = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
               "-t", "4", "-vf", f"hue=h={i * 37}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(cls / f"{i}.mp4")]  # fmt: skip
        subprocess.run(cmd, check=True)


def launch(procs: int, args: list[str]) -> list[str]:
    if procs == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", *args]


def worker(data: str, cache: str, device: str) -> None:
    """One rank of the feature run: prints {"features_s": ...} on rank 0."""
    sys.path.insert(0, str(ROOT))
    from hybrid.distributed import world
    from hybrid.recipe import Recipe
    from hybrid.train import load_dataset

    with world(device) as w:
        w.barrier()  # every rank has imported and built its engine's process: time the work, not the start
        t0 = time.perf_counter()
        load_dataset(data, Recipe(), cache, w.device(device), engine="auto", quiet=True, world=w)
        if w.main:
            print(json.dumps({"features_s": time.perf_counter() - t0}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("DATA", "CACHE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(*args.worker, args.device)
    cores = os.cpu_count() or 1
    result: dict = {"clips": args.clips, "cores": cores, "features": {}, "predict": {}}
    with tempfile.TemporaryDirectory(prefix="scale_out_") as tmp:
        data = Path(tmp) / "data"
        make_clips(data, args.clips)
        for procs in args.procs:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(max(1, cores // procs))}
            cache = Path(tmp) / f"cache{procs}"
            t0 = time.perf_counter()
            out = subprocess.run(launch(procs, [__file__, "--worker", str(data), str(cache), "--device", args.device]),
                                 capture_output=True, text=True, env=env, check=True).stdout  # fmt: skip
            wall = time.perf_counter() - t0
            features_s = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])["features_s"]
            result["features"][procs] = {"clips_per_s": round(args.clips / features_s, 3),
                                         "features_s": round(features_s, 1), "wall_s": round(wall, 1)}  # fmt: skip
            jsonl = Path(tmp) / f"predictions{procs}.jsonl"
            t0 = time.perf_counter()
            cmd = launch(procs, ["-m", "hybrid", "predict", str(data), "--out", str(jsonl), "--no-progress"])
            subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, cwd=ROOT)
            wall = time.perf_counter() - t0
            result["predict"][procs] = {"videos_per_s": round(args.clips / wall, 3), "wall_s": round(wall, 1)}
            print(f"{procs} process(es): features {result['features'][procs]}, predict {result['predict'][procs]}",
                  file=sys.stderr, flush=True)  # fmt: skip
    first = args.procs[0]
    for stage, key in (("features", "clips_per_s"), ("predict", "videos_per_s")):
        base = result[stage][first][key]
        result[f"{stage}_speedup"] = {p: round(r[key] / base, 2) for p, r in result[stage].items()}
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
