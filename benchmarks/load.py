"""Load: N concurrent gradio_client clients x M clips against `python app.py` (the bundled model).

    python benchmarks/load.py --clients 8 --requests 20 --json

Starts the app on a free port with its own temp folders (tests/app_server.py), sends every client's clips
at once, counts failures, reports latencies, the server's peak memory (VmHWM) and whether anything is
left in its temp folder after a SIGTERM. The last stdout line with --json is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from app_server import AppServer  # noqa: E402
from synth import index_clip  # noqa: E402

from hybrid.hub import default_model_dir  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_run(url: str, clips: list[Path], requests: int, downloads: Path) -> list[tuple[bool, float, str]]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(downloads))
    out = []
    for i in range(requests):
        t0 = time.perf_counter()
        try:
            result = client.predict(handle_file(str(clips[i % len(clips)])), api_name="/predict")
            ok = isinstance(result[-1], dict) and "label" in result[-1]
            out.append((ok, time.perf_counter() - t0, "" if ok else str(result)[:200]))
        except Exception as e:  # a failure is what this script counts
            out.append((False, time.perf_counter() - t0, f"{type(e).__name__}: {e}"[:200]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=20, help="clips per client")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hybrid-load-") as tmp:
        root = Path(tmp)
        tempfile.tempdir = str(root)  # gradio_client stages its downloads in the temp folder: keep them in here
        clips = [index_clip(root / f"clip{k}.mp4", 90 + 15 * k, size=(320, 240)) for k in range(4)]
        server = AppServer(root / "app", default_model_dir()).wait_ready(timeout=300)
        try:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                runs = list(
                    pool.map(
                        lambda _: client_run(server.url, clips, args.requests, root / "downloads"), range(args.clients)
                    )
                )
            wall = time.perf_counter() - t0
            rss = peak_rss_mb(server.proc.pid)
        finally:
            code = server.stop()
        left = [str(p) for p in server.files_left()]
    results = [r for run in runs for r in run]
    lat = sorted(s for ok, s, _ in results if ok)
    report = {
        "clients": args.clients,
        "requests": len(results),
        "failures": sum(not ok for ok, _, _ in results),
        "errors": sorted({e for ok, _, e in results if not ok})[:5],
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(results) / wall, 2),
        "latency_median_s": round(statistics.median(lat), 2) if lat else None,
        "latency_p90_s": round(lat[int(0.9 * (len(lat) - 1))], 2) if lat else None,
        "server_peak_rss_mb": round(rss, 1),
        "server_exit_code": code,
        "files_left_after_stop": len(left),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
