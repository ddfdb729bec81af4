"""Composite benchmark: 224x224 two-object composites per second against the I/O floor of writing the same
images and masks with Pillow alone, in one run.

The composite side is what rendering does for the images of a build: per image, compose it from the plan's spec
(background, two cut-outs, transforms, blending, amodal and visible masks, their RLE), then per sample (one per
sounding object) write the image file and the ground-truth mask PNG. The floor writes the same files (same
arrays, same PNG settings) with Pillow and nothing else. Planning (placement with its occlusion checks) is
timed separately. Run: ``python bench/bench_composite.py [--images N] [--rounds R]`` or ``make bench``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGET_FLOOR_RATIO = 2.0


def _plan(images: int):
    from negaudio.sources import composite

    config = composite.Config(kind="composite", images=images, blend={"mode": {"choice": ["hard", "feather"]}})
    source = composite.open_source(config, None)
    source.bind_seed(2025)
    start = time.perf_counter()
    samples = list(source.samples())
    planning = time.perf_counter() - start
    specs: dict[str, list[dict]] = {}
    for s in samples:
        specs.setdefault(s.group, []).append(s.extra["composite"])
    return source.root, list(specs.values()), planning


def _composites(root: Path, specs: list[list[dict]], out: Path) -> tuple[float, list]:
    from negaudio.core.files import write_bytes
    from negaudio.media.masks import encode_mask
    from negaudio.rendering import render

    kept = []
    os.sync()
    start = time.perf_counter()
    for n, samples in enumerate(specs):
        masks = []
        for k, spec in enumerate(samples):
            made = render._composite(root, spec)
            write_bytes(out / f"{n:05d}_{k}{made.suffix}", made.data)
            write_bytes(out / f"{n:05d}_{k}_mask.png", encode_mask(made.stored[0]))
            masks.append(made.stored[0])
        kept.append((render._LAST_IMAGE["made"].image, masks))
    return time.perf_counter() - start, kept


def _floor(arrays: list[tuple[np.ndarray, list[np.ndarray]]], out: Path) -> float:
    os.sync()
    start = time.perf_counter()
    for n, (image, masks) in enumerate(arrays):
        for k, mask in enumerate(masks):
            buffer = io.BytesIO()
            Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=1)
            (out / f"{n:05d}_{k}.png").write_bytes(buffer.getvalue())
            buffer = io.BytesIO()
            Image.fromarray(mask, mode="L").save(buffer, format="PNG", compress_level=1)
            (out / f"{n:05d}_{k}_mask.png").write_bytes(buffer.getvalue())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="negaudio-bench-comp-") as tmp:
        os.environ.setdefault("NEGAUDIO_CACHE", str(Path(tmp) / "cache"))
        root, specs, planning = _plan(args.images)
        comp_times, floor_times = [], []
        for r in range(args.rounds):  # interleaved rounds, medians reported
            a, b = Path(tmp) / f"comp{r}", Path(tmp) / f"floor{r}"
            a.mkdir()
            b.mkdir()
            t, arrays = _composites(root, specs, a)
            comp_times.append(t)
            floor_times.append(_floor(arrays, b))
    n = len(specs)
    comp, floor = statistics.median(comp_times), statistics.median(floor_times)
    result = {
        "images": n,
        "planning_images_per_s": n / planning,
        "composites_per_s": n / comp,
        "floor_images_per_s": n / floor,
        "ratio_to_floor": comp / floor,
        "target_ratio": TARGET_FLOOR_RATIO,
    }
    print(f"composites ({n} two-object 224x224 images, 2 samples each: 2 image files + 2 masks per image)")
    print(f"  planning (placement + occlusion checks): {result['planning_images_per_s']:8.1f} images/s")
    print(f"  composites (compose + RLE + write):     {result['composites_per_s']:8.1f} images/s")
    print(f"  I/O floor (Pillow writes the same files): {result['floor_images_per_s']:6.1f} images/s")
    verdict = "ok" if result["ratio_to_floor"] <= TARGET_FLOOR_RATIO else "over target"
    print(f"  time / floor: {result['ratio_to_floor']:.3f}x (target <= {TARGET_FLOOR_RATIO:.1f}x: {verdict})")
    return result


if __name__ == "__main__":
    main()
