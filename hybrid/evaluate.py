"""Evaluating a trained model on a folder of class folders of videos, through the real prediction path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import openset
from .data import scan_folder
from .errors import DataError, HybridError
from .pipeline import Recognizer
from .train import summarize
from .video import VIDEO_EXTS


def videos_under(folder: str | Path) -> list[Path]:
    """Every video file under `folder`, at any depth (an out-of-domain folder needs no class folders)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder of videos")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTS)


def evaluate(
    recognizer: Recognizer, data: str | Path, ood: list[str | Path] = (), quiet: bool = False
) -> dict[str, Any]:  # fmt: skip
    """Accuracy, n, per-class accuracy and confusion of `recognizer` on every clip under `data`; with `ood`
    folders (every video under them is out of the model's domain) also "openset": the share of in-domain clips
    accepted and of out-of-domain ones rejected by the model's open-set gates, and the AUROC of its open-set score
    (and of its similarity to the training clips, when it stores them).

    Classes the model does not know are reported (unknown_classes), not counted; clips that fail
    to decode are listed under errors and not counted either.
    """
    t0 = time.time()
    labels = recognizer.labels
    samples = scan_folder(data)
    known = [s for s in samples if s.label in labels]
    unknown: dict[str, int] = {}
    for s in samples:
        if s.label not in labels:
            unknown[s.label] = unknown.get(s.label, 0) + 1
    y_true, y_pred, errors, in_scored, accepted = [], [], [], [], []
    for s in tqdm(known, desc="eval", unit="clip", disable=quiet):
        try:
            pred = recognizer(s.path, topk=1)
        except HybridError as e:
            errors.append({"path": str(s.path), "error": str(e)})
            continue
        y_true.append(labels.index(s.label))
        y_pred.append(labels.index(pred.label))
        in_scored.append(openset.Scored(pred.openset_score, pred.similarity))
        accepted.append(pred.known is not False)
    report = summarize(y_true, y_pred, labels)
    if ood:
        cfg = recognizer.model.config
        gates = (cfg.openset_threshold, cfg.openset_similarity)
        per_folder: dict[str, list[openset.Scored]] = {}
        clips = [(str(d), p) for d in ood for p in videos_under(d)]
        for folder, path in tqdm(clips, desc="ood", unit="clip", disable=quiet):
            try:
                pred = recognizer(path, topk=1)
            except HybridError as e:
                errors.append({"path": str(path), "error": str(e)})
                continue
            per_folder.setdefault(folder, []).append(openset.Scored(pred.openset_score, pred.similarity))
        right = [t == p for t, p, a in zip(y_true, y_pred, accepted) if a]
        report["openset"] = {
            **openset.rates(in_scored, [c for v in per_folder.values() for c in v], *gates),
            "score": cfg.openset_score,
            "accuracy_accepted": sum(right) / len(right) if right else None,
            "per_ood_folder": {k: openset.rates([], v, *gates) for k, v in per_folder.items()},
        }
    report.update(
        sampling=recognizer.sampling, unknown_classes=unknown, errors=errors, seconds=round(time.time() - t0, 1)
    )
    return report
