"""Opening images (source frames, masks, stored masks) with their size checked before any pixel is decoded."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from PIL import Image

from negaudio.core.errors import InputError
from negaudio.core.limits import check_pixels


@contextmanager
def open_image(source: str | IO[bytes], what: str) -> Iterator[Image.Image]:
    """``PIL.Image.open`` that refuses an image over the pixel limit (a decompression bomb) with an InputError
    naming ``what``, before decoding it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{what}: over the limit of pixels Pillow decodes; refused unread ({exc})") from None
    with im:
        check_pixels(*im.size, what)
        yield im
