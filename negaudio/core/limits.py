"""Bounds on what untrusted input may ask for, checked before the work or memory is spent
(documented in docs/security.md)."""

from __future__ import annotations

import os
from numbers import Integral

MAX_PIXELS = int(os.environ.get("NEGAUDIO_MAX_PIXELS", 1 << 26))  # 8192 x 8192: an image, a mask or a map
MAX_MEDIA_BYTES = 8 * MAX_PIXELS  # a build's media file read whole to be checked (512 MiB): larger is refused unread
MAX_RECIPE_NODES = 100_000  # values in a recipe after YAML aliases are expanded
MAX_RECIPE_DEPTH = 64  # nesting of mappings and lists in a recipe
MAX_JSON_DEPTH = 64  # nesting of a calibration or other small JSON file


def is_count(value, least: int = 0) -> bool:
    """Whether ``value`` is a whole number (an int, not a bool) of at least ``least``: ``--jobs``, ``--limit``,
    ``--bootstrap``, given on the command line or through the Python API."""
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= least


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image, mask or map larger than :data:`MAX_PIXELS` (a decompression bomb or a mistake)."""
    from negaudio.core.errors import InputError

    if width * height > MAX_PIXELS:
        raise InputError(
            f"{what}: {width}x{height} pixels is over the limit of {MAX_PIXELS} (NEGAUDIO_MAX_PIXELS); refused unread"
        )
