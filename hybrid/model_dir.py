"""Where models live on disk: the files of a model folder, and the bundled models (no torch, no Hub client)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelError

CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"
DEFAULT_MODEL = "ut-interaction-lite0"  # the bundled model used when none is named (others are offered too)


def bundled_model_roots() -> tuple[Path, Path]:
    """Where the bundled models may be, in the order looked at: the repo's assets/models (a checkout or an
    editable install), then hybrid/_models (an installed copy: pyproject.toml puts assets/models there)."""
    here = Path(__file__).resolve().parent
    return here.parent / "assets" / "models", here / "_models"


def default_model_dir() -> Path:
    """The bundled model folder (assets/models/<name>) the app and CLI use when none is named."""
    env = os.environ.get("HYBRID_MODEL")
    if env:
        return Path(env)
    roots = bundled_model_roots()
    for root in roots:
        found = sorted(p for p in root.glob("*") if (p / CONFIG_NAME).is_file()) if root.is_dir() else []
        if found:
            return next((p for p in found if p.name == DEFAULT_MODEL), found[0])
    where = " or ".join(str(root) for root in roots)
    raise ModelError(f"no bundled model under {where}; pass --model FOLDER_OR_REPO_ID")
