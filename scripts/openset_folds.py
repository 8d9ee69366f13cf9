"""Per leave-one-sequence-out fold of a model's recipe: what open-set scores are made of, for choosing a method.

    python scripts/openset_folds.py MODEL_NAME OUT_DIR [FOLD_INDICES]  (e.g. ut-interaction-idle-lite0 /tmp/folds)

For each fold (or the comma-separated fold indices given) a fresh model is trained on the other sequences, as
`eval --cv groups` does, and OUT_DIR/fold<group>.npz gets the held-out clips' logits, pooled RNN states (the
classifier's input) and mean frame features, the same for the fold's training clips (the exemplars a
nearest-neighbour score compares with) and for out-of-domain sets scored by that fold's model: generated clips
(/tmp/ood_generated, from scripts/ood_clips.py with seed 0), EgoGestAR, the demo clips, and set 1's no-interaction
clips when the model does not know that class. scripts/openset_select.py reads them.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hybrid.backbones import PACKAGED_IMAGENET  # noqa: E402
from hybrid.data import Sample, leave_one_group_out  # noqa: E402
from hybrid.features import Augment, FeatureCache  # noqa: E402
from hybrid.model import HybridCNNRNN  # noqa: E402
from hybrid.train import Dataset, Recipe, Trainable, _batch, fit, load_dataset, new_model  # noqa: E402
from hybrid.video import VIDEO_EXTS  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OOD = {"gen": Path("/tmp/ood_generated"), "ego": DATA / "egogestar", "demo": DATA / "demo-clips"}


def main(name: str, out: Path, only: list[int] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spec = json.loads((ROOT / "assets" / "models" / name / "training.json").read_text())["recipe"]
    recipe = Recipe().updated(spec)
    cache_dir = ROOT / "cache" / "features"
    ds = load_dataset(DATA / "ut-interaction", recipe, cache_dir)
    encoder = HybridCNNRNN(recipe.model_config(ds.labels, PACKAGED_IMAGENET))
    cache = FeatureCache(encoder, cache_dir, grid=recipe.grid, finetune=recipe.finetune)

    def folder(root: Path) -> Dataset:
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTS)
        d = Dataset([Sample(p, "x", p.parent.name) for p in paths], ds.labels, [0] * len(paths))
        d.feats = [cache.get(p, [Augment()]) for p in paths]
        return d

    sets = {k: folder(v) for k, v in OOD.items()}
    if "no_interaction" not in ds.labels:
        sets["noint"] = folder(DATA / "ut-interaction" / "set1" / "no_interaction")
    meta = {"labels": ds.labels, "y": ds.y, "groups": [s.group for s in ds.samples]}
    (out / "meta.json").write_text(json.dumps({**meta, **{f"{k}_paths": [str(s.path) for s in v.samples]
                                                          for k, v in sets.items()}}))  # fmt: skip

    @torch.no_grad()
    def run(model: HybridCNNRNN, d: Dataset, idx: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> logits [N,K], pooled RNN state [N,H'], mean frame feature [N,D]."""
        net = Trainable(model, recipe.finetune).eval()
        states: list[torch.Tensor] = []
        hook = model.head.classifier.register_forward_pre_hook(lambda m, a: states.append(a[0][:, -1].clone()))
        logits, feats = [], []
        for b in range(0, len(idx), 16):
            x, _ = _batch(d, idx[b : b + 16], recipe, None, "cpu")
            f = net.features(x)
            logits.append(net.head(f).logits.float())
            feats.append(f.mean(1))
        hook.remove()
        return torch.cat(logits).numpy(), torch.cat(states).numpy(), torch.cat(feats).numpy()

    template = new_model(recipe, ds.labels)
    for i, (group, train, test) in enumerate(leave_one_group_out(ds.samples)):
        if (only is not None and i not in only) or (out / f"fold{group}.npz").exists():
            continue
        t0 = time.time()
        model = copy.deepcopy(template)
        fit(model, ds, train, [], recipe, "cpu", quiet=True)
        res = {"test": np.array(test), "train": np.array(train)}
        for part, d, idx in [("test", ds, test), ("train", ds, train)] + [
            (k, v, list(range(len(v.samples)))) for k, v in sets.items()
        ]:
            res[f"{part}_logits"], res[f"{part}_emb"], res[f"{part}_feat"] = run(model, d, idx)
        np.savez(out / f"fold{group}.npz", **res)
        acc = (res["test_logits"].argmax(1) == np.array(ds.y)[test]).mean()
        print(f"fold {group}: accuracy {acc:.3f}, {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else None)
