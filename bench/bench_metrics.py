"""Metric computation: the one-pass engine of ``negaudio eval`` against the published reference loop.

Samples of 1 positive + 3 negative 224×224 float32 maps (seeded; smooth maps: random 7×7 grids upsampled
bilinearly, like VSSL models) and boolean GT boxes are scored at the seven default thresholds of ``negaudio
eval`` (0.5, median, adaptive, max, max10, maxq3, maxq3_separate; the universal ones calibrated on another
split) two ways, side by side, batch by batch:

1. engine: ``NegativeAudioEvaluator.update`` (one histogram per map for every threshold, per-image thresholds by
   selection), then ``compute``;
2. reference: the loop the published evaluators run, from the formulas of docs/metrics.md: per map and
   threshold, θ from a sorted copy of the positive map (median, adaptive), a float mask ``B[P > θ] = 1``,
   IoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])), pIA = ΣB / N, pos–neg IoU = Σ(B·B̃) / Σ[B + B̃ > 0].

Every per-item value (θ, IoU, pIA, pos–neg IoU, max) must be equal. Target: engine >= 10x the reference.
Run: ``python bench/bench_metrics.py [--samples 2000]``.
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

from negaudio.eval import metrics as M  # noqa: E402

SIZE, GRID = 224, 7
TYPES = ("silence", "noise", "offscreen")
TARGET_SPEEDUP = 10.0


def _upsampler(n_in: int, n_out: int) -> np.ndarray:
    """Bilinear interpolation matrix [n_out, n_in] with align_corners=True."""
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    u = np.zeros((n_out, n_in))
    u[np.arange(n_out), lo] = 1 - frac
    u[np.arange(n_out), lo + 1] = frac
    return u


UP = _upsampler(GRID, SIZE)


def _smooth_maps(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    grids = rng.uniform(low, high, (n, GRID, GRID))
    return (UP @ grids @ UP.T).astype(np.float32)


def make_batch(seed: int, start: int, n: int):
    """Positive maps, boolean GT boxes and one map batch per negative type; deterministic in (seed, start)."""
    rng = np.random.default_rng([seed, start])
    pos = _smooth_maps(rng, n, 0.2, 0.9)
    gt = np.zeros((n, SIZE, SIZE), dtype=bool)
    y0, x0 = rng.integers(0, SIZE - 32, n), rng.integers(0, SIZE - 32, n)
    h, w = rng.integers(16, 160, n), rng.integers(16, 160, n)
    for i in range(n):
        gt[i, y0[i] : y0[i] + h[i], x0[i] : x0[i] + w[i]] = True
    gt[rng.random(n) < 0.01] = False  # a few empty GTs (VGG-SS sentinel boxes)
    pos += np.float32(0.3) * gt  # the positive map responds on the object
    negs = {
        "silence": _smooth_maps(rng, n, 0.3, 0.6),
        "noise": _smooth_maps(rng, n, 0.25, 0.75),
        "offscreen": _smooth_maps(rng, n, 0.2, 0.85),
    }
    return pos, gt, negs


def thresholds(seed: int) -> list[M.Threshold]:
    """The default thresholds of ``negaudio eval``, universal ones calibrated on 500 other samples."""
    pos, _, negs = make_batch(seed + 1, 0, 500)
    universal = M.calibrate_universal(
        {t: M.map_maxima(m) for t, m in negs.items()}, "bench-calibration", M.map_maxima(pos)
    )
    kinds = ("max", "max10", "maxq3", "maxq3_separate")
    return [M.fixed(0.5), M.median(), M.adaptive(), *(universal.threshold(k) for k in kinds)]


def reference_sample(pos, gt, negs, thresholds) -> dict[str, float]:
    """One sample as the published evaluators score it (keys ``type/column@label``)."""
    n = pos.size
    g = gt.astype(np.float64)
    out = {"positive/max": float(pos.max())} | {f"{t}/max": float(negs[t].max()) for t in TYPES}

    def mask(p, theta):
        b = np.zeros(p.shape)
        b[p > theta] = 1
        return b

    def iou(b):
        denom = np.sum(g) + np.sum(b * (g == 0))
        return float(np.sum(b * g) / denom) if denom > 0 else 0.0

    for thr in thresholds:
        if thr.kind == "median":
            theta = np.sort(pos.flatten())[int(n * 0.5)]
        elif thr.kind == "adaptive":
            theta = np.sort(pos.flatten())[n - (int(np.sum(g > 0)) or n // 2)]
        else:
            theta = np.float64(thr.value)
        at = f"@{thr.label}"
        b = mask(pos, theta)
        out |= {f"positive/theta{at}": float(theta), f"positive/iou{at}": iou(b), f"positive/pia{at}": b.sum() / n}
        for t in TYPES:
            bn = mask(negs[t], theta)
            union = np.sum((b + bn) > 0)
            out[f"{t}/theta{at}"] = float(theta)
            out[f"{t}/iou{at}"] = iou(bn)
            out[f"{t}/pia{at}"] = float(np.sum(bn) / n)
            out[f"{t}/posneg_iou{at}"] = float(np.sum(b * bn) / union) if union > 0 else 1.0
    return out


def main(argv: list[str] | None = None) -> dict:
    """Run side by side; print the figures with the target; returns them (``ok``: target met, values equal)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args([] if argv is None else argv)

    thr = thresholds(args.seed)
    evaluator = M.NegativeAudioEvaluator(thr, TYPES)
    reference: dict[str, list[float]] = {}
    t_engine = t_ref = 0.0
    for start in range(0, args.samples, args.batch):
        n = min(args.batch, args.samples - start)
        pos, gt, negs = make_batch(args.seed, start, n)
        t0 = time.perf_counter()
        evaluator.update(pos, gt, negs)
        t1 = time.perf_counter()
        for i in range(n):
            for k, v in reference_sample(pos[i], gt[i], {t: negs[t][i] for t in TYPES}, thr).items():
                reference.setdefault(k, []).append(v)
        t_engine, t_ref = t_engine + t1 - t0, t_ref + time.perf_counter() - t1
    t0 = time.perf_counter()
    summary = evaluator.compute()
    t_engine += time.perf_counter() - t0

    engine = {f"{t}/{k}": v for t, cols in evaluator.per_item().items() for k, v in cols.items() if k != "sample"}
    differing = sorted(k for k in reference if not np.array_equal(engine[k], np.asarray(reference[k])))
    maps = args.samples * (1 + len(TYPES))
    speedup = t_ref / t_engine
    ok = speedup >= TARGET_SPEEDUP and not differing and engine.keys() == reference.keys()
    print(f"bench_metrics: {args.samples} samples x {1 + len(TYPES)} maps = {maps} maps of {SIZE}x{SIZE} float32")
    print(f"  thresholds: {', '.join(t.label for t in thr)}")
    print(f"  engine (update + compute)   {t_engine:7.2f} s  {1e3 * t_engine / maps:.3f} ms/map")
    print(f"  reference loop              {t_ref:7.2f} s  {1e3 * t_ref / maps:.3f} ms/map")
    print(
        f"  speed-up {speedup:.3f}x  target >= {TARGET_SPEEDUP:.0f}x  {'PASS' if speedup >= TARGET_SPEEDUP else 'FAIL'}"
    )
    print(
        f"  per-item values equal to the reference: {'all' if not differing else 'NO: ' + ', '.join(differing[:5])} "
        f"({len(reference)} columns x {args.samples} samples)"
    )
    print(f"  e.g. positive median mIoU {summary['positive']['median']['miou']:.6f}")
    return {"engine_s": t_engine, "reference_s": t_ref, "speedup": speedup, "ok": ok}


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:])["ok"] else 1)
