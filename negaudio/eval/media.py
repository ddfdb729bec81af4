"""Scoring's check that a build's media files are all there before a model runs (reading them, with errors
that name the item and ``negaudio verify``, is :class:`negaudio.manifest.Build`'s)."""

from __future__ import annotations

from negaudio.manifest import Build


def check_files(build: Build) -> None:
    """Raise for the first image, audio or mask file of the manifest that is missing (one pass, no decoding)."""
    seen: set[str] = set()
    for record in build:
        for rel in (record.image.path, record.audio.path, *((record.mask.path,) if record.mask else ())):
            if rel not in seen:
                seen.add(rel)
                if not build.path(rel).is_file():
                    raise build.damaged(record, rel, "is missing")
