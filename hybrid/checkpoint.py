"""Files <-> model: config.json + model.safetensors in a folder, checked before anything real is built.

A model folder may come from any Hub repo, so both files are hostile input. Loading goes:
1. config.json -> HybridConfig (unknown keys, wrong types, absurd sizes refused: config.py), a backbone
   from an allow-list (others only where the operator allows them: HYBRID_BACKBONES);
2. the model is laid out on the `meta` device (no memory): its parameter count is capped (HYBRID_MAX_PARAMS)
   and the names, shapes and dtypes in the safetensors header must be exactly the ones it implies;
3. only then is it built, its weights read (never a pickle) and refused if any is NaN or infinite.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import HybridConfig
from .env import env_number
from .errors import ModelError, shorten
from .model_dir import CONFIG_NAME, WEIGHTS_NAME

M = TypeVar("M", bound=nn.Module)
# the class to build (HybridCNNRNN passes itself): this module never imports the model, the model uses it
ModelClass = Callable[[HybridConfig], M]

MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few hundred bytes; 1 MiB is plenty for 10 000 labels
MAX_HEADER_BYTES = 16 << 20  # safetensors header (JSON): ~100 bytes per tensor
DEFAULT_MAX_PARAMS = 100_000_000  # ~400 MB in float32; HYBRID_MAX_PARAMS raises it
# CNNs a config may name without the operator's say-so (HYBRID_BACKBONES="name,name" adds more, "*" any timm CNN)
BACKBONES = (
    "tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "tf_efficientnet_lite3",
    "tf_efficientnet_lite4", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "mobilenetv3_large_100", "mobilenetv3_small_100", "mobilenetv2_100", "mobilenetv4_conv_small",
    "resnet18", "resnet34", "resnet50", "regnety_008", "regnety_016", "convnext_atto", "convnext_tiny",
)  # fmt: skip
_DTYPES = {"F16": (True, 2), "BF16": (True, 2), "F32": (True, 4), "F64": (True, 8), "I64": (False, 8),
           "I32": (False, 4), "I16": (False, 2), "I8": (False, 1), "U8": (False, 1), "BOOL": (False, 1)}  # fmt: skip


def _where(name: str, source: str | None) -> str:
    return f"{name} of {source}" if source else name


def allowed_backbones() -> tuple[str, ...] | None:
    """The backbone names a loaded config may use; None: any timm model (HYBRID_BACKBONES=*)."""
    extra = [x.strip() for x in os.environ.get("HYBRID_BACKBONES", "").split(",") if x.strip()]
    return None if "*" in extra else (*BACKBONES, *extra)


def max_params() -> int:
    return int(env_number("HYBRID_MAX_PARAMS", DEFAULT_MAX_PARAMS, integer=True))


def read_config(path: str | os.PathLike, source: str | None = None) -> HybridConfig:
    """Parse and check a config.json: a hybrid model config with sane types, sizes and an allowed backbone."""
    where = _where(CONFIG_NAME, source)
    try:
        if Path(path).stat().st_size > MAX_CONFIG_BYTES:
            raise ModelError(f"{where} is over {MAX_CONFIG_BYTES >> 20} MiB: not a hybrid model config")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ModelError(f"{where} is malformed ({shorten(e, 200)})") from None
    try:
        cfg = HybridConfig.from_dict(data)
    except ModelError as e:
        raise ModelError(f"{where}: {e}" if "hybrid model config" not in str(e) else f"{where} is {e}") from None
    backbone, allowed = cfg.backbone, allowed_backbones()
    if ":" in backbone or "/" in backbone:  # "hf-hub:..." would make timm fetch from the Hub
        raise ModelError(
            f"{where} names backbone {shorten(backbone)!r}: only plain timm architecture names are accepted"
        )
    import timm

    if not timm.is_model(backbone):
        raise ModelError(f"{where} names an unknown backbone {shorten(backbone)!r} (not a timm model in this install)")
    if allowed is not None and backbone not in allowed:
        raise ModelError(
            f"{where} names backbone {backbone!r}, which this app does not load (allowed: {', '.join(allowed[:6])}, "
            "...; an operator can allow more with HYBRID_BACKBONES)"
        )
    return cfg


def _layout(cfg: HybridConfig, where: str, cls: ModelClass) -> dict[str, tuple[bool, tuple[int, ...]]]:
    """name -> (floating?, shape) of every tensor the model's state dict holds, laid out on `meta` (no memory)."""
    try:
        with torch.device("meta"):
            model = cls(replace(cfg, backbone_pretrained=None))
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{where} has a bad value: {shorten(e, 200)}") from None
    n = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())  # stored numbers
    if n > max_params():
        raise ModelError(
            f"{where} describes a model of {n / 1e6:.0f} M parameters; the limit here is {max_params() / 1e6:.0f} M "
            "(refused before building it; HYBRID_MAX_PARAMS raises it)"
        )
    return {k: (v.is_floating_point(), tuple(v.shape)) for k, v in model.state_dict().items()}


def read_header(path: str | os.PathLike, where: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) from a safetensors file's header, with its offsets checked against the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise ModelError(f"{where} is unreadable: not a safetensors file (bad header length)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ModelError(f"{where} is unreadable: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{where} is unreadable: not a safetensors file (its header is not a JSON object)")
    out, data_bytes = {}, size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            itemsize = _DTYPES[dtype][1]
            ok = all(isinstance(d, int) and d >= 0 for d in (*shape, start, end))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not start <= end <= data_bytes or end - start != math.prod(shape) * itemsize:
            raise ModelError(f"{where} is damaged: tensor {shorten(name)!r} has a bad entry in its header")
        out[name] = (dtype, shape)
    return out


def check_weights(
    cfg: HybridConfig, weights_path: str | os.PathLike, cls: ModelClass, source: str | None = None
) -> None:  # fmt: skip
    """Refuse weights whose tensors are not exactly the ones the config implies (before building anything)."""
    where_c, where_w = _where(CONFIG_NAME, source), _where(WEIGHTS_NAME, source)
    want, have = _layout(cfg, where_c, cls), read_header(weights_path, where_w)
    problems = []
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing:
        problems.append(f"{len(missing)} tensors missing (e.g. {shorten(missing[0])})")
    if extra:
        problems.append(f"{len(extra)} unexpected tensors (e.g. {shorten(extra[0])})")
    for name in sorted(set(want) & set(have)):
        floating, shape = want[name]
        dtype, got = have[name]
        if got != shape:
            problems.append(f"{name} is {list(got)}, config.json implies {list(shape)}")
        elif _DTYPES[dtype][0] != floating:
            problems.append(f"{name} is {dtype}")
        if len(problems) > 3:
            break
    if problems:
        raise ModelError(f"{where_w} does not match {CONFIG_NAME}: {'; '.join(problems)}")


def build_from_files(
    cls: ModelClass[M], config_path: str | os.PathLike, weights_path: str | os.PathLike, source: str | None = None
) -> M:
    """config.json + model.safetensors -> a `cls` model in eval mode (float32), every check first."""
    cfg = replace(read_config(config_path, source), backbone_pretrained=None)  # weights hold the backbone
    check_weights(cfg, weights_path, cls, source)
    where = _where(WEIGHTS_NAME, source)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{where} is unreadable: {shorten(e, 200)}") from None
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        del state
        raise ModelError(f"{where} holds NaN or infinite values (in {shorten(bad)}): refused")
    model = cls(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        del model, state
        raise ModelError(f"{where} does not match {CONFIG_NAME}: {str(e).splitlines()[0]}") from None
    return model.eval()


def load_folder(cls: ModelClass[M], folder: str | os.PathLike) -> M:
    """A model folder (config.json + model.safetensors) -> a `cls` model in eval mode."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.is_file():
        raise ModelError(f"{folder} has no {CONFIG_NAME}: not a hybrid model folder")
    if not weights_path.is_file():
        extra = [p.name for p in folder.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        found = f" (found {', '.join(sorted(extra))}: pickled checkpoints are never loaded)" if extra else ""
        raise ModelError(f"{folder} has no {WEIGHTS_NAME}{found}; only safetensors weights are loaded")
    return build_from_files(cls, config_path, weights_path, str(folder))


def save_weights(model: nn.Module, folder: str | os.PathLike) -> None:
    """model.safetensors, in float16 when the model's config asks for it (halves the file)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.config.storage_dtype == "float16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(Path(folder) / WEIGHTS_NAME), metadata={"format": "pt"})
