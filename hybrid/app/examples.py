"""The example clips the Classify and Timeline tabs offer: a folder's, or a Hub dataset repo's, fetched once at start.

HYBRID_EXAMPLES names either a folder or a dataset repo on the Hub ("owner/name"). A dataset repo is treated like
any upload: only video files with plain names are taken, at most MAX_EXAMPLES of them, each within the upload cap
(its announced size checked before it is fetched, and the bytes counted as they arrive), the file list and each
file within HYBRID_HUB_TIMEOUT_S (plus the file's size at HYBRID_HUB_MIN_MB_PER_S). They stay in the Hugging Face
cache, so a later start without the Hub offers the same clips. Whatever goes wrong leaves the app without those
examples, never without the app: the reason is returned for the start-up log.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

from ..errors import ModelError
from ..hub import first_line
from ..hub_transfer import HubLimits, cache_guard, phase
from ..video import VIDEO_EXTS
from .settings import AppSettings

MAX_EXAMPLES = 12
LIST_MAX_BYTES = 5_000_000  # a dataset's file list (JSON): thousands of files
PLAIN_NAME = re.compile(r"^[\w][\w .+\-]*(/[\w][\w .+\-]*)*$")  # no "..", no hidden files, no odd characters


@dataclass(frozen=True)
class Examples:
    """The clips to offer (in order) and what kept others out ("" when nothing did)."""

    clips: tuple[Path, ...] = ()
    problem: str = ""


def is_example_name(name: str, size: int | None, max_bytes: int) -> bool:
    """A file of a dataset repo worth offering: a video with a plain name, within the upload cap."""
    if not PLAIN_NAME.match(name) or Path(name).suffix.lower() not in VIDEO_EXTS:
        return False
    return size is None or 0 < size <= max_bytes


def folder_examples(folder: Path, limit: int = MAX_EXAMPLES) -> list[Path]:
    """The video files directly in `folder`, by name."""
    if not folder.is_dir():
        return []
    return sorted(p.resolve() for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)[:limit]


def _cached(repo_id: str, max_bytes: int, cache_dir: str | os.PathLike | None, limit: int) -> list[Path]:
    """The repo's clips already in the Hugging Face cache (the snapshot of the last start that fetched them)."""
    folder = Path(snapshot_download(repo_id, repo_type="dataset", cache_dir=cache_dir, local_files_only=True))
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [folder / n for n in names if is_example_name(n, (folder / n).stat().st_size, max_bytes)][:limit]


def dataset_examples(
    repo_id: str, max_bytes: int, cache_dir: str | os.PathLike | None = None, limit: int = MAX_EXAMPLES
) -> Examples:
    """Up to `limit` video files of the Hub dataset `repo_id`, downloaded (or found in the cache) now."""
    limits = HubLimits.from_env()
    try:
        if constants.is_offline_mode():
            raise OfflineModeIsEnabled("offline mode is on (HF_HUB_OFFLINE=1)")
        with phase(repo_id, "its file list", limits.timeout_s, LIST_MAX_BYTES, kind="dataset"):
            info = HfApi().dataset_info(repo_id, files_metadata=True)
    except (OfflineModeIsEnabled, httpx2.TransportError, ModelError) as e:
        why = first_line(e)
        try:  # the Hub can't be asked now: what an earlier start fetched
            return Examples(tuple(_cached(repo_id, max_bytes, cache_dir, limit)), f"the Hub can't be reached ({why})")
        except (LocalEntryNotFoundError, OSError):
            return Examples((), f"dataset {repo_id!r}: the Hub can't be reached ({why}) and nothing is cached")
    except HfHubHTTPError as e:
        return Examples((), f"dataset {repo_id!r}: the Hub refused it ({first_line(e)})")
    names = [s.rfilename for s in info.siblings or () if is_example_name(s.rfilename, s.size, max_bytes)]
    clips: list[Path] = []
    problems: list[str] = []
    caps = limits.paced(cap="HYBRID_MAX_FILE_MB", kind="dataset")
    for name in sorted(names)[:limit]:
        try:
            with cache_guard(repo_id, cache_dir, (name,), repo_type="dataset"):
                with phase(repo_id, name, limits.timeout_s, max_bytes, **caps):
                    path = hf_hub_download(repo_id, name, repo_type="dataset", cache_dir=cache_dir)
            clips.append(Path(path))
        except (ModelError, HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as e:
            problems.append(first_line(e))
    problem = f"dataset {repo_id!r}: {len(problems)} file(s) left out ({problems[0]})" if problems else ""
    if not names:
        problem = f"dataset {repo_id!r} has no video files of at most {max_bytes / 1e6:g} MB with plain names"
    return Examples(tuple(clips), problem)


def gather(settings: AppSettings, extra_dir: str | os.PathLike | None = None) -> Examples:
    """The examples to offer: assets/examples, HYBRID_EXAMPLES (a folder or a Hub dataset) and --examples."""
    clips = folder_examples(settings.examples_dir)
    problem = ""
    if settings.examples_repo:
        fetched = dataset_examples(settings.examples_repo, settings.limits.max_bytes)
        clips += fetched.clips
        problem = fetched.problem
    for folder in (settings.examples_folder, Path(extra_dir) if extra_dir else None):
        if folder is not None:
            clips += folder_examples(folder)
    return Examples(tuple(clips[:MAX_EXAMPLES]), problem)
