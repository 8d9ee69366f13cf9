"""Open-set methods compared on the folds of scripts/openset_folds.py, and one chosen per outer fold on the others.

    python scripts/openset_select.py FOLDS_DIR

Every method's thresholds come from the other folds' held-out clips (accepting 95 %; a pair of gates: the same
share of each, the largest that keeps 95 % jointly); each fold's clips and each out-of-domain set (scored by that
fold's model) are then judged. The nested choice picks, for each outer fold, the method with the best in-domain
acceptance + generated-clip rejection on the other folds alone (EgoGestAR and the demo clips play no part in it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybrid import openset  # noqa: E402

CANDIDATES = ["maxprob", "energy", "knn_emb3", "knn_feat1", "maxprob+knn_feat1", "energy+knn_feat1",
              "knn_emb3+knn_feat1"]  # fmt: skip


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)


def knn(q: np.ndarray, ex: np.ndarray, k: int) -> np.ndarray:
    """Cosine similarity of each query to its k-th nearest exemplar."""
    return np.sort(unit(q) @ unit(ex).T, 1)[:, ::-1][:, k - 1]


def scores(f: dict, part: str) -> dict[str, np.ndarray]:
    logits = f[f"{part}_logits"]
    z = logits - logits.max(1, keepdims=True)
    out = {"maxprob": (np.exp(z) / np.exp(z).sum(1, keepdims=True)).max(1), "maxlogit": logits.max(1),
           "energy": logits.max(1) + np.log(np.exp(z).sum(1))}  # fmt: skip
    for k in (1, 3, 10):
        out[f"knn_emb{k}"] = knn(f[f"{part}_emb"], f["train_emb"], k)
        out[f"knn_feat{k}"] = knn(f[f"{part}_feat"], f["train_feat"], k)
    return out


def main(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    sets = [k[: -len("_paths")] for k in meta if k.endswith("_paths")]
    S = {p.stem[4:]: {part: scores(dict(np.load(p)), part) for part in ["test", *sets]}
         for p in sorted(folder.glob("fold*.npz"))}  # fmt: skip
    groups = list(S)

    def judge(method: str, fold: str, train: list[str]) -> dict[str, np.ndarray]:
        names = method.split("+")
        pooled = [np.concatenate([S[g]["test"][m] for g in train]) for m in names]
        if len(names) == 1:
            t = [openset.threshold_at(pooled[0])]
        else:
            t = list(openset.joint_thresholds(pooled[0], pooled[1]))
        ok = lambda part: np.all([S[fold][part][m] >= x for m, x in zip(names, t)], 0)  # noqa: E731
        return {"in": ok("test"), **{p: ~ok(p) for p in sets}}

    def table(method: str, within: list[str]) -> dict[str, float]:
        per = [judge(method, g, [h for h in within if h != g]) for g in within]
        return {"in": float(np.concatenate([r["in"] for r in per]).mean()),
                **{p: float(np.mean([r[p].mean() for r in per])) for p in sets}}  # fmt: skip

    methods = list(S[groups[0]]["test"]) + [f"{a}+{b}" for a in ("maxprob", "energy", "knn_emb3")
                                            for b in ("knn_feat1", "knn_feat3", "knn_feat10")]  # fmt: skip
    print(f"{'method':24s} {'in acc':>7s} " + " ".join(f"{p + ' rej':>9s}" for p in sets))
    for m in methods:
        r = table(m, groups)
        print(f"{m:24s} {r['in']:7.3f} " + " ".join(f"{r[p]:9.3f}" for p in sets))
    picked, outer = {}, []
    for g in groups:
        inner = [h for h in groups if h != g]
        crit = {m: (round(sum(table(m, inner)[k] for k in ("in", "gen")), 6), -CANDIDATES.index(m)) for m in CANDIDATES}
        picked[g] = max(crit, key=crit.get)
        outer.append(judge(picked[g], g, inner))
    print("picked per outer fold:", picked)
    print(f"nested, outer folds: in-domain accepted {np.concatenate([r['in'] for r in outer]).mean():.3f}, "
          + ", ".join(f"{p} rejected {np.mean([r[p].mean() for r in outer]):.3f}" for p in sets))  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
