"""Loading, saving and publishing models: config.json + model.safetensors + README.md.

Only safetensors are ever read (no pickle, no remote code); configs are checked against the
model's constructor before anything is built, and every failure becomes a ModelError.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelError

if TYPE_CHECKING:
    from .model import HybridCNNRNN

CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"
# Hub repo ids: "name" or "owner/name"; letters, digits, - _ . ; no "..", no leading/trailing -.
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")


def is_repo_id(ref: str) -> bool:
    return bool(_REPO_ID.match(ref)) and ".." not in ref and not ref.endswith((".", "-"))


def looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or os.sep in ref.replace("/", "", 1) or ref.count("/") > 1


def save_weights(model: HybridCNNRNN, folder: str | os.PathLike) -> None:
    """model.safetensors, in float16 when the model's config asks for it (halves the file)."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.storage_dtype == "float16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(Path(folder) / WEIGHTS_NAME), metadata={"format": "pt"})


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse and check a config.json against HybridCNNRNN's constructor."""
    from .model import HybridCNNRNN

    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"config.json is malformed: {e}") from e
    if not isinstance(config, dict) or not isinstance(config.get("labels"), list):
        raise ModelError("config.json is not a hybrid model config (no 'labels' list)")
    params = inspect.signature(HybridCNNRNN.__init__).parameters
    unknown = sorted(set(config) - set(params))
    if unknown:
        raise ModelError(f"config.json is not a hybrid model config (unknown keys: {', '.join(unknown)})")
    return config


def build_from_files(config_path: str | os.PathLike, weights_path: str | os.PathLike) -> HybridCNNRNN:
    from .model import HybridCNNRNN

    config = read_config(config_path)
    config.pop("backbone_pretrained", None)  # the weights file holds the backbone too
    try:
        model = HybridCNNRNN(**config)
    except TypeError as e:
        raise ModelError(f"config.json has a bad value: {e}") from e
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{WEIGHTS_NAME} is unreadable: {e}") from e
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise ModelError(f"{WEIGHTS_NAME} does not match config.json: {str(e).splitlines()[0]}") from e
    return model.eval()


def _download(repo_id: str, filename: str, **kw: Any) -> str:
    try:
        return hf_hub_download(repo_id, filename, **kw)
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise ModelError(f"model {repo_id!r} was not found on the Hub (or it is private or gated)") from e
    except RevisionNotFoundError as e:
        raise ModelError(f"model {repo_id!r} has no revision {kw.get('revision')!r}") from e
    except EntryNotFoundError as e:
        what = "only safetensors weights are loaded" if filename == WEIGHTS_NAME else "not a hybrid model"
        raise ModelError(f"model {repo_id!r} has no {filename} ({what})") from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        raise ModelError(f"can't reach the Hugging Face Hub for {repo_id!r} and it is not in the local cache") from e
    except HfHubHTTPError as e:
        raise ModelError(f"the Hub refused {repo_id!r}: {str(e).splitlines()[0]}") from e
    except (httpx.HTTPError, OSError) as e:
        raise ModelError(f"can't download {repo_id!r}: {e}") from e


def load_model(
    ref: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
    **_: Any,
) -> HybridCNNRNN:
    """A local folder (config.json + model.safetensors) or a Hub repo id -> model in eval mode."""
    ref = str(ref).strip()
    folder = Path(ref).expanduser()
    if folder.is_dir():
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not config_path.is_file():
            raise ModelError(f"{folder} has no {CONFIG_NAME}: not a hybrid model folder")
        if not weights_path.is_file():
            raise ModelError(f"{folder} has no {WEIGHTS_NAME} (only safetensors weights are loaded)")
        return build_from_files(config_path, weights_path)
    if looks_like_path(ref) or not is_repo_id(ref):
        raise ModelError(f"{ref!r} is neither a model folder nor a valid Hub repo id (owner/name)")
    kw = dict(
        revision=revision,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        token=token,
        force_download=force_download,
    )
    config_path = _download(ref, CONFIG_NAME, **kw)
    read_config(config_path)  # refuse a foreign repo before fetching its weights
    return build_from_files(config_path, _download(ref, WEIGHTS_NAME, **kw))


def model_card(model: HybridCNNRNN, details: dict[str, Any] | None = None):
    """A model card (huggingface_hub.ModelCard) from the config plus optional training details."""
    from huggingface_hub import ModelCard, ModelCardData

    from . import __version__

    c, d = model.config, details or {}
    data = ModelCardData(
        library_name="hybrid",
        license="apache-2.0",
        pipeline_tag="video-classification",
        tags=["video-classification", "action-recognition", "cnn-rnn", "pytorch", "safetensors"],
        datasets=d.get("datasets"),
    )
    rnn = f"{'bi-' if c.get('bidirectional') else ''}{c.get('rnn_type', 'gru').upper()}"
    lines = [
        f"# {d.get('title', 'Hybrid CNN-RNN action recognition')}",
        "",
        d.get("summary", "A per-frame CNN encodes each sampled frame; an RNN reads the frames in order."),
        "",
        "## Model",
        f"- Backbone: `{c.get('backbone')}` (per frame, spatial pool `{c.get('spatial_pool', 'avg')}`)",
        f"- Temporal head: {rnn}, hidden {c.get('hidden_size')}, layers {c.get('num_layers')}, "
        f"pooling `{c.get('temporal_pool')}`",
        f"- Input: {c.get('num_frames')} frames sampled uniformly over the clip, "
        f"{c['image_size'][0]}x{c['image_size'][1]} ({c.get('resize_mode')}), mean {list(c.get('mean'))}, "
        f"std {list(c.get('std'))}, {c.get('interpolation')}",
        f"- Classes ({len(model.labels)}): " + ", ".join(f"`{x}`" for x in model.labels),
        "",
    ]
    for title in ("Training data", "Evaluation", "Speed", "Limits", "Intended use", "Reproduce"):
        if d.get(title):
            lines += [f"## {title}", str(d[title]).strip(), ""]
    lines += [
        "## Use",
        "```bash",
        "pip install -r requirements.txt   # from the hybrid project",
        "python -m hybrid predict clip.mp4 --model <this repo or folder>",
        "```",
        f"Made with hybrid {__version__}. Weights: safetensors only.",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def push_folder(folder: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Validate a model folder (it must load) and upload it to the Hub; returns the repo URL."""
    if not is_repo_id(repo_id) or "/" not in repo_id:
        raise ModelError(f"{repo_id!r} is not a valid Hub repo id (owner/name)")
    load_model(str(folder))
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME],
            commit_message="Upload hybrid CNN-RNN model",
        )
    except (HfHubHTTPError, httpx.HTTPError, OSError) as e:
        raise ModelError(f"could not push to {repo_id!r}: {e}") from e
    return str(url)


def default_model_dir() -> Path:
    """The bundled model folder (assets/models/<name>) the app and CLI use when none is named."""
    root = Path(__file__).resolve().parent.parent / "assets" / "models"
    env = os.environ.get("HYBRID_MODEL")
    if env:
        return Path(env)
    found = sorted(p for p in root.glob("*") if (p / CONFIG_NAME).is_file()) if root.is_dir() else []
    if not found:
        raise ModelError(f"no bundled model under {root}; pass --model FOLDER_OR_REPO_ID")
    return found[0]
