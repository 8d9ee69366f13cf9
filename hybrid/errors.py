"""Typed errors with messages meant for people (the UI and CLI show them as they are)."""


class HybridError(Exception):
    """Base class: every failure the library expects is one of these."""


class VideoError(HybridError):
    """The file can't be used as a video (empty, not a video, no decoder, too long...)."""


class ModelError(HybridError):
    """A model can't be built or loaded (bad config, no safetensors, unknown backbone, unreachable repo)."""


class ConfigError(HybridError, ValueError):
    """A setting (an argument, an environment variable, a recipe field) has a value that can't be used."""


class DataError(HybridError):
    """A training or evaluation folder can't be used as a dataset (no class folders, names off the pattern)."""


def shorten(value: object, limit: int = 80) -> str:
    """str(value), cut to `limit` characters: a message must not echo a 400 KB input back in full."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
