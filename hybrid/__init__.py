"""hybrid: video action recognition with a per-frame CNN and an RNN over time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import HybridError, ModelError, VideoError

if TYPE_CHECKING:
    from .model import HybridCNNRNN

__all__ = ["HybridCNNRNN", "HybridError", "ModelError", "VideoError", "__version__"]


def __getattr__(name: str) -> Any:
    # torch and timm load on first use, so `python -m hybrid --help` and the CLI's early checks stay light
    if name == "HybridCNNRNN":
        from .model import HybridCNNRNN

        return HybridCNNRNN
    raise AttributeError(f"module 'hybrid' has no attribute {name!r}")
