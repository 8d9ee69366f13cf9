"""The model compiled by OpenVINO (hybrid/compiled.py) against the PyTorch pipeline: same answers and timelines, a
cache keyed by the folder's bytes, and a CLI that predicts without importing torch once the export is there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from synth import index_clip, lavfi_clip

from hybrid import HybridCNNRNN, compiled, runtime
from hybrid.errors import ConfigError
from hybrid.fast_clip import read_clip_as
from hybrid.pipeline import Recognizer
from hybrid.timeline import build_timeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    return index_clip(tmp_path_factory.mktemp("compiled") / "clip.mp4", 45)


def _save(folder: Path, **fields) -> Path:
    model = HybridCNNRNN(labels=["alpha", "beta", "gamma"], image_size=(64, 96), hidden_size=32, proj_dim=32, **fields)
    if model.config.openset_exemplars:  # stored exemplars are unit rows (openset.exemplars_of)
        ex = np.random.default_rng(0).normal(size=tuple(model.openset_exemplars.shape)).astype(np.float32)
        model.openset_exemplars.copy_(torch.from_numpy(ex / np.linalg.norm(ex, axis=1, keepdims=True)))
    model.save_pretrained(folder)
    return folder


VARIANTS = {
    "gru-attention": dict(num_frames=4),
    "grid-motion-exemplars": dict(num_frames=6, spatial_pool="2x3", motion=True, openset_exemplars=5,
                                  openset_similarity=0.1, openset_threshold=0.2),
    "cells-projected": dict(num_frames=4, spatial_pool="3x3", cell_dim=8),
    "bilstm-last-ensemble": dict(num_frames=5, rnn_type="lstm", bidirectional=True, temporal_pool="last", num_heads=2,
                                 openset_score="energy"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(VARIANTS))
def test_compiled_model_gives_the_pipelines_answer(name, tmp_path, clip_path):
    folder = _save(tmp_path / name, **VARIANTS[name])
    rec = Recognizer(folder, engine="torch")
    assert compiled.CompiledModel.cached(folder, tmp_path / "cache") is None  # nothing exported yet
    paths = runtime.save_compiled(rec.model, folder, tmp_path / "cache")
    assert paths is not None and sorted(paths) == sorted(compiled.PARTS) and all(p.is_file() for p in paths.values())
    fast = compiled.CompiledModel.cached(folder, tmp_path / "cache")
    assert fast is not None
    ref, got = rec(clip_path), fast(clip_path)
    assert got.label == ref.label and got.indices == ref.indices and got.labels == ref.labels
    np.testing.assert_allclose(got.step_probs, ref.step_probs, atol=1e-4)
    np.testing.assert_allclose(got.attention, ref.attention, atol=1e-4)
    np.testing.assert_allclose(got.features, ref.features, rtol=1e-3, atol=1e-4 * float(np.abs(ref.features).max()))
    assert got.openset_score == pytest.approx(ref.openset_score, rel=1e-4, abs=1e-5)
    assert got.known == ref.known and got.threshold == ref.threshold
    if ref.similarity is None:
        assert got.similarity is None
    else:
        assert got.similarity == pytest.approx(ref.similarity, abs=1e-4)
    assert [lab for lab, _ in got.topk] == [lab for lab, _ in ref.topk]
    assert got.to_dict().keys() == ref.to_dict().keys()
    # one clip read once, the way the model reads it: predict_clip of the same frames is the same answer
    again = fast.predict_clip(read_clip_as(fast.sampling, clip_path, fast.config.num_frames))
    np.testing.assert_allclose(again.step_probs, got.step_probs, atol=1e-6)


@pytest.mark.parametrize("name", ["gru-attention", "grid-motion-exemplars", "bilstm-last-ensemble"])
def test_compiled_timeline_is_the_pipelines_timeline(name, tmp_path):
    folder = _save(tmp_path / name, **VARIANTS[name])
    rec = Recognizer(folder, engine="torch")
    runtime.save_compiled(rec.model, folder, tmp_path / "cache")
    fast = compiled.CompiledModel.cached(folder, tmp_path / "cache")
    video = str(lavfi_clip(tmp_path / "long.mp4", 9.0, size=(160, 120), fps=10))
    ref, got = build_timeline(rec, video, window_s=2.0, stride_s=1.0), build_timeline(fast, video, 2.0, 1.0)
    assert len(got.windows) == len(ref.windows) > 3 and got.frames == ref.frames
    for a, b in zip(got.windows, ref.windows):
        assert (a.start, a.end, a.label, a.closest) == (b.start, b.end, b.label, b.closest)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
    assert [(s.start, s.end, s.label) for s in got.segments] == [(s.start, s.end, s.label) for s in ref.segments]
    if name == "grid-motion-exemplars":  # both open-set gates are read the same way
        assert {w.label for w in ref.windows} <= {*rec.labels, "unknown"}
    # a video shorter than one window: the whole-clip answer, the same either way
    short = str(lavfi_clip(tmp_path / "short.mp4", 1.0, size=(160, 120), fps=10))
    a, b = build_timeline(fast, short, window_s=3.0).windows, build_timeline(rec, short, window_s=3.0).windows
    assert len(a) == len(b) == 1 and a[0].label == b[0].label and a[0].score == pytest.approx(b[0].score, abs=1e-4)


def test_the_cache_is_keyed_by_the_folders_bytes_and_the_engine_setting(tmp_path, clip_path, monkeypatch):
    folder = _save(tmp_path / "m", num_frames=4)
    cache = tmp_path / "cache"
    runtime.save_compiled(Recognizer(folder, engine="torch").model, folder, cache)
    assert compiled.CompiledModel.cached(folder, cache) is not None
    monkeypatch.setenv("HYBRID_ENGINE", "torch")  # the PyTorch reference asked for by name: never the export
    assert compiled.CompiledModel.cached(folder, cache) is None
    monkeypatch.delenv("HYBRID_ENGINE")
    other = shutil.copytree(folder, tmp_path / "copy")  # same bytes elsewhere: the same export
    assert compiled.cache_paths(other, cache) == compiled.cache_paths(folder, cache)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "labels": ["x", "y", "z"]}))  # a changed file: a miss
    assert compiled.CompiledModel.cached(other, cache) is None
    _save(tmp_path / "m2", num_frames=4)  # other weights (another random init), same config
    assert compiled.cache_paths(tmp_path / "m2", cache) != compiled.cache_paths(folder, cache)
    for part in compiled.PARTS:  # either graph damaged or missing: not used, no exception
        path = compiled.cache_paths(folder, cache)[part]
        good = path.read_bytes()
        path.write_bytes(b"not a network")
        assert compiled.CompiledModel.cached(folder, cache) is None
        path.unlink()
        assert compiled.CompiledModel.cached(folder, cache) is None
        path.write_bytes(good)
        assert compiled.CompiledModel.cached(folder, cache) is not None


def test_compiled_model_refuses_another_number_of_frames(tmp_path):
    folder = _save(tmp_path / "m", num_frames=4)
    runtime.save_compiled(Recognizer(folder, engine="torch").model, folder, tmp_path / "cache")
    fast = compiled.CompiledModel.cached(folder, tmp_path / "cache")
    with pytest.raises(ConfigError, match="4 frames"):
        fast.read(np.zeros((3, fast.features(np.zeros((1, 20, 30, 3), np.uint8)).shape[1]), np.float32))


_PROBE = """
import json, sys
from hybrid.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules, "timm": "timm" in sys.modules}), file=sys.stderr)
"""


def _cli(args: list[str], cache: Path) -> tuple[dict, dict]:
    env = {**os.environ, "HYBRID_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, timeout=300)
    probe = json.loads(res.stderr.strip().splitlines()[-1])
    return json.loads(res.stdout) if res.stdout.strip() else {}, probe


def test_cli_predicts_without_torch_once_the_model_is_exported(tmp_path, clip_path):
    folder = _save(tmp_path / "m", num_frames=4, openset_threshold=0.2)
    args = ["predict", str(clip_path), "--model", str(folder), "--json", "--detail"]
    first, probe1 = _cli(args, tmp_path / "cache")
    assert probe1 == {"rc": 0, "torch": True, "timm": True}  # the full way, which exports the model
    assert all(p.is_file() for p in compiled.cache_paths(folder, tmp_path / "cache").values())
    second, probe2 = _cli(args, tmp_path / "cache")
    assert probe2 == {"rc": 0, "torch": False, "timm": False}
    assert second["label"] == first["label"] and second["known"] == first["known"]
    assert second["frame_indices"] == first["frame_indices"]
    np.testing.assert_allclose(second["step_probs"], first["step_probs"], atol=1e-4)
    assert second["timings_ms"].keys() == first["timings_ms"].keys()
    # the timeline too: the same segments, no torch
    long = str(lavfi_clip(tmp_path / "long.mp4", 6.0, size=(160, 120), fps=10))
    tl_args = ["timeline", long, "--model", str(folder), "--json", "--window", "2"]
    tl_fast, probe3 = _cli(tl_args, tmp_path / "cache")
    assert probe3 == {"rc": 0, "torch": False, "timm": False}
    tl_ref, probe4 = _cli(tl_args, tmp_path / "other-cache")  # nothing exported there: the PyTorch way
    assert probe4 == {"rc": 0, "torch": True, "timm": True}
    assert [s["label"] for s in tl_fast["segments"]] == [s["label"] for s in tl_ref["segments"]]
    assert [w["start"] for w in tl_fast["windows"]] == [w["start"] for w in tl_ref["windows"]]
    # a file that is not a video is refused before any of it, with the same words either way
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    out, probe = _cli(["predict", str(bad), "--model", str(folder)], tmp_path / "cache")
    assert probe == {"rc": 2, "torch": False, "timm": False} and out == {}


def test_local_folder_is_only_an_existing_model_folder(tmp_path):
    folder = _save(tmp_path / "m", num_frames=4)
    assert compiled.local_folder(str(folder)) == folder
    for ref in ("a/" + "b" * 400_000, "x\x00y", str(tmp_path), str(tmp_path / "missing"), "owner/name"):
        assert compiled.local_folder(ref) is None  # the full way then says what is wrong with it
