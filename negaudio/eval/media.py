"""A build's media as scoring reads them: a missing or unreadable file is an InputError naming the item, the
file and ``negaudio verify BUILD`` (a damaged build is bad input, never a traceback)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from negaudio.core.errors import InputError
from negaudio.manifest import Build, ManifestRecord
from negaudio.media.images import open_image

# What decoding a damaged file raises: PIL (OSError incl. FileNotFoundError, SyntaxError, ValueError) and
# soundfile (SoundFileError is a RuntimeError).
DECODE_ERRORS = (OSError, RuntimeError, SyntaxError, ValueError)


def damaged(build: Build, record: ManifestRecord, rel: str, problem: str) -> InputError:
    """The error for one bad media file of a build."""
    return InputError(
        f"item {record.item_id!r}: {build.path(rel)} {problem}; the build is damaged: "
        f"run `negaudio verify {build.root}`"
    )


def _read(build: Build, record: ManifestRecord, rel: str, read):
    try:
        return read()
    except DECODE_ERRORS as exc:
        if not build.path(rel).is_file():
            raise damaged(build, record, rel, "is missing") from None
        raise damaged(build, record, rel, f"is unreadable ({exc})") from None


def read_mask(build: Build, record: ManifestRecord) -> np.ndarray | None:
    """``Build.load_mask``: the GT as float32 [H, W] in [0, 1], or None when the item has no regions."""
    if record.mask is None:
        return None
    return _read(build, record, record.mask.path, lambda: build.load_mask(record))


def read_audio(build: Build, record: ManifestRecord) -> np.ndarray:
    """``Build.load_audio``: float32 [channels, samples]."""
    return _read(build, record, record.audio.path, lambda: build.load_audio(record))


def read_image(build: Build, record: ManifestRecord) -> Image.Image:
    """The item's stored image, decoded, in RGB."""

    def decode() -> Image.Image:
        with open_image(build.path(record.image.path), record.image.path) as im:
            return im.convert("RGB")

    return _read(build, record, record.image.path, decode)


def check_files(build: Build) -> None:
    """Raise for the first image, audio or mask file of the manifest that is missing (one pass, no decoding)."""
    seen: set[str] = set()
    for record in build:
        for rel in (record.image.path, record.audio.path, *((record.mask.path,) if record.mask else ())):
            if rel not in seen:
                seen.add(rel)
                if not build.path(rel).is_file():
                    raise damaged(build, record, rel, "is missing")
