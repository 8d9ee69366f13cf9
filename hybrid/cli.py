"""Command line: `python -m hybrid predict VIDEO [--model ID_OR_DIR] [--topk K] [--json]` and friends."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import HybridError


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="name the action in a video")
    p.add_argument("video")
    p.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--max-duration", type=float, default=None, help="refuse clips longer than this (seconds)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--detail", action="store_true", help="with --json: per-step probabilities, timestamps")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from .pipeline import Recognizer
    from .video import VideoLimits

    if args.topk < 1:
        raise HybridError("--topk must be at least 1")
    rec = Recognizer(args.model, limits=VideoLimits(max_duration_s=args.max_duration))
    pred = rec(args.video, topk=args.topk)
    if args.json:
        print(json.dumps(pred.to_dict(detail=args.detail)))
        return 0
    v = pred.video
    print(f"{args.video}: {v['width']}x{v['height']}, {v['duration_s']:.1f} s, {len(pred.indices)} frames sampled")
    for label, score in pred.topk:
        print(f"  {score:6.1%}  {label}")
    print("  " + ", ".join(f"{k} {t:.0f} ms" for k, t in pred.timings_ms.items()))
    return 0


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="upload a model folder to the Hugging Face Hub (token: HF_TOKEN or hf auth login)")
    p.add_argument("model_dir", help="folder holding config.json + model.safetensors (+ README.md model card)")
    p.add_argument("repo_id", help="Hub repo id, owner/name (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--message", default="Upload hybrid CNN-RNN model", help="commit message")
    p.set_defaults(func=cmd_push)


def cmd_push(args) -> int:
    from .hub import push_folder

    url = push_folder(args.model_dir, args.repo_id, private=args.private, commit_message=args.message)
    print(f"pushed {args.model_dir} to {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hybrid", description="Hybrid CNN-RNN action recognition")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_predict(sub)
    _add_push(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HybridError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
