"""The embedded demo source: two-object images with exact masks and a distinct sound per class.

Generated at run time, deterministically, into a folder-source layout (``index.jsonl``) under the cache
(``$NEGAUDIO_CACHE`` or ``~/.cache/negaudio``), so ``make demo`` works offline in seconds. Names follow IS3:
``<objA>_<objB>_<id>_<target>``, one sample per sounding object, grouped by image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field

from negaudio.core.cache import cache_dir, generate_once
from negaudio.sources.folder import FolderSource

GENERATOR_VERSION = 1
WIDTH, HEIGHT = 320, 240

# class -> (shape, RGB colour); each class also has its own sound below.
CLASSES = {
    "bell": ("disk", (230, 190, 40)),
    "drum": ("square", (200, 40, 40)),
    "whistle": ("triangle", (40, 90, 220)),
    "engine": ("wide", (120, 120, 120)),
    "bird": ("ellipse", (40, 170, 70)),
}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["demo"]
    root: Path | None = None
    images: int = Field(12, ge=2, le=2000)
    seed: int = Field(0, ge=0)


def class_sound(label: str, rng: np.random.Generator, seconds: float, sample_rate: int) -> np.ndarray:
    """A recognisable, class-specific sound (mono float32)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    if label == "bell":
        beat = (t % 0.5) / 0.5
        x = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((880, 1760, 2640), start=1)) * np.exp(-6 * beat)
    elif label == "drum":
        burst = np.exp(-30 * (t % 0.25))
        x = rng.standard_normal(t.size) * burst * 0.8 + np.sin(2 * np.pi * 90 * t) * burst
    elif label == "whistle":
        x = np.sin(2 * np.pi * (1500 * t + 750 * (t % 1.0) ** 2))
    elif label == "engine":
        x = 2 * ((110 * t) % 1.0) - 1 + 0.2 * rng.standard_normal(t.size)
    else:  # bird
        chirp = (t % 0.3) < 0.12
        x = np.sin(2 * np.pi * (3000 + 8000 * (t % 0.3)) * t) * chirp
    x = np.asarray(x, dtype=np.float64)
    return (0.3 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill) -> None:
    x1, y1, x2, y2 = box
    if shape in ("disk", "ellipse"):
        draw.ellipse(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([((x1 + x2) // 2, y1), (x2, y2), (x1, y2)], fill=fill)
    else:
        draw.rectangle(box, fill=fill)


def _object_box(rng: np.random.Generator, shape: str, left: bool) -> tuple[int, int, int, int]:
    w = int(rng.integers(60, 110))
    h = int(w * (0.55 if shape in ("wide", "ellipse") else 1.0))
    x_lo, x_hi = (10, WIDTH // 2 - w - 5) if left else (WIDTH // 2 + 5, WIDTH - w - 10)
    x = int(rng.integers(x_lo, x_hi + 1))
    y = int(rng.integers(10, HEIGHT - h - 10))
    return (x, y, x + w - 1, y + h - 1)


def generate(root: Path, images: int, seed: int) -> None:
    """Write the demo dataset to ``root`` (images/, audio/, masks/, index.jsonl)."""
    rng = np.random.default_rng([seed, GENERATOR_VERSION])
    names = sorted(CLASSES)
    for sub in ("images", "audio", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(images):
        a, b = (names[j] for j in rng.choice(len(names), size=2, replace=False))
        group = f"{a}_{b}_{i:04d}"
        base = 30 + 20 * (i % 5)
        ramp = np.linspace(base, base + 60, HEIGHT, dtype=np.float32)[:, None, None]
        canvas = Image.fromarray(np.broadcast_to(ramp, (HEIGHT, WIDTH, 3)).astype(np.uint8), mode="RGB")
        draw = ImageDraw.Draw(canvas)
        for label, left in ((a, True), (b, False)):
            shape, colour = CLASSES[label]
            box = _object_box(rng, shape, left)
            _draw(draw, shape, box, colour)
            mask = Image.new("L", (WIDTH, HEIGHT), 0)
            _draw(ImageDraw.Draw(mask), shape, box, 255)
            sample_id = f"{group}_{label}"
            mask.save(root / "masks" / f"{sample_id}.png")
            rate = 22050 if i % 4 == 3 else 16000
            seconds = float(rng.choice([2.0, 2.5, 3.0, 4.0]))
            sound = class_sound(label, rng, seconds, rate)
            if i % 6 == 5:  # a stereo clip now and then, as real sources have
                sound = np.stack([sound, 0.8 * sound], axis=1)
            sf.write(root / "audio" / f"{sample_id}.wav", sound, rate, subtype="PCM_16")
            rows.append(
                {
                    "sample_id": sample_id,
                    "image": f"images/{group}.png",
                    "audio": f"audio/{sample_id}.wav",
                    "label": label,
                    "image_classes": [a, b],
                    "group": group,
                    "regions": [{"label": label, "mask": f"masks/{sample_id}.png", "box": list(box)}],
                }
            )
        canvas.save(root / "images" / f"{group}.png")
    with (root / "index.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def ensure_demo(root: Path | None, images: int, seed: int) -> Path:
    """Generate the demo dataset once (atomically) and return its folder."""
    root = root or cache_dir() / f"demo-v{GENERATOR_VERSION}-n{images}-s{seed}"
    return generate_once(root, lambda r: (r / "index.jsonl").is_file(), lambda tmp: generate(tmp, images, seed))


def open_source(config: Config, root: Path | None) -> FolderSource:
    source = FolderSource(ensure_demo(root or config.root, config.images, config.seed))
    source.name = "demo"
    return source
