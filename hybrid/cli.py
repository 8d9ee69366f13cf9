"""Command line: `python -m hybrid predict VIDEO [--model ID_OR_DIR] [--json]`, `timeline VIDEO` and friends."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import HybridError


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="name the action in a video, or in many (--out: one JSON line each; runs under torchrun)",
        description="One video: the answer. Folders, globs, .txt lists of paths or several videos with --out FILE: "
        "one JSON line per video (the --json answer plus path and error), skipping videos already in FILE; under "
        "torchrun each process takes a disjoint share and rank 0 merges.",
    )
    p.add_argument("video", nargs="+", help="a video; or, with --out, videos, folders, globs, .txt lists")
    p.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    p.add_argument("--topk", type=int, default=5)
    p.add_argument("--max-duration", type=float, default=None, help="refuse clips longer than this (seconds)")
    _sampling_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--detail", action="store_true", help="with --json or --out: per-step probabilities, timestamps")
    p.add_argument("--out", default=None, help="JSON lines file to write (resumable): many videos at once")
    p.add_argument("--timeline", action="store_true", help="with --out: each video's timeline (segments) instead")
    p.add_argument("--window", type=float, default=None, help="with --timeline: seconds behind each answer")
    p.add_argument("--stride", type=float, default=None, help="with --timeline: seconds between windows")
    p.add_argument("--no-progress", action="store_true", help="with --out: no progress bar")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from .fast_clip import sampling_setting
    from .video import VideoLimits, open_video

    if args.topk < 1:
        raise HybridError("--topk must be at least 1")
    _check_windows(args)
    if args.out is not None:
        return _predict_many(args)
    if len(args.video) > 1 or args.timeline:
        raise HybridError("several videos, folders or --timeline need --out FILE (one JSON line per video)")
    video = args.video[0]
    limits = VideoLimits(max_duration_s=args.max_duration)
    sampling_setting(args.sampling)  # a bad setting fails first
    open_video(video, limits).release()  # a bad file fails before torch and the model load
    rec, export = _model(args.model, limits, args.sampling)
    pred = rec(video, topk=args.topk)
    export()
    if args.json:
        print(json.dumps(pred.to_dict(detail=args.detail)))
        return 0
    v = pred.video
    print(f"{video}: {v['width']}x{v['height']}, {v['duration_s']:.1f} s, {len(pred.indices)} frames sampled")
    if pred.known is False:
        print(f"  not one of the {len(pred.labels)} actions this model knows: {pred.why_unknown}; the closest:")
    for label, score in pred.topk:
        print(f"  {score:6.1%}  {label}")
    print("  " + ", ".join(f"{k} {t:.0f} ms" for k, t in pred.timings_ms.items()))
    return 0


def _model(ref: str | None, limits, sampling: str | None = None):
    """(model, export): a local folder's compiled model when its export is cached (compiled.py: no torch, no timm,
    nothing to build) and a no-op; else the PyTorch Recognizer and `export`, which writes the export for the
    next start (call it once the answer is out). sampling: as Recognizer's."""
    from . import compiled

    folder = compiled.local_folder(ref)
    fast = compiled.CompiledModel.cached(folder, limits=limits, sampling=sampling) if folder is not None else None
    if fast is not None:
        return fast, lambda: None
    from .pipeline import Recognizer
    from .runtime import save_compiled

    rec = Recognizer(ref, limits=limits, sampling=sampling)
    return rec, (lambda: None) if folder is None else (lambda: save_compiled(rec.model, folder))


def _sampling_arg(p) -> None:
    p.add_argument(
        "--sampling",
        choices=("fast", "exact"),
        default=None,
        help="fast: each uniformly spaced frame may move up to 3 frames to one the decoder must decode anyway "
        "(H.264/HEVC in MP4/MKV: skips decoding the frames nothing refers to); exact: the uniform frames "
        "themselves (default: $HYBRID_SAMPLING, else fast). eval --cv trains on exact frames whatever this says",
    )


def _check_windows(args) -> None:
    if (args.window is not None and not args.window > 0) or (args.stride is not None and not args.stride > 0):
        raise HybridError("--window and --stride must be positive (seconds)")


def _predict_many(args) -> int:
    """predict --out: every video of the inputs -> a line of args.out, this process's share under torchrun."""
    from .batch import predict_many
    from .config import DEFAULT_WINDOW_S
    from .distributed import world
    from .timeline import build_timeline
    from .video import VideoLimits

    limits = VideoLimits(max_duration_s=args.max_duration)
    with world() as w:
        rec, export = _model(args.model, limits, args.sampling)

        def answer(path: str) -> dict:
            if args.timeline:
                return build_timeline(rec, path, args.window or DEFAULT_WINDOW_S, args.stride).to_dict()
            return rec(path, topk=args.topk).to_dict(detail=args.detail)

        report = predict_many(answer, args.video, args.out, w, progress=not args.no_progress)
        if w.main:
            export()
    if w.main:
        print(
            f"{report.out}: {report.done} videos answered now ({report.failed} with an error), "
            f"{report.skipped} already there, {report.total} in all"
        )
    return 1 if report.failed else 0


def _add_timeline(sub) -> None:
    p = sub.add_parser("timeline", help="label a long video by sliding windows: segments with start, end, label")
    p.add_argument("video")
    p.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    p.add_argument("--window", type=float, default=None, help="seconds behind each answer (default: 4)")
    p.add_argument("--stride", type=float, default=None, help="seconds between windows (default: window / 2)")
    p.add_argument("--max-duration", type=float, default=None, help="refuse videos longer than this (seconds)")
    p.add_argument("--json", action="store_true", help="print one JSON object (segments, windows, video...)")
    p.add_argument("--csv", action="store_true", help="print the segments as CSV (start,end,label,score,windows)")
    p.set_defaults(func=cmd_timeline)


def cmd_timeline(args) -> int:
    from .video import VideoLimits, open_video

    _check_windows(args)
    limits = VideoLimits(max_duration_s=args.max_duration)
    open_video(args.video, limits).release()  # a bad file fails before torch and the model load
    from .config import DEFAULT_WINDOW_S
    from .timeline import build_timeline

    rec, export = _model(args.model, limits)
    tl = build_timeline(rec, args.video, args.window or DEFAULT_WINDOW_S, args.stride)
    export()
    if args.json:
        print(json.dumps(tl.to_dict()))
    elif args.csv:
        print(tl.to_csv(), end="")
    else:
        n = len(tl.windows)
        print(f"{args.video}: {tl.duration_s:.1f} s, {n} windows of {tl.window_s:g} s every {tl.stride_s:g} s")
        for s in tl.segments:
            print(f"  {s.start:8.2f} {s.end:8.2f}  {s.score:6.1%}  {s.label}")
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
    from .model import HybridCNNRNN

    url = push_folder(args.model_dir, args.repo_id, HybridCNNRNN, private=args.private, commit_message=args.message)
    print(f"pushed {args.model_dir} to {url}")
    return 0


def _recipe_flags() -> list[tuple[str, object]]:
    """(field name, default) of every recipe setting: the model's fields, then the training fields."""
    from dataclasses import fields

    from .recipe import MODEL_FIELDS, Recipe

    model = Recipe().model
    return [(k, getattr(model, k)) for k in MODEL_FIELDS] + [
        (f.name, f.default) for f in fields(Recipe) if f.name != "model"
    ]


def _recipe_args(p: argparse.ArgumentParser) -> None:
    """One --flag per recipe setting (hybrid.recipe.Recipe and its model), on top of an optional --recipe file."""
    p.add_argument("--recipe", default=None, help="JSON file of Recipe fields (e.g. a model's training.json)")
    g = p.add_argument_group("recipe (override --recipe)")
    for name, default in _recipe_flags():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            g.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None)
        elif name == "labels":
            g.add_argument(flag, dest=name, nargs="+", default=None, help="classes to use (default: all folders)")
        elif name in ("mirror_labels", "reverse_labels"):
            what = "mirrored" if name == "mirror_labels" else "played backwards"
            g.add_argument(flag, dest=name, default=None, metavar="'a=b,c'",
                           help=f"a clip {what} is one of another class: 'left=right,up' swaps left and right, keeps "
                           f"up; classes not named are never {what}")  # fmt: skip
        elif name == "image_size":
            g.add_argument(flag, dest=name, nargs=2, type=int, metavar=("H", "W"), default=None)
        elif isinstance(default, tuple):  # mean, std
            g.add_argument(flag, dest=name, nargs=len(default), type=float, default=None, help=f"default {default}")
        else:
            g.add_argument(flag, dest=name, type=type(default), default=None, help=f"default {default}")


def _recipe(args):
    import json as _json

    from .recipe import Recipe

    recipe = Recipe()
    if args.recipe:
        try:
            spec = _json.loads(open(args.recipe, encoding="utf-8").read())
            recipe = recipe.updated(spec.get("recipe", spec))  # a training.json holds {"recipe": ..., "history": ...}
        except (OSError, ValueError) as e:
            raise HybridError(f"can't read recipe {args.recipe}: {e}") from e
    given = {k: getattr(args, k) for k, _ in _recipe_flags() if getattr(args, k, None) is not None}
    return recipe.updated(given)


def _engine_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["auto", "torch", "openvino"],
        default="auto",
        help="CNN engine for the features of a frozen backbone on the CPU (default auto: OpenVINO when installed; the "
        "same features to fp16 rounding). A fine-tuned backbone or a GPU always runs PyTorch",
    )


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a folder of class folders of videos")
    p.add_argument("--data", required=True, help="folder: <class>/<video> (nested set folders allowed)")
    p.add_argument("--out", required=True, help="model folder to write (config.json, model.safetensors, README.md)")
    p.add_argument("--cache", default="cache/features", help="feature cache folder")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--card", default=None, help="JSON file of model card sections (metrics, limits, ...)")
    _engine_arg(p)
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="cross-validate first and store the open-set gates that accept 95%% of held-out clips",
    )
    p.add_argument(
        "--preset",
        choices=["few-shot"],
        default=None,
        help="few-shot: a few takes per action (2-10 actions, 2+ takes each): fast frozen features, epochs sized to "
        "the data, stratified k-fold cross-validation and the open-set gates, in seconds on a CPU",
    )
    _recipe_args(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from .train import train

    if args.preset == "few-shot":
        return _few_shot(args)
    from .distributed import world

    card = _read_json(args.card, "model card details")
    with world(args.device) as w:
        model = train(args.data, args.out, _recipe(args), args.cache, args.device, card=card, calibrate=args.calibrate,
                      engine=args.engine, world=w)  # fmt: skip
    if w.main:
        print(f"saved {args.out} ({len(model.labels)} classes: {', '.join(model.labels)})")
    return 0


def _few_shot(args) -> int:
    from .teach import teach

    if args.recipe or args.card or args.calibrate:
        raise HybridError(
            "--preset few-shot sets its own recipe, card and calibration: no --recipe, --card or --calibrate"
        )
    given = {k: getattr(args, k) for k, _ in _recipe_flags() if getattr(args, k, None) is not None}
    taught = teach(args.data, args.out, args.cache, given, device=args.device, quiet=False)
    s = taught.summary()
    print(f"{s['cv_protocol']} cross-validation: {taught.accuracy:.1%} of the takes right ({s['cv_correct']}), "
          f"each judged by a model that never saw it")  # fmt: skip
    for w in s["wrong"]:
        print(f"  wrong: {w['take']} taken for {w['pred']}")
    print(f"saved {args.out} ({len(taught.labels)} actions: {', '.join(taught.labels)}) in "
          f"{sum(taught.seconds.values()):.1f} s")  # fmt: skip
    return 0


def _add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="give a trained model the open-set gates of a cross-validation of its recipe")
    p.add_argument("--model", required=True, help="model folder (its training.json names the recipe)")
    p.add_argument("--data", required=True, help="the folder the model and the cross-validation were trained on")
    p.add_argument(
        "--cv",
        default=None,
        help="JSON report of `python -m hybrid eval --cv groups --json` on it (without one: the look gate alone, "
        "each training clip against the other groups' clips)",
    )
    p.add_argument("--out", default=None, help="model folder to write (default: --model, in place)")
    p.add_argument("--card", default=None, help="JSON file of model card sections: rewrite README.md from it")
    p.add_argument("--cache", default="cache/features", help="feature cache folder")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    from .train import calibrate

    cv, card = _read_json(args.cv, "cross-validation report"), _read_json(args.card, "model card details")
    _, o = calibrate(args.model, args.data, cv, args.out, args.cache, args.device, card=card)
    judged = "" if o["in_accepted_cv"] is None else f" ({o['in_accepted_cv']:.1%} with the other groups' thresholds)"
    print(f"calibrated {args.out or args.model}: {_gates(o)}; accepts {o['accept']:.0%} of the "
          f"{'held-out' if cv else 'training'} clips{judged}")  # fmt: skip
    return 0


def _gates(o: dict) -> str:
    """An open-set report's gates in words: "maxprob >= 0.37, similarity to the training clips >= 0.74"."""
    gates = [] if o["threshold"] is None else [f"{o['score']} >= {o['threshold']:.4g}"]
    gates += [] if o.get("similarity") is None else [f"similarity to the training clips >= {o['similarity']:.4g}"]
    return ", ".join(gates) or "no gate"


def _read_json(path: str | None, what: str):
    if path is None:
        return None
    try:
        return json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        raise HybridError(f"can't read {what} {path}: {e}") from e


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="accuracy of a model on a folder of videos, or cross-validation of a recipe")
    p.add_argument("--data", required=True, help="folder: <class>/<video> (nested set folders allowed)")
    p.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    p.add_argument(
        "--cv",
        nargs="+",
        default=None,
        metavar="groups|kfold K",
        help="cross-validate a training recipe: leave one group out, or K stratified folds of groups. Groups come "
        "from --group-pattern (a regex on file names, or a preset: ut-interaction); without one every clip is its "
        "own group, so 'groups' leaves one clip out and kfold splits clips. The report says which ('grouping')",
    )
    p.add_argument("--cache", default="cache/features", help="feature cache folder (--cv)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (--cv)")
    _engine_arg(p)
    p.add_argument(
        "--ood",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of out-of-domain videos (any depth; repeatable): adds the open-set rates",
    )
    _sampling_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _recipe_args(p)
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    if args.cv:
        kfold = _kfold(args.cv)  # before any work: a bad --cv fails at once
        from .distributed import world
        from .train import cross_validate, load_dataset, pick_device

        recipe = _recipe(args)
        with world(args.device) as w:  # under torchrun: clips and folds spread over the ranks, rank 0 reports
            device = w.device(pick_device(args.device))
            ds = load_dataset(args.data, recipe, args.cache, device, args.engine, quiet=not w.main, world=w)
            report = cross_validate(ds, recipe, device, quiet=not w.main, kfold=kfold, world=w)
        if not w.main:
            return 0
    else:
        from .evaluate import evaluate
        from .pipeline import Recognizer

        report = evaluate(Recognizer(args.model, sampling=args.sampling), args.data, args.ood)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"accuracy {report['accuracy']:.1%} on {report['n']} clips")
    if "sampling" in report:
        print(f"  frames sampled: {report['sampling']}")
    if args.cv:
        print(f"  {report['protocol']} cross-validation; groups: {report['grouping']}")
    for name, row in report["per_class"].items():
        acc = "n/a" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
        print(f"  {name:>20s}  {acc:>6s}  (n={row['n']})")
    o = report.get("openset")
    if o and args.cv:
        print(f"open set: {_gates(o)} accept {o['accept']:.0%} of the held-out clips"
              + ("" if o["in_accepted_cv"] is None else f" ({o['in_accepted_cv']:.1%} fold by fold)"))  # fmt: skip
    elif o:
        at = "no threshold stored" if o["threshold"] is None else f"threshold {o['threshold']:.4g}"
        if o["similarity_threshold"] is not None:
            at += f", similarity to the training clips {o['similarity_threshold']:.4g}"
        shares = (
            ""
            if o["in_accepted"] is None or o["ood_rejected"] is None
            else f": {o['in_accepted']:.1%} in-domain accepted, "
            f"{o['ood_rejected']:.1%} of {o['n_ood']} out-of-domain rejected"
        )
        auroc = "n/a" if o["auroc"] is None else f"{o['auroc']:.3f}"
        if o["auroc_similarity"] is not None:
            auroc += f" (similarity: {o['auroc_similarity']:.3f})"
        print(f"open set ({o['score']}, {at}){shares}; AUROC {auroc}")
    for fold in report.get("folds", []):
        print(f"  fold {fold['group']:>6s}: {fold['accuracy']:.1%} (n={fold['n']})")
    if report.get("unknown_classes"):
        print(
            "  not counted (unknown to the model): "
            + ", ".join(f"{k} ({v})" for k, v in report["unknown_classes"].items())
        )
    for err in report.get("errors", []):
        print(f"  could not read {err['path']}: {err['error']}")
    return 0


def _kfold(cv: list[str]) -> int | None:
    """--cv groups -> None (leave one group out); --cv kfold K -> K."""
    if cv == ["groups"]:
        return None
    if len(cv) == 2 and cv[0] == "kfold" and cv[1].isdigit() and int(cv[1]) >= 2:
        return int(cv[1])
    raise HybridError(f"--cv takes 'groups' or 'kfold K' (K >= 2 folds), not {' '.join(cv)!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hybrid", description="Hybrid CNN-RNN action recognition")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_predict(sub)
    _add_timeline(sub)
    _add_push(sub)
    _add_train(sub)
    _add_calibrate(sub)
    _add_eval(sub)
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
