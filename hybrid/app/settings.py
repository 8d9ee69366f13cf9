"""AppSettings: every limit and choice the app runs with, read from the environment once, at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..env import env_number
from ..errors import ConfigError, ModelError, shorten
from ..hub import check_repo_id
from ..model_dir import bundled_model_roots
from ..stream import POLICIES
from ..video import VideoLimits

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"


def bundled_models_dir() -> Path:
    """The folder of bundled models: the repo's assets/models, or an installed copy's (see hub.py)."""
    roots = bundled_model_roots()
    return next((r for r in roots if r.is_dir()), roots[0])


def examples_source(text: str) -> tuple[Path | None, str]:
    """HYBRID_EXAMPLES -> (a folder, "") or (None, a Hub dataset repo id); (None, "") when unset."""
    text = text.strip()
    if not text:
        return None, ""
    if Path(text).expanduser().is_dir():
        return Path(text).expanduser(), ""
    try:
        return None, check_repo_id(text.removeprefix("datasets/"), owner_required=True)
    except ModelError:
        raise ConfigError(
            f"HYBRID_EXAMPLES must be a folder or a Hub dataset repo id (owner/name), not {shorten(text)!r}"
        ) from None


MAX_SIDE = 4096  # px: larger frames are refused (a decoder would allocate hundreds of MB per frame)


@dataclass(frozen=True)
class TeachLimits:
    """What one session may teach with: HYBRID_TEACH_MAX_TAKES, HYBRID_TEACH_MAX_TAKE_S, HYBRID_TEACH_MAX_TAKE_MB,
    HYBRID_TEACH_TTL_S."""

    max_takes: int = 60  # every action's together
    max_take_s: float = 15.0
    max_take_mb: float = 25.0
    ttl_s: float = 1800.0  # a session's takes and models go after this long without use

    def video(self, max_side: int, max_read_s: float) -> VideoLimits:
        return VideoLimits(max_duration_s=self.max_take_s, max_side=max_side,
                           max_bytes=int(self.max_take_mb * 1e6), max_read_s=max_read_s)  # fmt: skip


@dataclass(frozen=True)
class AppSettings:
    model: str = ""  # HYBRID_MODEL: a model folder (offered first) or a Hub repo id (typed in the repo box)
    models_dir: Path = field(default_factory=bundled_models_dir)  # the bundled model folders
    examples_dir: Path = EXAMPLES_DIR  # the repo's assets/examples (git-ignored: a Space owner's own clips)
    examples_folder: Path | None = None  # HYBRID_EXAMPLES naming a folder...
    examples_repo: str = ""  # ...or a Hub dataset repo (owner/name), fetched at start (see app/examples.py)
    max_duration_s: float = 60.0  # HYBRID_MAX_DURATION_S: longer clips are refused
    max_file_mb: float = 100.0  # HYBRID_MAX_FILE_MB: the upload cap (Gradio's max_file_size and the reader's)
    max_read_s: float = 120.0  # HYBRID_MAX_READ_S: a clip that takes longer to decode is given up
    # HYBRID_LIVE_WINDOW_S: the stretch of video behind each live answer (None: as long as the model's training
    # clips were, or config.DEFAULT_WINDOW_S when its config doesn't say)
    live_window_s: float | None = None
    live_policy: str = "auto"  # HYBRID_LIVE_POLICY: auto, carry or window (see hybrid/stream.py)
    live_time_limit_s: int = 300  # HYBRID_LIVE_TIME_LIMIT_S: one stream's length (Gradio's time_limit)
    live_history_s: float = 30.0  # how far back the Live tab's history strip reaches
    timeline_max_s: float = 600.0  # HYBRID_TIMELINE_MAX_S: longer videos are refused by the Timeline tab
    teach: TeachLimits = TeachLimits()  # the Teach tab's limits per session

    def __post_init__(self) -> None:
        if self.live_policy not in POLICIES:
            raise ConfigError(f"HYBRID_LIVE_POLICY must be one of {POLICIES}, not {shorten(self.live_policy)!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """The settings for this process: HYBRID_* variables over the defaults. Raises ConfigError, naming the
        variable, for a value that can't be used."""
        env = os.environ if environ is None else environ
        d = cls()

        def number(name: str, default: float, integer: bool = False) -> float:
            return env_number(name, default, integer, env)

        folder, repo = examples_source(env.get("HYBRID_EXAMPLES", ""))
        return cls(
            model=env.get("HYBRID_MODEL", "").strip(),
            models_dir=d.models_dir,
            examples_folder=folder,
            examples_repo=repo,
            max_duration_s=number("HYBRID_MAX_DURATION_S", d.max_duration_s),
            max_file_mb=number("HYBRID_MAX_FILE_MB", d.max_file_mb),
            max_read_s=number("HYBRID_MAX_READ_S", d.max_read_s),
            live_window_s=number("HYBRID_LIVE_WINDOW_S", 0.0) or None,
            live_policy=env.get("HYBRID_LIVE_POLICY", "").strip() or d.live_policy,
            live_time_limit_s=int(number("HYBRID_LIVE_TIME_LIMIT_S", d.live_time_limit_s, integer=True)),
            timeline_max_s=number("HYBRID_TIMELINE_MAX_S", d.timeline_max_s),
            teach=TeachLimits(
                max_takes=int(number("HYBRID_TEACH_MAX_TAKES", d.teach.max_takes, integer=True)),
                max_take_s=number("HYBRID_TEACH_MAX_TAKE_S", d.teach.max_take_s),
                max_take_mb=number("HYBRID_TEACH_MAX_TAKE_MB", d.teach.max_take_mb),
                ttl_s=number("HYBRID_TEACH_TTL_S", d.teach.ttl_s),
            ),
        )

    @property
    def limits(self) -> VideoLimits:
        """What a clip may be (Classify, Live's model, previews)."""
        return VideoLimits(max_duration_s=self.max_duration_s, max_side=MAX_SIDE,
                           max_bytes=int(self.max_file_mb * 1e6), max_read_s=self.max_read_s)  # fmt: skip

    @property
    def timeline_limits(self) -> VideoLimits:
        """What a Timeline video may be: longer, and more time to read (the CNN runs on every taken frame)."""
        return VideoLimits(max_duration_s=self.timeline_max_s, max_side=MAX_SIDE,
                           max_bytes=int(self.max_file_mb * 1e6), max_read_s=10 * self.max_read_s)  # fmt: skip
