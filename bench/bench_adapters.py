"""Throughput of the zoo models (randomly initialised weights in the authors' layouts, no download), per device.

For each model and each device (cpu, and cuda when torch sees a GPU):
- ``call``: the adapter's whole call on a synthetic batch (ImageNet normalisation, the model's audio features,
  the network, the map), after one warm-up batch: items/s;
- ``eval``: ``run_model`` over the demo build (120 items: image and audio reading, resampling, windows, the
  call, writing the maps; the next batch is read while the model runs), as ``negaudio eval --model`` runs it
  before scoring: items/s.
Run: ``python bench/bench_adapters.py [--models ezvsl,lvs] [--devices cpu,cuda] [--batch 16] [--batches 5]
[--demo BUILD | --no-demo]``.
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


def random_checkpoint(model: str, folder: Path) -> Path:
    """A random-weight checkpoint of ``model`` in its authors' wrapper ({'model': module.*} and the like)."""
    import torch

    from negaudio.eval.models.adapter import build_net
    from negaudio.eval.models.registry import ZOO

    torch.manual_seed(0)
    state = build_net(ZOO[model], {}).state_dict()
    wrapper = {"ezvsl": "model", "slavc": "model", "fnac": "model", "ssl-tie": "state_dict"}.get(
        model, "model_state_dict"
    )
    path = folder / f"{model}.pth"
    torch.save({wrapper: {f"module.{k}": v for k, v in state.items()}}, path)
    return path


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_call(adapter, device: str, batch: int, batches: int) -> float:
    """Items/s of the adapter call on a synthetic batch (5 s clips through the model's window)."""
    rng = np.random.default_rng(0)
    images = rng.random((batch, 3, 224, 224), dtype=np.float32)
    waves = np.stack([adapter.fit_wave(0.1 * rng.standard_normal((1, 5 * 16000))) for _ in range(batch)])
    adapter(images, waves, None)  # warm-up (cuDNN autotuning, allocations)
    sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        adapter(images, waves, None)
    sync(device)
    return batch * batches / (time.perf_counter() - start)


def time_eval(adapter, model: str, device: str, build_dir: Path, batch: int, folder: Path) -> float:
    """Items/s of ``run_model`` over a whole build (reading, features, network, writing the maps)."""
    from negaudio.eval.adapters import run_model
    from negaudio.manifest import Build

    build = Build(build_dir)
    start = time.perf_counter()
    run_model(build, adapter, model, folder / f"{model}-{device}.npz", batch, device)
    sync(device)
    return len(build) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, float] | int:
    """Print items/s per model and device; returns the figures (1 without torch)."""
    from negaudio.eval.models.registry import ZOO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO), help="comma-separated zoo models")
    ap.add_argument("--devices", default="", help="comma-separated: cpu, cuda (default: cpu, and cuda if present)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=5, help="timed synthetic batches after one warm-up batch")
    ap.add_argument("--demo", type=Path, default=None, help="an existing demo build (default: build one)")
    ap.add_argument("--no-demo", action="store_true", help="time the synthetic call only")
    args = ap.parse_args([] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("bench_adapters: skipped (torch is not installed)")
        return 1
    import negaudio
    from negaudio.eval.adapters import load_adapter

    models = [m for m in args.models.split(",") if m]
    devices = [d for d in args.devices.split(",") if d] or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo = args.demo
        if demo is None and not args.no_demo:
            demo = tmp / "demo"
            negaudio.build("is3plus", demo)
        print(
            f"zoo adapters, batch {args.batch}, random weights ({torch.get_num_threads()} torch threads"
            f"{', ' + torch.cuda.get_device_name() if 'cuda' in devices else ''}); items/s:"
        )
        print(f"  {'model':<10} {'device':<6} {'call':>8} {'eval (demo)':>12}")
        for model in models:
            checkpoint = random_checkpoint(model, tmp)
            for device in devices:
                adapter = load_adapter(model, {"checkpoint": str(checkpoint)})
                adapter.setup(None, device)
                call = figures[f"{model}_{device}_call"] = time_call(adapter, device, args.batch, args.batches)
                line = f"  {model:<10} {device:<6} {call:8.1f}"
                if demo is not None:
                    rate = figures[f"{model}_{device}_eval"] = time_eval(adapter, model, device, demo, args.batch, tmp)
                    line += f" {rate:12.1f}"
                print(line, flush=True)
    if "cuda" not in devices and not torch.cuda.is_available():
        print("  cuda: not timed (torch sees no GPU); on a GPU machine the same command adds the cuda rows")
    return figures


if __name__ == "__main__":
    result = main(sys.argv[1:])
    sys.exit(result if isinstance(result, int) else 0)
