"""Scoring a model's maps on the device the model made them on (``negaudio eval --model ... --device cuda``).

While the model runs, its raw maps are kept on its device by item id (:class:`DeviceMaps`) besides being written to
the maps file; their maxima are taken there. Scoring then resizes them to each sample's frame on the device
(``upsample.resize_bilinear_torch``) and feeds the torch engine (engine_torch.py) and the benchmarks' torch values
(benchmark_torch.py): only per-item values come back to the host, never a map (a gallery sample's aside). When the
maps would take more than a quarter of the device memory free once the model is there, or the device runs out of
memory while they are kept or scored, the maps file is scored on the CPU as for ``--predictions``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import torch

from negaudio.eval.benchmark_metrics import BenchmarkMetrics
from negaudio.eval.metrics import NegativeAudioEvaluator, Threshold, is_tensor
from negaudio.eval.samples import POSITIVE, BuildIndex, samples_of_lines
from negaudio.eval.upsample import resize_bilinear_torch
from negaudio.manifest import Build

DEVICE_SHARE = 0.25
"""The share of a CUDA device's free memory (once the model is on it) that kept maps may take."""


def memory_budget(device: torch.device) -> int | None:
    """Bytes of maps a run may keep on ``device``: a share of a CUDA device's free memory (None: no limit)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.mem_get_info(device)[0] * DEVICE_SHARE)


class DeviceMaps:
    """A model run's raw maps by item id, float32 on ``device``, and their maxima (taken there, read back once)."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        self.budget: int | None = None  # measured at the first batch, once the adapter's setup has run
        self.maps: dict[str, torch.Tensor] = {}
        self._maxima: list[tuple[list[str], torch.Tensor]] = []
        self.kept_bytes = 0
        self.dropped: str | None = None  # why the maps were dropped, if they were

    def report_entry(self) -> dict[str, str]:
        """Where the maps were scored, for the report's ``model``: ``cuda`` (or ``cpu (torch)``), or, once they
        were dropped, ``cpu`` from the maps file with the reason."""
        if self.dropped:
            return {"scored_on": "cpu", "scored_on_note": f"{self.dropped}: the maps file was scored on the cpu"}
        return {"scored_on": self.device.type if self.device.type == "cuda" else f"{self.device.type} (torch)"}

    def _own(self, a) -> torch.Tensor:
        """``a`` copied into a float32 tensor of its own on the device: an adapter may reuse its output buffer,
        and a view would keep all of its base alive."""
        a = a.detach() if is_tensor(a) else torch.as_tensor(np.array(a))
        return torch.empty(a.shape, dtype=torch.float32, device=self.device).copy_(a)

    def add(self, records: Sequence, output) -> None:
        """Keep one batch of an adapter's output (a [B, h, w] tensor or array, or B 2-D maps) for ``records``;
        past the budget, or when the device runs out of memory, every kept map is dropped (``dropped``)."""
        if self.dropped:
            return
        if not self.maps:
            self.budget = memory_budget(self.device)
        whole = is_tensor(output) or (isinstance(output, np.ndarray) and output.dtype != object)
        self.kept_bytes += 4 * sum(m.numel() if is_tensor(m) else np.size(m) for m in ([output] if whole else output))
        if self.budget is not None and self.kept_bytes > self.budget:
            share = f"{self.budget / 2**20:,.0f} MiB, {DEVICE_SHARE:.0%} of the {self.device} memory free"
            self.release(f"the maps would take over {share}")
            return
        try:
            if whole:
                batch = self._own(output)
                maps, top = list(batch.unbind(0)), batch.flatten(1).amax(dim=1)
            else:
                maps = [self._own(m) for m in output]
                top = torch.stack([m.max() for m in maps])
        except torch.cuda.OutOfMemoryError:
            failed = True
        else:
            failed = False
        if failed:  # out of the except clause: the partial copies are freed with the error's traceback
            self.release(f"{self.device} ran out of memory keeping the maps")
            return
        ids = [r.item_id for r in records]
        self.maps.update(zip(ids, maps, strict=True))
        self._maxima.append((ids, top))

    def release(self, why: str) -> None:
        """Drop every kept map (the maps file is scored instead) and give their memory back to the device."""
        self.dropped = why
        self.maps.clear()
        self._maxima.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

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
) -> tuple[NegativeAudioEvaluator, BenchmarkMetrics, list[dict]] | None:
    """What ``pipeline.score`` gives (None when the device runs out of memory: the maps are then dropped), from
    maps kept on their device: the build's samples streamed in the same frame batches, every map resized and
    scored on the device."""
    from negaudio.eval.pipeline import scoring_parts

    _, evaluator, benchmark, margins, picks = scoring_parts(build, index, list(thresholds), maxima, config.gallery)
    gallery: list[dict] = []
    try:
        _stream(build, index, maps, maxima, config, (evaluator, benchmark, gallery), (margins, picks))
    except torch.cuda.OutOfMemoryError:
        failed = True
    else:
        failed = False
    if failed:  # out of the except clause: the batch's tensors are freed with the error's traceback
        maps.release(f"{maps.device} ran out of memory scoring the maps")
        return None
    return evaluator, benchmark, gallery


def _stream(build: Build, index: BuildIndex, maps: DeviceMaps, maxima: dict, config, parts: tuple, picks: tuple):
    """Feed every frame batch of the build's samples, resized on the device, to the evaluator and benchmark part,
    and add the gallery entries of the picks (``parts``: evaluator, benchmark, gallery; ``picks``: margins, picks)."""
    from negaudio.eval import pipeline as p

    evaluator, benchmark, gallery = parts
    margins, chosen = picks
    sizes = p.batch_sizes(index.frames, config.batch)
    for n, (start, lines) in zip(sizes, p.sample_lines(build, index, sizes), strict=True):
        batch = samples_of_lines(build, lines, index.members[start : start + n], index.frames[start : start + n])
        h, w = batch[0].frame
        gt = torch.from_numpy(np.stack([p.load_gt(build, s) for s in batch])).to(maps.device)
        present, ids = p.batch_layout(batch)
        pos = maps.framed(ids[POSITIVE], h, w)
        others = {name: maps.framed(ids[name], h, w) for name in present}
        p.feed(evaluator, benchmark, batch, pos, gt, others, present, ids, maxima)
        gallery += p.batch_gallery(build, batch, start, gt, pos, others, present, chosen, margins)
        if config.progress:
            config.progress("scoring", start + n, index.n_samples)
