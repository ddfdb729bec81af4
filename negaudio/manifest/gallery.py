"""A contact sheet of a build (``negaudio inspect DIR --gallery FILE``): one tile per image, every object's
visible mask outlined and numbered, with a key under the tile (``1 bird (D)``): sounding objects in colour with
``(S)``, distractors in grey with ``(D)``, as a legend at the top of the sheet says. Builds without composites
show each positive's ground truth the same way. The sounding colours are steps of the perceptually uniform
viridis colormap. The sheet is written in the format its suffix names (``SUFFIXES``), its metadata marking it as a
contact sheet (``MARK``): an existing file is replaced only when it is one."""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont
from PIL.PdfParser import PdfParser
from PIL.PngImagePlugin import PngInfo
from scipy.ndimage import binary_erosion

from negaudio.core.errors import InputError
from negaudio.core.files import write_bytes
from negaudio.manifest.reader import Build

TILE = 256
FONT = 13  # px: Pillow's bundled font at a size that reads on a sheet of 256 px tiles
LINE = 17  # the height of one line of it, with spacing
SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
SOUNDING = tuple(tuple(round(255 * c) for c in colormaps["viridis"](x)[:3]) for x in (1.0, 0.5, 0.75, 0.3, 0.62, 0.88))
DISTRACTOR = (200, 200, 200)
MARK = "negaudio contact sheet"
"""What a sheet's metadata says: PNG text ``Software``, EXIF ``Software`` (JPEG, WebP, TIFF) or the PDF's producer."""
EXIF_SOFTWARE = 0x0131


def _decode(rle) -> np.ndarray:
    from pycocotools import mask as coco_mask

    return coco_mask.decode({"size": list(rle.size), "counts": rle.counts.encode("ascii")}).astype(bool)


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    return mask & ~binary_erosion(mask, iterations=width, border_value=0)


def _draw_outline(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> None:
    """A 2-pixel outline in ``colour`` with a black line inside it, visible on light and dark images alike."""
    image[_outline(mask, 3)] = (0, 0, 0)
    image[_outline(mask, 2)] = colour


def sheet_format(output: Path) -> str:
    """The Pillow format of a contact sheet named ``output`` (by its suffix), or an error naming the suffix."""
    suffix = Path(output).suffix.lower()
    if suffix == ".pdf":
        return "PDF"
    if suffix not in SUFFIXES:
        known = ", ".join([*SUFFIXES, ".pdf"])
        raise InputError(f"{output}: unsupported contact sheet suffix {suffix or '(none)'!r}; use one of {known}")
    return SUFFIXES[suffix]


def _marked(kind: str) -> dict:
    """Pillow save options that mark a sheet of format ``kind`` as one (``MARK``)."""
    if kind == "PDF":  # no dates: the same sheet gives the same bytes on every run
        return {"resolution": 96.0, "producer": MARK, "creationDate": None, "modDate": None}
    if kind == "PNG":
        info = PngInfo()
        info.add_text("Software", MARK)
        return {"pnginfo": info}
    exif = Image.Exif()
    exif[EXIF_SOFTWARE] = MARK
    return {"exif": exif}


def is_sheet(path: Path) -> bool:
    """Whether ``path`` is a regular file holding a contact sheet marked as this module marks them (``MARK``; a
    PDF: one page, produced by it). Only metadata is read: no pixel limit applies, nothing is decoded."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe or a device is never opened
            return False
        with open(path, "rb") as fh:
            is_pdf = fh.read(5) == b"%PDF-"
        if is_pdf:
            with PdfParser(filename=str(path), mode="rb") as pdf:
                return len(pdf.pages) == 1 and pdf.info.Producer == MARK  # no producer: AttributeError
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.info.get("Software") == MARK or im.getexif().get(EXIF_SOFTWARE) == MARK
    except Exception:  # whatever the file holds: one that does not parse is no sheet of ours
        return False


def check_sheet_target(output: Path) -> str:
    """The sheet's format (``sheet_format``), or an error when ``output`` names a folder, something other than a
    regular file, or a file not marked as a contact sheet (``is_sheet``): a user's file is never replaced."""
    output = Path(output)
    if output.is_dir():
        raise InputError(f"--gallery {output}: is a folder; give a file name")
    kind = sheet_format(output)
    if os.path.lexists(output) and not is_sheet(output):
        what = "a file not marked as a negaudio contact sheet" if output.is_file() else "something other than a file"
        raise InputError(f"--gallery {output}: holds {what}; it is not replaced: give a new file name")
    return kind


def badge_boxes(anchors: list[tuple[float, float]], size: tuple[int, int], badge: tuple[int, int]) -> list:
    """Where each object's number goes: at its anchor (the object's box corner), moved down past the badges
    already placed until none overlap (then right, when the column is full), inside a tile of ``size``."""
    placed: list[tuple[int, int, int, int]] = []
    bw, bh = badge
    for ax, ay in anchors:
        x, y = int(min(max(0, ax), size[0] - bw)), int(min(max(0, ay), size[1] - bh))
        while any(x < b[2] and b[0] < x + bw and y < b[3] and b[1] < y + bh for b in placed):
            y += bh
            if y + bh > size[1]:
                x, y = (x + bw) % max(1, size[0] - bw), 0
        placed.append((x, y, x + bw, y + bh))
    return placed


def _tile(build: Build, records: list) -> tuple[Image.Image, list[tuple[str, tuple[int, int, int]]]]:
    """The image with every object outlined and numbered, and its key: (text, colour) per number."""
    first = records[0]
    image = build.load_image(first)  # its file checked against the manifest, like every reader's
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
    font = _font()
    anchors = [(2.0, 2.0) if box is None else (box[0] * scale, box[1] * scale) for _, _, box in labels]
    width = max((round(draw.textlength(str(k + 1), font=font)) for k in range(len(labels))), default=0) + 4
    for k, (x0, y0, x1, y1) in enumerate(badge_boxes(anchors, tile.size, (width, LINE))):
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(0, 0, 0))
        draw.text((x0 + 2, y0), str(k + 1), fill=labels[k][1], font=font)
    return tile, [(f"{k + 1} {text}", colour) for k, (text, colour, _) in enumerate(labels)]


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at FONT px (its small bitmap font where Pillow has no FreeType)."""
    return ImageFont.load_default(size=FONT)


def _legend(width: int, distractors: bool) -> Image.Image:
    """The sheet's legend: what the outline colours, the (S)/(D) suffixes (D only when the sheet shows one) and
    the numbers mean."""
    font = _font()
    rows = [
        ([*SOUNDING[:3]], "(S) sounding object: each in a colour of its own"),
        *([([DISTRACTOR], "(D) silent distractor: grey")] if distractors else []),
        ([], "Numbers on an image: the key under it" + (" (label and S/D)." if distractors else ".")),
    ]
    legend = Image.new("RGB", (width, LINE * len(rows) + 6), (32, 32, 32))
    draw = ImageDraw.Draw(legend)
    for k, (swatches, text) in enumerate(rows):
        y = 3 + LINE * k
        for j, colour in enumerate(swatches):
            draw.rectangle((4 + 12 * j, y + 2, 13 + 12 * j, y + LINE - 3), outline=colour, width=2)
        draw.text((4 + 12 * 3 + 4, y), text, fill=(230, 230, 230), font=font)
    return legend


def gallery(root: Path, output: Path, count: int = 24, columns: int = 6) -> tuple[int, int]:
    """Draw the contact sheet of the first ``count`` images of a build into ``output`` only (in the format its
    suffix names), replacing only an earlier contact sheet; return (images shown, images the build has)."""
    kind = check_sheet_target(output)
    build = Build(root)
    groups: dict[str, list] = {}
    images: set[str] = set()
    for record in build:
        if record.kind == "positive":
            key = record.group or record.sample_id
            images.add(key)
            if key in groups or len(groups) < count:
                groups.setdefault(key, []).append(record)
    if not groups:
        raise InputError(f"{root}: the build holds no positives to show")
    tiles = [_tile(build, records) for records in groups.values()]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    cell = TILE + LINE * max(len(key) for _, key in tiles) + 8  # the tile, its key under it
    distractors = any(text.endswith("(D)") for _, key in tiles for text, _ in key)
    legend = _legend(max(columns * (TILE + 4), 2 * TILE + 8), distractors)
    sheet = Image.new("RGB", (legend.width, legend.height + rows * cell), (32, 32, 32))
    sheet.paste(legend, (0, 0))
    draw, font = ImageDraw.Draw(sheet), _font()
    for k, (tile, key) in enumerate(tiles):
        x, y = (k % columns) * (TILE + 4) + 2, legend.height + (k // columns) * cell + 2
        sheet.paste(tile, (x, y))
        for j, (text, colour) in enumerate(key):
            draw.text((x + 2, y + tile.height + 2 + LINE * j), text, fill=colour, font=font)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)  # as plan -o does
    buffer = io.BytesIO()  # only the file the user named: a PDF is had by naming one
    sheet.save(buffer, format=kind, **_marked(kind))
    check_sheet_target(output)  # again: a file may have come there while the sheet was drawn
    write_bytes(output, buffer.getvalue())
    return len(tiles), len(images)
