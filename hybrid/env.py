"""Numbers from environment variables, read one way: unset or empty -> the default; anything that is not a
positive finite number -> ConfigError naming the variable (a typo must not silently become the default)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .errors import ConfigError, shorten


def env_number(name: str, default: float, integer: bool = False, environ: Mapping[str, str] | None = None) -> float:
    """$name as a positive number (a whole one when `integer`), or `default` when it is unset or empty."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0) or (integer and value != int(value)):
        kind = "a positive whole number" if integer else "a positive number"
        default_is = f", {default:g}" if default else ""
        raise ConfigError(f"{name}={shorten(text)!r} is not {kind} (unset it for the default{default_is})")
    return int(value) if integer else value
