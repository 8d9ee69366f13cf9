"""Training a HybridCNNRNN on a folder of videos, and leave-one-group-out cross-validation of a recipe.

The backbone (ImageNet Lite0 by default) stays frozen, or only its last `finetune` units train: either
way FeatureCache holds what enters the trainable part, so an epoch costs the RNN head (plus those units)
and never the whole CNN. Temporal jitter: each epoch draws one frame at random inside each
of T equal segments of the clip; at test time the segment centres are used, as Recognizer does.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import openset
from .backbones import PACKAGED_IMAGENET, split_backbone
from .data import Sample, leave_one_group_out, scan_folder, split_groups, stratified_kfold
from .distributed import World
from .errors import DataError
from .features import Augment, FeatureCache, augment_variants
from .model import HybridCNNRNN
from .recipe import Recipe, label_swaps
from .video import claimed_seconds, uniform_indices


@dataclass
class Dataset:
    samples: list[Sample]
    labels: list[str]
    y: list[int]
    feats: list[list[torch.Tensor]] = field(default_factory=list)  # [sample][variant] -> [grid, D] or [grid, C, h, w]
    flipped: list[bool] = field(default_factory=list)  # [variant]: a mirror image
    mirror: dict[int, int] = field(default_factory=dict)  # class -> class of its mirror image (recipe.mirror_labels)
    reverse: dict[int, int] = field(default_factory=dict)  # class -> class played backwards (recipe.reverse_labels)


def pick_device(name: str = "auto") -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


Progress = Callable[[str, int, int], Any]  # (stage: "features" | "folds" | "epochs", done, total)


def load_dataset(data: str | Path, recipe: Recipe, cache_dir: str | Path, device: str = "cpu", engine: str = "torch",
                 progress: Progress | None = None, quiet: bool = False, world: World = World()) -> Dataset:  # fmt: skip
    """Scan the folder and fill the feature cache (one CNN pass per clip and augmentation; `engine` "auto" takes
    the fast CNN engine for a frozen backbone on the CPU). Under torchrun each rank computes a disjoint share of
    the clips into the shared cache, then, after a barrier, every rank reads them all from it."""
    samples = scan_folder(data, recipe.group_pattern, recipe.labels)
    labels = recipe.labels or sorted({s.label for s in samples})
    encoder = HybridCNNRNN(recipe.model_config(labels, PACKAGED_IMAGENET))
    cache = FeatureCache(encoder, cache_dir, grid=recipe.grid, device=device, finetune=recipe.finetune, engine=engine)
    mirror, reverse = (
        {labels.index(a): labels.index(b) for a, b in label_swaps(spec, labels, name).items()}
        for name, spec in (("mirror_labels", recipe.mirror_labels), ("reverse_labels", recipe.reverse_labels))
    )
    augs = augment_variants(recipe.aug_copies, recipe.flip or bool(mirror), recipe.crop, recipe.color, recipe.seed)
    ds = Dataset(samples, labels, [labels.index(s.label) for s in samples], flipped=[a.flip for a in augs],
                 mirror=mirror, reverse=reverse)  # fmt: skip
    if world.size > 1:  # each clip computed once, by one rank
        mine = world.shard(samples)
        for s in tqdm(mine, desc=f"features (rank 0 of {world.size})", unit="clip", disable=quiet or not world.main):
            cache.get(s.path, augs)
        world.barrier()
    for i, s in enumerate(tqdm(samples, desc="features", unit="clip", disable=quiet or world.size > 1)):
        ds.feats.append(cache.get(s.path, augs))
        if progress is not None:
            progress("features", i + 1, len(samples))
    return ds


def sample_positions(grid: int, num: int, rng: np.random.Generator | None, view: tuple[int, int] = (0, 1)) -> list[int]:
    """num positions among `grid` encoded frames: random inside each segment (jitter), or for testing
    view k of V: every V-th of num * V uniform positions from the k-th (V = 1: the segment centres)."""
    if rng is None:
        k, V = view
        return uniform_indices(grid, num * V)[k::V]
    edges = np.linspace(0, grid, num + 1)
    return [int(rng.integers(int(a), max(int(a) + 1, int(math.ceil(b))))) for a, b in zip(edges[:-1], edges[1:])]


def _batch(
    ds: Dataset, idx: list[int], recipe: Recipe, rng: np.random.Generator | None, device: str, variant=0, view=(0, 1)
):
    """Features [B,T,...] and labels [B] of clips idx: for training (rng given) a random cached variant of each,
    jittered, maybe played backwards; mirrored and reversed clips take the label the recipe maps them to."""
    xs, ys = [], []
    for i in idx:
        variants, y = ds.feats[i], ds.y[i]
        if rng is None:
            k = variant
        elif ds.mirror:  # a mirror image only of the classes mirror_labels maps, under the class it maps them to
            usable = [k for k, flipped in enumerate(ds.flipped) if not flipped or y in ds.mirror]
            k = usable[int(rng.integers(len(usable)))]
            y = ds.mirror[y] if ds.flipped[k] else y
        else:
            k = int(rng.integers(len(variants)))
        pos = sample_positions(len(variants[k]), recipe.num_frames, rng if recipe.jitter else None, view)
        if rng is not None and y in ds.reverse and rng.random() < 0.5:
            pos, y = pos[::-1], ds.reverse[y]
        xs.append(variants[k][pos])
        ys.append(y)
    return torch.stack(xs).to(device).float(), torch.tensor(ys, device=device)


class Trainable(nn.Module):
    """What training updates: the backbone's last `finetune` units (run on cached activations) and the head.

    Both are the model's own modules, so training them trains the model. The tail's BatchNorm statistics
    stay frozen (batches of a few clips would estimate them badly).
    """

    def __init__(self, model: HybridCNNRNN, finetune: int):
        super().__init__()
        self.tail = split_backbone(model.backbone, finetune)[1] if finetune else None
        self.head = model.head
        self.pool = model.pool_frames

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Cached [B,T,D] features as they are, or [B,T,C,h,w] activations -> tail -> pool -> [B,T,D]."""
        if self.tail is None:
            return x
        B, T = x.shape[:2]
        return self.pool(self.tail(x.flatten(0, 1))).view(B, T, -1)

    def forward(self, x: torch.Tensor) -> list:
        """Cached features or activations -> each ensemble member's output (what the loss reads)."""
        return _member_outputs(self.head, self.features(x))

    def train(self, mode: bool = True) -> Trainable:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self


@torch.no_grad()
def predict_logits(
    model: HybridCNNRNN,
    ds: Dataset,
    idx: list[int],
    recipe: Recipe,
    device: str,
    variant: int = 0,
    view: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """Clip logits [N,K] for samples idx: one cached variant (0 = as recorded, 1 = mirrored) and one
    temporal view (k, V) of the frames (see sample_positions; (0, 1) = the segment centres)."""
    net = Trainable(model, recipe.finetune).eval()
    if not idx:
        return torch.zeros(0, len(ds.labels))
    logits = []
    for b in range(0, len(idx), recipe.batch_size):
        x, _ = _batch(ds, idx[b : b + recipe.batch_size], recipe, None, device, variant, view)
        logits.append(net.head(net.features(x)).logits.float().cpu())
    return torch.cat(logits)


@torch.no_grad()
def clip_features(model: HybridCNNRNN, ds: Dataset, idx: list[int], recipe: Recipe, device: str) -> torch.Tensor:
    """Per-frame features [N,T,D] the head reads for samples idx (as recorded, at the segment centres)."""
    net = Trainable(model, recipe.finetune).eval()
    out = [torch.zeros(0, recipe.num_frames, model.feature_dim)]
    for b in range(0, len(idx), recipe.batch_size):
        x, _ = _batch(ds, idx[b : b + recipe.batch_size], recipe, None, device)
        out.append(net.features(x).float().cpu())
    return torch.cat(out)


def fit(model: HybridCNNRNN, ds: Dataset, train: list[int], val: list[int], recipe: Recipe, device: str, quiet=False,
        progress: Progress | None = None, world: World = World()):  # fmt: skip
    """Train model.head (and the backbone's last `recipe.finetune` units) on cached features or activations;
    early-stops on val accuracy when val is given.

    Under torchrun the net trains as DistributedDataParallel: every rank draws the same global batch (same
    seed, same jitter), takes every world.size-th clip of it, and its loss is its clips' share of the global
    batch's mean, so the averaged gradient is the one a single process computes for the whole batch. (A
    DistributedSampler would put other clips together in a batch, and N processes would train another model
    than one.) Validation runs on every rank, so they all stop at the same epoch."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    net = Trainable(model, recipe.finetune).to(device)
    step = net
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        step = DistributedDataParallel(net, device_ids=[torch.device(device).index] if device.startswith("cuda")
                                       else None, broadcast_buffers=False)  # fmt: skip
    groups = [{"params": list(net.head.parameters()), "lr": recipe.lr}]
    if net.tail is not None:
        groups.append({"params": list(net.tail.parameters()), "lr": recipe.backbone_lr})
    opt = torch.optim.AdamW(groups, weight_decay=recipe.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(train) / recipe.batch_size))
    total = recipe.epochs * steps_per_epoch
    if total >= 3:  # warm up over 10 % of the steps (at least one and a half: OneCycleLR needs a warm-up phase)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in groups], total_steps=total, pct_start=max(0.1, 1.5 / total)
        )
    else:  # one or two steps: a constant rate
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    counts = label_counts(ds, train)
    weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(ds.labels), device=device)  # class balance
    best = (-1.0, math.inf, None, 0)  # (val acc, val loss, state, epoch)
    history = []
    bar = tqdm(range(recipe.epochs), desc="epochs", disable=quiet, leave=False)
    for epoch in bar:
        net.train()
        order = rng.permutation(train).tolist()
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            if not idx:
                continue
            x, y = _batch(ds, idx, recipe, rng, device)  # [B,...]: the global batch, the same on every rank
            denom = weight[y].sum()  # the global batch's weighted count: each rank's loss is its share
            mine = slice(world.rank, None, world.size)
            if len(idx) <= world.rank:  # a last batch too small for every rank: run one clip, count nothing
                mine, denom = slice(0, 1), denom * math.inf
            loss = sum(_loss(out, y[mine], weight, recipe, denom) for out in step(x[mine])) * world.size
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) / world.size * len(idx)
        row = {"epoch": epoch + 1, "loss": sum(world.gather(total)) / len(train)}
        if val:
            logits = predict_logits(model, ds, val, recipe, device)
            yv = torch.tensor([ds.y[i] for i in val])
            row["val_acc"] = float((logits.argmax(1) == yv).float().mean())
            row["val_loss"] = float(F.cross_entropy(logits, yv))
            if (row["val_acc"], -row["val_loss"]) > (best[0], -best[1]):
                best = (row["val_acc"], row["val_loss"], copy.deepcopy(net.state_dict()), epoch + 1)
            elif epoch + 1 - best[3] >= recipe.patience:
                history.append(row)
                break
        history.append(row)
        if progress is not None:
            progress("epochs", epoch + 1, recipe.epochs)
        bar.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
    if best[2] is not None:
        net.load_state_dict(best[2])
    net.eval()
    return history


def label_counts(ds: Dataset, idx: list[int]) -> np.ndarray:
    """[K] how many clips of each class training on idx shows, on average: a mirrored or reversed clip counts
    for the class it is mapped to (what the class-balancing weights must see; a class may have none of its own)."""
    counts = np.zeros(len(ds.labels), np.float32)
    mirrored = np.mean(ds.flipped) if ds.mirror and ds.flipped else 0.0  # share of a mapped class's draws
    for i in idx:
        y = ds.y[i]
        m = mirrored if y in ds.mirror else 0.0
        for c, share in ((y, 1.0 - m), (ds.mirror.get(y, y), m)):
            r = 0.5 if c in ds.reverse else 0.0  # half of its draws play backwards
            counts[c] += share * (1.0 - r)
            counts[ds.reverse.get(c, c)] += share * r
    return counts


def _member_outputs(head, x: torch.Tensor):
    """Each ensemble member is trained on its own loss (averaged logits would tie them together)."""
    return head.forward_members(x) if hasattr(head, "forward_members") else [head(x)]


def _loss(out, y: torch.Tensor, weight: torch.Tensor, recipe: Recipe, denom: torch.Tensor) -> torch.Tensor:
    """The class-weighted, label-smoothed cross-entropy of these clips, summed and divided by `denom` (the
    weighted clip count of the whole batch: for the whole batch, exactly cross_entropy's weighted mean)."""
    ce = dict(weight=weight, label_smoothing=recipe.label_smoothing, reduction="none")
    loss = F.cross_entropy(out.logits, y, **ce).sum() / denom
    if recipe.step_loss:
        T = out.step_logits.shape[1]
        steps = F.cross_entropy(out.step_logits.flatten(0, 1), y.repeat_interleave(T), **ce).sum() / (denom * T)
        loss = loss + recipe.step_loss * steps
    return loss


def new_model(recipe: Recipe, labels: list[str], clip_seconds: float = 0.0) -> HybridCNNRNN:
    """A model with ImageNet backbone weights and a freshly initialised head (seeded), for clips of about
    clip_seconds (0: unknown)."""
    torch.manual_seed(recipe.seed)
    return HybridCNNRNN(recipe.model_config(labels, PACKAGED_IMAGENET, clip_seconds))


def typical_seconds(samples: list[Sample]) -> float:
    """How much video a live answer of a model trained on these clips should read: long enough to hold three in
    four of them whole (their 75th percentile length, as the files claim it; 0.0 when none says). Measured with
    benchmarks/live_agreement.py: on UT-Interaction this is 4.0 s, the window that agreed best with the offline
    answers; on EgoGestAR 4.05 s, where the median (3.1 s) cut the end of longer gestures (86 % agreement vs 100 %)."""
    lengths = [s for s in (claimed_seconds(x.path) for x in samples) if s is not None]
    return round(float(np.percentile(lengths, 75)), 2) if lengths else 0.0


def with_openset(model: HybridCNNRNN, feats: torch.Tensor, openset_cv: dict[str, Any]) -> HybridCNNRNN:
    """The same model, with the open-set thresholds of a cross-validation report (openset_report) and its training
    clips' features [M,T,D] as exemplars (what the look gate compares a clip with)."""
    exemplars = openset.exemplars_of(feats) if openset_cv.get("similarity") is not None else feats[:0, 0]
    cfg = replace(model.config, openset_score=openset_cv["score"], openset_threshold=openset_cv["threshold"],
                  openset_exemplars=len(exemplars), openset_similarity=openset_cv.get("similarity"))  # fmt: skip
    out = HybridCNNRNN(replace(cfg, backbone_pretrained=None))  # the weights come from `model`
    state = {k: v for k, v in model.state_dict().items() if k != "openset_exemplars"}
    out.load_state_dict({**state, **({"openset_exemplars": exemplars} if len(exemplars) else {})})
    out.config = cfg  # config.json names the backbone's origin as the model had it
    out._hub_mixin_config = cfg.to_dict()
    return out.eval()


def grouping(samples: list[Sample], pattern: str) -> str:
    """What a split keeps together, in words: without a group pattern every clip is its own group, so folds split
    clips, and clips of one person or take can land on both sides."""
    if not pattern:
        return f"none: each of the {len(samples)} clips is its own group (no --group-pattern)"
    return f"{len({s.group for s in samples})} groups read from the file names by --group-pattern {pattern!r}"


def cross_validate(
    ds: Dataset,
    recipe: Recipe,
    device: str = "cpu",
    quiet: bool = False,
    kfold: int | None = None,
    progress: Progress | None = None,
    score_gate: bool = True,
    world: World = World(),
) -> dict[str, Any]:
    """Leave-one-group-out: for each group, train on the others, test on it. Returns accuracy stats.

    kfold=K: K stratified folds of whole groups instead (data.stratified_kfold; with no group pattern, of clips).
    Under torchrun the folds are spread over the ranks (each trains its folds alone) and every rank gets the one
    report, the same as a single process's.
    """
    t0 = time.time()
    template = new_model(recipe, ds.labels)  # every fold starts from the same initial head
    records: list[tuple[int, dict[str, Any], dict[str, list[int]]]] = []  # (split, fold, tta predictions)
    kind = recipe.model.openset_score
    every = stratified_kfold(ds.samples, kfold, recipe.seed) if kfold else leave_one_group_out(ds.samples)
    splits = world.shard(list(enumerate(every)))
    bar = tqdm(splits, desc="folds" if world.size == 1 else f"folds (rank 0 of {world.size})",
               disable=quiet or not world.main)  # fmt: skip
    for done, (split, (group, train_idx, test_idx)) in enumerate(bar):
        train_idx, val_idx = split_groups(ds.samples, train_idx, recipe.val_groups, seed=recipe.seed)
        model = copy.deepcopy(template)
        fit(model, ds, train_idx, val_idx, recipe, device, quiet=True)
        logits = predict_logits(model, ds, test_idx, recipe, device)
        pred = logits.argmax(1).tolist()
        view_logits = {(0, (0, 1)): logits}  # (variant, temporal view) -> logits, each computed once
        tta: dict[str, list[int]] = {}
        for name, views in test_time_views(recipe).items():
            for key in views:
                if key not in view_logits:
                    view_logits[key] = predict_logits(model, ds, test_idx, recipe, device, *key)
            tta[name] = sum(view_logits[key] for key in views).argmax(1).tolist()
        truth = [ds.y[i] for i in test_idx]
        acc = float(np.mean([p == t for p, t in zip(pred, truth)]))
        scores = [round(float(v), 6) for v in openset.score(logits, kind)]  # clips the fold's model never saw
        exemplars = openset.exemplars_of(clip_features(model, ds, train_idx, recipe, device))
        sims = openset.similarity(clip_features(model, ds, test_idx, recipe, device), exemplars)
        fold = {"group": group, "n": len(test_idx), "accuracy": acc, "test": test_idx, "truth": truth, "pred": pred,
                "openset_scores": scores, "similarities": [round(float(v), 6) for v in sims]}  # fmt: skip
        records.append((split, fold, tta))
        if progress is not None:
            progress("folds", done + 1, len(splits))
    records = sorted((r for rank in world.gather(records) for r in rank), key=lambda r: r[0])  # as one process
    folds = [fold for _, fold, _ in records]
    y_true = [t for f in folds for t in f["truth"]]
    y_pred = [p for f in folds for p in f["pred"]]
    tta = {name: [p for _, _, t in records for p in t[name]] for name in (records[0][2] if records else {})}
    report = summarize(y_true, y_pred, ds.labels)
    accuracy_tta = {name: float(np.mean([p == t for p, t in zip(preds, y_true)])) for name, preds in tta.items()}
    report.update(
        protocol=f"stratified {kfold}-fold" if kfold else "leave-one-group-out",
        grouping=grouping(ds.samples, recipe.group_pattern),
        folds=folds,
        mean_fold_accuracy=float(np.mean([f["accuracy"] for f in folds])),
        accuracy_flip_tta=accuracy_tta.get("flip"),
        accuracy_tta=accuracy_tta,
        openset=openset_report(folds, kind, score_gate),
        seconds=round(time.time() - t0, 1),
    )
    return report


def test_time_views(recipe: Recipe) -> dict[str, list[tuple[int, tuple[int, int]]]]:
    """Test-time augmentations the cache can answer, as (variant, temporal view) lists whose logits add up:
    the mirror image (cached variant 1, when flips are allowed) and two interleaved temporal samplings."""
    out: dict[str, list[tuple[int, tuple[int, int]]]] = {}
    mirror = recipe.flip and recipe.aug_copies > 1
    two_views = recipe.grid >= 2 * recipe.num_frames
    if mirror:
        out["flip"] = [(0, (0, 1)), (1, (0, 1))]
    if two_views:
        out["views2"] = [(0, (0, 2)), (0, (1, 2))]
    if mirror and two_views:
        out["flip_views2"] = [(v, (k, 2)) for v in (0, 1) for k in (0, 1)]
    return out


def summarize(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict[str, Any]:
    """accuracy, n, per-class accuracy and the confusion matrix (rows: truth, columns: prediction)."""
    K = len(labels)
    conf = np.zeros((K, K), dtype=int)
    for t, p in zip(y_true, y_pred):
        conf[t, p] += 1
    per_class = {
        labels[k]: {"accuracy": float(conf[k, k] / conf[k].sum()) if conf[k].sum() else None, "n": int(conf[k].sum())}
        for k in range(K)
    }
    n = int(conf.sum())
    return {
        "accuracy": float(np.trace(conf) / n) if n else 0.0,
        "n": n,
        "labels": labels,
        "per_class": per_class,
        "confusion": conf.tolist(),
    }


@dataclass
class Trained:
    """What `run_training` made: the saved model, the dataset it saw, the cross-validation report (None when not
    calibrated) and the seconds each stage took."""

    model: HybridCNNRNN
    ds: Dataset
    cv: dict[str, Any] | None
    seconds: dict[str, float]


def train(data: str | Path, out: str | Path, recipe: Recipe, cache_dir: str | Path, device: str = "auto",
          card: dict[str, Any] | None = None, calibrate: bool = False, engine: str = "torch",
          world: World = World()) -> HybridCNNRNN:  # fmt: skip
    """Train on every clip under `data` (minus val groups when recipe.val_groups) and save to `out`.

    calibrate: first cross-validate the recipe (leave one group out) and give the model the open-set threshold
    that accepts openset.ACCEPT of the held-out clips (a clip scoring below it is "none of these")."""
    return run_training(data, out, recipe, cache_dir, device, card, calibrate, engine=engine, world=world).model


def run_training(
    data: str | Path,
    out: str | Path,
    recipe: Recipe,
    cache_dir: str | Path,
    device: str = "auto",
    card: dict[str, Any] | Callable[[dict[str, Any] | None], dict[str, Any]] | None = None,
    calibrate: bool = False,
    kfold: int | None = None,
    engine: str = "torch",
    progress: Progress | None = None,
    quiet: bool = False,
    score_gate: bool = True,
    world: World = World(),
) -> Trained:
    """train(), and what it measured: kfold=K cross-validates with K stratified folds instead of leaving one group
    out; `card` may be a function of the CV report; `progress` hears of every clip, fold and epoch;
    score_gate False: the open-set look gate alone. Under torchrun (`world`): features sharded by clip, folds
    spread over the ranks, the model trained under DistributedDataParallel, and rank 0 alone writes `out`."""
    device = world.device(pick_device(device))
    quiet = quiet or not world.main
    seconds, t0 = {}, time.perf_counter()
    ds = load_dataset(data, recipe, cache_dir, device, engine, progress, quiet, world)
    seconds["features"], t0 = time.perf_counter() - t0, time.perf_counter()
    cv = cross_validate(ds, recipe, device, quiet, kfold=kfold, progress=progress, score_gate=score_gate,
                        world=world) if calibrate else None  # fmt: skip
    seconds["cross_validation"], t0 = time.perf_counter() - t0, time.perf_counter()
    train_idx, val_idx = split_groups(ds.samples, list(range(len(ds.samples))), recipe.val_groups, recipe.seed)
    model = new_model(recipe, ds.labels, typical_seconds([ds.samples[i] for i in train_idx]))
    history = fit(model, ds, train_idx, val_idx, recipe, device, quiet, progress, world)
    card = card(cv) if callable(card) else card
    if cv is not None:
        model = with_openset(model, clip_features(model, ds, train_idx, recipe, device), cv["openset"])
        card = {**(card or {}), "open_set": _openset_card(cv["openset"], cv, len(ds.samples))}
    model = model.cpu().eval()
    if world.main:
        save(model, out, recipe, history, card)
    world.barrier()  # the folder is written before any rank goes on
    seconds["training"] = time.perf_counter() - t0
    return Trained(model, ds, cv, seconds)


def openset_report(folds: list[dict[str, Any]], kind: str, score_gate: bool = True) -> dict[str, Any]:
    """The open-set thresholds a model trained on all the folds' clips gets, from their held-out scores and
    similarities: both gates together accept openset.ACCEPT of the held-out clips (the score alone for a report
    from before similarities were stored; the look alone with score_gate False). in_accepted_cv: the share accepted
    when each fold is judged by the thresholds set on the other folds."""
    look = all(f.get("similarities") is not None for f in folds)

    def thresholds(rows: list[dict[str, Any]]) -> tuple[float | None, float | None]:
        scores = [s for f in rows for s in f["openset_scores"]]
        sims = [s for f in rows for s in f["similarities"]] if look else None
        if not score_gate and sims is not None:
            return None, openset.joint_thresholds(sims, None)[0]
        return openset.joint_thresholds(scores, sims)

    threshold, similarity = thresholds(folds)
    ok = n = 0
    for i, own in enumerate(folds if len(folds) > 1 else []):
        t, ts = thresholds(folds[:i] + folds[i + 1 :])
        sims = own["similarities"] if look else [None] * own["n"]
        ok += sum(bool(openset.known(s, t, m, ts)) for s, m in zip(own["openset_scores"], sims))
        n += len(own["openset_scores"])
    return {"score": kind, "accept": openset.ACCEPT, "threshold": threshold, "similarity": similarity,
            "in_accepted_cv": ok / n if n else None}  # fmt: skip


def calibrate(
    model_dir: str | Path,
    data: str | Path,
    cv: dict[str, Any] | None,
    out: str | Path | None,
    cache_dir: str | Path,
    device: str = "auto",
    card: dict[str, Any] | None = None,
) -> tuple[HybridCNNRNN, dict[str, Any]]:
    """Give a trained model (a folder with its training.json) the open-set gates of `cv`, the cross-validation report
    of its recipe on `data` (`eval --cv groups --json`; its folds' held-out scores set the thresholds) and the
    exemplars of its own training clips; saved to `out` (default: in place). -> (model, the open-set report).

    cv None (no fold models to be had): the look gate alone, set on each training clip's similarity to the other
    groups' clips (look_report); the model has seen every clip, so unseen ones may be accepted less often."""
    model_dir = Path(model_dir)
    try:
        spec = json.loads((model_dir / "training.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{model_dir} has no readable training.json (the recipe it was trained with): {e}") from e
    recipe = Recipe().updated(spec.get("recipe", spec))
    model = HybridCNNRNN.from_pretrained(model_dir)
    folds = cv.get("folds") if isinstance(cv, dict) else None
    if cv is not None and (not folds or any("openset_scores" not in f or "n" not in f for f in folds)):
        raise DataError("the cross-validation report has no folds with open-set scores (run eval --cv groups --json)")
    if cv is not None and cv.get("labels") not in (None, model.labels):
        raise DataError(f"the cross-validation report is of classes {cv['labels']}, the model's are {model.labels}")
    device = pick_device(device)
    ds = load_dataset(data, recipe, cache_dir, device)
    if ds.labels != model.labels or (folds and sum(f["n"] for f in folds) != len(ds.samples)):
        raise DataError(f"{data} is not the data of this report and model ({len(ds.samples)} clips of {ds.labels})")
    model = model.to(device)
    feats = clip_features(model, ds, list(range(len(ds.samples))), recipe, device)
    if folds:
        report = openset_report(folds, recipe.model.openset_score)
    else:
        report = look_report(feats, [s.group for s in ds.samples], recipe.model.openset_score)
    model = with_openset(model, feats, report)
    out = Path(out) if out is not None else model_dir
    out.mkdir(parents=True, exist_ok=True)
    model.cpu().save_pretrained(out)
    if out != model_dir:
        (out / "training.json").write_text(json.dumps(spec, indent=1))
    if card is not None:
        from .card import model_card

        model_card(
            model.config, {**card, "open_set": card.get("open_set") or _openset_card(report, cv, len(ds.samples))}
        ).save(out / "README.md")
    return model, report


def look_report(feats: torch.Tensor, groups: list[str], kind: str) -> dict[str, Any]:
    """The look gate alone, from a trained model's own clips [N,T,D]: each clip's similarity to the exemplars of
    the other groups sets the threshold (openset.ACCEPT of them pass); in_accepted_cv judges each group by the
    threshold the others' similarities set. No score threshold: held-out scores need fold models."""
    ex, groups_ = openset.exemplars_of(feats), np.array(groups)
    sims: dict[str, list[float]] = {}
    for g in sorted(set(groups)):
        own = torch.from_numpy(groups_ == g)
        sims[g] = [round(v, 6) for v in openset.similarity(feats[own], ex[~own]).tolist()] if (~own).any() else []
    every = [s for v in sims.values() for s in v]
    judged = [s >= openset.threshold_at([x for h, v in sims.items() if h != g for x in v]) for g, v in sims.items()
              for s in v] if len(sims) > 1 else []  # fmt: skip
    return {"score": kind, "accept": openset.ACCEPT, "threshold": None, "similarity": openset.threshold_at(every),
            "in_accepted_cv": float(np.mean(judged)) if judged else None,
            "protocol": "each clip against the other groups' clips, features of the trained model"}  # fmt: skip


def _openset_card(o: dict[str, Any], cv: dict[str, Any] | None, n: int) -> str:
    """The model card's open-set paragraph: the gates, and how their thresholds were set."""
    gates = [f"its `{o['score']}` score is below {o['threshold']:.4g}"] if o["threshold"] is not None else []
    if o.get("similarity") is not None:
        gates.append(f"its mean frame feature has a cosine similarity below {o['similarity']:.4g} to every training "
                     "clip's (a scene unlike any it was trained on)")  # fmt: skip
    judged = "" if o["in_accepted_cv"] is None else f"; each group judged by the thresholds of the others: " \
        f"{o['in_accepted_cv']:.1%} accepted"  # fmt: skip
    if cv is not None:
        how = (f"The thresholds accept {o['accept']:.0%} of the clips held out in "
               f"{cv.get('protocol', 'leave-one-group-out')} cross-validation ({len(cv['folds'])} folds; held-out "
               f"accuracy {cv['accuracy']:.1%} on {cv['n']} clips{judged})")  # fmt: skip
    else:
        how = (f"The threshold accepts {o['accept']:.0%} of the {n} training clips, each compared with the clips of "
               f"the other groups only{judged}; the model has seen every one of them, so clips of new groups may "
               "be accepted less often")  # fmt: skip
    return (f"A clip is answered as none of these classes when {' or '.join(gates)}. {how}; how many "
            "out-of-domain clips it rejects is measured with `python -m hybrid eval --ood DIR`.")  # fmt: skip


def save(model: HybridCNNRNN, out: str | Path, recipe: Recipe, history: list[dict], card: dict | None) -> None:
    from .card import model_card

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "training.json").write_text(json.dumps({"recipe": recipe.to_dict(), "history": history}, indent=1))
    model_card(model.config, card).save(out / "README.md")


__all__ = ["Augment", "Dataset", "Recipe", "cross_validate", "fit", "load_dataset", "summarize", "train"]
