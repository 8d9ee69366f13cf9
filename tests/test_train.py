"""Training end to end on a tiny generated dataset: two visually distinct classes, plus a pair of classes
that differ only in frame order (a frame-averaging model cannot separate them; the RNN must)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from synth import cv2_write

from hybrid import HybridCNNRNN
from hybrid.backbones import lite0_imagenet_state_dict
from hybrid.data import leave_one_group_out, scan_folder, split_groups
from hybrid.features import Augment, FeatureCache
from hybrid.pipeline import Recognizer
from hybrid.recipe import label_swaps
from hybrid.train import Recipe, cross_validate, grouping, load_dataset, predict_logits, train
from hybrid.transforms import preprocess
from hybrid.video import read_clip, uniform_indices

W, H, N = 96, 64, 12  # frame size, frames per clip
CLASSES = ["red", "blue", "left_to_right", "right_to_left"]


def clip_frames(cls: str, rng: np.random.Generator) -> list[np.ndarray]:
    frames = []
    y0 = int(rng.integers(8, H - 24))
    for t in range(N):
        img = rng.integers(0, 40, (H, W, 3), dtype=np.uint8)
        if cls in ("red", "blue"):
            x = int(rng.integers(0, W - 16))
            img[y0 : y0 + 16, x : x + 16] = (220, 30, 30) if cls == "red" else (30, 30, 220)
        else:
            step = t if cls == "left_to_right" else N - 1 - t  # the same frames, in opposite orders
            x = int(step * (W - 16) / (N - 1))
            img[y0 : y0 + 16, x : x + 16] = 255
        frames.append(img)
    return frames


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One feature cache for the module: each clip and augmentation goes through the CNN once."""
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """4 classes x 4 groups x 2 clips, named <idx>_<group>_<class>.avi like UT-Interaction."""
    return write_dataset(tmp_path_factory.mktemp("tiny_ds") / "set1", groups=4, per_group=2, seed=0).parent


def write_dataset(root: Path, groups: int, per_group: int, seed: int) -> Path:
    """root/<class>/<idx>_<group>_<k>.avi: CLASSES x groups x per_group clips (UT-Interaction's names)."""
    rng = np.random.default_rng(seed)
    idx = 0
    for k, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for group in range(groups):
            for _ in range(per_group):
                cv2_write(root / cls / f"{idx}_{group}_{k}.avi", clip_frames(cls, rng), fps=10, fourcc="MJPG")
                idx += 1
    return root


RECIPE = Recipe().updated(dict(
    group_pattern="ut-interaction",
    num_frames=8,
    image_size=(H, W),
    spatial_pool="1x3",
    hidden_size=32,
    proj_dim=32,
    storage_dtype="float32",
    epochs=40,
    batch_size=8,
    lr=3e-3,
    grid=N,
    aug_copies=2,
    flip=False,  # a mirror image would swap left_to_right and right_to_left
    crop=False,
    color=True,
))  # fmt: skip


def test_groups_never_on_both_sides(tiny_dataset):
    samples = scan_folder(tiny_dataset, "ut-interaction")
    assert len(samples) == 32 and {s.group for s in samples} == {"0", "1", "2", "3"}
    folds = list(leave_one_group_out(samples))
    assert len(folds) == 4
    for group, train_idx, test_idx in folds:
        assert {samples[i].group for i in test_idx} == {group}
        assert group not in {samples[i].group for i in train_idx}
        assert sorted(train_idx + test_idx) == list(range(32))
        fit_idx, val_idx = split_groups(samples, train_idx, 1, seed=0)
        assert not {samples[i].group for i in fit_idx} & {samples[i].group for i in val_idx}
        assert len({samples[i].group for i in val_idx}) == 1


def test_stratified_kfold_keeps_groups_whole_and_classes_even(tiny_dataset):
    from hybrid.data import Sample, stratified_kfold
    from hybrid.errors import DataError

    samples = scan_folder(tiny_dataset)  # no group pattern: every clip is its own group
    folds = list(stratified_kfold(samples, 4, seed=0))
    assert [name for name, *_ in folds] == ["1", "2", "3", "4"]
    assert sorted(i for _, _, test in folds for i in test) == list(range(32))  # each clip held out once
    for _, train_idx, test_idx in folds:
        assert sorted(train_idx + test_idx) == list(range(32))
        assert sorted(samples[i].label for i in test_idx) == sorted(CLASSES * 2)  # 8 clips a class -> 2 a fold
    grouped = scan_folder(tiny_dataset, "ut-interaction")  # 4 groups of 8 clips: whole groups per fold
    for _, train_idx, test_idx in stratified_kfold(grouped, 2, seed=1):
        assert not {grouped[i].group for i in train_idx} & {grouped[i].group for i in test_idx}
    assert list(stratified_kfold(samples, 4, seed=0)) == folds  # seeded
    with pytest.raises(DataError, match="needs at least 5 groups"):
        list(stratified_kfold(samples[:4], 5))
    with pytest.raises(DataError):
        list(stratified_kfold([Sample(Path("a.avi"), "x", "g")], 2))


def test_eval_cv_takes_groups_or_kfold_k(tmp_path, capsys):
    from hybrid.cli import main

    for bad in (["kfold"], ["kfold", "1"], ["folds", "3"], ["groups", "2"]):
        assert main(["eval", "--data", str(tmp_path), "--cv", *bad]) == 2
        assert "--cv takes 'groups' or 'kfold K'" in capsys.readouterr().err


def test_frame_order_pair_is_invisible_to_frame_averaging(tiny_dataset, cache):
    """Mean-over-frames features of a clip and of the same frames reversed are identical."""
    ds = load_dataset(tiny_dataset, replace(RECIPE, aug_copies=1), cache)
    ltr = [i for i, s in enumerate(ds.samples) if s.label == "left_to_right"][0]
    feats = ds.feats[ltr][0]  # [grid, D]
    torch.testing.assert_close(feats.float().mean(0), feats.float().flip(0).mean(0))
    assert not torch.allclose(feats, feats.flip(0))


def test_cross_validation_learns_held_out_groups(tiny_dataset, cache):
    ds = load_dataset(tiny_dataset, RECIPE, cache)
    report = cross_validate(ds, RECIPE, quiet=True)
    assert report["n"] == 32 and len(report["folds"]) == 4
    assert report["accuracy"] >= 0.9, report["confusion"]
    order_pair = [CLASSES.index("left_to_right"), CLASSES.index("right_to_left")]
    conf = np.array(report["confusion"])
    pair = conf[np.ix_(order_pair, order_pair)]
    assert np.trace(pair) / pair.sum() >= 0.85, f"frame order not learned: {pair.tolist()}"


def test_kfold_cross_validation_reports_its_protocol_and_open_set(tiny_dataset, cache):
    ds = load_dataset(tiny_dataset, RECIPE, cache)
    report = cross_validate(ds, replace(RECIPE, epochs=10), quiet=True, kfold=2)
    assert report["protocol"] == "stratified 2-fold" and [f["group"] for f in report["folds"]] == ["1", "2"]
    assert report["grouping"] == "4 groups read from the file names by --group-pattern 'ut-interaction'"
    ungrouped = grouping(scan_folder(tiny_dataset), "")  # the default: says that folds then split single clips
    assert ungrouped == "none: each of the 32 clips is its own group (no --group-pattern)"
    assert report["n"] == 32 and all(f["n"] == 16 and len(f["similarities"]) == 16 for f in report["folds"])
    assert report["openset"]["threshold"] is not None and report["openset"]["similarity"] is not None


def test_train_then_eval_cli(tiny_dataset, cache, tmp_path):
    out = tmp_path / "model"
    model = train(tiny_dataset, out, RECIPE, cache, device="cpu")
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md", "training.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == sorted(CLASSES) and config["num_frames"] == 8 and config["image_size"] == [H, W]
    assert config["clip_seconds"] == N / 10  # every training clip: 12 frames at 10 fps (what Live will read)
    assert model.labels == sorted(CLASSES)
    # eval through the real prediction path, with one class the model does not know (reported, not counted)
    extra = tiny_dataset / "set1" / "unseen_class"
    extra.mkdir(exist_ok=True)
    cv2_write(extra / "99_9_9.avi", clip_frames("red", np.random.default_rng(1)), fps=10, fourcc="MJPG")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hybrid", "eval", "--data", str(tiny_dataset), "--model", str(out), "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        (extra / "99_9_9.avi").unlink()
        extra.rmdir()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"accuracy", "n", "per_class", "confusion"} <= set(report)
    assert report["n"] == 32 and report["unknown_classes"] == {"unseen_class": 1}
    assert report["accuracy"] >= 0.9  # training clips: a sanity check of the saved model and the eval path
    assert np.array(report["confusion"]).sum() == 32


def test_eval_cli_refuses_missing_folder(tmp_path, tiny_model_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "hybrid", "eval", "--data", str(tmp_path / "nope"), "--model", str(tiny_model_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_finetuning_the_head_conv_trains_the_saved_backbone(tiny_dataset, cache, tmp_path):
    """finetune=1: the 1x1 head conv learns from cached activations; the saved model runs it on raw frames."""
    recipe = replace(RECIPE, finetune=1, backbone_lr=3e-4, epochs=25)
    model = train(tiny_dataset, tmp_path / "ft", recipe, cache, device="cpu")
    imagenet = lite0_imagenet_state_dict()
    state = model.backbone.state_dict()
    assert not torch.equal(state["conv_head.weight"], imagenet["conv_head.weight"])  # trained
    assert torch.equal(state["blocks.6.0.conv_pw.weight"], imagenet["blocks.6.0.conv_pw.weight"])  # frozen
    assert torch.equal(state["bn2.running_mean"], imagenet["bn2.running_mean"])  # BN statistics frozen too
    # the cached-activation path used in training == the full CNN on the clip's frames
    ds = load_dataset(tiny_dataset, recipe, cache)
    i = next(k for k, s in enumerate(ds.samples) if s.label == "right_to_left")
    cached = predict_logits(model, ds, [i], recipe, "cpu")
    clip = read_clip(ds.samples[i].path, recipe.grid)
    frames = preprocess(clip.frames[uniform_indices(recipe.grid, recipe.num_frames)], model.config)
    with torch.inference_mode():
        full = model.eval()(frames[None]).logits
    torch.testing.assert_close(cached, full, atol=0.05, rtol=0.01)
    # its ImageNet classifier no longer reads the features it was trained on: no concepts named from it
    assert model.config.imagenet_concepts is False
    pred = Recognizer(tmp_path / "ft", engine="torch")(ds.samples[i].path, explain=True)
    assert pred.concepts == [] and pred.heatmaps is not None
    report = cross_validate(ds, recipe, quiet=True, kfold=2)
    assert report["accuracy"] >= 0.85, report["confusion"]


def test_test_time_views_interleave_and_default_to_segment_centres():
    from hybrid.train import sample_positions, test_time_views

    assert sample_positions(32, 16, None) == uniform_indices(32, 16)
    even, odd = sample_positions(32, 16, None, (0, 2)), sample_positions(32, 16, None, (1, 2))
    assert even == list(range(0, 32, 2)) and odd == list(range(1, 32, 2))
    views = test_time_views(RECIPE.updated(dict(flip=True, grid=16, num_frames=8)))
    assert views["flip_views2"] == [(0, (0, 2)), (0, (1, 2)), (1, (0, 2)), (1, (1, 2))]
    assert test_time_views(RECIPE) == {}  # no mirror allowed, grid too short for two views


def test_feature_cache_follows_the_clip_bytes_not_its_path_or_mtime(tiny_model_dir, tmp_path):
    """A dataset copied or mounted anew (new paths, new mtimes) reuses its cached features; an edited clip doesn't."""
    cache = FeatureCache(HybridCNNRNN.from_pretrained(tiny_model_dir), tmp_path / "cache", grid=4)
    rng = np.random.default_rng(1)
    (tmp_path / "a").mkdir()
    first = cv2_write(tmp_path / "a" / "0_1_red.avi", clip_frames("red", rng), fps=10, fourcc="MJPG")
    (feats,) = cache.get(first, [Augment()])
    stored = sorted((tmp_path / "cache").iterdir())
    assert len(stored) == 1 and feats.shape[0] == 4

    copy = tmp_path / "b" / first.name
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())  # another path, a later mtime, the same bytes
    (again,) = cache.get(copy, [Augment()])
    assert sorted((tmp_path / "cache").iterdir()) == stored and torch.equal(again, feats)

    cv2_write(copy, clip_frames("blue", rng), fps=10, fourcc="MJPG")  # the same path, other content
    (edited,) = cache.get(copy, [Augment()])
    assert len(list((tmp_path / "cache").iterdir())) == 2 and not torch.equal(edited, feats)


def _ood_clips(folder: Path) -> Path:
    """Clips of nothing the tiny dataset holds: noise, solid colours, a test pattern (nested folders)."""
    rng = np.random.default_rng(5)
    (folder / "noise").mkdir(parents=True)
    (folder / "flat" / "colours").mkdir(parents=True)
    for i in range(3):
        cv2_write(folder / "noise" / f"n{i}.avi", [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(N)],
                  fps=10, fourcc="MJPG")  # fmt: skip
    for i, colour in enumerate([(0, 0, 0), (255, 255, 255), (0, 200, 0)]):
        cv2_write(folder / "flat" / "colours" / f"c{i}.avi", [np.full((H, W, 3), colour, np.uint8)] * N, fps=10,
                  fourcc="MJPG")  # fmt: skip
    bars = np.repeat(np.repeat(np.arange(8, dtype=np.uint8)[None, :, None] * 32, H, 0), W // 8, 1)
    cv2_write(folder / "pattern.avi", [np.repeat(bars, 3, 2)] * N, fps=10, fourcc="MJPG")
    return folder


def test_calibrated_training_stores_the_open_set_gates_and_the_cli_reports_them(tiny_dataset, cache, tmp_path):
    """train --calibrate: the score and similarity thresholds are the ones that together accept 95 % of the clips
    held out by cross-validation (not of the clips the model then learns), the exemplars are the training clips';
    predict --json and eval --ood report them and the decisions; generated colours and patterns are rejected."""
    from hybrid import openset

    run = [sys.executable, "-m", "hybrid"]
    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(json.dumps(RECIPE.to_dict()))
    proc = subprocess.run([*run, "eval", "--data", str(tiny_dataset), "--cv", "groups", "--recipe", str(recipe_file),
                           "--cache", str(cache), "--device", "cpu", "--json"], capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cv = json.loads(proc.stdout.strip().splitlines()[-1])
    held_out = [s for f in cv["folds"] for s in f["openset_scores"]]
    sims = [s for f in cv["folds"] for s in f["similarities"]]
    t, ts = openset.joint_thresholds(held_out, sims)
    assert len(held_out) == len(sims) == 32 and (cv["openset"]["threshold"], cv["openset"]["similarity"]) == (t, ts)
    assert np.mean((np.array(held_out) >= t) & (np.array(sims) >= ts)) >= 0.95
    folds = cv["folds"]
    judged = []
    for i, own in enumerate(folds):
        rest = folds[:i] + folds[i + 1 :]
        ti, tsi = openset.joint_thresholds([x for f in rest for x in f["openset_scores"]],
                                           [x for f in rest for x in f["similarities"]])  # fmt: skip
        judged += [a >= ti and b >= tsi for a, b in zip(own["openset_scores"], own["similarities"])]
    assert cv["openset"]["in_accepted_cv"] == pytest.approx(np.mean(judged))

    out = tmp_path / "model"
    model = train(tiny_dataset, out, RECIPE, cache, device="cpu", calibrate=True)
    config = json.loads((out / "config.json").read_text())
    assert config["openset_threshold"] == pytest.approx(t) and config["openset_similarity"] == pytest.approx(ts)
    assert config["openset_exemplars"] == 32 and model.openset_exemplars.shape == (32, model.feature_dim)
    assert config["openset_score"] == "maxprob" and model.config.openset_threshold == config["openset_threshold"]
    assert "Not one of these" in (out / "README.md").read_text()

    ood = _ood_clips(tmp_path / "ood")
    preds = []
    for clip in sorted(ood.rglob("*.avi")):
        proc = subprocess.run([*run, "predict", str(clip), "--model", str(out), "--json"], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        p = json.loads(proc.stdout)
        assert p["threshold"] == pytest.approx(t) and p["similarity_threshold"] == pytest.approx(ts)
        assert p["label"] in CLASSES and p["openset_score"] == pytest.approx(p["score"])
        assert p["known"] == (p["openset_score"] >= t and p["similarity"] >= ts)
        preds.append(p)
    assert not any(p["known"] for p in preds), preds  # flat colours and bars look like no training clip
    words = subprocess.run([*run, "predict", str(clip), "--model", str(out)], capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert (
        words.returncode == 0
        and "not one of the 4 actions this model knows: it looks unlike every clip" in words.stdout
    )
    proc = subprocess.run([*run, "eval", "--data", str(tiny_dataset), "--model", str(out), "--ood", str(ood),
                           "--json"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    o = json.loads(proc.stdout.strip().splitlines()[-1])["openset"]
    assert o["n_in"] == 32 and o["n_ood"] == 7 and o["threshold"] == pytest.approx(t)
    assert o["similarity_threshold"] == pytest.approx(ts) and o["per_ood_folder"][str(ood)]["n_ood"] == 7
    assert o["ood_rejected"] == 1.0 and o["auroc_similarity"] == 1.0
    assert 0.0 <= o["auroc"] <= 1.0 and o["in_accepted"] >= 0.9  # training clips: they are accepted

    # the same gates given afterwards to a model trained without them: `calibrate` with the saved CV report
    plain, report = tmp_path / "plain", tmp_path / "cv.json"
    train(tiny_dataset, plain, RECIPE, cache, device="cpu")
    assert json.loads((plain / "config.json").read_text())["openset_threshold"] is None
    report.write_text(json.dumps(cv))
    args = ["--model", str(plain), "--data", str(tiny_dataset), "--cv", str(report), "--cache", str(cache)]
    proc = subprocess.run([*run, "calibrate", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((plain / "config.json").read_text())
    assert {k: again[k] for k in again if k.startswith("openset")} == {
        k: config[k] for k in config if k.startswith("openset")
    }
    assert torch.allclose(HybridCNNRNN.from_pretrained(plain).openset_exemplars, model.openset_exemplars, atol=1e-3)
    # without a CV report (no fold models to be had): the look gate alone, each clip against the other groups'
    look = tmp_path / "look"
    proc = subprocess.run([*run, "calibrate", *args[:4], "--cache", str(cache), "--out", str(look)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    c = json.loads((look / "config.json").read_text())
    assert c["openset_threshold"] is None and c["openset_exemplars"] == 32 and 0 < c["openset_similarity"] <= 1
    assert "similarity to the training clips >=" in proc.stdout and "of the training clips" in proc.stdout
    assert (look / "training.json").is_file()
    bad = subprocess.run([*run, "calibrate", "--model", str(plain), "--data", str(tiny_dataset), "--cv",
                          str(tiny_dataset)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "can't read cross-validation report" in bad.stderr


def test_eval_cv_prints_the_open_set_gates(monkeypatch, capsys, tmp_path):
    """eval --cv groups in words: accuracy, the folds, and the gates a model trained on it all would get."""
    import hybrid.train as train_mod
    from hybrid.cli import main

    report = {"accuracy": 0.75, "n": 4, "per_class": {"a": {"accuracy": 0.5, "n": 2}, "b": {"accuracy": 1.0, "n": 2}},
              "folds": [{"group": "1", "accuracy": 0.5, "n": 2}, {"group": "2", "accuracy": 1.0, "n": 2}],
              "openset": {"score": "maxprob", "accept": 0.95, "threshold": 0.41, "similarity": 0.73,
                          "in_accepted_cv": 0.9},
              "protocol": "leave-one-group-out",
              "grouping": "2 groups read from the file names by --group-pattern 'x'"}  # fmt: skip
    monkeypatch.setattr(train_mod, "load_dataset", lambda *a, **k: None)
    monkeypatch.setattr(train_mod, "cross_validate", lambda *a, **k: report)
    assert main(["eval", "--data", str(tmp_path), "--cv", "groups", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 75.0% on 4 clips" in out and "fold      2: 100.0%" in out
    assert "leave-one-group-out cross-validation; groups: 2 groups read from the file names" in out
    assert "open set: maxprob >= 0.41, similarity to the training clips >= 0.73 accept 95% of the held-out clips " \
           "(90.0% fold by fold)" in out  # fmt: skip


def test_the_look_gate_without_folds_compares_each_clip_with_the_other_groups_only():
    from hybrid import openset
    from hybrid.train import look_report

    feats = torch.randn(12, 3, 8, generator=torch.Generator().manual_seed(0))  # [N,T,D]
    groups = [str(i // 4) for i in range(12)]
    feats[1] = feats[0]  # a twin in the same group: it must not make clip 0 look familiar
    r = look_report(feats, groups, "maxprob")
    ex = openset.exemplars_of(feats)
    nearest = [float((ex[i] @ ex[[j for j in range(12) if groups[j] != groups[i]]].T).max()) for i in range(12)]
    assert max(nearest) < 0.999 and r["similarity"] == pytest.approx(openset.threshold_at(nearest), abs=1e-6)
    assert r["threshold"] is None and r["score"] == "maxprob" and 0.0 <= r["in_accepted_cv"] <= 1.0


def test_label_mapping_augmentations_map_the_labels_of_what_they_change(tiny_dataset, cache):
    """Reversed clips take the reversed class, mirrored ones the mirrored class; classes not named stay as
    recorded (never reversed, never mirrored)."""
    from hybrid.train import _batch

    pair = "left_to_right=right_to_left"
    recipe = RECIPE.updated(dict(aug_copies=2, color=False, jitter=False, reverse_labels=pair,
                                 mirror_labels=f"{pair},red"))  # fmt: skip
    ds = load_dataset(tiny_dataset, recipe, cache)
    ltr, rtl, red = (ds.labels.index(c) for c in ("left_to_right", "right_to_left", "red"))
    assert ds.flipped == [False, True] and ds.reverse == {ltr: rtl, rtl: ltr} and ds.mirror == {**ds.reverse, red: red}
    centres = uniform_indices(N, recipe.num_frames)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        for i in range(len(ds.samples)):
            x, y = _batch(ds, [i], recipe, rng, "cpu")
            truth = ds.y[i]
            for k, flipped in enumerate(ds.flipped):
                for pos, reversed_ in ((centres, False), (centres[::-1], True)):
                    if torch.equal(x[0], ds.feats[i][k][pos].float()):
                        seen.add((ds.labels[truth], flipped, reversed_))
                        expect = ds.mirror[truth] if flipped else truth
                        assert int(y) == (ds.reverse[expect] if reversed_ else expect)
    assert {(c, f, r) for c in ("left_to_right", "right_to_left") for f in (0, 1) for r in (0, 1)} <= seen
    assert {s for s in seen if s[0] == "red"} == {("red", False, False), ("red", True, False)}
    assert {s for s in seen if s[0] == "blue"} == {("blue", False, False)}


@pytest.mark.parametrize("how", ["reverse_labels", "mirror_labels"])
def test_a_class_never_shown_is_learned_from_the_reversed_or_mirrored_other(tiny_dataset, cache, how):
    """Train without a single right_to_left clip: played backwards (or mirrored), left_to_right clips are
    right_to_left ones, so held-out right_to_left clips are recognised; without the map they cannot be."""
    from hybrid.train import fit, new_model

    spec = "left_to_right=right_to_left,red,blue"
    recipe = RECIPE.updated({"aug_copies": 2 if how == "mirror_labels" else 1, how: spec, "color": False, "epochs": 80})
    ds = load_dataset(tiny_dataset, recipe, cache)
    rtl, ltr = ds.labels.index("right_to_left"), ds.labels.index("left_to_right")
    train_idx = [i for i, y in enumerate(ds.y) if y != rtl and ds.samples[i].group != "3"]
    test_idx = [i for i, s in enumerate(ds.samples) if s.group == "3"]
    for spec_given, least in ((spec, 0.99), ("", None)):
        r = recipe.updated({how: spec_given})
        ds.mirror, ds.reverse = ({ds.labels.index(a): ds.labels.index(b) for a, b in label_swaps(s, CLASSES).items()}
                                 for s in (r.mirror_labels, r.reverse_labels))  # fmt: skip
        model = new_model(r, ds.labels)
        fit(model, ds, train_idx, [], r, "cpu", quiet=True)
        pred = predict_logits(model, ds, test_idx, r, "cpu").argmax(1).tolist()
        right = np.mean([p == ds.y[i] for p, i in zip(pred, test_idx)])
        said_rtl = [p for p, i in zip(pred, test_idx) if ds.y[i] == rtl]
        if least is not None:
            assert right >= least, (pred, [ds.y[i] for i in test_idx])
        else:  # never taught: the reversed pair is answered as the class it was shown
            assert rtl not in pred and set(said_rtl) == {ltr}
