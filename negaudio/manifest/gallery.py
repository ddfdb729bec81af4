"""A contact sheet of a build (``negaudio inspect DIR --gallery FILE.png``): one tile per image, every object's
visible mask outlined and labelled, sounding objects in colour with ``(S)``, distractors in grey with ``(D)``.
Builds without composites show each positive's ground truth the same way. The sounding colours are steps of the
perceptually uniform viridis colormap; a PDF of the sheet is written beside the PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import binary_erosion

from negaudio.core.errors import InputError
from negaudio.core.files import write_bytes
from negaudio.manifest.reader import Build
from negaudio.media.images import open_image

TILE = 256
SOUNDING = tuple(tuple(round(255 * c) for c in colormaps["viridis"](x)[:3]) for x in (1.0, 0.5, 0.75, 0.3, 0.62, 0.88))
DISTRACTOR = (200, 200, 200)


def _decode(rle) -> np.ndarray:
    from pycocotools import mask as coco_mask

    return coco_mask.decode({"size": list(rle.size), "counts": rle.counts.encode("ascii")}).astype(bool)


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    return mask & ~binary_erosion(mask, iterations=width, border_value=0)


def _draw_outline(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> None:
    """A 2-pixel outline in ``colour`` with a black line inside it, visible on light and dark images alike."""
    image[_outline(mask, 3)] = (0, 0, 0)
    image[_outline(mask, 2)] = colour


def _tile(build: Build, records: list) -> Image.Image:
    first = records[0]
    with open_image(build.path(first.image.path), first.image.path) as im:
        image = np.asarray(im.convert("RGB")).copy()
    labels: list[tuple[str, tuple[int, int, int], list[float] | None]] = []
    if first.composite is not None:
        n = 0
        for obj in sorted(first.composite.objects, key=lambda o: o.z):
            colour = DISTRACTOR
            if obj.role == "sounding":
                colour, n = SOUNDING[n % len(SOUNDING)], n + 1
            _draw_outline(image, _decode(obj.visible), colour)
            labels.append((f"{obj.label} ({'S' if obj.role == 'sounding' else 'D'})", colour, obj.box))
    else:
        for n, record in enumerate(records):
            if record.mask is None:
                continue
            colour = SOUNDING[n % len(SOUNDING)]
            _draw_outline(image, build.load_mask(record) > 0.5, colour)
            labels.append((f"{record.label} (S)", colour, record.regions[0].box if record.regions else None))
    tile = Image.fromarray(image, mode="RGB")
    scale = TILE / max(tile.size)
    tile = tile.resize(
        (max(1, round(tile.width * scale)), max(1, round(tile.height * scale))), Image.Resampling.BILINEAR
    )
    draw = ImageDraw.Draw(tile)
    font = ImageFont.load_default()
    for k, (text, colour, box) in enumerate(labels):
        x, y = (2, 2 + 12 * k) if box is None else (box[0] * scale, max(0, box[1] * scale - 12))
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), fill=(0, 0, 0))
        draw.text((x, y), text, fill=colour, font=font)
    return tile


def gallery(root: Path, output: Path, count: int = 24, columns: int = 6) -> int:
    """Draw the contact sheet of up to ``count`` images of a build into ``output`` (PNG); return the count."""
    build = Build(root)
    groups: dict[str, list] = {}
    for record in build:
        if record.kind == "positive":
            key = record.group or record.sample_id
            if key in groups or len(groups) < count:
                groups.setdefault(key, []).append(record)
    if not groups:
        raise InputError(f"{root}: the build holds no positives to show")
    tiles = [_tile(build, records) for records in groups.values()]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (TILE + 4), rows * (TILE + 4)), (32, 32, 32))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * (TILE + 4) + 2, (k // columns) * (TILE + 4) + 2))
    output = Path(output)
    if output.parent and not output.parent.is_dir():
        raise InputError(f"{output.parent}: folder not found")
    for path, kind in ((output, "PNG"), (output.with_suffix(".pdf"), "PDF")):
        buffer = io.BytesIO()
        sheet.save(buffer, format=kind, **({"resolution": 96.0} if kind == "PDF" else {}))
        write_bytes(path, buffer.getvalue())
    return len(tiles)
