"""The model picker: bundled models, the repo-id policy, a choice -> a model reference, and the model cache."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path

from ..errors import HybridError, ModelError, shorten
from ..hub import check_repo_id
from ..model import HybridCNNRNN
from ..model_dir import CONFIG_NAME, default_model_dir
from ..pipeline import Recognizer
from .errors import AppError
from .settings import AppSettings

IDLE_MODEL = "ut-interaction-idle-lite0"  # bundled: the six interactions plus no_interaction
TAUGHT = "taught:"  # the picker's value of a model taught on the page: taught:<token> (see app/teach.py)
HUB = "hub:"  # the picker's value of a Hub repo loaded on the page: hub:<owner/name>


def bundled_models(settings: AppSettings) -> dict[str, Path]:
    """Picker name -> model folder: the folder HYBRID_MODEL names (first), then every bundled one."""
    found: dict[str, Path] = {}
    if settings.model and (Path(settings.model) / CONFIG_NAME).is_file():
        found[Path(settings.model).resolve().name] = Path(settings.model).resolve()
    if settings.models_dir.is_dir():
        for p in sorted(settings.models_dir.iterdir()):
            if (p / CONFIG_NAME).is_file():
                found.setdefault(p.name, p.resolve())
    return found


def idle_model_tip(settings: AppSettings) -> str:
    """A sentence for the webcam and timeline tabs, where stretches with no action are common: which bundled model
    can say so. Empty when that model isn't bundled."""
    if IDLE_MODEL not in bundled_models(settings):
        return ""
    return (
        f" For long videos of its scenes, pick **{IDLE_MODEL}** in the Model menu: it also knows *no_interaction*, "
        "so moments without an action are not forced into one of the six. The interaction models were trained on two "
        "outdoor scenes of staged interactions: on footage of other places (a webcam at home, an office) they answer "
        "that it is none of their actions rather than guess."
    )


def picker_choices(settings: AppSettings, hub: list[str], taught: Mapping[str, str]) -> list[tuple[str, str]]:
    """The model picker's entries for one page, as (shown, value): the bundled models, then the Hub repos loaded
    on it, then the models taught on it (`taught`: value -> how it reads)."""
    out = [(name, name) for name in bundled_models(settings)]
    out += [(f"{ref} (Hub)", HUB + ref) for ref in hub]
    return out + [(shown, value) for value, shown in taught.items()]


def default_choice(settings: AppSettings) -> str | None:
    """The picker's initial value: the model the CLI would use, when it is a folder we know."""
    models = bundled_models(settings)
    try:
        default = (Path(settings.model) if settings.model else default_model_dir()).resolve()
    except ModelError:
        default = None
    for name, folder in models.items():
        if folder == default:
            return name
    return next(iter(models), None)


def default_repo_id(settings: AppSettings) -> str:
    """HYBRID_MODEL when it names a Hub repo rather than a folder (the repo box starts with it), else ""."""
    if not settings.model or Path(settings.model).exists():
        return ""
    try:
        return validate_repo_id(settings.model)
    except AppError:
        return ""


def validate_repo_id(text: str) -> str:
    """A Hub repo id typed by a person (the library's check), or AppError. Local paths and URLs are refused on
    purpose, and so is a repo id that also names a local folder here (the loader would read the folder)."""
    try:
        ref = check_repo_id(text or "")
    except ModelError:
        raise AppError(
            "Not a Hub repo id",
            f"{shorten((text or '').strip())!r} is not a Hugging Face repo id. Type it as owner/name (letters, "
            "digits, - _ .), without https:// or a local path.",
        ) from None
    if (Path.cwd() / ref).exists():
        raise AppError("Not a Hub repo id", f"{ref!r} names a local path here; only Hub repo ids are accepted.")
    return ref


def resolve_model(
    settings: AppSettings, choice: str | None, repo_id: str | None, taught: Mapping[str, Path] | None = None
) -> tuple[str, str]:  # fmt: skip
    """(cache key, reference for from_pretrained): a typed repo id wins over the picker; `taught` are the
    session's own taught models (picker value -> folder, see app/teach.py)."""
    typed = repo_id if repo_id and repo_id.strip() else None
    picked = choice[len(HUB) :] if choice and choice.startswith(HUB) else None
    if typed is not None or picked is not None:
        ref = validate_repo_id(typed if typed is not None else picked)
        return f"hub:{ref}", ref
    if taught and choice in taught:
        return f"dir:{taught[choice]}", str(taught[choice])
    if choice and choice.startswith(TAUGHT):
        raise AppError("That taught model is gone", "Models taught on this page last as long as the page (and are "
                       "removed after a while unused): teach it again, or pick a bundled model.")  # fmt: skip
    models = bundled_models(settings)
    if choice in models:
        return f"dir:{models[choice]}", str(models[choice])
    if not models:
        raise AppError("No model", "No bundled model was found under assets/models; type a Hub repo id instead.")
    raise AppError("Unknown model", f"{shorten(choice)!r} is not one of the bundled models ({', '.join(models)}).")


# What the library advises that the page can't do (it loads no folder by path): what the page offers instead.
_NOT_ON_THE_PAGE = ((" (or HF_ENDPOINT / proxy settings), or pass a local model folder", ", or pick a bundled model"),
                    ("or pass a local model folder", "or pick a bundled model"),
                    ("is not a local folder and was not found on the Hub", "was not found on the Hub"))  # fmt: skip


def page_words(message: str) -> str:
    """A library error as the page says it: no advice to pass a local folder, which the page refuses."""
    for said, instead in _NOT_ON_THE_PAGE:
        message = message.replace(said, instead)
    return message


class ModelCache:
    """Recognizers by key, least recently used dropped past `size`.

    Loads run outside the lock, one per key: a request for a key being loaded waits for that load (one future per
    key), a request for a cached key never waits. A failed load is not kept: the next request tries again.
    """

    def __init__(self, load: Callable[[str], Recognizer], size: int = 3):
        self.size = size
        self._load = load
        self._items: OrderedDict[str, Recognizer] = OrderedDict()
        self._loading: dict[str, Future[Recognizer]] = {}
        self._lock = threading.Lock()  # held for dictionary updates only, never during a load

    @classmethod
    def for_settings(cls, settings: AppSettings, size: int = 3) -> ModelCache:
        """Models loaded from a folder or the Hub, reading clips within the settings' limits."""
        return cls(lambda ref: Recognizer(HybridCNNRNN.from_pretrained(ref), limits=settings.limits), size)

    def get(self, key: str, ref: str) -> tuple[Recognizer, float]:
        """(recognizer, seconds spent loading or waiting for the load: 0 when it was cached). Raises AppError."""
        t0 = time.perf_counter()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], 0.0
            future = self._loading.get(key)
            owner = future is None
            if owner:
                future = self._loading[key] = Future()
        if not owner:
            return future.result(), time.perf_counter() - t0
        error = None
        try:
            rec = self._load(ref)
        except HybridError as e:  # keep only the message: the traceback's frames may hold a half-built model
            error = AppError("Can't load this model", page_words(str(e)))
        except BaseException as e:
            with self._lock:
                del self._loading[key]
            future.set_exception(e)
            raise
        with self._lock:
            del self._loading[key]
            if error is None:
                self._items[key] = rec
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if error is not None:
            future.set_exception(error)
            raise error  # outside the except block: no chained error (nor its traceback) comes along
        future.set_result(rec)
        return rec, time.perf_counter() - t0

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
