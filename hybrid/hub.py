"""Loading, saving and publishing models: config.json + model.safetensors + README.md (model card).

Only safetensors are ever read (no pickle, no remote code); configs are checked against the
model's constructor before anything is built, and every failure becomes a ModelError.

Hub loads fail fast when the Hub can't be reached: huggingface_hub retries a failed metadata
request with backoff for ~23 s (60 s timeouts when packets are dropped) before giving up, so
`load_model` first sends one HEAD without retries (timeout HF_HUB_ETAG_TIMEOUT, 10 s by default).
If that gets no answer, the model comes from the local cache or the load stops with a clear error.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2  # huggingface_hub's HTTP client (a dependency of huggingface-hub 2.x)
import timm
from huggingface_hub import CommitOperationAdd, HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .backbones import LITE0
from .errors import ModelError

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from .model import HybridCNNRNN

CONFIG_NAME, WEIGHTS_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"
DEFAULT_MODEL = "ut-interaction-lite0"  # the bundled model used when none is named (others are offered too)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # https://..., hf://..., file:... (not C:\\)
_LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"


# --- what the user named: a folder or a repo id -----------------------------------------------------
def resolve_ref(ref: str | os.PathLike) -> Path | str:
    """A model reference -> an existing local folder (Path) or a well-formed Hub repo id (str)."""
    text = os.fspath(ref).strip() if isinstance(ref, (str, os.PathLike)) else ""
    if not text:
        raise ModelError("no model given: pass a model folder or a Hub repo id (owner/name)")
    if _URL.match(text) and not Path(text).exists():
        m = re.match(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([\w.-]+/[\w.-]+)/?$", text)
        hint = f"; use the repo id {m.group(1)!r}" if m else ""
        raise ModelError(f"{text!r} is a URL: pass a local model folder or a Hub repo id (owner/name){hint}")
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelError(f"{text} is a file: pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    pathish = text.startswith(("/", "~", ".")) or "\\" in text or text.count("/") > 1 or ".." in text.split("/")
    if pathish:
        raise ModelError(f"no model folder at {text} (and it is not a Hub repo id of the form owner/name)")
    try:
        validate_repo_id(text)
    except HFValidationError as e:
        raise ModelError(
            f"{text!r} is neither a local model folder nor a valid Hub repo id (owner/name: letters, digits, "
            f"'-', '_', '.'; no '--' or '..')"
        ) from e
    return text


def is_repo_id(ref: str) -> bool:
    """True when `ref` is well-formed as a Hub repo id (and is not a local folder)."""
    try:
        return isinstance(resolve_ref(ref), str)
    except ModelError:
        return False


# --- files <-> model --------------------------------------------------------------------------------
def save_weights(model: HybridCNNRNN, folder: str | os.PathLike) -> None:
    """model.safetensors, in float16 when the model's config asks for it (halves the file)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if model.storage_dtype == "float16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(Path(folder) / WEIGHTS_NAME), metadata={"format": "pt"})


def read_config(path: str | os.PathLike, source: str | None = None) -> dict[str, Any]:
    """Parse a config.json and check it is a hybrid model config (known keys, sane types and sizes)."""
    from .model import HybridCNNRNN, check_sizes

    where = f"{CONFIG_NAME} of {source}" if source else CONFIG_NAME
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{where} is malformed ({e})") from e
    labels = config.get("labels") if isinstance(config, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ModelError(f"{where} is not a hybrid model config (no 'labels' list of class names)")
    params = inspect.signature(HybridCNNRNN.__init__).parameters
    unknown = sorted(set(config) - set(params))
    if unknown:
        raise ModelError(f"{where} is not a hybrid model config (unknown keys: {', '.join(unknown)})")
    backbone = config.get("backbone", LITE0)
    if not isinstance(backbone, str) or ":" in backbone:  # "hf-hub:..." would make timm fetch from the Hub
        raise ModelError(f"{where} names backbone {backbone!r}: only plain timm architecture names are accepted")
    if not timm.is_model(backbone):
        raise ModelError(f"{where} names an unknown backbone {backbone!r} (not a timm model in this install)")
    try:
        check_sizes(config)
    except ModelError as e:
        raise ModelError(f"{where}: {e}") from None
    return config


def build_from_files(
    config_path: str | os.PathLike, weights_path: str | os.PathLike, source: str | None = None
) -> HybridCNNRNN:
    """config.json + model.safetensors -> model in eval mode (float32)."""
    from .model import HybridCNNRNN

    config = read_config(config_path, source)
    config.pop("backbone_pretrained", None)  # the weights file holds the backbone too: never download
    where = f" ({source})" if source else ""
    try:
        model = HybridCNNRNN(**config)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{CONFIG_NAME}{where} has a bad value: {e}") from e
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{WEIGHTS_NAME}{where} is unreadable: {e}") from e
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise ModelError(f"{WEIGHTS_NAME}{where} does not match {CONFIG_NAME}: {str(e).splitlines()[0]}") from e
    return model.eval()


def load_folder(folder: str | os.PathLike) -> HybridCNNRNN:
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.is_file():
        raise ModelError(f"{folder} has no {CONFIG_NAME}: not a hybrid model folder")
    if not weights_path.is_file():
        extra = [p.name for p in folder.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        found = f" (found {', '.join(sorted(extra))}: pickled checkpoints are never loaded)" if extra else ""
        raise ModelError(f"{folder} has no {WEIGHTS_NAME}{found}; only safetensors weights are loaded")
    return build_from_files(config_path, weights_path, str(folder))


# --- the Hub ---------------------------------------------------------------------------------------
def _user_agent() -> dict[str, str]:
    from . import __version__

    return {"library_name": "hybrid", "library_version": __version__}


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _hub_unreachable(repo_id: str, revision: str | None, token: str | bool | None) -> str | None:
    """One HEAD of config.json, no retries: why the Hub can't be used now, or None when it answered."""
    url = hf_hub_url(repo_id, CONFIG_NAME, revision=revision)
    try:
        get_hf_file_metadata(url, token=token, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except httpx2.TimeoutException:
        return f"no answer within {constants.HF_HUB_ETAG_TIMEOUT} s (HF_HUB_ETAG_TIMEOUT)"
    except httpx2.TransportError as e:  # refused, DNS, proxy, TLS...
        return _short(e)
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else 0
        if status >= 500 or status == 429:
            return f"the Hub answered HTTP {status}"
    except Exception:  # anything else (4xx, odd answers): the download itself reports it precisely
        pass
    return None


def _offline_reason(repo_id: str, revision: str | None, token: str | bool | None, local_files_only: bool) -> str | None:
    """Why files must come from the local cache (offline mode, asked, Hub unreachable), or None to go online."""
    if constants.is_offline_mode():
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    if local_files_only:
        return "local_files_only was asked"
    problem = _hub_unreachable(repo_id, revision, token)
    return f"can't reach the Hugging Face Hub at {constants.ENDPOINT} ({problem})" if problem else None


def _download(repo_id: str, filename: str, offline_reason: str | None, **kw: Any) -> str:
    try:
        return hf_hub_download(repo_id, filename, **_user_agent(), **kw)
    except GatedRepoError as e:
        raise ModelError(f"model {repo_id!r} is gated: accept its conditions on the Hub, then {_LOGIN_HINT}") from e
    except RepositoryNotFoundError as e:
        raise ModelError(
            f"model {repo_id!r} is not a local folder and was not found on the Hub "
            f"(check the name; if it is private, {_LOGIN_HINT})"
        ) from e
    except RevisionNotFoundError as e:
        raise ModelError(f"model {repo_id!r} has no revision {kw.get('revision')!r} on the Hub") from e
    except RemoteEntryNotFoundError as e:
        if filename == WEIGHTS_NAME:
            why = "only safetensors weights are loaded; pickled .bin/.pt checkpoints are refused"
        else:
            why = "not a hybrid model repo"
        raise ModelError(f"model {repo_id!r} has no {filename} on the Hub ({why})") from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        reason = offline_reason or "can't reach the Hugging Face Hub"
        raise ModelError(
            f"{reason}, and model {repo_id!r} ({filename}) is not in the local cache: check the network "
            "(or HF_ENDPOINT / proxy settings), or pass a local model folder"
        ) from e
    except HfHubHTTPError as e:
        raise ModelError(f"the Hub refused {repo_id!r}: {_short(e)}") from e
    except (httpx2.HTTPError, OSError, ValueError) as e:
        raise ModelError(f"can't download {filename} of {repo_id!r}: {_short(e)}") from e


def load_from_hub(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
) -> HybridCNNRNN:
    """Hub repo id -> model; from the cache when offline (HF_HUB_OFFLINE=1) or when the Hub is unreachable."""
    offline_reason = _offline_reason(repo_id, revision, token, local_files_only)
    if offline_reason and force_download:
        raise ModelError(f"{offline_reason}: can't download {repo_id!r}")
    kw = dict(
        revision=revision,
        cache_dir=cache_dir,
        token=token,
        force_download=force_download,
        local_files_only=offline_reason is not None,
    )
    config_path = _download(repo_id, CONFIG_NAME, offline_reason, **kw)
    read_config(config_path, repo_id)  # refuse a foreign repo before fetching its weights
    weights_path = _download(repo_id, WEIGHTS_NAME, offline_reason, **kw)
    return build_from_files(config_path, weights_path, repo_id)


def load_model(ref: str | os.PathLike, **kwargs: Any) -> HybridCNNRNN:
    """A local folder (config.json + model.safetensors) or a Hub repo id -> model in eval mode.

    kwargs for Hub loads: revision, cache_dir, local_files_only, token, force_download (others are ignored).
    """
    target = resolve_ref(ref)
    if isinstance(target, Path):
        return load_folder(target)
    names = ("revision", "cache_dir", "local_files_only", "token", "force_download")
    return load_from_hub(target, **{k: v for k, v in kwargs.items() if k in names})


def read_card(ref: str | os.PathLike, *, revision: str | None = None, token: str | bool | None = None) -> str:
    """The model card (README.md) text of a folder or Hub repo; "" when it has none or it can't be fetched now."""
    target = resolve_ref(ref)
    if isinstance(target, Path):
        path = target / CARD_NAME
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    offline = _offline_reason(target, revision, token, local_files_only=False) is not None
    try:
        kw = dict(revision=revision, token=token, local_files_only=offline)
        path = hf_hub_download(target, CARD_NAME, **kw, **_user_agent())
    except (HfHubHTTPError, EntryNotFoundError, OfflineModeIsEnabled, httpx2.HTTPError, OSError, ValueError):
        return ""
    return Path(path).read_text(encoding="utf-8", errors="replace")


# --- model card ------------------------------------------------------------------------------------
# details key -> section title, in card order. Values: markdown text, a dict (-> table) or a list (-> bullets).
CARD_SECTIONS = {
    "data": "Training data",
    "protocol": "Evaluation protocol",
    "metrics": "Metrics",
    "speed": "Speed",
    "limits": "Limits",
    "intended_use": "Intended use",
    "reproduce": "How to reproduce",
}
_ALIASES = {"training_data": "data", "evaluation": "metrics", "how_to_reproduce": "reproduce"}
_META_KEYS = ("title", "summary", "datasets", "repo_id")


def _card_key(key: str) -> str:
    k = re.sub(r"[\s-]+", "_", str(key).strip().lower())
    return _ALIASES.get(k, k)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _render(value: Any) -> str:
    if isinstance(value, dict):
        rows = [f"| {k} | {_fmt(v)} |" for k, v in value.items()]
        return "\n".join(["| | |", "|---|---|", *rows])
    if isinstance(value, (list, tuple)):
        return "\n".join(f"- {_fmt(v)}" for v in value)
    return str(value).strip()


def model_card(model: HybridCNNRNN, details: dict[str, Any] | None = None) -> ModelCard:
    """The model card (README.md): config-derived facts plus what training knows.

    `details` (all optional): title, summary, datasets (Hub dataset ids, for the card's metadata), repo_id,
    data, protocol, metrics, speed, limits, intended_use, reproduce. Other keys become extra sections.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from . import __version__

    c = model.config
    d = {_card_key(k): v for k, v in (details or {}).items() if v not in (None, "", [], {})}
    metrics = d.get("metrics")
    data = ModelCardData(
        library_name="hybrid",
        license="apache-2.0",
        pipeline_tag="video-classification",
        tags=["video-classification", "action-recognition", "cnn-rnn", "pytorch", "safetensors"],
        datasets=list(d["datasets"]) if isinstance(d.get("datasets"), (list, tuple)) else d.get("datasets"),
        metrics=[k for k, v in metrics.items() if isinstance(v, (int, float))] if isinstance(metrics, dict) else None,
    )
    rnn = f"{'bi-' if c['bidirectional'] else ''}{c['rnn_type'].upper()}"
    h, w = c["image_size"]
    lines = [
        f"# {d.get('title', 'Hybrid CNN-RNN action recognition')}",
        "",
        str(d.get("summary", "A 2D CNN encodes each sampled frame; an RNN reads the frames in order; "
                             "a linear head names the action.")),
        "",
        "## Model",
        f"- Backbone: `{c['backbone']}` (per frame, spatial pool `{c['spatial_pool']}`)",
        f"- Temporal head: {rnn}, hidden {c['hidden_size']}, layers {c['num_layers']}, "
        f"pooling `{c['temporal_pool']}` (every step's prediction uses only the frames so far"
        f"{'' if not c['bidirectional'] else ', except with a bidirectional RNN'})",
        f"- Input: {c['num_frames']} frames sampled uniformly over the clip, {h}x{w} ({c['resize_mode']}, "
        f"{c['interpolation']}), mean {list(c['mean'])}, std {list(c['std'])}",
        f"- Weights: `{WEIGHTS_NAME}` ({c['storage_dtype']}); config: `{CONFIG_NAME}`",
        "",
        f"## Classes ({len(model.labels)})",
        ", ".join(f"`{x}`" for x in model.labels),
        "",
    ]  # fmt: skip
    extra = [k for k in d if k not in CARD_SECTIONS and k not in _META_KEYS]
    for key in [*CARD_SECTIONS, *extra]:
        if key in d:
            lines += [f"## {CARD_SECTIONS.get(key, key.replace('_', ' ').capitalize())}", _render(d[key]), ""]
    where = d.get("repo_id", "<this repo or folder>")
    lines += [
        "## Use",
        "```bash",
        "pip install -r requirements.txt   # in the hybrid project",
        f"python -m hybrid predict clip.mp4 --model {where}",
        "```",
        "```python",
        "from hybrid import HybridCNNRNN",
        "from hybrid.pipeline import Recognizer",
        f'pred = Recognizer(HybridCNNRNN.from_pretrained("{where}"))("clip.mp4")',
        "```",
        "",
        f"Made with hybrid {__version__}. Only safetensors weights; no remote code.",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


# --- push ------------------------------------------------------------------------------------------
def _push_error(repo_id: str, e: Exception) -> ModelError:
    if isinstance(e, OfflineModeIsEnabled):
        return ModelError(f"offline mode is on (HF_HUB_OFFLINE=1): can't push to {repo_id!r}")
    if isinstance(e, (RepositoryNotFoundError, HfHubHTTPError)) and e.response is not None:
        if e.response.status_code in (401, 403) or isinstance(e, RepositoryNotFoundError):
            return ModelError(
                f"the Hub refused to write {repo_id!r}: not logged in, or the token can't write there "
                f"({_LOGIN_HINT} with a write token)"
            )
        return ModelError(f"the Hub refused the push to {repo_id!r}: {_short(e)}")
    if isinstance(e, httpx2.HTTPError):
        return ModelError(f"can't reach the Hugging Face Hub at {constants.ENDPOINT} to push {repo_id!r}: {_short(e)}")
    return ModelError(f"could not push to {repo_id!r}: {_short(e)}")


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    token: str | bool | None = None,
    commit_message: str = "Upload hybrid CNN-RNN model",
) -> str:
    """Check that a model folder loads, then upload config.json, model.safetensors and README.md in one commit.

    The folder's README.md is used when present; otherwise a model card is generated from the config.
    Returns the repo URL.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder: push needs a model folder ({CONFIG_NAME} + {WEIGHTS_NAME})")
    repo_id = _checked_repo_id(repo_id)
    model = load_folder(folder)
    card_path = folder / CARD_NAME
    card = card_path.read_bytes() if card_path.is_file() else str(model_card(model)).encode()
    operations = [
        CommitOperationAdd(path_in_repo=CONFIG_NAME, path_or_fileobj=str(folder / CONFIG_NAME)),
        CommitOperationAdd(path_in_repo=WEIGHTS_NAME, path_or_fileobj=str(folder / WEIGHTS_NAME)),
        CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card),
    ]
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if private and not getattr(api.repo_info(repo_id), "private", False):
            raise ModelError(
                f"{repo_id!r} already exists and is public: --private can't change that "
                "(make it private on the Hub first, or pick another name)"
            )
        api.create_commit(repo_id, operations, commit_message=commit_message)
    except ModelError:
        raise
    except (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as e:
        raise _push_error(repo_id, e) from e
    return str(url)


def _checked_repo_id(repo_id: str) -> str:
    """A repo id to push to: exactly owner/name."""
    message = f"{repo_id!r} is not a Hub repo id of the form owner/name (letters, digits, '-', '_', '.')"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or _URL.match(repo_id):
        raise ModelError(message)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ModelError(message) from e
    return repo_id


# --- defaults ----------------------------------------------------------------------------------------
def default_model_dir() -> Path:
    """The bundled model folder (assets/models/<name>) the app and CLI use when none is named."""
    env = os.environ.get("HYBRID_MODEL")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parent.parent / "assets" / "models"
    found = sorted(p for p in root.glob("*") if (p / CONFIG_NAME).is_file()) if root.is_dir() else []
    if not found:
        raise ModelError(f"no bundled model under {root}; pass --model FOLDER_OR_REPO_ID")
    return next((p for p in found if p.name == DEFAULT_MODEL), found[0])
