"""Does the live path decide like the offline one? Real clips played frame by frame through hybrid.stream.

    python benchmarks/live_agreement.py --model DIR [--data ../shared/data/ut-interaction/set2] [--json]
        [--windows 2 3 4] [--limit N]   (default windows: the model's own, then 2, 3, 4 s)

Each clip is decoded once (every frame, as a 30 fps camera would send them). For every live window length,
the live path's clock picks the frames it would take, each goes through the CNN once, and every policy
(carry with 2 lanes, carry with 1 lane = periodic restarts, window) reads the same features. The live
answer is the last one when the clip ends. The offline answer is Recognizer's (num_frames frames spread
over the whole clip). Reported per window length and policy: agreement with the offline answer, and both
accuracies against the clip's folder name (when the model knows that class).

Use clips the model was not trained on (e.g. a model trained on UT-Interaction set1, clips of set2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hybrid.pipeline import Recognizer  # noqa: E402
from hybrid.stream import DueClock, LiveSession, is_causal  # noqa: E402
from hybrid.video import VIDEO_EXTS, iter_frames  # noqa: E402

POLICIES = {"carry-2": ("carry", 2), "carry-1": ("carry", 1), "window": ("window", 1)}


def clips_under(folder: Path) -> list[Path]:
    """Every video under folder, class folders given as symlinks included."""
    found = [Path(d) / f for d, _, files in os.walk(folder, followlinks=True) for f in files]
    return sorted(p for p in found if p.suffix.lower() in VIDEO_EXTS)


@torch.inference_mode()
def live_answers(rec: Recognizer, frames: list[tuple[float, np.ndarray]], window_s: float) -> dict[str, Any]:
    """Final live answer of every policy for one clip played at `window_s`; features computed once."""
    policies = {k: v for k, v in POLICIES.items() if v[0] == "window" or is_causal(rec.model)}
    sessions = {k: LiveSession(rec, window_s=window_s, policy=p, lanes=n)
                for k, (p, n) in policies.items()}  # fmt: skip
    first = next(iter(sessions.values()))
    clock = DueClock(first.period)
    taken = [f for t, f in frames if clock(t)]
    feats = torch.cat([rec.encode(np.stack(taken[i : i + 4]))[0] for i in range(0, len(taken), 4)])
    out = {}
    for name, s in sessions.items():
        for f in feats:
            logits, context = s.push_feature(f)
        out[name] = {"label": rec.model.labels[int(logits.argmax())], "context": context}
    out["taken"] = len(taken)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model folder or Hub repo id")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ut-interaction" / "set2")
    p.add_argument("--windows", type=float, nargs="+", default=None,
                   help="live window lengths in s (default: the model's own, as the app, then 2, 3, 4)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="at most N clips (spread over the list)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rec = Recognizer(args.model)
    own = LiveSession(rec).window_s  # what the app's Live tab reads with this model (its training clips' length)
    windows = args.windows or list(dict.fromkeys([own, 2.0, 3.0, 4.0]))
    clips = clips_under(args.data)
    if args.limit and len(clips) > args.limit:
        clips = [clips[i] for i in np.linspace(0, len(clips) - 1, args.limit).round().astype(int)]
    t0 = time.perf_counter()
    rows = []
    for i, clip in enumerate(clips):
        frames = [(t, f) for _, t, f in iter_frames(clip)]
        offline = rec(clip)
        row = {"clip": str(clip.relative_to(args.data)), "truth": clip.parent.name, "offline": offline.label,
               "duration_s": round(offline.video["duration_s"], 2), "live": {}}  # fmt: skip
        for w in windows:
            row["live"][f"{w:g}"] = live_answers(rec, frames, w)
        rows.append(row)
        print(f"[{i + 1}/{len(clips)}] {row['clip']}: offline {offline.label}, live "
              + ", ".join(f"{w}s {r['carry-2']['label'] if 'carry-2' in r else r['window']['label']}"
                          for w, r in row["live"].items()), file=sys.stderr, flush=True)  # fmt: skip
    known = [r for r in rows if r["truth"] in rec.model.labels]
    summary: dict[str, Any] = {
        "model": args.model,
        "data": str(args.data),
        "clips": len(rows),
        "model_window_s": own,
        "offline_accuracy": round(float(np.mean([r["offline"] == r["truth"] for r in known])), 4) if known else None,
        "by_window": {},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for w in rows[0]["live"] if rows else []:
        entry = {}
        for name in (k for k in POLICIES if k in rows[0]["live"][w]):
            entry[name] = {
                "agreement_with_offline": round(float(np.mean([r["live"][w][name]["label"] == r["offline"]
                                                               for r in rows])), 4),  # fmt: skip
                "accuracy": round(float(np.mean([r["live"][w][name]["label"] == r["truth"] for r in known])), 4)
                if known else None,
            }  # fmt: skip
        entry["frames_taken_mean"] = round(float(np.mean([r["live"][w]["taken"] for r in rows])), 1)
        summary["by_window"][w] = entry
    summary["rows"] = rows
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
