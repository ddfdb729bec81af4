"""``make bench``: the build benchmark, then the metrics benchmark when it exists."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    from bench import bench_build

    status = bench_build.main([]) or 0
    try:
        from bench import bench_metrics
    except ImportError as exc:
        print(f"\nbench_metrics: skipped (cannot import bench.bench_metrics: {exc})")
        return status
    print()
    result = bench_metrics.main()  # returns its figures (a dict) or an exit status
    return status or (result if isinstance(result, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
