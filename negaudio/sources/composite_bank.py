"""The embedded composite bank: varied RGBA cut-outs, backgrounds and a sound per class, generated once.

Written deterministically into the cache (``$NEGAUDIO_CACHE`` or ``~/.cache/negaudio``) in the bank layout
``objects/<class>/*.png``, ``backgrounds/*.png``, ``audio/<class>/*.wav``, so ``negaudio build is3plus`` makes
composites offline in seconds. The sounds are the demo source's class sounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from negaudio.core.cache import cache_dir, generate_once
from negaudio.sources.demo import class_sound

BANK_VERSION = 1
CUTOUTS_PER_CLASS = 3
CLIPS_PER_CLASS = 2
BACKGROUNDS = 6

# class -> (shapes it comes in, base RGB colour, texture)
CLASSES = {
    "bell": (("disk", "bell"), (230, 190, 40), "rings"),
    "drum": (("square", "drum"), (200, 40, 40), "checks"),
    "whistle": (("triangle", "star"), (40, 90, 220), "stripes"),
    "engine": (("wide", "gear"), (120, 120, 120), "noise"),
    "bird": (("ellipse", "bird"), (40, 170, 70), "spots"),
}


def _polygon(shape: str, s: int, rng: np.random.Generator) -> list[tuple[float, float]] | None:
    c = s / 2
    if shape == "star":
        k = int(rng.integers(5, 8))
        angles = np.arange(2 * k) * np.pi / k
        radii = np.where(np.arange(2 * k) % 2 == 0, 0.48 * s, 0.2 * s)
        return [(c + r * np.cos(a), c + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    if shape == "gear":
        n = 48
        angles = np.arange(n) * 2 * np.pi / n
        radii = np.where((np.arange(n) // 3) % 2 == 0, 0.48 * s, 0.36 * s)
        return [(c + r * np.cos(a), c + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    if shape == "triangle":
        return [(c, 0.04 * s), (0.96 * s, 0.94 * s), (0.04 * s, 0.94 * s)]
    if shape == "bell":
        return [
            (0.35 * s, 0.1 * s),
            (0.65 * s, 0.1 * s),
            (0.8 * s, 0.7 * s),
            (0.95 * s, 0.9 * s),
            (0.05 * s, 0.9 * s),
            (0.2 * s, 0.7 * s),
        ]
    if shape == "bird":
        return [
            (0.05 * s, 0.5 * s),
            (0.4 * s, 0.3 * s),
            (0.55 * s, 0.05 * s),
            (0.65 * s, 0.35 * s),
            (0.95 * s, 0.45 * s),
            (0.6 * s, 0.75 * s),
            (0.3 * s, 0.7 * s),
        ]
    return None


def _alpha(shape: str, s: int, rng: np.random.Generator) -> Image.Image:
    """The object's alpha at 4x supersampling, downscaled: soft, anti-aliased edges as real mattes have."""
    big = 4 * s
    im = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(im)
    poly = _polygon(shape, big, rng)
    if poly is not None:
        draw.polygon(poly, fill=255)
    elif shape in ("disk", "ellipse"):
        squash = 0.0 if shape == "disk" else 0.2 * big
        draw.ellipse((0.04 * big, 0.04 * big + squash, 0.96 * big, 0.96 * big - squash), fill=255)
    elif shape == "drum":
        draw.rectangle((0.15 * big, 0.25 * big, 0.85 * big, 0.85 * big), fill=255)
        draw.ellipse((0.15 * big, 0.12 * big, 0.85 * big, 0.38 * big), fill=255)
    elif shape == "wide":
        draw.rounded_rectangle((0.02 * big, 0.3 * big, 0.98 * big, 0.75 * big), radius=0.1 * big, fill=255)
    else:
        draw.rectangle((0.08 * big, 0.08 * big, 0.92 * big, 0.92 * big), fill=255)
    return im.resize((s, s), Image.Resampling.LANCZOS)


def _texture(kind: str, colour, s: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    base = np.asarray(colour, dtype=np.float32) * rng.uniform(0.8, 1.15)
    period = float(rng.uniform(6, 14))
    if kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy) / period)
    elif kind == "checks":
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == "rings":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(xx - s / 2, yy - s / 2) / period)
    elif kind == "spots":
        t = (gaussian_filter(rng.standard_normal((s, s)).astype(np.float32), 3) > 0.05).astype(np.float32)
    else:
        t = gaussian_filter(rng.standard_normal((s, s)).astype(np.float32), 1.5)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    shade = 1.0 - 0.35 * yy / s  # lit from above
    rgb = base[None, None, :] * (0.65 + 0.35 * t[..., None]) * shade[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _background(i: int, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A scene-like background: sky-to-ground gradient, a horizon and soft clutter."""
    top, bottom = rng.uniform(40, 230, size=(2, 3))
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.float32).copy()
    horizon = int(height * rng.uniform(0.45, 0.7))
    img[horizon:] *= rng.uniform(0.5, 0.8)
    clutter = gaussian_filter(rng.standard_normal((height, width, 3)).astype(np.float32), (6 + i, 6 + i, 0))
    img += 120 * clutter / max(float(np.abs(clutter).max()), 1e-6) * 0.4
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


def generate(root: Path, seed: int = 0) -> None:
    """Write the bank to ``root``."""
    rng = np.random.default_rng([seed, BANK_VERSION])
    for label, (shapes, colour, texture) in CLASSES.items():
        (root / "objects" / label).mkdir(parents=True)
        (root / "audio" / label).mkdir(parents=True)
        for k in range(CUTOUTS_PER_CLASS):
            s = int(rng.integers(72, 120))
            alpha = _alpha(shapes[k % len(shapes)], s, rng)
            rgba = Image.fromarray(_texture(texture, colour, s, rng), mode="RGB")
            rgba.putalpha(alpha)
            rgba.save(root / "objects" / label / f"{label}-{k}.png")
        for k in range(CLIPS_PER_CLASS):
            rate = (16000, 22050)[k % 2]
            sound = class_sound(label, rng, float(rng.choice([2.0, 3.0])), rate)
            sf.write(root / "audio" / label / f"{label}-{k}.wav", sound, rate, subtype="PCM_16")
    (root / "backgrounds").mkdir()
    for i in range(BACKGROUNDS):
        w, h = ((320, 240), (256, 256), (400, 300))[i % 3]
        _background(i, w, h, rng).save(root / "backgrounds" / f"scene-{i}.png")


def ensure_bank(seed: int = 0) -> Path:
    """Generate the embedded bank once (atomically) and return its folder."""
    root = cache_dir() / f"composite-bank-v{BANK_VERSION}-s{seed}"
    return generate_once(
        root, lambda r: (r / "objects").is_dir() and (r / "backgrounds").is_dir(), lambda tmp: generate(tmp, seed)
    )
