"""Many leave-one-group-out runs at once on a big machine (16 cores + a GPU), within a time limit.

    python scripts/parallel_cv.py --data DIR --base BASE.json --runs RUNS.json --out OUT_DIR \
        [--shards 2] [--minutes 7] [--device cuda]

RUNS.json maps a run name to Recipe fields on top of BASE.json. First every distinct CNN setting is
encoded once (one process each, in parallel), then each run's folds are split over `--shards`
processes of scripts/cv_search.py. At the deadline unfinished processes are killed; OUT_DIR gets
summary.json (one entry per run, its shards' folds merged) and logs.txt.

Measured on an H200 with 16 cores: 8 processes sharing the GPU ran a --finetune 3 recipe's 16 folds in
3.4 min (features 51 s, then ~72 s per fold and process); 20 processes were too many (a frozen-backbone
fold took 57 s each, slower than on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from cv_search import cnn_key  # noqa: E402

from hybrid.train import Recipe  # noqa: E402

WARM = "import sys; sys.path.insert(0, {root!r}); from hybrid.train import Recipe, load_dataset; import json; " \
       "load_dataset({data!r}, Recipe().updated(json.loads({spec!r})), {cache!r}, {device!r})"  # fmt: skip


def wait_all(procs: list[subprocess.Popen], deadline: float) -> None:
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()


def merge(rows: list[dict]) -> dict:
    """One run's shard rows -> accuracy over all their folds (test-time views weighted by fold size)."""
    folds = sorted((f for r in rows for f in r["folds"]), key=lambda f: str(f["group"]))
    n = sum(f["n"] for f in folds)
    correct = sum(f["accuracy"] * f["n"] for f in folds)
    tta = {}
    for name in rows[0]["tta"]:
        tta[name] = round(sum(r["tta"][name] * r["n"] for r in rows) / n, 4)
    wrong = [(f["group"], t, p) for f in folds for t, p in zip(f["truth"], f["pred"]) if t != p]
    return {"accuracy": round(correct / n, 4), "n": n, "tta": tta, "wrong": wrong,
            "seconds": max(r["seconds"] for r in rows), "combo": rows[0]["combo"], "folds": folds}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--base", required=True, help="JSON file: the Recipe every run starts from (or training.json)")
    ap.add_argument("--runs", required=True, help="JSON file: run name -> Recipe fields")
    ap.add_argument("--override", default="{}", help="JSON: fields forced on every run (a dry run: epochs 1)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", default="/tmp/parallel_cv_features")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=7.0)
    args = ap.parse_args()
    t0 = time.time()
    deadline = t0 + 60 * args.minutes
    out, work = Path(args.out), Path(args.cache) / "runs"
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    base = json.loads(Path(args.base).read_text())
    base = base.get("recipe", base)  # a model's training.json works too
    override = json.loads(args.override)
    runs = {k: {**base, **v, **override} for k, v in json.loads(Path(args.runs).read_text()).items()}
    for spec in runs.values():
        Recipe().updated(spec)  # unknown fields fail here, not in 20 processes

    cnn = {cnn_key(Recipe().updated(spec)): spec for spec in runs.values()}  # one feature pass per CNN setting
    logs: list[Path] = []

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen:
        logs.append(work / f"{name}.log")
        return subprocess.Popen(cmd, cwd=ROOT, stdout=logs[-1].open("w"), stderr=subprocess.STDOUT)

    warm = []
    for i, spec in enumerate(cnn.values()):
        code = WARM.format(root=str(ROOT), data=args.data, spec=json.dumps(spec), cache=args.cache, device=args.device)
        warm.append(spawn(f"features{i}", [sys.executable, "-c", code]))
    wait_all(warm, deadline)
    print(f"features: {time.time() - t0:.0f} s", flush=True)

    procs = []
    for name, spec in runs.items():
        for i in range(args.shards):
            res = work / f"{name}_{i}.jsonl"
            res.unlink(missing_ok=True)
            cmd = [sys.executable, "scripts/cv_search.py", "--data", args.data, "--group-pattern",
                   spec.get("group_pattern") or "", "--base", json.dumps(spec), "--cache", args.cache,
                   "--device", args.device, "--shard", f"{i}/{args.shards}", "--out", str(res)]  # fmt: skip
            procs.append(spawn(f"{name}_{i}", cmd))
    wait_all(procs, deadline)

    summary = {}
    for name in runs:
        files = [work / f"{name}_{i}.jsonl" for i in range(args.shards)]
        rows = [json.loads(line) for f in files if f.is_file() for line in f.open()]
        summary[name] = merge(rows) if rows else {"accuracy": None, "unfinished": True}
        print(name, summary[name].get("accuracy"), summary[name].get("n"), summary[name].get("tta"), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    with (out / "logs.txt").open("w") as f:
        for log in logs:
            lines = log.read_text(errors="replace").replace("\r", "\n").splitlines() if log.is_file() else []
            f.write(f"== {log.name}\n" + "\n".join(lines[-8:]) + "\n")
    print(f"total: {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
