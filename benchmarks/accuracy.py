"""Does a faster CNN engine change the answers? PyTorch fp32 against OpenVINO fp32 / bf16 (and int8).

    python benchmarks/accuracy.py [--data ../shared/data/ut-interaction] [--model DIR] [--int8] [--json]
    python benchmarks/accuracy.py --sampling [--data ...] [--model DIR] [--json]

--sampling asks the same of fast sampling (hybrid/fast_clip.py) against exact sampling instead: every clip read
both ways and classified by the default engine; reported: how many clips took the fast way, agreement of the
answer and of the open-set decision, the largest change of any class probability, how far the frames moved
(mean and largest shift from the uniform targets) and the median decode time of each way.

Every clip under --data (class = the video's parent folder) is decoded once and classified by each
variant. Reported per variant: top-1 agreement with the PyTorch fp32 reference, accuracy on the clips
whose class the model knows, the largest change of any class probability, the agreement of the
backbone's own ImageNet top-1 on every frame (a strict check of the features), and the CNN time.
The clips may include the model's own training clips, so agreement is the figure that matters here;
held-out accuracy comes from `python -m hybrid eval`.
--int8 adds post-training int8 quantisation (NNCF, pip install nncf) calibrated on the frames of every
4th clip (`--calib-every`); it is measured here, not offered by hybrid.runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hybrid import HybridCNNRNN  # noqa: E402
from hybrid.fast_clip import read_clip_fast  # noqa: E402
from hybrid.model_dir import default_model_dir  # noqa: E402
from hybrid.pipeline import Recognizer  # noqa: E402
from hybrid.runtime import OpenVINOEngine, cached_onnx  # noqa: E402
from hybrid.transforms import preprocess  # noqa: E402
from hybrid.video import read_clip  # noqa: E402

VIDEO_EXT = {".avi", ".mp4", ".mkv", ".webm", ".mov"}


def int8_engine(onnx_path: Path, calib: list[np.ndarray]) -> OpenVINOEngine:
    """The cached ONNX graph quantised to int8 by NNCF on calibration frames (NHWC float batches)."""
    import nncf
    import openvino as ov

    quantized = nncf.quantize(ov.Core().read_model(str(onnx_path)), nncf.Dataset(calib), subset_size=len(calib))
    engine = OpenVINOEngine(quantized, "fp32")  # int8 layers where NNCF put them, fp32 elsewhere
    engine.precision = "int8"
    return engine


def timed_read(reader, path: Path, num_frames: int):
    t = time.perf_counter()
    clip = reader(path, num_frames)
    return clip, (time.perf_counter() - t) * 1000


def compare_sampling(model: HybridCNNRNN, files: list[Path]) -> dict:
    """Fast against exact sampling, clip by clip, through one Recognizer (the default engine)."""
    rec = Recognizer(model)
    rows = []
    for n, f in enumerate(files):
        readers = [read_clip_fast, read_clip][:: 1 if n % 2 else -1]  # each way reads first every other clip
        reads = {reader: timed_read(reader, f, model.num_frames) for reader in readers}
        (fast, fast_ms), (exact, exact_ms) = reads[read_clip_fast], reads[read_clip]
        a, b = rec.predict_clip(fast, topk=1), rec.predict_clip(exact, topk=1)
        shifts = [abs(i - j) for i, j in zip(fast.indices, exact.indices)]
        rows.append({"clip": f.name, "fast_way": fast.method == "reference frames", "same_label": a.label == b.label,
                     "same_known": a.known == b.known, "prob_change": float(np.abs(a.step_probs[-1] -
                     b.step_probs[-1]).max()), "shift_mean": float(np.mean(shifts)), "shift_max": max(shifts),
                     "fast_ms": fast_ms, "exact_ms": exact_ms})  # fmt: skip
    fast_rows = [r for r in rows if r["fast_way"]] or [{"shift_mean": 0.0, "shift_max": 0}]
    return {
        "clips": len(rows),
        "fast_way": sum(r["fast_way"] for r in rows),
        "label_agreement": round(float(np.mean([r["same_label"] for r in rows])), 4),
        "openset_agreement": round(float(np.mean([r["same_known"] for r in rows])), 4),
        "max_prob_change": round(max(r["prob_change"] for r in rows), 4),
        "shift_mean_fast_clips": round(float(np.mean([r["shift_mean"] for r in fast_rows])), 3),
        "shift_max": max(r["shift_max"] for r in fast_rows),
        "decode_ms_median": {
            "fast": round(float(np.median([r["fast_ms"] for r in rows])), 1),
            "exact": round(float(np.median([r["exact_ms"] for r in rows])), 1),
        },
        "disagreements": [r["clip"] for r in rows if not (r["same_label"] and r["same_known"])],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ut-interaction")
    p.add_argument("--model", default=None, help="model folder or repo id (default: the bundled model)")
    p.add_argument("--int8", action="store_true")
    p.add_argument("--sampling", action="store_true", help="fast against exact sampling instead of engines")
    p.add_argument("--calib-every", type=int, default=4)
    p.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = HybridCNNRNN.from_pretrained(str(args.model or default_model_dir()))
    files = sorted(f for f in args.data.rglob("*") if f.suffix.lower() in VIDEO_EXT)[: args.limit]
    if not files:
        print(f"error: no videos under {args.data}", file=sys.stderr)
        return 2
    if args.sampling:
        report = {"model": str(args.model or default_model_dir()), **compare_sampling(model, files)}
        report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(json.dumps(report) if args.json else json.dumps(report, indent=2))
        return 0
    clips = [(f, read_clip(f, model.num_frames)) for f in files]
    variants = {
        "torch_fp32": Recognizer(model, engine="torch"),
        "openvino_fp32": Recognizer(model, engine="openvino", precision="fp32"),
        "openvino_bf16": Recognizer(model, engine="openvino", precision="bf16"),
    }
    if args.int8:
        calib = [
            preprocess(c.frames, model.config).permute(0, 2, 3, 1).contiguous().numpy()
            for c in (c for _, c in clips[:: args.calib_every])
        ]
        rec = Recognizer(model, engine="torch")
        rec.engine = int8_engine(cached_onnx(model), calib)
        variants["openvino_int8"] = rec
    results = {name: [] for name in variants}
    for f, clip in clips:
        for name, rec in variants.items():
            pred = rec.predict_clip(clip, topk=1, explain=True)
            imagenet = [c[0][0] for c in pred.concepts]  # top ImageNet class of every frame
            results[name].append((f.parent.name, pred.label, pred.step_probs[-1], pred.timings_ms["cnn"], imagenet))
    ref = results["torch_fp32"]
    report = {"model": str(args.model or default_model_dir()), "clips": len(clips), "variants": {}}
    for name, rows in results.items():
        same_concept = [a == b for r, q in zip(rows, ref) for a, b in zip(r[4], q[4])]
        known = [(truth, label) for truth, label, *_ in rows if truth in model.labels]
        report["variants"][name] = {
            "agreement_with_torch_fp32": round(np.mean([r[1] == q[1] for r, q in zip(rows, ref)]), 4),
            "accuracy": round(np.mean([t == lab for t, lab in known]), 4) if known else None,
            "max_prob_change": round(float(max(np.abs(r[2] - q[2]).max() for r, q in zip(rows, ref))), 4),
            # a 1000-class trained head is far touchier than a 6-class one: a strict check of the features
            "imagenet_top1_agreement": round(float(np.mean(same_concept)), 4),
            "cnn_ms_median": round(float(np.median([r[3] for r in rows])), 1),
        }
    report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
