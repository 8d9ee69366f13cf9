"""HybridCNNRNN: shapes, causal per-step logits, streaming == batched, save/load round trips, ImageNet Lite0."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hybrid import HybridCNNRNN, ModelError
from hybrid.backbones import (
    LITE0,
    create_backbone,
    imagenet_labels,
    lite0_imagenet_state_dict,
    rename_lite0_key,
    split_backbone,
)
from hybrid.transforms import preprocess

LABELS = ["alpha", "beta", "gamma"]


def small(**kw) -> HybridCNNRNN:
    """A random-init model on 64x96 frames with a small head, in eval mode."""
    args = dict(labels=LABELS, num_frames=4, image_size=(64, 96), hidden_size=16, proj_dim=16)
    return HybridCNNRNN(**{**args, **kw}).eval()


@pytest.fixture(scope="module")
def model() -> HybridCNNRNN:
    torch.manual_seed(0)
    return small()


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.randn(2, 3, 3, 64, 96, generator=torch.Generator().manual_seed(1))  # [B,T,3,H,W]


# --- forward ----------------------------------------------------------------------------------------
@torch.inference_mode()
def test_forward_shapes(model, clips):
    out = model(clips)
    assert out.logits.shape == (2, 3)
    assert out.step_logits.shape == (2, 3, 3)
    assert out.attention.shape == (2, 3)
    assert out.feats.shape == (2, 3, model.backbone.num_features)
    assert out.fmap.shape == (2, 3, model.backbone.num_features, 2, 3)  # Lite0: stride 32
    torch.testing.assert_close(out.logits, out.step_logits[:, -1])
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(2))


@torch.inference_mode()
def test_split_forward_matches_forward(model, clips):
    """frame_maps -> pool_frames -> forward_head (what the Recognizer and trainer call) == forward()."""
    out = model(clips)
    fmap = model.frame_maps(clips.flatten(0, 1))
    feats = model.pool_frames(fmap).view(2, 3, -1)
    head = model.forward_head(feats)
    torch.testing.assert_close(feats, out.feats)
    torch.testing.assert_close(head.step_logits, out.step_logits)
    assert model.imagenet_logits(fmap).shape == (6, 1000)


@torch.inference_mode()
def test_grid_spatial_pool_multiplies_feature_size(clips):
    m = small(spatial_pool="1x3")
    out = m(clips)
    assert out.feats.shape == (2, 3, 3 * m.backbone.num_features)
    assert out.logits.shape == (2, 3)


@torch.inference_mode()
def test_per_cell_projection_is_one_layer_shared_by_every_cell(clips):
    """cell_dim: a 3x3 grid reaches the head as 9 x cell_dim numbers; the same projection for every cell, so
    moving what a cell sees to another cell moves its projection there; streaming still equals the batch."""
    m = small(spatial_pool="3x3", cell_dim=8, motion=True)
    wide = small(spatial_pool="3x3")
    C = m.backbone.num_features
    assert m.head.norm.normalized_shape == (2 * 9 * 8,)  # features and their differences, projected
    head_params = sum(p.numel() for p in m.head.parameters())
    assert head_params < sum(p.numel() for p in wide.head.parameters()) / 10
    feats = m(clips).feats  # [B,T,C*9], channel-major: feature c of cell k at c*9 + k
    assert feats.shape[-1] == 9 * C
    projected = m.head.project_cells(feats).unflatten(-1, (9, 8))  # [B,T,9,8]
    swapped = feats.unflatten(-1, (C, 9))[..., [1, 0, 2, 3, 4, 5, 6, 7, 8]].flatten(-2)  # cells 0 and 1 swapped
    again = m.head.project_cells(swapped).unflatten(-1, (9, 8))
    assert torch.allclose(again[..., 0, :], projected[..., 1, :], atol=1e-6)
    assert torch.allclose(again[..., 2:, :], projected[..., 2:, :], atol=1e-6)
    out, state, steps = m.forward_head(feats), None, []
    for t in range(feats.shape[1]):
        logits, state = m.step(feats[:, t], state)
        steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), out.step_logits, atol=1e-5)


@pytest.mark.parametrize("temporal_pool", ["last", "mean", "attention"])
@torch.inference_mode()
def test_step_logits_are_causal(temporal_pool):
    """Changing the last frame's features leaves every earlier step's prediction unchanged."""
    torch.manual_seed(0)
    m = small(temporal_pool=temporal_pool)
    feats = torch.randn(2, 5, m.backbone.num_features)
    changed = feats.clone()
    changed[:, -1] = torch.randn_like(changed[:, -1])  # (a constant shift would vanish in LayerNorm)
    a, b = m.forward_head(feats).step_logits, m.forward_head(changed).step_logits
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])


# --- streaming --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rnn_type,temporal_pool,num_layers",
    [
        ("gru", "last", 1),
        ("gru", "mean", 1),
        ("gru", "attention", 1),
        ("lstm", "last", 1),
        ("lstm", "mean", 1),
        ("lstm", "attention", 2),
    ],
)
@torch.inference_mode()
def test_streaming_step_equals_batched(rnn_type, temporal_pool, num_layers):
    torch.manual_seed(0)
    m = small(rnn_type=rnn_type, temporal_pool=temporal_pool, num_layers=num_layers, dropout=0.3)
    feats = torch.randn(2, 6, m.backbone.num_features)
    batched = m.forward_head(feats)
    state = None
    for t in range(feats.shape[1]):
        logits, state = m.step(feats[:, t], state)
        torch.testing.assert_close(logits, batched.step_logits[:, t], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, batched.logits, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_streaming_from_frames_matches_forward(model, clips):
    """Frame by frame through the CNN and step() == the clip forward."""
    out = model(clips)
    state = None
    for t in range(clips.shape[1]):
        feat = model.pool_frames(model.frame_maps(clips[:, t]))
        logits, state = model.step(feat, state)
    torch.testing.assert_close(logits, out.logits, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_bidirectional_forward_works_but_streaming_is_refused(clips):
    m = small(bidirectional=True)
    assert m(clips).step_logits.shape == (2, 3, 3)
    with pytest.raises(ModelError, match="bidirectional"):
        m.step(torch.randn(2, m.backbone.num_features))


# --- configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(labels=[]), "labels"),
        (dict(labels=["a", "a"]), "distinct"),
        (dict(rnn_type="transformer"), "rnn_type"),
        (dict(temporal_pool="max"), "temporal_pool"),
        (dict(resize_mode="stretch"), "resize_mode"),
        (dict(interpolation="lanczos9"), "interpolation"),
        (dict(storage_dtype="int8"), "storage_dtype"),
        (dict(image_size=(16, 16)), "image_size"),
        (dict(num_frames=0), "num_frames"),
        (dict(std=(0.5, 0.0, 0.5)), "std"),
        (dict(spatial_pool="3y2"), "spatial_pool"),
        (dict(spatial_pool="9x9"), "out of range"),
        (dict(dropout=1.5), "dropout"),
        (dict(cell_dim=-1), "cell_dim"),
        (dict(backbone="no_such_network"), "unknown backbone"),
    ],
)
def test_bad_settings_raise_model_error(kw, match):
    with pytest.raises(ModelError, match=match):
        small(**kw)


def test_config_json_carries_everything_needed(tmp_path):
    m = small(
        mean=np.array([0.485, 0.456, 0.406], dtype=np.float32),  # not JSON-native: must still be saved
        std=(0.229, 0.224, 0.225),
        interpolation="bilinear",
        resize_mode="center_crop",
        rnn_type="lstm",
        temporal_pool="mean",
        num_layers=2,
        spatial_pool="2x2",
    )
    m.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["labels"] == LABELS
    assert config["num_frames"] == 4 and config["image_size"] == [64, 96]
    assert config["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert config["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert config["interpolation"] == "bilinear" and config["resize_mode"] == "center_crop"
    assert config["backbone"] == LITE0 and config["spatial_pool"] == "2x2"
    assert (config["rnn_type"], config["hidden_size"], config["num_layers"]) == ("lstm", 16, 2)
    assert (config["temporal_pool"], config["bidirectional"], config["proj_dim"]) == ("mean", False, 16)
    assert config["storage_dtype"] == "float32"
    assert config == m.config.to_dict()
    loaded = HybridCNNRNN.from_pretrained(tmp_path)
    assert loaded.config == m.config
    assert loaded.config.mean == pytest.approx(m.config.mean) and loaded.image_size == (64, 96)


# --- save / load ------------------------------------------------------------------------------------
def _perturb_norm_stats(m: HybridCNNRNN) -> None:
    """Give BatchNorm layers non-trivial running statistics, so the round trip checks them too."""
    g = torch.Generator().manual_seed(3)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)


@torch.inference_mode()
def test_save_load_round_trip_float32_is_exact(tmp_path, clips):
    m = small()
    _perturb_norm_stats(m)
    m.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    loaded = HybridCNNRNN.from_pretrained(tmp_path)
    assert not loaded.training
    for (k, a), (k2, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    torch.testing.assert_close(loaded(clips).step_logits, m(clips).step_logits, atol=0, rtol=0)


@torch.inference_mode()
def test_save_load_float16_halves_the_file(tmp_path, clips):
    torch.manual_seed(0)
    m32 = small()
    _perturb_norm_stats(m32)
    m16 = small(storage_dtype="float16")
    m16.load_state_dict(m32.state_dict())
    m32.save_pretrained(tmp_path / "fp32")
    m16.save_pretrained(tmp_path / "fp16")
    size32 = (tmp_path / "fp32" / "model.safetensors").stat().st_size
    size16 = (tmp_path / "fp16" / "model.safetensors").stat().st_size
    assert 0.45 < size16 / size32 < 0.55
    loaded = HybridCNNRNN.from_pretrained(tmp_path / "fp16")
    assert loaded.config.storage_dtype == "float16"
    assert all(v.dtype != torch.float16 for v in loaded.state_dict().values())  # computes in float32
    ref, got = m32(clips).step_logits, loaded(clips).step_logits
    torch.testing.assert_close(got, ref, atol=5e-3 * max(ref.abs().max().item(), 1.0), rtol=1e-2)


def test_save_pretrained_writes_a_model_card_with_training_details(tmp_path):
    m = small()
    details = {"data": "40 clips of 3 classes", "metrics": {"accuracy": 0.875}, "limits": "Only 3 actions."}
    m.save_pretrained(tmp_path, model_card_kwargs={"details": details})
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: hybrid" in card
    for text in ("## Classes (3)", "`alpha`", "## Training data", "40 clips", "| accuracy | 0.875 |", "## Limits"):
        assert text in card


# --- ImageNet Lite0 ---------------------------------------------------------------------------------
def test_lite0_key_renaming():
    assert rename_lite0_key("_conv_stem.weight") == "conv_stem.weight"
    assert rename_lite0_key("_blocks.0._depthwise_conv.weight") == "blocks.0.0.conv_dw.weight"
    assert rename_lite0_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert rename_lite0_key("_blocks.3._bn0.running_mean") == "blocks.2.0.bn1.running_mean"
    assert rename_lite0_key("_blocks.15._project_conv.weight") == "blocks.6.0.conv_pwl.weight"
    assert rename_lite0_key("_fc.bias") == "classifier.bias"


@torch.inference_mode()
def test_packaged_imagenet_lite0_sees_espresso_in_coffee():
    import timm
    from skimage.data import coffee

    state = lite0_imagenet_state_dict()
    result = timm.create_model(LITE0, pretrained=False).load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    m = HybridCNNRNN(labels=LABELS, backbone_pretrained="imagenet-package", image_size=(224, 224)).eval()
    for k, v in create_backbone(LITE0).state_dict().items():
        assert m.backbone.state_dict()[k].shape == v.shape
    x = preprocess(coffee()[None], m.config)  # bicubic resize to 224, mean = std = 0.5 (the model's config)
    assert x.shape == (1, 3, 224, 224) and -1.0 <= x.min() and x.max() <= 1.0
    probs = m.imagenet_logits(m.frame_maps(x)).softmax(-1)[0]
    names = imagenet_labels()
    assert len(names) == 1000
    top = int(probs.argmax())
    assert names[top] == "espresso" and probs[top] > 0.8, (names[top], float(probs[top]))


@torch.inference_mode()
def test_split_backbone_prefix_then_tail_is_the_whole_cnn():
    net = create_backbone(LITE0).eval()
    x = torch.randn(2, 3, 64, 96)
    whole = net.forward_features(x)
    for k in range(9):  # 7 block stages + the head conv
        prefix, tail = split_backbone(net, k)
        torch.testing.assert_close(tail(prefix(x)), whole)
    assert sum(p.numel() for p in split_backbone(net, 1)[1].parameters()) == 320 * 1280 + 2 * 1280
    with pytest.raises(ModelError, match="between 0 and 8"):
        split_backbone(net, 9)
    with pytest.raises(ModelError, match="EfficientNet-family"):
        split_backbone(torch.nn.Linear(2, 2), 1)


def test_normalise_is_the_configs_formula_and_leaves_its_input_alone():
    from hybrid.transforms import normalise, scale_shift

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 5, 7, 3), dtype=np.uint8)
    want = (frames / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(normalise(frames, mean, std), want, atol=1e-5)
    as_float = frames.astype(np.float32)
    out = normalise(as_float, mean, std)  # float input: a new array, never scaled in place
    assert out is not as_float and np.array_equal(as_float, frames.astype(np.float32))
    scale, shift = scale_shift(mean, std)
    assert scale.dtype == shift.dtype == np.float32 and scale.shape == shift.shape == (3,)
