"""Metric engine on a GPU: 20,000 maps (5,000 samples × 4) scored by the numpy engine on the CPU and by the torch
engine on CUDA, from maps already on the device; values must be equal. Also a model adapter's items/s on each
device, through ``adapter_items_per_s`` (``bench_adapters``).

Not part of ``make bench`` (it needs a CUDA device). Run on a GPU machine:
``python bench/bench_gpu.py [--samples 5000] [--batch 250]``; exits 0 when the values agree, 1 when they do not,
2 when no CUDA device is visible.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_metrics import TYPES, make_batch, thresholds  # noqa: E402
from negaudio.eval import metrics as M  # noqa: E402


def adapter_items_per_s(device: str, model: str = "ezvsl") -> float | None:
    """Items/s of a zoo model's adapter call on ``device`` (``bench_adapters``, random weights); None when it
    cannot run (no torch)."""
    from bench import bench_adapters

    figures = bench_adapters.main(["--models", model, "--devices", device, "--no-demo"])
    return None if isinstance(figures, int) else figures.get(f"{model}_{device}_call")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args([] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("bench_gpu: torch is not installed")
        return 2
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible to torch; not run")
        return 2
    thr = thresholds(args.seed)
    cpu = M.NegativeAudioEvaluator(thr, TYPES)
    gpu = M.NegativeAudioEvaluator(thr, TYPES)
    t_cpu = t_gpu = 0.0
    for start in range(0, args.samples, args.batch):
        n = min(args.batch, args.samples - start)
        pos, gt, negs = make_batch(args.seed, start, n)
        t0 = time.perf_counter()
        cpu.update(pos, gt, negs)
        t_cpu += time.perf_counter() - t0
        on_device = [torch.from_numpy(x).cuda() for x in (pos, gt, *negs.values())]  # moved before timing
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        gpu.update(on_device[0], on_device[1], dict(zip(TYPES, on_device[2:], strict=True)))
        torch.cuda.synchronize()
        t_gpu += time.perf_counter() - t0
    a, b = cpu.per_item(), gpu.per_item()
    unequal = {
        f"{n}/{k}": float(np.nanmax(np.abs(a[n][k] - b[n][k])))
        for n in a
        for k in a[n]
        if not np.array_equal(a[n][k], b[n][k], equal_nan=True)
    }
    equal = not unequal
    maps = args.samples * (1 + len(TYPES))
    print(f"bench_gpu: {maps} maps of 224x224 float32, {len(thr)} thresholds, {torch.cuda.get_device_name()}")
    print(f"  numpy engine, CPU      {t_cpu:7.2f} s  {maps / t_cpu:9.0f} maps/s")
    print(f"  torch engine, CUDA     {t_gpu:7.2f} s  {maps / t_gpu:9.0f} maps/s  ({t_cpu / t_gpu:.1f}x)")
    print(f"  per-item values equal: {'yes' if equal else 'NO'}")
    for col, diff in unequal.items():
        print(f"    {col}: max |cpu - cuda| {diff:.3g}")
    for device in ("cpu", "cuda"):
        rate = adapter_items_per_s(device)
        print(f"  ezvsl adapter on {device}: {'not run' if rate is None else f'{rate:.1f} items/s'}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
