"""hybrid: video action recognition with a per-frame CNN and an RNN over time."""

__version__ = "0.1.0"

from .errors import HybridError, ModelError, VideoError  # noqa: E402
from .model import HybridCNNRNN  # noqa: E402

__all__ = ["HybridCNNRNN", "HybridError", "ModelError", "VideoError", "__version__"]
