"""Leave-one-group-out search over training recipes (how the bundled model's recipe was chosen).

    python scripts/cv_search.py --data ../shared/data/ut-interaction --group-pattern ut-interaction \
        --grid '{"spatial_pool": ["avg", "2x2"]}' --base '{"epochs": 60}' --out cache/cv.jsonl

Every combination of the --grid values (on top of --base) is cross-validated; one JSON line per recipe.
Features are cached, so recipes that share the CNN settings share one CNN pass. On a big machine, run it under
`torchrun --standalone --nproc_per_node N scripts/cv_search.py ...`: clips and folds are spread over the N
processes and rank 0 writes the lines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybrid.distributed import World, world  # noqa: E402
from hybrid.train import Recipe, cross_validate, load_dataset, pick_device  # noqa: E402

CNN_KEYS = (
    "backbone",
    "image_size",
    "resize_mode",
    "spatial_pool",
    "grid",
    "aug_copies",
    "flip",
    "crop",
    "color",
    "finetune",
)


def cnn_key(recipe: Recipe) -> str:
    """The settings that decide the cached features: recipes with equal keys share one CNN pass."""
    flat = {**recipe.to_dict()["model"], **recipe.to_dict()}
    return json.dumps({k: flat[k] for k in CNN_KEYS}, sort_keys=True, default=list)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--group-pattern", default="ut-interaction")
    ap.add_argument("--labels", nargs="*", default=None)
    ap.add_argument("--base", default="{}", help="JSON: Recipe fields shared by every run")
    ap.add_argument("--grid", default="{}", help="JSON: Recipe field -> list of values to try")
    ap.add_argument("--cache", default="cache/features")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    base = Recipe(group_pattern=args.group_pattern, labels=args.labels).updated(json.loads(args.base))
    grid = json.loads(args.grid)
    with world(args.device) as w:  # under torchrun: clips and folds spread over the ranks, rank 0 writes
        run(args, base, grid, w)


def run(args, base: Recipe, grid: dict, w: World) -> None:
    device = w.device(pick_device(args.device))
    combos = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())] or [{}]
    # group the runs by CNN settings so each feature set is loaded once
    combos.sort(key=lambda c: cnn_key(base.updated(c)))
    datasets: dict[str, object] = {}
    for combo in combos:
        recipe = base.updated(combo)
        key = cnn_key(recipe)
        if key not in datasets:
            datasets.clear()
            t0 = time.time()
            datasets[key] = load_dataset(args.data, recipe, args.cache, device, quiet=not w.main, world=w)
            if w.main:
                print(f"# features {key}: {time.time() - t0:.0f} s", flush=True)
        report = cross_validate(datasets[key], recipe, device, world=w)  # a folds bar on stderr
        row = {
            "combo": combo,
            "accuracy": round(report["accuracy"], 4),
            "n": report["n"],
            "mean_fold": round(report["mean_fold_accuracy"], 4),
            "flip_tta": report["accuracy_flip_tta"],
            "tta": report["accuracy_tta"],
            "seconds": report["seconds"],
            "confusion": report["confusion"],
            "folds": report["folds"],
            "recipe": recipe.to_dict(),
        }
        if not w.main:
            continue
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
