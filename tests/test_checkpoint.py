"""Hostile model folders: configs with strings for numbers, models of billions of parameters, weights that do
not fit or hold NaN. Each is refused with a clear ModelError before the model is built, and memory comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hybrid import HybridCNNRNN, ModelError
from hybrid.checkpoint import BACKBONES, read_config, read_header
from hybrid.config import HybridConfig

ROOT = Path(__file__).resolve().parents[1]


def _folder(tmp_path: Path, tiny_model_dir: Path, weights: dict | None = None, **changes) -> Path:
    """The tiny model's folder with config changes (None removes a key) and, optionally, other weights."""
    folder = tmp_path / f"model-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config = {k: v for k, v in {**config, **changes}.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(config))
    if weights is None:
        (folder / "model.safetensors").write_bytes((tiny_model_dir / "model.safetensors").read_bytes())
    else:
        save_file(weights, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize(
    "changes,phrase",
    [
        (dict(num_frames="600"), "num_frames has a bad value: expected an integer, got str '600'"),
        (dict(num_frames="100000"), "num_frames has a bad value: expected an integer"),
        (dict(num_frames=16.0), "num_frames has a bad value: expected an integer, got float"),
        (dict(hidden_size=True), "hidden_size has a bad value: expected an integer, got bool"),
        (dict(image_size=["224", "224"]), "image_size has a bad value: expected an integer"),
        (dict(image_size=[224]), "image_size has a bad value: expected a list of 2 numbers"),
        (dict(bidirectional="yes"), "bidirectional has a bad value: expected true or false"),
        (dict(dropout="0.1"), "dropout has a bad value: expected a finite number"),
        (dict(mean=[float("nan"), 0.5, 0.5]), "mean has a bad value: expected a finite number"),
        (dict(std=[0.5, float("inf"), 0.5]), "std has a bad value: expected a finite number"),
        (dict(rnn_type=["gru"]), "rnn_type has a bad value: expected a string"),
        (dict(labels=["a", "b", 3]), "no 'labels' list"),
        (dict(labels=["a", "<img src=x onerror=alert(1)>", "c"]), "is not a class name"),
        (dict(labels=["a", "b`</code><form>", "c"]), "is not a class name"),
    ],
)
def test_a_config_value_of_the_wrong_type_is_refused_before_anything_is_built(
    tmp_path, tiny_model_dir, changes, phrase, monkeypatch
):
    built = []
    monkeypatch.setattr(HybridCNNRNN, "__init__", lambda self, *a, **k: built.append(a))
    folder = _folder(tmp_path, tiny_model_dir, **changes)
    with pytest.raises(ModelError, match="config.json") as e:
        HybridCNNRNN.from_pretrained(folder)
    assert phrase in str(e.value) and not built


def test_config_round_trip_and_python_callers_keep_their_types():
    cfg = HybridConfig(labels=["a", "b"], image_size=[64, 96], mean=torch.tensor([0.4, 0.5, 0.6]).numpy())
    assert cfg.image_size == (64, 96) and isinstance(cfg.mean[0], float) and cfg.grid == (1, 1)
    assert HybridConfig.from_dict(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
    with pytest.raises(ModelError, match="unknown keys: auto_map"):
        HybridConfig.from_dict({**cfg.to_dict(), "auto_map": {"x": "y"}})


def test_a_backbone_off_the_list_is_refused_unless_the_operator_allows_it(tmp_path, tiny_model_dir, monkeypatch):
    folder = _folder(tmp_path, tiny_model_dir, backbone="vit_large_patch16_224")
    assert "vit_large_patch16_224" not in BACKBONES
    with pytest.raises(ModelError, match="names backbone 'vit_large_patch16_224', which this app does not load"):
        HybridCNNRNN.from_pretrained(folder)
    monkeypatch.setenv("HYBRID_BACKBONES", "*")  # allowed now, but it is 300 M parameters: the size cap says no
    with pytest.raises(ModelError, match=r"model of 30\d M parameters; the limit here is 100 M"):
        HybridCNNRNN.from_pretrained(folder)
    monkeypatch.setenv("HYBRID_MAX_PARAMS", str(10**9))  # and with that raised, the weights must fit it
    with pytest.raises(ModelError, match="model.safetensors of .* does not match config.json: .* tensors missing"):
        HybridCNNRNN.from_pretrained(folder)


def test_a_huge_head_is_refused_by_its_parameter_count(tmp_path, tiny_model_dir):
    folder = _folder(tmp_path, tiny_model_dir, hidden_size=4096, proj_dim=4096, num_layers=8, bidirectional=True)
    with pytest.raises(ModelError, match=r"describes a model of \d+ M parameters; the limit here is 100 M"):
        HybridCNNRNN.from_pretrained(folder)


def test_weights_are_checked_against_the_config_from_the_header(tmp_path, tiny_model_dir):
    state = load_file(str(tiny_model_dir / "model.safetensors"))
    name = next(k for k in state if k.endswith("classifier.1.weight"))
    wrong = dict(state, **{name: torch.zeros(4, state[name].shape[1])})
    with pytest.raises(ModelError, match=rf"does not match config.json: {name} is \[4, \d+\], config.json implies \[3"):
        HybridCNNRNN.from_pretrained(_folder(tmp_path, tiny_model_dir, weights=wrong))
    extra = dict(state, **{"smuggled": torch.zeros(10)})
    with pytest.raises(ModelError, match="1 unexpected tensors"):
        HybridCNNRNN.from_pretrained(_folder(tmp_path, tiny_model_dir, weights=extra))
    as_ints = dict(state, **{name: state[name].to(torch.int32)})
    with pytest.raises(ModelError, match=f"{name} is I32"):
        HybridCNNRNN.from_pretrained(_folder(tmp_path, tiny_model_dir, weights=as_ints))


def test_a_header_that_lies_about_its_data_is_refused(tmp_path, tiny_model_dir):
    folder = _folder(tmp_path, tiny_model_dir)
    data = (folder / "model.safetensors").read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [10**6, 10**6]  # 4 TB claimed in a small file
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    with pytest.raises(ModelError, match=f"is damaged: tensor '{key}' has a bad entry in its header"):
        read_header(folder / "model.safetensors", "model.safetensors")
    with pytest.raises(ModelError, match="has a bad entry"):
        HybridCNNRNN.from_pretrained(folder)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused_at_load(tmp_path, tiny_model_dir, bad):
    state = load_file(str(tiny_model_dir / "model.safetensors"))
    name = next(k for k in state if k.endswith("classifier.1.bias"))
    state[name] = state[name].clone()
    state[name][0] = bad
    with pytest.raises(ModelError, match=f"holds NaN or infinite values \\(in {name}\\)"):
        HybridCNNRNN.from_pretrained(_folder(tmp_path, tiny_model_dir, weights=state))


def test_read_config_returns_the_checked_config(tiny_model_dir):
    cfg = read_config(tiny_model_dir / "config.json")
    assert cfg.labels == ("alpha", "beta", "gamma") and cfg.num_frames == 4 and cfg.image_size == (64, 96)


def test_refusing_big_hostile_models_leaves_memory_where_it_was(tmp_path, tiny_model_dir):
    """Five hostile folders that each describe gigabytes, loaded in a fresh process: each is refused, and the
    process's peak and current memory stay within 200 MB of what it had with the tiny model loaded."""
    folders = [
        _folder(tmp_path, tiny_model_dir, backbone="vit_large_patch16_224"),
        _folder(tmp_path, tiny_model_dir, hidden_size=4096, proj_dim=4096, num_layers=8, bidirectional=True),
        _folder(tmp_path, tiny_model_dir, num_heads=16, hidden_size=4096, proj_dim=4096, num_layers=4),
        _folder(tmp_path, tiny_model_dir, labels=[f"c{i}" for i in range(10_000)], hidden_size=4096, proj_dim=4096),
        _folder(tmp_path, tiny_model_dir, num_frames="600"),
    ]
    script = textwrap.dedent(
        """
        import json, sys
        from hybrid import HybridCNNRNN, ModelError

        def rss():
            status = dict(line.split(":", 1) for line in open("/proc/self/status"))
            return int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024

        HybridCNNRNN.from_pretrained(sys.argv[1])
        base = rss()
        errors = []
        for folder in sys.argv[2:]:
            try:
                HybridCNNRNN.from_pretrained(folder)
                errors.append(None)
            except ModelError as e:
                errors.append(str(e))
        print(json.dumps({"base": base, "after": rss(), "errors": errors}))
        """
    )
    env = {**os.environ, "HYBRID_BACKBONES": "*"}  # let vit_large past the list: the size cap must stop it
    cmd = [sys.executable, "-c", script, str(tiny_model_dir), *map(str, folders)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(result["errors"]), result["errors"]
    (base_rss, base_peak), (rss, peak) = result["base"], result["after"]
    assert rss - base_rss < 200 and peak - base_peak < 200, result
