"""Ground-truth masks: rasterise regions in the stored frame's pixels, write PNG, hash, COCO RLE."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError
from negaudio.core.regions import Region
from negaudio.media.images import open_image


def rasterize(regions: tuple[Region, ...] | list[Region], width: int, height: int, root: Path) -> np.ndarray:
    """Union of the regions as a float map in [0, 1] of shape [height, width].

    Each region contributes ``weight`` over its box (``[int(y1):int(y2), int(x1):int(x2)]``, the reference
    loaders' rule) or over its mask image (binarised with ``> mask_threshold``, resized with nearest neighbour
    when its size differs from the frame); contributions add up and are clipped at 1 (Flickr's consensus map).
    """
    gt = np.zeros((height, width), dtype=np.float32)
    for region in regions:
        area = np.zeros((height, width), dtype=bool)
        if region.mask is not None:
            area = read_mask_image(resolve_media(root, region.mask), width, height) > region.mask_threshold
        elif region.box is not None:
            x1, y1, x2, y2 = (max(0, int(v)) for v in pixel_box(region, width, height))
            area[y1:y2, x1:x2] = True
        gt[area] += region.weight
    return np.clip(gt, 0.0, 1.0)


def pixel_box(region: Region, width: int, height: int) -> tuple[float, float, float, float]:
    """The region's box in pixels of a ``width`` x ``height`` frame (scaled from its ``box_space``)."""
    x1, y1, x2, y2 = region.box
    if region.box_space is None:
        return x1, y1, x2, y2
    sx, sy = width / region.box_space[0], height / region.box_space[1]
    # rounded so float noise cannot cost a pixel at int(): 0.7375 * 640 must give 472, not 471.99999999999994
    return round(x1 * sx, 6), round(y1 * sy, 6), round(x2 * sx, 6), round(y2 * sy, 6)


def read_mask_image(path: Path, width: int, height: int) -> np.ndarray:
    """A grayscale mask image as uint8 [height, width] (nearest-neighbour resize when sizes differ)."""
    try:
        with open_image(path, str(path)) as im:
            im = im.convert("L")
            if im.size != (width, height):
                im = im.resize((width, height), Image.Resampling.NEAREST)
            return np.asarray(im)
    except FileNotFoundError:
        raise InputError(f"{path}: mask file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read mask image ({exc})") from None


def to_uint8(gt: np.ndarray) -> tuple[np.ndarray, int]:
    """The stored form of a mask and its scale: binary masks as 0/255 (scale 255); soft masks (Flickr's
    consensus) as round(254 * value), scale 254, so that halves are stored exactly (0.5 -> 127)."""
    scale = 255 if ((gt == 0) | (gt == 1)).all() else 254
    return np.round(gt * scale).astype(np.uint8), scale


def encode_mask(stored: np.ndarray) -> bytes:
    """A uint8 mask as grayscale PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(stored, mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def read_mask(source: Path | IO[bytes], scale: int = 255, binary: bool = False, what: str | None = None) -> np.ndarray:
    """A stored mask (a file, or its bytes) as float32 [H, W] in [0, 1] (value / scale; the manifest records the
    scale); ``what`` names it in errors (default: the path). With ``binary``, a mask whose every value is 0 or
    ``scale`` comes as bool (the metric core's integer fast path)."""
    with open_image(source, what or str(source)) as im:
        stored = np.asarray(im if im.mode == "L" else im.convert("L"))
    if binary and ((stored == 0) | (stored == scale)).all():
        return stored.astype(bool)
    out = stored.astype(np.float32)
    out /= np.float32(scale)
    return out


def mask_sha256(stored: np.ndarray) -> str:
    """sha256 of the decoded uint8 mask array, shape included (not of the PNG bytes)."""
    h = hashlib.sha256(f"{stored.shape[0]}x{stored.shape[1]}:uint8\n".encode())
    h.update(np.ascontiguousarray(stored))
    return h.hexdigest()


def mask_file_sha256(path: Path) -> str:
    with open_image(path, str(path)) as im:
        return mask_sha256(np.asarray(im.convert("L")))


def to_rle(stored: np.ndarray) -> dict:
    """COCO RLE of the mask's non-zero pixels: ``{"size": [h, w], "counts": str}`` (column-major)."""
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(stored > 0, dtype=np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def boxes_of(regions, width: int, height: int) -> list[dict]:
    """The regions as manifest entries: label, box in pixels of the stored frame, weight."""
    return [
        {
            "label": r.label,
            "box": None if r.box is None else [float(v) for v in pixel_box(r, width, height)],
            "weight": r.weight,
        }
        for r in regions
    ]
