"""The annotated region of a sounding object: the shared type of sources, plans, masks and manifests."""

from __future__ import annotations

from dataclasses import dataclass


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
