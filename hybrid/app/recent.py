"""The app's bounded memories: the newest items by key, so a long-running server's memory stays flat."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from .errors import AppError


class Recent:
    """The newest `size` items by key, thread-safe: a read or a write makes an item the newest, the oldest go."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: Any) -> Any:
        with self._lock:
            return self._items.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class ResultCache(Recent):
    """Recent results by (file, model), so switching the overlay redraws without re-running the model."""

    def __init__(self, size: int = 6):
        super().__init__(size)

    @staticmethod
    def key(path: str, model_key: str) -> tuple:
        st = os.stat(path)
        return (os.path.abspath(path), st.st_size, st.st_mtime_ns, model_key)


class Failures(Recent):
    """The last failure of each browser session, for the answer panel once the red toast fades.

    Keyed by Gradio's session hash (never by upload path, which two people sending the same bytes share) and
    holding only the title and message: nothing a failed run built (a half-loaded model, a traceback) stays
    referenced. Bounded: the oldest sessions are forgotten first.
    """

    def __init__(self, size: int = 256):
        super().__init__(size)

    def put(self, session: str, error: AppError) -> None:
        super().put(session, (error.title, error.message))

    def pop(self, session: str) -> AppError | None:
        item = super().pop(session)
        return None if item is None else AppError(*item)


class Previews(Recent):
    """Preview path -> the upload it was made from (what the model should read); the newest `size` only
    (Gradio deletes the files themselves after an hour)."""

    def __init__(self, size: int = 512):
        super().__init__(size)

    def put(self, preview: str, original: str) -> None:
        super().put(os.path.abspath(preview), os.path.abspath(original))

    def get(self, preview: str) -> str | None:
        return super().get(os.path.abspath(preview))

    def original_of(self, path: str) -> str:
        """The uploaded file behind a preview we made (if it still exists), else the path itself."""
        orig = self.get(path)
        return orig if orig and os.path.isfile(orig) else path
