"""AppError: a failure as a person should read it (a title and a message; app.py raises it as gr.Error)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import shorten

if TYPE_CHECKING:
    from .settings import AppSettings


class AppError(Exception):
    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title, self.message = title, message


def unexpected(e: BaseException) -> AppError:
    """A bug or an unforeseen file, said plainly (the server logs the traceback and keeps serving)."""
    return AppError("Unexpected error", f"The app failed on this input ({type(e).__name__}: {shorten(e, 300)}).")


def failure_markdown(error: AppError | None, settings: AppSettings) -> str:
    """What the answer panel says after a failed run: the reason, and what to try."""
    if error is None:
        return "#### No answer\nThe clip could not be classified; the reason is in the red message."
    hint = ""
    if "lasts" in error.message and "the limit here is" in error.message:  # too long for one clip
        hint = (f"\n\n_For a video longer than {settings.max_duration_s:.0f} s, the **Timeline** tab labels it "
                f"stretch by stretch (up to {settings.timeline_max_s / 60:.0f} min)._")  # fmt: skip
    elif error.title.startswith("Can't use") or error.title.startswith("Can't read"):
        hint = (
            f"\n\n_Try an MP4 (H.264) or WebM clip of at most {settings.max_duration_s:.0f} s and "
            f"{settings.max_file_mb:.0f} MB, "
            "or record one with the webcam._"
        )
    return f"#### {error.title}\n{error.message}{hint}"
