"""Upload -> drawn results in Chromium, as a person waits for them: the Classify tab of `python app.py`.

    python benchmarks/page.py [--runs 5] [--json] [--workdir DIR] [--baseline DIR]

Starts the app (bundled default model, its own temp folders) on a free port and opens it in Debian's Chromium
through Playwright at 1280x900. Each run opens a fresh page, uploads a byte-different copy of the 10 s 720p clip
of run.py (so the app's result cache can't answer), and times from handing the file to the page until every
result is drawn: the verdict line, the top 5, all sampled frames loaded (complete, with pixels) and both charts
drawn. The first run also loads the model and is reported apart. Beside each run: the server's own total for
that clip (the Timings line: decode, CNN, RNN) so the page's share shows. --baseline DIR serves another
checkout's app beside this one (same model, same clip) and alternates the runs between the two, so both see the
same minutes of a noisy machine; `page_over_baseline` is the ratio of the medians. The last stdout line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, log, make_clip_720p, retitled_copies, start_app, stop_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# checked at every animation frame: textContent, not innerText, which would make Chromium lay the page out each time
DRAWN = """(n) => {
  const h = document.querySelector('#verdict h2');
  if (!h || !/ — \\d+%$|^Not one of the actions/.test(h.textContent.trim())) return false;  // an answer, known or not
  const frames = [...document.querySelectorAll('#frames .gallery-item img')];
  if (frames.length !== n || !frames.every(i => i.complete && i.naturalWidth > 0)) return false;
  const charts = ['#features svg', '#belief svg'].map(s => document.querySelector(s));
  return charts.every(c => c && c.getBoundingClientRect().width > 0) && !!document.querySelector('#answer');
}"""


def one_run(browser, url: str, clip: Path, frames: int) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(180_000)
    try:
        page.goto(url)
        page.wait_for_selector("#video-in input[type=file]", state="attached")
        t0 = time.perf_counter()
        page.locator("#video-in input[type=file]").set_input_files(str(clip))
        page.wait_for_function(DRAWN, arg=frames, polling="raf")
        wall = time.perf_counter() - t0
        timings = page.locator("#timings").inner_text()
        m = re.search(r"total (\d+\.\d+) s", timings)
        parts = {k: int(v) for k, v in re.findall(r"(decode|CNN|RNN) (\d+) ms", timings)}
        return {"page_s": round(wall, 3), "server_total_s": float(m.group(1)) if m else float("nan"), **parts}
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="another checkout (e.g. a git worktree of an earlier commit): its app serves beside this one's, the "
        "runs alternate between them (ABBA) in the same browser, and both are reported",
    )
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from hybrid.model_dir import default_model_dir

    model_dir = default_model_dir()
    frames = json.loads((model_dir / "config.json").read_text())["num_frames"]
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="hybrid-page-")
    folder = args.workdir or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    roots = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    copies = retitled_copies(make_clip_720p(folder), folder, len(roots) * (args.runs + 1), "page_clip")
    apps = {}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    try:
        for name, root in roots.items():
            own = folder if name == "this" else folder / name
            own.mkdir(exist_ok=True)
            apps[name] = start_app(model_dir, own, {"HYBRID_CACHE": str(own / "engine-cache")}, root=root)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for i in range(args.runs + 1):
                order = list(roots) if i % 2 == 0 else list(reversed(roots))  # ABBA: neither always goes first
                for name in order:
                    r = one_run(browser, f"http://127.0.0.1:{apps[name][1]}/", copies.pop(), frames)
                    log(f"{name} run {i}: {r}")
                    runs[name].append(r)
            browser.close()
    finally:
        for proc, _ in apps.values():
            stop_app(proc)
        if tmp is not None:
            tmp.cleanup()
    res = summary(runs["this"])
    res.update(clip="testsrc2 1280x720 30 fps 10 s H.264 (run.py's clip)", loadavg_1min=round(os.getloadavg()[0], 2))
    if args.baseline:
        res["baseline"] = {"checkout": str(args.baseline), **summary(runs["baseline"])}
        res["page_over_baseline"] = round(res["page_s"] / res["baseline"]["page_s"], 3)
    res["goals"] = {"page_s<=1.2": res["page_s"] <= 1.2}
    print(json.dumps(res) if args.json else json.dumps(res, indent=2))
    return 0


def summary(runs: list[dict[str, float]]) -> dict:
    """Medians over the runs after the first (which also loads the model, reported apart)."""
    rest = runs[1:]
    return {
        "page_s": round(statistics.median(r["page_s"] for r in rest), 3),
        "server_total_s": round(statistics.median(r["server_total_s"] for r in rest), 3),
        "first_page_s": runs[0]["page_s"],
        "runs": [r["page_s"] for r in rest],
    }


if __name__ == "__main__":
    sys.exit(main())
