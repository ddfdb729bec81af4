"""Draw docs/figures/composite-masks.png: how one object of a composite becomes its amodal and visible masks.

Run from the repository root: ``python scripts/make_composite_figure.py`` (uses the embedded bank).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from negaudio.media import compose
from negaudio.sources.composite_bank import ensure_bank

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "composite-masks.png"
PANEL = 224


def main() -> None:
    root = ensure_bank()
    bell = {
        "label": "bell",
        "role": "sounding",
        "cutout": "objects/bell/bell-2.png",
        "flip": True,
        "rotation": 20.0,
        "size": [100, 100],
        "position": [40, 70],
        "z": 0,
        "blend": {"mode": "feather", "sigma": 2.0},
    }
    drum = {
        "label": "drum",
        "role": "sounding",
        "cutout": "objects/drum/drum-1.png",
        "flip": False,
        "rotation": -10.0,
        "size": [90, 90],
        "position": [105, 40],
        "z": 1,
        "blend": {"mode": "hard"},
    }
    for obj in (bell, drum):
        with Image.open(root / obj["cutout"]) as im:
            box = compose.mask_box(np.asarray(im.convert("RGBA"))[..., 3] >= 128)
        obj["crop"] = [int(v) for v in box]
    spec = {"canvas": [PANEL, PANEL], "background": {"path": "backgrounds/scene-1.png"}, "objects": [bell, drum]}
    made = compose.compose(spec, root)
    cut = compose.cutout(root, bell)
    layer = compose.layer(cut, bell)
    panels = []
    for title, im in (
        ("1. cut-out (RGBA, cropped)", _on_checks(cut)),
        ("2. flip, resize, rotate", _on_checks(layer)),
        ("3. composite (drum in front)", Image.fromarray(made.image)),
        ("4. bell amodal: alpha >= 0.5", _mask(made.amodal[0])),
        ("5. bell visible: minus drum", _mask(made.visible[0], made.amodal[0])),
    ):
        canvas = Image.new("RGB", (PANEL, PANEL + 20), (255, 255, 255))
        im = im.convert("RGB")
        im.thumbnail((PANEL, PANEL))
        canvas.paste(im, ((PANEL - im.width) // 2, 20 + (PANEL - im.height) // 2))
        ImageDraw.Draw(canvas).text((4, 4), title, fill=(0, 0, 0))
        panels.append(canvas)
    sheet = Image.new("RGB", (len(panels) * (PANEL + 6), PANEL + 20), (255, 255, 255))
    for k, p in enumerate(panels):
        sheet.paste(p, (k * (PANEL + 6), 0))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT, optimize=True)


def _on_checks(im: Image.Image) -> Image.Image:
    yy, xx = np.mgrid[0 : im.height, 0 : im.width]
    checks = np.where(((xx // 8 + yy // 8) % 2)[..., None] == 0, 200, 240).astype(np.uint8).repeat(3, axis=2)
    base = Image.fromarray(checks, mode="RGB")
    base.paste(im, (0, 0), im)
    return base


def _mask(mask: np.ndarray, hidden: np.ndarray | None = None) -> Image.Image:
    out = np.full((*mask.shape, 3), 30, np.uint8)
    if hidden is not None:
        out[hidden & ~mask] = (120, 60, 60)  # occluded part of the amodal mask
    out[mask] = 255
    return Image.fromarray(out, mode="RGB")


if __name__ == "__main__":
    main()
