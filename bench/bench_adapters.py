"""Throughput of the EZ-VSL ResNet-18 adapter on the CPU (randomly initialised weights, no download).

Batches of 16 items: 224x224 images and 3 s of 16 kHz audio, through the adapter's whole call (ImageNet
normalisation, the log-spectrogram front-end, both ResNet-18 encoders, the 7x7 cosine map), after one warm-up
batch; the front-end alone is timed too. Run: ``python bench/bench_adapters.py [--batch 16] [--batches 5]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> dict[str, float] | int:
    """Print items/s of the adapter and of its audio front-end; returns the figures (1 without torch)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=5, help="timed batches after one warm-up batch")
    ap.add_argument("--dim", type=int, default=512, help="projection width (EZ-VSL uses 512)")
    args = ap.parse_args([] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("bench_adapters: skipped (torch is not installed)")
        return 1
    from negaudio.eval.ezvsl import EzVsl, log_spectrogram
    from negaudio.eval.resnet import DualEncoder

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "random.pth"
        torch.save({"model": DualEncoder(args.dim).state_dict()}, checkpoint)
        adapter = EzVsl(checkpoint)
    adapter.setup(None, "cpu")
    rng = np.random.default_rng(0)
    images = rng.random((args.batch, 3, 224, 224), dtype=np.float32)
    waves = (0.1 * rng.standard_normal((args.batch, 1, 3 * 16000))).astype(np.float32)

    adapter(images, waves, None)  # warm-up
    start = time.perf_counter()
    for _ in range(args.batches):
        adapter(images, waves, None)
    model_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.batches):
        log_spectrogram(waves)
    frontend_s = time.perf_counter() - start

    items = args.batch * args.batches
    figures = {"adapter_items_per_s": items / model_s, "frontend_items_per_s": items / frontend_s}
    print(
        f"EZ-VSL ResNet-18 adapter on cpu ({torch.get_num_threads()} torch threads, batch {args.batch}, 224x224, "
        f"3 s at 16 kHz, dim {args.dim}):"
    )
    print(f"  whole adapter call  {figures['adapter_items_per_s']:8.1f} items/s ({model_s / args.batches:.2f} s/batch)")
    print(f"  audio front-end     {figures['frontend_items_per_s']:8.1f} items/s")
    print("  GPU: not timed here (CPU only); on a CUDA machine: negaudio eval BUILD --model ezvsl --device cuda")
    return figures


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.exit(result if isinstance(result, int) else 0)
