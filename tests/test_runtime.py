"""The OpenVINO CNN engine against the PyTorch reference: same feature maps, same predictions, safe fallbacks."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from hybrid import HybridCNNRNN
from hybrid import runtime as rt
from hybrid.errors import ConfigError
from hybrid.pipeline import Recognizer


@pytest.fixture(scope="module")
def tiny(tiny_model_dir) -> HybridCNNRNN:
    return HybridCNNRNN.from_pretrained(tiny_model_dir).eval().to(memory_format=torch.channels_last)


def frames(model: HybridCNNRNN, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    H, W = model.image_size
    return torch.randn(n, 3, H, W, generator=g).contiguous(memory_format=torch.channels_last)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).min())


def test_openvino_fp32_matches_torch_for_any_batch(tiny, tmp_path):
    engine = rt.make_engine(tiny, "openvino", "fp32", cache_dir=tmp_path)
    assert engine.name == "openvino"
    for n in (1, 4, 7):  # the exported batch size is dynamic
        x = frames(tiny, n, seed=n)
        with torch.inference_mode():
            ref = tiny.frame_maps(x)
        out = engine.frame_maps(x)
        assert out.shape == ref.shape and out.dtype == torch.float32
        assert torch.allclose(out, ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))
    # a plain (not channels_last) tensor is just as good
    x = frames(tiny, 2).contiguous()
    with torch.inference_mode():
        ref = tiny.frame_maps(x)
    assert torch.allclose(engine.frame_maps(x), ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))


def test_chunked_batches_and_compiled_blob_cache(tiny, tmp_path):
    engine = rt.make_engine(tiny, "openvino", cache_dir=tmp_path)
    assert any((tmp_path / "openvino").iterdir())  # OpenVINO kept the compiled network for the next process
    chunked = rt.OpenVINOEngine(rt.cached_onnx(tiny, tmp_path), max_batch=2)
    x = frames(tiny, 5)  # chunks of 2, 2, 1
    with torch.inference_mode():
        ref = tiny.frame_maps(x)
    out = chunked.frame_maps(x)
    assert out.shape == ref.shape
    assert torch.allclose(out, engine.frame_maps(x), atol=1e-5 * float(ref.abs().max()))
    assert torch.allclose(out, ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))


def test_bf16_stays_close(tiny, tmp_path):
    engine = rt.make_engine(tiny, "openvino", "bf16", cache_dir=tmp_path)
    x = frames(tiny, 4)
    with torch.inference_mode():
        ref = tiny.frame_maps(x)
    assert cosine(engine.frame_maps(x), ref) > 0.98  # exact fp32 on CPUs without native bf16


def test_export_is_cached_by_weights_and_size(tiny, tmp_path):
    first = rt.cached_onnx(tiny, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert rt.cached_onnx(tiny, tmp_path) == first and first.stat().st_mtime_ns == stamp  # not re-exported
    other = HybridCNNRNN(labels=["a", "b"], num_frames=2, image_size=(64, 96))  # other random weights
    assert rt.backbone_key(other) != rt.backbone_key(tiny)
    resized = HybridCNNRNN(labels=["a", "b"], num_frames=2, image_size=(96, 96))
    resized.backbone.load_state_dict(tiny.backbone.state_dict())
    assert rt.backbone_key(resized) != rt.backbone_key(tiny)  # same weights, other input size
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]  # no temporary files left


def test_recognizer_predictions_agree_across_engines(tiny_model_dir, index_clip_path, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_CACHE", str(tmp_path))
    ref = Recognizer(tiny_model_dir, engine="torch")
    fast = Recognizer(tiny_model_dir, engine="openvino")
    assert isinstance(ref.engine, rt.TorchEngine) and fast.engine.name == "openvino"
    a, b = ref(index_clip_path, explain=True), fast(index_clip_path, explain=True)
    assert a.label == b.label and a.indices == b.indices
    np.testing.assert_allclose(b.step_probs, a.step_probs, atol=1e-4)
    np.testing.assert_allclose(b.features, a.features, rtol=1e-3, atol=1e-3 * np.abs(a.features).max())
    np.testing.assert_allclose(b.heatmaps, a.heatmaps, atol=1e-3)
    assert b.gradcam.shape == a.gradcam.shape  # Grad-CAM through the head on either engine's maps
    np.testing.assert_allclose(b.gradcam, a.gradcam, atol=1e-2)
    assert [c[0][0] for c in a.concepts] == [c[0][0] for c in b.concepts]


def test_auto_falls_back_to_torch_without_openvino(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the package were not installed
    assert not rt.openvino_available()
    assert isinstance(rt.make_engine(tiny, "auto", cache_dir=tmp_path), rt.TorchEngine)
    with pytest.raises(ConfigError, match="needs the packages openvino and onnx"):
        rt.make_engine(tiny, "openvino", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_auto_falls_back_to_torch_when_export_fails(tiny, tmp_path, monkeypatch, caplog):
    def broken(*_a, **_k):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(rt, "export_onnx", broken)
    assert isinstance(rt.make_engine(tiny, "auto", cache_dir=tmp_path), rt.TorchEngine)
    assert "exporter broke" in caplog.text
    with pytest.raises(RuntimeError, match="exporter broke"):
        rt.make_engine(tiny, "openvino", cache_dir=tmp_path)


def test_unwritable_cache_still_gives_a_fast_engine(tiny, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    engine = rt.make_engine(tiny, "openvino", cache_dir=blocker)
    x = frames(tiny, 2)
    with torch.inference_mode():
        assert cosine(engine.frame_maps(x), tiny.frame_maps(x)) > 0.9999


def test_choice_by_environment_and_bad_names(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_ENGINE", "torch")
    assert isinstance(rt.make_engine(tiny, cache_dir=tmp_path), rt.TorchEngine)
    monkeypatch.setenv("HYBRID_ENGINE", "openvino")
    monkeypatch.setenv("HYBRID_PRECISION", "bf16")
    engine = rt.make_engine(tiny, cache_dir=tmp_path)
    assert engine.name == "openvino" and engine.precision == "bf16"
    with pytest.raises(ConfigError, match=r"engine \(HYBRID_ENGINE\) must be one of"):
        rt.make_engine(tiny, "tensorrt")
    with pytest.raises(ConfigError, match=r"precision \(HYBRID_PRECISION\) must be one of"):
        rt.make_engine(tiny, "openvino", "int4")


def test_engine_is_safe_to_share_between_threads(tiny, tmp_path):
    engine = rt.make_engine(tiny, "openvino", cache_dir=tmp_path)
    inputs = [frames(tiny, 3, seed=s) for s in range(4)]
    expected = [engine.frame_maps(x) for x in inputs]
    results: dict[int, torch.Tensor] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = engine.frame_maps(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert torch.equal(results[i], expected[i])


def test_skip_triton_keeps_torch_working_without_the_gpu_compiler():
    """The CLI and app block Triton's import (~76 MB each); torch, timm and the model still run."""
    code = (
        "import sys; from hybrid.lean import skip_triton; assert skip_triton()\n"
        "import torch, torch._dynamo, timm\n"
        "from hybrid import HybridCNNRNN\n"
        "m = HybridCNNRNN(labels=['a', 'b'], image_size=(64, 64))\n"
        "print(sys.modules['triton'] is None, tuple(m(torch.rand(1, 2, 3, 64, 64)).logits.shape))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "(1,", "2)"]


def test_a_bad_engine_setting_is_one_clear_cli_line(tiny_model_dir, index_clip_path, monkeypatch, capsys):
    from hybrid.cli import main

    monkeypatch.setenv("HYBRID_ENGINE", "foo")
    assert main(["predict", str(index_clip_path), "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert err == "error: engine (HYBRID_ENGINE) must be one of ('auto', 'torch', 'openvino'), not 'foo'\n"
