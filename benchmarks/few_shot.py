"""Teaching from a few takes (hybrid/teach.py): how fast, and how good at k takes per action.

    python benchmarks/few_shot.py speed [--json]               # 3 actions x 5 takes of 3 s, end to end
    python benchmarks/few_shot.py share [--json]               # others' /predict latency while one teaches
    python benchmarks/few_shot.py curve [--draws 5] [--json] [--plot PNG]   # needs ../shared/data

speed: makes 15 webcam-like takes (640x480, 30 fps, 3 s, H.264: a shape moving one of three ways over noise) and
times `teach()` with an empty feature cache: features, cross-validation, the final model. Beside it, in the same
run, the features of the same takes the way a full recipe computes them (the idle model's: PyTorch engine, 4
augmented copies), for the ratio.

curve: the few-shot preset's accuracy with k = 1, 2, 3, 5, 10 takes per action, on clips of recording sequences
nothing was trained on. UT-Interaction (6 interactions): each draw puts half of each set's sequences in the pool,
draws k clips per class from it and tests on every clip of the other sequences (both scenes). EgoGestAR (10
gestures, no user ids): stratified, k clips per class drawn, tested on all the others. The preset's recipe is
used as teach() would size it for k clips per class (features from the cache, variant 0: as recorded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DATA = ROOT.parent / "shared" / "data"
UT = ["hand_shaking", "hugging", "kicking", "pointing", "punching", "pushing"]
KS = (1, 2, 3, 5, 10)


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# --- speed --------------------------------------------------------------------------------------------------
def webcam_take(path: Path, kind: str, rng: np.random.Generator, seconds: float = 3.0, fps: int = 30) -> Path:
    """A 640x480 H.264 take: a bright disc moving left, right or up over a noisy room-like background."""
    w, h, n = 640, 480, int(seconds * fps)
    base = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:h, :w]
    cx0, cy0 = rng.uniform(200, 440), rng.uniform(160, 320)
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r",
           str(fps), "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for t in range(n):
        s = t / (n - 1) - 0.5
        dx, dy = {"left": (-300 * s, 0), "right": (300 * s, 0), "up": (0, -240 * s)}[kind]
        img = base.copy()
        img[(xx - cx0 - dx) ** 2 + (yy - cy0 - dy) ** 2 < 45**2] = (230, 200, 60)
        img = np.clip(img.astype(np.int16) + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)
        proc.stdin.write(img.tobytes())
    proc.stdin.close()
    proc.wait()
    return path


def speed(workdir: Path) -> dict:
    import torch

    from hybrid.backbones import PACKAGED_IMAGENET
    from hybrid.features import FeatureCache, augment_variants
    from hybrid.model import HybridCNNRNN
    from hybrid.recipe import Recipe
    from hybrid.teach import teach

    rng = np.random.default_rng(0)
    data = workdir / "takes"
    for kind in ("left", "right", "up"):
        (data / kind).mkdir(parents=True)
        for k in range(5):
            webcam_take(data / kind / f"take{k}.mp4", kind, rng)
    log("15 takes made; teaching")
    t0 = time.perf_counter()
    taught = teach(data, workdir / "model", workdir / "cache")
    total = time.perf_counter() - t0
    log(f"taught in {total:.1f} s; the same takes' features as a full recipe computes them")
    spec = json.loads((ROOT / "assets/models/ut-interaction-idle-lite0/training.json").read_text())["recipe"]
    full = Recipe().updated(spec)
    encoder = HybridCNNRNN(full.model_config(["a", "b"], PACKAGED_IMAGENET))
    cache = FeatureCache(encoder, workdir / "cache-full", grid=full.grid, finetune=full.finetune)
    augs = augment_variants(full.aug_copies, full.flip, full.crop, full.color, seed=full.seed)
    t1 = time.perf_counter()
    for p in sorted(data.rglob("*.mp4")):
        cache.get(p, augs)
    full_features = time.perf_counter() - t1
    return {
        "takes": "3 actions x 5 takes, 3 s each, 640x480 30 fps H.264",
        "teach_total_s": round(total, 2),
        "teach_seconds": {k: round(v, 2) for k, v in taught.seconds.items()},
        "cv_accuracy": taught.accuracy,
        "cv_protocol": taught.cv["protocol"],
        "full_recipe_features_s": round(full_features, 2),
        "features_speedup": round(full_features / taught.seconds["features"], 2),
        "threads": torch.get_num_threads(),
    }


# --- others' clips while someone trains ---------------------------------------------------------------------
def share(workdir: Path, requests: int = 6) -> dict:
    """`python app.py` on a free port: /predict round trips of a 10 s 720p clip with nobody training, then while a
    /teach of the 15 takes runs on another client, in the same run (median seconds each, and the ratio)."""
    import os
    import subprocess as sp
    import threading

    from gradio_client import Client, handle_file
    from run import ffmpeg, free_port, make_clip_720p, med, stop_app, wait_for_port

    rng = np.random.default_rng(0)
    takes, labels = [], []
    for kind in ("left", "right", "up"):
        for k in range(5):
            takes.append(webcam_take(workdir / f"{kind}{k}.mp4", kind, rng))
            labels.append(kind)
    clip = make_clip_720p(workdir)
    copies = []
    for i in range(3 * requests + 1):  # byte-different copies: the app's result cache can't answer
        copies.append(workdir / f"clip{i}.mp4")
        ffmpeg("-i", str(clip), "-c", "copy", "-metadata", f"title=request {i}", str(copies[-1]))
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(workdir / "gradio"), "GRADIO_ANALYTICS_ENABLED": "0"}  # fmt: skip
    with open(workdir / "app.log", "w") as app_log:
        proc = sp.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=app_log, stderr=app_log)
    try:
        wait_for_port(port, proc, timeout=240)
        url = f"http://127.0.0.1:{port}/"
        user = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        trainer = Client(url, verbose=False, download_files=str(workdir / "dl"), analytics_enabled=False)

        def files() -> list:  # fresh handles each call (the client fills them in as it uploads)
            return [handle_file(str(p)) for p in takes]

        trainer.predict(files(), ",".join(labels), api_name="/teach")  # warm: the engine export, the code paths
        copies = iter(copies)
        user.predict(handle_file(str(next(copies))), api_name="/predict")

        def rounds(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                user.predict(handle_file(str(next(copies))), api_name="/predict")
                out.append(time.perf_counter() - t)
            return out

        idle = rounds(requests)
        done: dict = {}

        def teach_once() -> None:
            t = time.perf_counter()
            trainer.predict(files(), ",".join(labels), api_name="/teach")
            done["teach_s"] = time.perf_counter() - t

        thread = threading.Thread(target=teach_once)
        thread.start()
        busy = []
        while thread.is_alive() and len(busy) < 2 * requests:
            busy += rounds(1)
        thread.join()
        return {"predict_idle_s": round(med(idle), 3), "predict_while_teaching_s": round(med(busy), 3),
                "slowdown": round(med(busy) / med(idle), 2), "requests_while_teaching": len(busy),
                "teach_s_under_load": round(done["teach_s"], 2)}  # fmt: skip
    finally:
        stop_app(proc)


# --- learning curve -----------------------------------------------------------------------------------------
def curve(draws: int, ks: tuple[int, ...] = KS) -> dict:
    import torch

    from hybrid.teach import few_shot_recipe
    from hybrid.train import fit, load_dataset, new_model, predict_logits

    out: dict = {}
    for name, root, labels, pattern in [("ut-interaction", DATA / "ut-interaction", UT, "ut-interaction"),
                                        ("egogestar", DATA / "egogestar", None, "")]:  # fmt: skip
        if not root.is_dir():
            raise SystemExit(f"{root} is missing: the learning curve needs ../shared/data")
        base = few_shot_recipe(30, {"labels": labels, "group_pattern": pattern})
        ds = load_dataset(root, base, ROOT / "cache" / "features", quiet=True)
        keep = [i for i, s in enumerate(ds.samples) if s.label != "unclassified"]
        y, groups = np.array(ds.y), np.array([s.group for s in ds.samples])
        classes = sorted({int(y[i]) for i in keep})
        rows = {}
        for k in ks:
            accs = []
            for d in range(draws):
                rng = np.random.default_rng(1000 * k + d)
                if pattern:  # half of each set's sequences in the pool, the rest for testing
                    seqs = sorted(set(groups.tolist()), key=int)
                    pool_seqs = set()
                    for part in ([s for s in seqs if int(s) <= 10], [s for s in seqs if int(s) > 10]):
                        pool_seqs |= set(rng.permutation(part)[: len(part) // 2].tolist())
                    pool = [i for i in keep if groups[i] in pool_seqs]
                    test_of = [i for i in keep if groups[i] not in pool_seqs]
                else:
                    pool, test_of = keep, None
                train = []
                for c in classes:
                    cand = [i for i in pool if y[i] == c]
                    train += rng.choice(cand, size=min(k, len(cand)), replace=False).tolist()
                test = test_of if test_of is not None else [i for i in keep if i not in set(train)]
                recipe = few_shot_recipe(len(train), {"labels": labels, "group_pattern": pattern})
                model = new_model(recipe, ds.labels)
                fit(model, ds, train, [], recipe, "cpu", quiet=True)
                logits = predict_logits(model, ds, test, recipe, "cpu")
                if name == "egogestar":  # the gesture classes only (unclassified is not taught)
                    logits[:, [c for c in range(len(ds.labels)) if c not in classes]] = -torch.inf
                accs.append(float((logits.argmax(1).numpy() == y[test]).mean()))
            rows[k] = {"mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4),
                       "draws": [round(a, 4) for a in accs]}  # fmt: skip
            log(f"{name} k={k}: {rows[k]['mean']:.3f} ± {rows[k]['std']:.3f}")
        out[name] = {"classes": len(classes), "test": "other sequences" if pattern else "the other clips",
                     "accuracy": rows}  # fmt: skip
    return out


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    for name, colour in (("ut-interaction", "#e8590c"), ("egogestar", "#1c7ed6")):
        rows = result[name]["accuracy"]
        ks = [int(k) for k in rows]
        m = np.array([rows[k]["mean"] for k in rows])
        s = np.array([rows[k]["std"] for k in rows])
        ax.plot(ks, m, "o-", color=colour, label=f"{name} ({result[name]['classes']} classes)")
        ax.fill_between(ks, m - s, m + s, color=colour, alpha=0.15, lw=0)
        ax.axhline(1 / result[name]["classes"], color=colour, ls=":", lw=1)  # chance
    ax.set_xscale("log")
    ax.set_xticks(list(KS), [str(k) for k in KS])
    ax.set_ylim(0, 1)
    ax.set_xlabel("takes per action")
    ax.set_ylabel("accuracy on unseen clips")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title("Few-shot preset: accuracy vs takes per action (dotted: chance)", loc="left", fontsize=11)
    fig.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["speed", "share", "curve"])
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--plot", default=None, help="curve: save the picture here (PNG)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="few-shot-") as tmp:
        work = Path(tmp)
        result = {"speed": speed, "share": share, "curve": lambda _: curve(args.draws)}[args.what](work)
    if args.plot and args.what == "curve":
        plot(result, Path(args.plot))
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
