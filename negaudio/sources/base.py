"""What every source adapter yields: samples with their classes and regions, paths relative to the source root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Region:
    """One annotated region of the sounding object.

    ``box`` is ``[xmin, ymin, xmax, ymax]`` in pixels of the image file as stored, unless ``box_space`` names
    the ``(width, height)`` of the frame it was drawn in: ``(1, 1)`` for normalised boxes (VGG-SS),
    ``(224, 224)`` for IS3's ``gt_box``, ``(256, 256)`` for Flickr. Rendering scales such boxes to the real frame.
    ``mask`` is a path relative to the source root of a grayscale mask image, binarised with ``> mask_threshold``.
    ``weight`` is the value this region adds to a soft ground truth (Flickr consensus uses 0.5 per annotator).
    """

    label: str
    box: tuple[float, float, float, float] | None = None
    box_space: tuple[float, float] | None = None
    mask: str | None = None
    mask_threshold: int = 127
    weight: float = 1.0


@dataclass(frozen=True)
class Sample:
    """One positive: an image and the audio of one sounding object in it.

    ``label`` is the class of the sound; ``image_classes`` every class visible in the image (an off-screen clip
    must avoid all of them); ``audio_classes`` every class heard in the clip when there are several (AVSS's
    ``guitar_man``; empty means just ``label``); ``group`` joins the samples that share one image (IS3's pairs).
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
