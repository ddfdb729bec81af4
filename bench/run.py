"""``make bench``: the build benchmark, the metrics benchmark and the model-adapter throughput, in one run."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    from bench import bench_adapters, bench_build, bench_composite, bench_metrics

    status = bench_build.main([]) or 0
    print()
    result = bench_metrics.main()  # returns its figures (a dict)
    status = status or (result if isinstance(result, int) else 0)
    print()
    composite = bench_composite.main([])
    status = status or (0 if composite["ratio_to_floor"] <= composite["target_ratio"] else 1)
    print()
    bench_adapters.main()  # prints its figures, or that it is skipped without torch
    return status


if __name__ == "__main__":
    sys.exit(main())
