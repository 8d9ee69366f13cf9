"""Evaluating a trained model on a folder of class folders of videos, through the real prediction path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .data import scan_folder
from .errors import HybridError
from .pipeline import Recognizer
from .train import summarize


def evaluate(recognizer: Recognizer, data: str | Path, quiet: bool = False) -> dict[str, Any]:
    """Accuracy, n, per-class accuracy and confusion of `recognizer` on every clip under `data`.

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
    y_true, y_pred, errors = [], [], []
    for s in tqdm(known, desc="eval", unit="clip", disable=quiet):
        try:
            pred = recognizer(s.path, topk=1)
        except HybridError as e:
            errors.append({"path": str(s.path), "error": str(e)})
            continue
        y_true.append(labels.index(s.label))
        y_pred.append(labels.index(pred.label))
    report = summarize(y_true, y_pred, labels)
    report.update(unknown_classes=unknown, errors=errors, seconds=round(time.time() - t0, 1))
    return report
