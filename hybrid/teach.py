"""Teach it your own actions: a few takes per action -> a model, its cross-validated accuracy and open-set gates.

The one function behind `python -m hybrid train --preset few-shot` and the app's Teach tab. Sized for a CPU and a
handful of takes: the frozen ImageNet CNN on the fast engine (OpenVINO when installed), each take decoded and
encoded once (`grid` frames; every epoch draws its temporal jitter from them), no image augmentation (a mirrored
take may be another action: left vs right), epochs sized to the data. Every take is held out once: stratified
k-fold, k = min(5, takes of the rarest action), which is leave-one-take-out per action at 2 to 5 takes.
"Not one of these" is the look gate alone (a clip unlike every take): the softmax of a head trained on a handful of
takes is not calibrated (with the score gate too, a third of the held-out synthetic takes were turned away), and
from so few held-out takes the thresholds reach below the lowest (openset.joint_thresholds).
"""

from __future__ import annotations

import math
import zipfile
from collections import Counter
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from .data import scan_folder
from .errors import DataError
from .recipe import Recipe

MIN_ACTIONS, MAX_ACTIONS = 2, 10
MIN_TAKES = 2  # per action, to hold each take out once
MAX_FOLDS = 5
TARGET_STEPS = 60  # optimizer steps a head gets (epochs = this / batches per epoch, within EPOCHS)
EPOCHS = (30, 120)
# What sets few-shot training apart from a full recipe (the model's own fields: Recipe.updated takes both).
FEW_SHOT: dict[str, Any] = {
    "group_pattern": "",  # each take is its own group
    "finetune": 0,
    "aug_copies": 1,
    "flip": False,
    "crop": False,
    "color": False,
    "grid": 32,
    "val_groups": 0,
    "image_size": (224, 320),
    "spatial_pool": "1x3",
    "motion": True,
    "dropout": 0.3,
    "storage_dtype": "float16",
}
MODEL_FILES = ("config.json", "model.safetensors", "README.md", "training.json")


def folds_for(counts: dict[str, int]) -> int:
    """Cross-validation folds for these takes per action: min(5, the rarest action's takes). DataError when there
    are too few actions or takes to train and measure a model."""
    if not MIN_ACTIONS <= len(counts) <= MAX_ACTIONS:
        raise DataError(f"teach {MIN_ACTIONS} to {MAX_ACTIONS} actions at a time; there are {len(counts)}")
    few = sorted(a for a, n in counts.items() if n < MIN_TAKES)
    if few:
        raise DataError(f"every action needs at least {MIN_TAKES} takes (so each can be tested on a take it did "
                        f"not learn from); too few: {', '.join(few)}")  # fmt: skip
    return min(MAX_FOLDS, min(counts.values()))


def few_shot_recipe(n_train: int, overrides: dict[str, Any] | None = None) -> Recipe:
    """The few-shot recipe for a model that trains on n_train takes (FEW_SHOT, epochs sized to the data), with
    any recipe fields in `overrides` on top."""
    recipe = Recipe().updated(FEW_SHOT)
    batches = max(1, math.ceil(n_train / recipe.batch_size))
    recipe = replace(recipe, epochs=int(min(max(TARGET_STEPS // batches, EPOCHS[0]), EPOCHS[1])))
    return recipe.updated(overrides or {})


@dataclass
class Taught:
    """A taught model: its folder, the measured cross-validation and what it took."""

    out: Path
    labels: list[str]
    counts: dict[str, int]
    cv: dict[str, Any]
    seconds: dict[str, float]
    wrong: list[dict[str, Any]]  # the takes the held-out folds got wrong: {"path", "truth", "pred"}

    @property
    def accuracy(self) -> float:
        return float(self.cv["accuracy"])

    def summary(self) -> dict[str, Any]:
        """JSON: the actions, takes per action, CV accuracy and confusion, the open-set gates, the seconds."""
        o = self.cv["openset"]
        return {
            "labels": self.labels,
            "takes": self.counts,
            "cv_protocol": self.cv["protocol"],
            "cv_accuracy": self.accuracy,
            "cv_correct": f"{round(self.accuracy * self.cv['n'])}/{self.cv['n']}",
            "confusion": self.cv["confusion"],
            # "take", not "path": gradio_client takes any {"path": ...} in an answer for a file to download
            "wrong": [
                {
                    "take": f"{Path(w['path']).parent.name}/{Path(w['path']).name}",
                    "truth": w["truth"],
                    "pred": w["pred"],
                }
                for w in self.wrong
            ],  # fmt: skip
            "openset": {
                "threshold": o["threshold"],
                "similarity": o["similarity"],
                "in_accepted_cv": o["in_accepted_cv"],
            },  # fmt: skip
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def teach(
    data: str | Path,
    out: str | Path,
    cache_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    progress=None,
    device: str = "cpu",
    quiet: bool = True,
) -> Taught:
    """Train a few-shot model on `data` (<action>/<take> video files), cross-validated and calibrated, into `out`
    (config.json, model.safetensors with the open-set exemplars, README.md, training.json). `progress(stage, done,
    total)` hears of every take's features, every fold and every epoch. DataError on takes that can't be used."""
    from .train import run_training

    counts = dict(sorted(Counter(s.label for s in scan_folder(data, "")).items()))
    k = folds_for(counts)
    n = sum(counts.values())
    recipe = few_shot_recipe(n - n // k, overrides)  # sized to a fold's training takes
    if recipe.labels is not None and set(recipe.labels) != set(counts):
        raise DataError("the few-shot preset trains every action folder it finds (no --labels)")

    card = partial(_card, counts, recipe=recipe)  # written once the cross-validation has its figure
    trained = run_training(data, out, recipe, cache_dir, device, card, calibrate=True, kfold=k, engine="auto",
                           progress=progress, quiet=quiet, score_gate=False)  # fmt: skip
    cv = trained.cv
    assert cv is not None  # calibrate=True always cross-validates
    samples = trained.ds.samples
    wrong = [{"path": str(samples[i].path), "truth": cv["labels"][t], "pred": cv["labels"][p]}
             for f in cv["folds"] for i, t, p in zip(f["test"], f["truth"], f["pred"]) if t != p]  # fmt: skip
    return Taught(Path(out), list(cv["labels"]), counts, cv, trained.seconds, wrong)


def _card(counts: dict[str, int], cv: dict[str, Any] | None, recipe: Recipe) -> dict[str, Any]:
    """The model card of a taught model: its data, how it was measured, what it scored."""
    takes = ", ".join(f"{a} ({n})" for a, n in counts.items())
    out: dict[str, Any] = {
        "title": f"Taught actions: {', '.join(counts)} (hybrid CNN-RNN, few-shot)",
        "summary": "A model taught from a few takes per action: an ImageNet EfficientNet-Lite0, frozen, encodes "
        f"{recipe.num_frames} frames sampled over the clip; a GRU reads them in order and names the action.",
        "data": f"{sum(counts.values())} takes of {len(counts)} actions: {takes}. The takes are not distributed "
        "with the model.",
        "limits": "Taught from a handful of takes of one person, place and camera: it knows those; other people, "
        "places or viewpoints may need takes of their own. Not for surveillance or any decision about people.",
    }
    if cv is not None:
        out["protocol"] = (f"{cv['protocol'].capitalize()} cross-validation: every take is tested once by a model "
                           f"trained on the other folds' takes; {recipe.epochs} epochs, frozen backbone.")  # fmt: skip
        out["metrics"] = {"cv_accuracy": round(float(cv["accuracy"]), 4),
                          "cv_correct": f"{round(cv['accuracy'] * cv['n'])}/{cv['n']}"}  # fmt: skip
    return out


def zip_model(folder: str | Path, dest: str | Path) -> Path:
    """The model folder's files (MODEL_FILES that exist) in one zip at `dest`, at its top level."""
    folder, dest = Path(folder), Path(dest)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for name in MODEL_FILES:
            if (folder / name).is_file():
                z.write(folder / name, name)
    return dest


__all__ = ["FEW_SHOT", "Taught", "folds_for", "few_shot_recipe", "teach", "zip_model"]
