"""AppContext: what the app's handlers share, made once at start (no module-level state): the settings, the
model cache, and the bounded memories of results, failures and previews."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from .models import ModelCache, default_choice, default_repo_id, resolve_model
from .recent import Failures, Previews, ResultCache
from .settings import MAX_SIDE, AppSettings
from .teach import TeachStore

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: AppSettings
    models: ModelCache
    results: ResultCache = field(default_factory=ResultCache)
    failures: Failures = field(default_factory=Failures)
    previews: Previews = field(default_factory=Previews)
    teach: TeachStore = field(default_factory=TeachStore)  # each session's takes and taught models
    # one clip through the CNN at a time: CPU-bound, and engines need not be thread-safe
    run_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, settings: AppSettings | None = None) -> AppContext:
        """A context for these settings (default: AppSettings.from_env())."""
        settings = settings if settings is not None else AppSettings.from_env()
        teach = TeachStore(settings.teach, max_side=MAX_SIDE, max_read_s=settings.max_read_s)
        return cls(settings, ModelCache.for_settings(settings), teach=teach)

    def resolve(self, choice: str | None, repo_id: str | None, session: str | None = None) -> tuple[str, str]:
        """(cache key, reference) of the model a request names: a Hub repo, a bundled one or, for its own session,
        a taught one (models.resolve_model)."""
        return resolve_model(self.settings, choice, repo_id, self.teach.models_of(session))

    def warm_up(self) -> threading.Thread:
        """Load the default model (and build its CNN engine) in the background, so the first clip is quick."""

        def load() -> None:
            try:
                s = self.settings
                self.models.get(*resolve_model(s, default_choice(s), default_repo_id(s)))
            except Exception as e:  # noqa: BLE001 - the first request will report it properly
                log.warning("warm-up failed: %s", e)

        thread = threading.Thread(target=load, name="warm-up", daemon=True)
        thread.start()
        return thread
