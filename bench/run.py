"""``make bench``: every benchmark in one run, each figure printed with its target and verdict.

Build (throughput against the I/O floor, the jobs=2 and Dask 2-worker speed-ups, peak RSS of a 50,000-item
build), metric engine against the reference loop, the whole ``negaudio eval`` command against the floor of
loading the predictions once (and its peak RSS on 20,000 maps), composites against the Pillow floor, and the
model adapter's items/s. Exits 1 when any target is missed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    from bench import bench_adapters, bench_build, bench_composite, bench_eval, bench_metrics

    start = time.perf_counter()
    missed = []
    if bench_build.main([]):
        missed.append("build")
    print()
    if not bench_metrics.main([])["ok"]:
        missed.append("metric engine")
    print()
    if not bench_eval.main([])["ok"]:
        missed.append("negaudio eval")
    print()
    composite = bench_composite.main([])
    if composite["ratio_to_floor"] > composite["target_ratio"]:
        missed.append("composites")
    print()
    bench_adapters.main()  # prints its figures, or that it is skipped without torch
    print()
    verdict = "all targets met" if not missed else "missed: " + ", ".join(missed)
    print(f"make bench: {time.perf_counter() - start:.0f} s; {verdict}")
    print("note: timings from a shared machine are noisy; the ratios are measured side by side in each run")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
