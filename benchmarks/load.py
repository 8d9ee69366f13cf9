"""Load: N concurrent gradio_client clients x M clips against `python app.py` (the bundled model).

    python benchmarks/load.py --clients 8 --requests 20 --json

Starts the app on a free port with its own temp folders (tests/app_server.py), sends every client's clips
at once, counts failures, reports latencies, whether the server still answers a fresh client afterwards,
its peak memory (VmHWM), errors in its log, and whether anything is left in its temp folder after a
SIGTERM. The last stdout line with --json is one JSON object. tests/test_load.py runs a small version
through run_load().
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
for _p in (str(ROOT), str(ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from app_server import AppServer  # noqa: E402
from synth import index_clip  # noqa: E402

from hybrid.model_dir import default_model_dir  # noqa: E402

# what a server log line must contain to count as an error (a traceback, or uvicorn/h11 giving up on a response)
LOG_ERRORS = ("Traceback", "Exception in ASGI application", "Too little data", "Too much data")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_run(url: str, clips: list[Path], requests: int, downloads: Path) -> list[tuple[bool, float, str]]:
    """One client sending `requests` clips one after the other; (ok, seconds, error) per clip."""
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


def run_load(root: Path, clients: int, requests: int, model_dir: Path | None = None) -> dict:
    """Start the app under `root`, run `clients` x `requests` clips at once, stop it; the report as a dict.

    Every file (clips, the app's folders and log, gradio_client's downloads and staging folders) goes under
    `root`; the caller owns and removes it."""
    root.mkdir(parents=True, exist_ok=True)
    old_tempdir, tempfile.tempdir = tempfile.tempdir, str(root)  # gradio_client stages its downloads there
    try:
        clips = [index_clip(root / f"clip{k}.mp4", 90 + 15 * k, size=(320, 240)) for k in range(4)]
        server = AppServer(root / "app", model_dir or default_model_dir()).wait_ready(timeout=300)
        try:
            t0 = time.perf_counter()
            downloads = root / "downloads"
            with ThreadPoolExecutor(clients) as pool:
                runs = list(pool.map(lambda _: client_run(server.url, clips, requests, downloads), range(clients)))
            wall = time.perf_counter() - t0
            after = client_run(server.url, clips, 1, downloads)[0]  # a fresh client, once the load is over
            rss = peak_rss_mb(server.proc.pid)
        finally:
            code = server.stop()
        left = server.files_left()
    finally:
        tempfile.tempdir = old_tempdir
    log = server.log.read_text(errors="replace").splitlines()
    results = [r for run in runs for r in run]
    lat = sorted(s for ok, s, _ in results if ok)
    return {
        "clients": clients,
        "requests": len(results),
        "failures": sum(not ok for ok, _, _ in results),
        "errors": sorted({e for ok, _, e in results if not ok})[:5],
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(results) / wall, 2),
        "latency_median_s": round(statistics.median(lat), 2) if lat else None,
        "latency_p90_s": round(lat[int(0.9 * (len(lat) - 1))], 2) if lat else None,
        "answers_after": after[0],
        "server_peak_rss_mb": round(rss, 1),
        "server_log_errors": sum(any(k in line for k in LOG_ERRORS) for line in log),
        "server_exit_code": code,
        "files_left_after_stop": len(left),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=20, help="clips per client")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", metavar="DIR", type=Path, help="work in DIR and keep it (server.log, downloads)")
    args = ap.parse_args()
    if args.keep:
        report = run_load(args.keep, args.clients, args.requests)
    else:
        with tempfile.TemporaryDirectory(prefix="hybrid-load-") as tmp:
            report = run_load(Path(tmp), args.clients, args.requests)
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
