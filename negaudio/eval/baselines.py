"""Baselines that need no weights (numpy only): what a deaf, an energy-driven, a random and a perfect model score."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from negaudio.manifest import Build, ManifestRecord


class VisualPrior:
    """Audio-blind saliency: each pixel's RGB distance to the image's mean colour, mean-pooled to a ``grid`` x
    ``grid`` map and divided by √3 (the largest distance), so values lie in [0, 1] and peaks differ between
    images as a real model's do. It paints the same region whatever it hears."""

    image_size = (224, 224)

    def __init__(self, grid: int | str = 56):
        self.grid = int(grid)
        if self.grid < 1 or self.image_size[0] % self.grid or self.image_size[1] % self.grid:
            raise ValueError(f"grid must divide the image size {self.image_size}, got {self.grid}")

    def saliency(self, images: np.ndarray) -> np.ndarray:
        """[B, 3, H, W] in [0, 1] -> [B, grid, grid] in [0, 1], each image on its own."""
        out = np.zeros((len(images), self.grid, self.grid), dtype=np.float32)
        for i, image in enumerate(images):
            image = image.astype(np.float64)
            distance = np.sqrt(((image - image.mean(axis=(1, 2), keepdims=True)) ** 2).sum(axis=0))
            h, w = distance.shape
            pooled = distance.reshape(self.grid, h // self.grid, self.grid, w // self.grid).mean(axis=(1, 3))
            out[i] = pooled / np.sqrt(3.0)
        return out

    def __call__(self, images, waves, records) -> np.ndarray:
        return self.saliency(images)


class EnergyGated(VisualPrior):
    """The visual prior times min(1, RMS / reference): silence gives an empty map, quiet sound a weak one.

    It reacts to loudness, not to what is heard: loud noise and off-screen sounds still light up the object.
    """

    def __init__(self, grid: int | str = 56, reference_dbfs: float | str = -20.0):
        super().__init__(grid)
        self.reference = 10.0 ** (float(reference_dbfs) / 20.0)

    def gains(self, waves: np.ndarray, records: Sequence[ManifestRecord]) -> np.ndarray:
        """min(1, RMS / reference) of each clip over its own length (the batch is zero-padded)."""
        gains = np.zeros(len(waves))
        for i, (wave, record) in enumerate(zip(waves, records, strict=True)):
            clip = wave[:, : record.audio.num_samples].astype(np.float64)
            rms = np.sqrt(np.mean(clip**2)) if clip.size else 0.0
            gains[i] = min(1.0, rms / self.reference)
        return gains

    def __call__(self, images, waves, records) -> np.ndarray:
        return self.saliency(images) * self.gains(waves, records)[:, None, None].astype(np.float32)


class RandomMaps:
    """Uniform noise maps on a ``grid`` x ``grid`` grid, a pure function of (seed, item_id)."""

    def __init__(self, seed: int | str = 0, grid: int | str = 7):
        self.seed = int(seed)
        self.grid = int(grid)

    def __call__(self, images, waves, records) -> np.ndarray:
        maps = []
        for record in records:
            words = np.frombuffer(hashlib.sha256(record.item_id.encode()).digest()[:16], dtype="<u4")
            rng = np.random.default_rng([self.seed, *words.tolist()])
            maps.append(rng.random((self.grid, self.grid), dtype=np.float32))
        return np.stack(maps)


class Oracle:
    """The upper bound: the ground-truth mask on positives (and noisy positives), an empty map on negatives."""

    def setup(self, build: Build, device: str) -> None:
        self.build = build

    def __call__(self, images, waves, records) -> list[np.ndarray]:
        maps = []
        for record in records:
            gt = self.build.load_mask(record) if record.kind in ("positive", "noisy_positive") else None
            maps.append(np.zeros((1, 1), dtype=np.float32) if gt is None else gt)
        return maps
