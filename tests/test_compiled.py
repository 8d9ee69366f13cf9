"""The whole model compiled by OpenVINO (hybrid/compiled.py) against the PyTorch pipeline: same answers, a cache
keyed by the folder's bytes, and a CLI that predicts without importing torch once the export is there."""

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
from synth import index_clip

from hybrid import HybridCNNRNN, compiled, runtime
from hybrid.errors import ConfigError
from hybrid.pipeline import Recognizer
from hybrid.video import read_clip

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
    path = runtime.save_compiled(rec.model, folder, tmp_path / "cache")
    assert path is not None and path.is_file()
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
    # one clip read once: predict_clip of the same frames is the same answer
    again = fast.predict_clip(read_clip(clip_path, fast.config.num_frames))
    np.testing.assert_allclose(again.step_probs, got.step_probs, atol=1e-6)


def test_the_cache_is_keyed_by_the_folders_bytes_and_the_engine_setting(tmp_path, clip_path, monkeypatch):
    folder = _save(tmp_path / "m", num_frames=4)
    cache = tmp_path / "cache"
    runtime.save_compiled(Recognizer(folder, engine="torch").model, folder, cache)
    assert compiled.CompiledModel.cached(folder, cache) is not None
    monkeypatch.setenv("HYBRID_ENGINE", "torch")  # the PyTorch reference asked for by name: never the export
    assert compiled.CompiledModel.cached(folder, cache) is None
    monkeypatch.delenv("HYBRID_ENGINE")
    other = shutil.copytree(folder, tmp_path / "copy")  # same bytes elsewhere: the same export
    assert compiled.cache_path(other, cache) == compiled.cache_path(folder, cache)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "labels": ["x", "y", "z"]}))  # a changed file: a miss
    assert compiled.CompiledModel.cached(other, cache) is None
    _save(tmp_path / "m2", num_frames=4)  # other weights (another random init), same config
    assert compiled.cache_path(tmp_path / "m2", cache) != compiled.cache_path(folder, cache)
    compiled.cache_path(folder, cache).write_bytes(b"not a network")  # a damaged export: not used, no exception
    assert compiled.CompiledModel.cached(folder, cache) is None


def test_compiled_model_refuses_another_number_of_frames(tmp_path):
    folder = _save(tmp_path / "m", num_frames=4)
    runtime.save_compiled(Recognizer(folder, engine="torch").model, folder, tmp_path / "cache")
    fast = compiled.CompiledModel.cached(folder, tmp_path / "cache")
    with pytest.raises(ConfigError, match="4 frames"):
        fast.run(np.zeros((3, 64, 96, 3), np.float32))


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
    assert compiled.cache_path(folder, tmp_path / "cache").is_file()
    second, probe2 = _cli(args, tmp_path / "cache")
    assert probe2 == {"rc": 0, "torch": False, "timm": False}
    assert second["label"] == first["label"] and second["known"] == first["known"]
    assert second["frame_indices"] == first["frame_indices"]
    np.testing.assert_allclose(second["step_probs"], first["step_probs"], atol=1e-4)
    assert "network" in second["timings_ms"] and "cnn" in first["timings_ms"]
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
