"""Models by reference: a local folder or a Hub repo id -> model; publishing a folder to the Hub.

Files become a model in checkpoint.py (safetensors only, every check before anything is built); the card
is written by card.py; Hub transfers are held to deadlines and size caps by hub_transfer.py. Every failure
becomes a ModelError.

Hub loads fail fast when the Hub can't be reached: huggingface_hub retries a failed metadata
request with backoff for ~23 s (60 s timeouts when packets are dropped) before giving up, so
`load_model` first sends one HEAD without retries (timeout HF_HUB_ETAG_TIMEOUT, 10 s by default).
If that gets no answer, the model comes from the local cache or the load stops with a clear error.
Every Hub download also has a total deadline and the weights a size cap (HubLimits), and a load that
fails leaves nothing of itself in the Hugging Face cache.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx2  # huggingface_hub's HTTP client (a dependency of huggingface-hub 2.x)
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    constants,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
)
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

from ._version import __version__
from .card import model_card
from .checkpoint import M, ModelClass, build_from_files, load_folder, read_config
from .errors import ModelError, shorten
from .hub_transfer import SMALL_FILE_MAX_BYTES, HubLimits, cache_guard, phase
from .model_dir import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # https://..., hf://..., file:... (not C:\\)
_LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"


# --- what the user named: a folder or a repo id -----------------------------------------------------
def resolve_ref(ref: str | os.PathLike) -> Path | str:
    """A model reference -> an existing local folder (Path) or a well-formed Hub repo id (str)."""
    text = os.fspath(ref).strip() if isinstance(ref, (str, os.PathLike)) else ""
    if not text:
        raise ModelError("no model given: pass a model folder or a Hub repo id (owner/name)")
    shown = shorten(text)  # what messages echo: never a 400 KB input in full
    if len(text) > 1024:  # longer than any path or repo id (and than the OS takes as a file name)
        raise ModelError(f"{shown!r} ({len(text)} characters) is neither a model folder nor a Hub repo id")
    if _URL.match(text) and not Path(text).exists():
        m = re.match(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([\w.-]+/[\w.-]+)/?$", text)
        hint = f"; use the repo id {m.group(1)!r}" if m else ""
        raise ModelError(f"{shown!r} is a URL: pass a local model folder or a Hub repo id (owner/name){hint}")
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelError(f"{shown} is a file: pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    pathish = text.startswith(("/", "~", ".")) or "\\" in text or text.count("/") > 1 or ".." in text.split("/")
    if pathish:
        raise ModelError(f"no model folder at {shown} (and it is not a Hub repo id of the form owner/name)")
    try:
        return check_repo_id(text)
    except ModelError:
        raise ModelError(
            f"{shown!r} is neither a local model folder nor a valid Hub repo id (owner/name: letters, digits, "
            f"'-', '_', '.'; no '--' or '..')"
        ) from None


def check_repo_id(text: str, owner_required: bool = False) -> str:
    """A Hub repo id ("name" or "owner/name"; owner_required: exactly owner/name), stripped, or ModelError.
    The one check of a repo id: URLs, paths and the Hub's own rules (letters, digits, - _ .; no -- or ..)."""
    ref = text.strip() if isinstance(text, str) else ""
    slashes = ref.count("/")
    ok = 0 < len(ref) <= 200 and not _URL.match(ref) and (slashes == 1 if owner_required else slashes <= 1)
    if ok:
        try:
            validate_repo_id(ref)
        except HFValidationError:
            ok = False
    if not ok:
        raise ModelError(f"{shorten(ref)!r} is not a Hub repo id of the form owner/name (letters, digits, - _ .)")
    return ref


# --- the Hub ---------------------------------------------------------------------------------------
def _user_agent() -> dict[str, str]:
    return {"library_name": "hybrid", "library_version": __version__}


def first_line(e: BaseException) -> str:
    """An exception in a few words for a message: its first line, or its type when it has none."""
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
        return first_line(e)
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else 0
        if status >= 500 or status == 429:
            return f"the Hub answered HTTP {status}"
    except ModelError:  # the phase's deadline or size cap
        raise
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
        raise ModelError(f"the Hub refused {repo_id!r}: {first_line(e)}") from e
    except (httpx2.HTTPError, OSError, ValueError) as e:
        raise ModelError(f"can't download {filename} of {repo_id!r}: {first_line(e)}") from e


def load_from_hub(
    repo_id: str,
    cls: ModelClass[M],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
) -> M:
    """Hub repo id -> a `cls` model; from the cache when offline (HF_HUB_OFFLINE=1) or when the Hub is unreachable.

    Metadata and config.json must arrive within HYBRID_HUB_TIMEOUT_S; weights announced over HYBRID_MAX_MODEL_MB
    are refused before they are downloaded, and get HYBRID_HUB_TIMEOUT_S plus their size at HYBRID_HUB_MIN_MB_PER_S
    (see HubLimits). A load that fails takes what it added out of the Hugging Face cache.
    """
    limits = HubLimits.from_env()
    with cache_guard(repo_id, cache_dir, (CONFIG_NAME, WEIGHTS_NAME)):
        with phase(repo_id, CONFIG_NAME, limits.timeout_s, SMALL_FILE_MAX_BYTES):
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
        weights = limits.paced(cap="HYBRID_MAX_MODEL_MB")
        with phase(repo_id, WEIGHTS_NAME, limits.timeout_s, int(limits.max_model_mb * 1e6), **weights):
            weights_path = _download(repo_id, WEIGHTS_NAME, offline_reason, **kw)
        return build_from_files(cls, config_path, weights_path, repo_id)


def load_model(ref: str | os.PathLike, cls: ModelClass[M], **kwargs: Any) -> M:
    """A local folder (config.json + model.safetensors) or a Hub repo id -> a `cls` model in eval mode
    (HybridCNNRNN.from_pretrained is this with cls=HybridCNNRNN).

    kwargs for Hub loads: revision, cache_dir, local_files_only, token, force_download (others are ignored).
    """
    target = resolve_ref(ref)
    if isinstance(target, Path):
        return load_folder(cls, target)
    names = ("revision", "cache_dir", "local_files_only", "token", "force_download")
    return load_from_hub(target, cls, **{k: v for k, v in kwargs.items() if k in names})


def read_card(ref: str | os.PathLike, *, revision: str | None = None, token: str | bool | None = None) -> str:
    """The model card (README.md) text of a folder or Hub repo; "" when it has none or it can't be fetched now
    (within HYBRID_HUB_TIMEOUT_S)."""
    target = resolve_ref(ref)
    if isinstance(target, Path):
        path = target / CARD_NAME
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    try:
        limits = HubLimits.from_env()
        with cache_guard(target, None, (CARD_NAME,)):
            with phase(target, CARD_NAME, limits.timeout_s, SMALL_FILE_MAX_BYTES):
                offline = _offline_reason(target, revision, token, local_files_only=False) is not None
                kw = dict(revision=revision, token=token, local_files_only=offline)
                path = hf_hub_download(target, CARD_NAME, **kw, **_user_agent())
    except (ModelError, HfHubHTTPError, EntryNotFoundError, httpx2.HTTPError, OSError, ValueError):  # OSError: offline
        return ""
    return Path(path).read_text(encoding="utf-8", errors="replace")


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
        return ModelError(f"the Hub refused the push to {repo_id!r}: {first_line(e)}")
    if isinstance(e, httpx2.HTTPError):
        return ModelError(
            f"can't reach the Hugging Face Hub at {constants.ENDPOINT} to push {repo_id!r}: {first_line(e)}"
        )
    return ModelError(f"could not push to {repo_id!r}: {first_line(e)}")


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    cls: ModelClass,
    *,
    private: bool = False,
    token: str | bool | None = None,
    commit_message: str = "Upload hybrid CNN-RNN model",
) -> str:
    """Check a model folder (its config, and weights that fit a `cls` model of it), then upload config.json,
    model.safetensors and README.md in one commit.

    The folder's README.md is used when present; otherwise a model card is generated from the config.
    Returns the repo URL.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder: push needs a model folder ({CONFIG_NAME} + {WEIGHTS_NAME})")
    repo_id = check_repo_id(repo_id, owner_required=True)
    model = load_folder(cls, folder)  # the whole check a load makes
    card_path = folder / CARD_NAME
    card = card_path.read_bytes() if card_path.is_file() else str(model_card(model.config)).encode()
    del model
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


# --- defaults ----------------------------------------------------------------------------------------
