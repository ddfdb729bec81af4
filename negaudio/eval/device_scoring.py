"""Scoring a model's maps on the device the model made them on (``negaudio eval --model ... --device cuda``).

While the model runs, its raw maps are kept on its device by item id (:class:`DeviceMaps`) besides being written to
the maps file; their maxima are taken there. Scoring then resizes them to each sample's frame on the device
(``upsample.resize_bilinear_torch``) and feeds the torch engine (engine_torch.py) and the benchmarks' torch values
(benchmark_torch.py): only per-item values come back to the host, never a map (a gallery sample's aside). When the
maps would take more than a quarter of the device memory free at the start, they are not kept, and the maps file
is scored on the CPU as for ``--predictions``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import islice

import numpy as np
import torch

from negaudio.eval.benchmark_metrics import BenchmarkMetrics
from negaudio.eval.metrics import NegativeAudioEvaluator, Threshold, is_tensor
from negaudio.eval.samples import POSITIVE, BuildIndex, samples_of_lines
from negaudio.eval.upsample import resize_bilinear_torch
from negaudio.manifest import Build

DEVICE_SHARE = 0.25
"""The share of a CUDA device's free memory that kept maps may take."""
DEVICE_BATCH = 256
"""Samples per scoring batch on a device, at least (``--batch`` sizes the model's batches): a batch's cost is
mostly its kernel launches and copies back, whatever its size."""


def _tensor(a) -> torch.Tensor:
    return a.detach() if is_tensor(a) else torch.tensor(np.asarray(a))


def memory_budget(device: torch.device) -> int | None:
    """Bytes of maps a run may keep on ``device``: a share of a CUDA device's free memory (None: no limit)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0] * DEVICE_SHARE)


class DeviceMaps:
    """A model run's raw maps by item id, float32 on ``device``, and their maxima (taken there, read back once)."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        self.budget = memory_budget(self.device)
        self.maps: dict[str, torch.Tensor] = {}
        self._maxima: list[tuple[list[str], torch.Tensor]] = []
        self.kept_bytes = 0
        self.overflow = False

    def add(self, records: Sequence, output) -> None:
        """Keep one batch of an adapter's output (a [B, h, w] tensor or array, or B 2-D maps) for ``records``;
        past the budget every kept map is dropped (``overflow``)."""
        if self.overflow:
            return
        if is_tensor(output) or isinstance(output, np.ndarray):
            batch = _tensor(output).to(self.device, torch.float32)
            maps, top = list(batch.unbind(0)), batch.flatten(1).amax(dim=1)
        else:
            maps = [_tensor(m).to(self.device, torch.float32) for m in output]
            top = torch.stack([m.max() for m in maps])
        self.kept_bytes += sum(m.numel() * 4 for m in maps)
        if self.budget is not None and self.kept_bytes > self.budget:
            self.overflow = True
            self.maps.clear()
            self._maxima.clear()
            return
        ids = [r.item_id for r in records]
        self.maps.update(zip(ids, maps, strict=True))
        self._maxima.append((ids, top))

    def maxima(self) -> dict[str, float]:
        """Every kept map's maximum by item id (one copy from the device)."""
        if not self._maxima:
            return {}
        values = torch.cat([m for _, m in self._maxima]).double().cpu().tolist()
        return dict(zip((i for ids, _ in self._maxima for i in ids), values, strict=True))

    def framed(self, item_ids: Sequence[str], height: int, width: int) -> torch.Tensor:
        """The maps of ``item_ids`` resized to ``height`` x ``width``, [B, H, W] float32 on the device (maps of
        one raw size are resized together)."""
        maps = [self.maps[i] for i in item_ids]
        if len({m.shape for m in maps}) == 1:
            return resize_bilinear_torch(torch.stack(maps), height, width)
        return torch.cat([resize_bilinear_torch(m[None], height, width) for m in maps])


def score_on_device(
    build: Build,
    index: BuildIndex,
    maps: DeviceMaps,
    maxima: dict[str, float],
    thresholds: Collection[Threshold],
    config,
) -> tuple[NegativeAudioEvaluator, BenchmarkMetrics, list[dict]]:
    """What ``pipeline.score`` gives, from maps kept on their device: the build's samples streamed in frame
    batches of ``config.batch`` or DEVICE_BATCH samples, whichever is larger, every map resized and scored on the
    device."""
    from negaudio.eval.pipeline import (
        batch_gallery,
        batch_layout,
        batch_sizes,
        feed,
        gallery_picks,
        item_roles,
        load_gt,
        sample_margins,
    )

    roles = item_roles(index)
    evaluator = NegativeAudioEvaluator(list(thresholds), roles)
    benchmark = BenchmarkMetrics(roles, build.info.get("source", {}).get("kind", ""))
    margins = sample_margins(index, maxima, roles) if config.gallery > 0 else []
    picks = gallery_picks(margins, config.gallery)
    gallery: list[dict] = []
    lines = build.lines()
    done = 0
    for size in batch_sizes(index.frames, max(config.batch, DEVICE_BATCH)):
        members, frames = index.members[done : done + size], index.frames[done : done + size]
        rows = sum(1 + len(others) for _, others in members)
        batch = samples_of_lines(build, list(islice(lines, rows)), members, frames)
        h, w = batch[0].frame
        gt = torch.from_numpy(np.stack([load_gt(build, s) for s in batch])).to(maps.device)
        present, ids = batch_layout(batch)
        pos = maps.framed(ids[POSITIVE], h, w)
        others = {name: maps.framed(ids[name], h, w) for name in present}
        feed(evaluator, benchmark, batch, pos, gt, others, present, ids, maxima)
        gallery += batch_gallery(build, batch, done, gt, pos, others, present, picks, margins)
        done += len(batch)
        if config.progress:
            config.progress("scoring", done, index.n_samples)
    return evaluator, benchmark, gallery
