"""Typed errors with messages meant for people (the UI and CLI show them as they are)."""


class HybridError(Exception):
    """Base class: every failure the library expects is one of these."""


class VideoError(HybridError):
    """The file can't be used as a video (empty, not a video, no decoder, too long...)."""


class ModelError(HybridError):
    """A model can't be built or loaded (bad config, no safetensors, unknown backbone, unreachable repo)."""
