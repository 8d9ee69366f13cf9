"""Process-wide memory savings for our own entry points (the CLI and the app), applied before torch loads.

timm imports torchvision, whose ops import torch._dynamo, which imports Triton (a GPU kernel compiler)
just to ask whether it is there: ~76 MB of resident memory in every process, for a compiler that
nothing here uses (no torch.compile; on the CPU the CNN runs in OpenVINO or eager PyTorch). Entry
points call skip_triton() first; library users who import hybrid keep their process as it is.
"""

from __future__ import annotations

import os
import sys


def skip_triton() -> bool:
    """Make `import triton` fail in this process (torch then reports it absent). Returns whether it did:
    not when Triton is already loaded, or when HYBRID_KEEP_TRITON=1 (e.g. to torch.compile in-process)."""
    if os.environ.get("HYBRID_KEEP_TRITON") == "1" or "triton" in sys.modules:
        return False
    sys.modules["triton"] = None  # type: ignore[assignment]  # None in sys.modules = "cannot be imported"
    return True
