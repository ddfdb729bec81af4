"""Metric engine on a GPU: 20,000 maps (5,000 samples × 4) scored by the numpy engine on the CPU and by the torch
engine on CUDA, from maps already on the device; values must be equal. Also a model adapter's items/s on each
device, through ``adapter_items_per_s`` (``bench_adapters``), and the harness: ``negaudio eval --model`` with a
torch adapter of random 224×224 maps on ``bench_eval``'s build (``--harness-samples``), its maps scored on CUDA
where they were made, against the same run on the CPU (maps written, read back and scored by the numpy engine);
the reports must agree to float rounding.

Not part of ``make bench`` (it needs a CUDA device). Run on a GPU machine:
``python bench/bench_gpu.py [--samples 5000] [--batch 250] [--harness-samples 5000] [--harness-only]``; exits 0
when the values agree, 1 when they do not, 2 when no CUDA device is visible.
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


class RandomMaps:
    """A torch adapter of random 224×224 maps, the same on every device (drawn on the CPU from the batch's first
    item id), moved to the run's device: the model costs next to nothing, the harness is what is timed."""

    uses_torch = True

    def setup(self, build, device: str) -> None:
        import torch

        self.device = torch.device(device)

    def __call__(self, images, waves, records):
        import torch

        seed = int.from_bytes(records[0].item_id.encode()[-8:], "little")
        maps = torch.rand((len(records), 224, 224), generator=torch.Generator().manual_seed(seed))
        return maps.to(self.device)


def largest_difference(a, b) -> float:
    """The largest relative difference between two reports' numbers (inf where their structure differs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((largest_difference(a[k], b[k]) for k in a if k != "path"), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((largest_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, float) and isinstance(b, float):
        if a == b or (a != a and b != b):
            return 0.0
        return abs(a - b) / max(abs(a), abs(b))
    return 0.0 if a == b else float("inf")


def harness(samples: int) -> bool:
    """``negaudio eval --model`` on CUDA (maps scored there) against the CPU; True when the reports agree."""
    import os
    import shutil
    import tempfile

    from bench.bench_eval import make_build
    from negaudio.eval.run import evaluate

    tmp = Path(tempfile.mkdtemp(prefix="negaudio-bench-gpu-"))
    try:
        build_dir = make_build(tmp, samples)
        spec = "bench.bench_gpu:RandomMaps"
        runs = {
            "cpu, --jobs 1": ("cpu", 1),
            f"cpu, --jobs {os.cpu_count()}": ("cpu", os.cpu_count()),
            "cuda": ("cuda", 1),
        }
        reports, times, scoring = {}, {}, {}
        for name, (device, jobs) in runs.items():
            marks: dict[str, float] = {}

            def progress(what: str, done: int, total: int, marks=marks) -> None:
                if what == "running model":  # its last call: the model's end
                    marks["model"] = time.perf_counter()

            t0 = time.perf_counter()
            out = tmp / name.replace(" ", "").replace(",", "-")
            reports[name] = evaluate(build_dir, out, model=spec, device=device, jobs=jobs, progress=progress)
            times[name] = time.perf_counter() - t0
            scoring[name] = times[name] - (marks["model"] - t0)
        maps = reports["cuda"]["counts"]["items"]
        print(f"  harness: negaudio eval --model (random torch maps) on {samples} samples, {maps} maps of 224x224")
        for name, seconds in times.items():
            scored = reports[name]["model"]["scored_on"]
            print(
                f"    model on {name:<16} scored on {scored:<5} whole run {seconds:6.2f} s; from the model's end "
                f"(scoring, report, plots) {scoring[name]:6.2f} s  {maps / scoring[name]:7.0f} maps/s"
            )
        worst = max(largest_difference(reports[n]["metrics"], reports["cuda"]["metrics"]) for n in runs)
        worst = max(worst, largest_difference(reports["cpu, --jobs 1"]["headline"], reports["cuda"]["headline"]))
        print(f"    reports agree (metrics and headline): largest relative difference {worst:.2g}")
        return worst < 1e-9
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--harness-samples", type=int, default=5000, help="samples of the harness build (0: skip)")
    ap.add_argument("--harness-only", action="store_true", help="time the harness alone")
    args = ap.parse_args([] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("bench_gpu: torch is not installed")
        return 2
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible to torch; not run")
        return 2
    if args.harness_only:
        return 0 if harness(args.harness_samples) else 1
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
    if args.harness_samples:
        equal &= harness(args.harness_samples)
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
