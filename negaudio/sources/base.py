"""What every source adapter yields: samples with their classes and regions, paths relative to the source root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from negaudio.core.regions import Region


@dataclass(frozen=True)
class Sample:
    """One positive: an image and the audio of one sounding object in it.

    ``label`` is the class of the sound; ``image_classes`` every class visible in the image (an off-screen clip
    must avoid all of them); ``audio_classes`` every class heard in the clip when there are several (AVSS's
    ``guitar_man``; empty means just ``label``); ``group`` joins the samples that share one image (IS3's pairs).
    ``mixed``: the audio is a mix of several clips made at render time (a composite's multi-source positive,
    ``audio`` names the first); such a sample gets its positive only and is never a clip of a pool.
    """

    sample_id: str
    image: str
    audio: str
    label: str
    image_classes: tuple[str, ...]
    regions: tuple[Region, ...] = ()
    group: str | None = None
    audio_classes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)
    mixed: bool = False


@dataclass
class SourceReport:
    """What a source found: samples kept, and annotations or media it had to leave out (with reasons)."""

    kept: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.missing[reason] = self.missing.get(reason, 0) + 1


class Source(Protocol):
    """A dataset on disk. ``samples()`` is lazy and yields in a stable order; ``report`` fills as it goes."""

    name: str
    root: Path
    report: SourceReport

    def samples(self) -> Iterator[Sample]: ...
