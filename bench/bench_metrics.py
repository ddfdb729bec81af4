"""Benchmark the vectorised metric core against per-sample loops on synthetic negative-audio batches.

5,000 samples × (1 positive + 3 negatives) of 224×224 float32 maps are generated batch by batch
(seeded; smooth maps: random 7×7 grids upsampled bilinearly, like VSSL models), then the full metric
set (θ, IoU and pIA of every item at the median, fixed and a calibrated maxq3 θ; success, AUC; pIA,
AUC-N, pIA success, pos–neg IoU and IoU with the GT per negative type; F-scores; max statistics and
separability) is computed three ways in one run:

1. vectorised: ``NegativeAudioEvaluator`` (the engine of ``negaudio eval``) streaming the batches
   (``update``; only per-item values are kept), then ``compute``;
2. numpy per-sample loop in the style of the published evaluators (one image at a time), all samples;
3. plain Python per-pixel loop on a subset (too slow for 5,000 samples), extrapolated per sample.

Values must agree within 1e-9. Run: ``python bench/bench_metrics.py [--samples 5000] [--python-subset 100]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from negaudio.eval import metrics as M

SIZE, GRID = 224, 7
TYPES = ("silence", "noise", "offscreen")
ATOL = 1e-9


# ------------------------------------------------------------------ synthetic data


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


# ------------------------------------------------------------------ loop references


def _labels(thresholds):
    return [t.label for t in thresholds]


def numpy_loop_sample(pos, gt, negs, thresholds) -> dict[str, float]:
    """One sample, numpy per image, as the published evaluators do it (keys: ``type/column``)."""
    out = {"positive/max": float(pos.max())}
    for t in TYPES:
        out[f"{t}/max"] = float(negs[t].max())
    g = gt.astype(np.float64)

    def iou(b):
        denom = np.sum(g) + np.sum(b * (g == 0))
        return float(np.sum(b * g) / denom) if denom > 0 else 0.0

    for thr, label in zip(thresholds, _labels(thresholds), strict=True):
        theta = np.float64(np.sort(pos.flatten())[int(pos.size * 0.5)] if thr.kind == "median" else thr.value)
        b = pos > theta
        at = f"@{label}"
        out |= {f"positive/theta{at}": float(theta), f"positive/iou{at}": iou(b), f"positive/pia{at}": b.mean()}
        for t in TYPES:
            bn = negs[t] > theta
            union = np.sum(b | bn)
            out[f"{t}/theta{at}"] = float(theta)
            out[f"{t}/iou{at}"] = iou(bn)
            out[f"{t}/pia{at}"] = float(np.sum(bn) / bn.size)
            out[f"{t}/posneg_iou{at}"] = float(np.sum(b & bn) / union) if union > 0 else 1.0
    return out


def python_loop_sample(pos, gt, negs, thresholds) -> dict[str, float]:
    """One sample, plain Python over pixels."""
    p = [v for row in pos.tolist() for v in row]
    g = [1.0 if v else 0.0 for row in gt.tolist() for v in row]
    nv = {t: [v for row in negs[t].tolist() for v in row] for t in TYPES}
    out = {"positive/max": max(p)}
    for t in TYPES:
        out[f"{t}/max"] = max(nv[t])

    def iou(b):
        inter = denom = 0.0
        for bi, gi in zip(b, g, strict=True):
            inter += bi * gi
            denom += gi + (bi if gi == 0 else 0)
        return inter / denom if denom > 0 else 0.0

    for thr, label in zip(thresholds, _labels(thresholds), strict=True):
        theta = sorted(p)[int(len(p) * 0.5)] if thr.kind == "median" else thr.value
        b = [1 if v > theta else 0 for v in p]
        at = f"@{label}"
        out |= {f"positive/theta{at}": theta, f"positive/iou{at}": iou(b), f"positive/pia{at}": sum(b) / len(b)}
        for t in TYPES:
            bn = [1 if v > theta else 0 for v in nv[t]]
            out[f"{t}/theta{at}"] = theta
            out[f"{t}/iou{at}"] = iou(bn)
            out[f"{t}/pia{at}"] = sum(bn) / len(bn)
            both = either = 0
            for x, y in zip(b, bn, strict=True):
                both += x and y
                either += x or y
            out[f"{t}/posneg_iou{at}"] = both / either if either else 1.0
    return out


def _trapz(ys, xs):
    return sum((xs[k + 1] - xs[k]) * (ys[k] + ys[k + 1]) / 2 for k in range(len(xs) - 1))


def _percentile(values, q):
    s = sorted(values)
    pos = q / 100 * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _separability(pos, neg):
    neg = sorted(neg)
    score, below, upto = 0.0, 0, 0
    for x in sorted(pos):
        while below < len(neg) and neg[below] < x:
            below += 1
        upto = max(upto, below)
        while upto < len(neg) and neg[upto] == x:
            upto += 1
        score += below + 0.5 * (upto - below)
    return score / (len(pos) * len(neg))


def _f(x, y):
    return 2 * x * y / (x + y) if x + y else 0.0


def loop_summary(values: dict[str, list[float]], thresholds) -> dict[str, float]:
    """Aggregate per-sample loop values with plain Python (the keys of ``flatten(evaluator.compute())``)."""
    xs = [0.05 * k for k in range(21)]
    out = {}
    for label in _labels(thresholds):
        at = f"@{label}"
        ious = values[f"positive/iou{at}"]
        pos = f"positive/{label}"
        out[f"{pos}/success"] = sum(v >= 0.5 for v in ious) / len(ious)
        out[f"{pos}/miou"] = sum(ious) / len(ious)
        out[f"{pos}/auc"] = _trapz([sum(v >= x for v in ious) / len(ious) for x in xs], xs)
        for t in TYPES:
            neg = f"negatives/{t}/{label}"
            pias = values[f"{t}/pia{at}"]
            out[f"{neg}/pia"] = sum(pias) / len(pias)
            out[f"{neg}/auc_n"] = _trapz([sum(v <= x for v in pias) / len(pias) for x in xs], xs)
            out[f"{neg}/pia_success"] = sum(v < 0.5 for v in pias) / len(pias)
            pair = values[f"{t}/posneg_iou{at}"]
            pos_pia, neg_pia = values[f"positive/pia{at}"], values[f"{t}/pia{at}"]
            kept = [s for s, p in zip(pair, pos_pia, strict=True) if p > 0]
            out[f"{neg}/posneg_iou"] = sum(kept) / len(kept) if kept else None
            out[f"{neg}/posneg_pairs"] = len(kept)
            out[f"{neg}/posneg_excluded"] = len(pair) - len(kept)
            empty = [p == 0 and q == 0 for p, q in zip(pos_pia, neg_pia, strict=True)]
            out[f"{neg}/both_empty"] = sum(empty) / len(empty)
            out[f"{neg}/posneg_iou_reference"] = sum(pair) / len(pair)
            gt_ious = values[f"{t}/iou{at}"]
            out[f"{neg}/gt_iou"] = sum(gt_ious) / len(gt_ious)
            out[f"{neg}/gt_success"] = sum(v >= 0.5 for v in gt_ious) / len(gt_ious)
        miou, auc = 100 * out[f"{pos}/miou"], 100 * out[f"{pos}/auc"]
        spec = {t: 100 - 100 * out[f"negatives/{t}/{label}/pia"] for t in TYPES}
        aoc = {t: 100 * out[f"negatives/{t}/{label}/auc_n"] for t in TYPES}
        f = f"f_scores/{label}"
        out[f"{f}/F_Pos_Neg"] = _f(miou, sum(spec.values()) / len(TYPES))
        for t in TYPES:
            out[f"{f}/F_Pos_{t}"] = _f(miou, spec[t])
        out[f"{f}/F_AUC_AOC_Pos_Neg"] = _f(auc, sum(aoc.values()) / len(TYPES))
        for t in TYPES:
            out[f"{f}/F_AUC_AOC_{t}"] = _f(auc, aoc[t])
    for t in ("positive", *TYPES):
        m = values[f"{t}/max"]
        out |= {
            f"maxima/{t}/mean": sum(m) / len(m),
            f"maxima/{t}/median": _percentile(m, 50),
            f"maxima/{t}/q1": _percentile(m, 25),
            f"maxima/{t}/q3": _percentile(m, 75),
            f"maxima/{t}/min": min(m),
            f"maxima/{t}/max": max(m),
        }
    for t in TYPES:
        out[f"separability/{t}"] = _separability(values["positive/max"], values[f"{t}/max"])
    pooled = [x for t in TYPES for x in values[f"{t}/max"]]
    out["separability/all"] = _separability(values["positive/max"], pooled)
    return out


# ------------------------------------------------------------------ run


def flatten(nested: dict, prefix: str = "") -> dict[str, float]:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}`` (empty sections vanish)."""
    out = {}
    for k, v in nested.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}/")
        else:
            out[f"{prefix}{k}"] = v
    return out


def _max_abs_diff(a: dict, b: dict) -> float:
    if a.keys() != b.keys():
        raise AssertionError(f"key sets differ: {sorted(set(a) ^ set(b))}")
    return max(float(np.max(np.abs(np.asarray(a[k], float) - np.asarray(b[k], float)))) for k in a)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the figures, assert agreement within 1e-9; returns the timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--python-subset", type=int, default=100, help="samples timed with the pure-Python loop")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args([] if argv is None else argv)  # main() from a runner: defaults, not its argv

    # universal threshold calibrated on a separate, named split: maxima of 500 other samples, streamed
    maxima: dict[str, list[np.ndarray]] = {t: [] for t in ("pos", *TYPES)}
    for start in range(0, 500, args.batch):
        pos, _, negs = make_batch(args.seed + 1, start, args.batch)
        for t, maps in (("pos", pos), *negs.items()):
            maxima[t].append(M.map_maxima(maps))
    cal = {t: np.concatenate(v) for t, v in maxima.items()}
    universal = M.calibrate_universal({t: cal[t] for t in TYPES}, split="bench-calibration", positives=cal["pos"])
    thresholds = [M.median(), M.fixed(0.5), universal.threshold("maxq3")]
    for t in thresholds:
        print(f"threshold {t.label}: value={t.value}, source: {t.source}")

    evaluator = M.NegativeAudioEvaluator(thresholds, TYPES)
    np_values: dict[str, list[float]] = {}
    py_values: dict[str, list[float]] = {}
    t_vec = t_np = t_py = t_gen = 0.0
    for start in range(0, args.samples, args.batch):
        n = min(args.batch, args.samples - start)
        t0 = time.perf_counter()
        pos, gt, negs = make_batch(args.seed, start, n)
        t1 = time.perf_counter()
        evaluator.update(pos, gt, negs)
        t2 = time.perf_counter()
        for i in range(n):
            for k, v in numpy_loop_sample(pos[i], gt[i], {t: negs[t][i] for t in TYPES}, thresholds).items():
                np_values.setdefault(k, []).append(v)
        t3 = time.perf_counter()
        for i in range(max(0, min(n, args.python_subset - start))):
            for k, v in python_loop_sample(pos[i], gt[i], {t: negs[t][i] for t in TYPES}, thresholds).items():
                py_values.setdefault(k, []).append(v)
        t4 = time.perf_counter()
        t_gen, t_vec, t_np, t_py = t_gen + t1 - t0, t_vec + t2 - t1, t_np + t3 - t2, t_py + t4 - t3

    t0 = time.perf_counter()
    vec_summary = flatten(evaluator.compute())
    t_vec_agg = time.perf_counter() - t0
    t0 = time.perf_counter()
    np_summary = loop_summary(np_values, thresholds)
    t_loop_agg = time.perf_counter() - t0

    per_sample = {f"{t}/{k}": v for t, cols in evaluator.per_item().items() for k, v in cols.items() if k != "sample"}
    n_py = len(py_values["positive/max"])
    diff_np = _max_abs_diff(per_sample, np_values)
    diff_py = _max_abs_diff({k: v[:n_py] for k, v in per_sample.items()}, py_values)
    diff_summary = _max_abs_diff(vec_summary, np_summary)

    vec_total, np_total = t_vec + t_vec_agg, t_np + t_loop_agg
    py_per_sample = t_py / n_py
    py_extrapolated = py_per_sample * args.samples + t_loop_agg
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    maps = args.samples * (1 + len(TYPES))
    print(f"samples: {args.samples} x (1 positive + {len(TYPES)} negatives) = {maps} maps of {SIZE}x{SIZE} float32")
    print(f"thresholds: {len(thresholds)}, batch size {args.batch}; data generation (untimed) {t_gen:.1f} s")
    print(f"vectorised (streaming):      {vec_total:8.2f} s  ({1e3 * vec_total / args.samples:.3f} ms/sample)")
    print(f"numpy per-sample loop:       {np_total:8.2f} s  ({1e3 * np_total / args.samples:.3f} ms/sample)")
    print(f"  speed-up vs numpy loop:    {np_total / vec_total:8.1f}x")
    print(
        f"pure-Python per-pixel loop:  measured on the first {n_py} samples only: {t_py:.2f} s "
        f"({1e3 * py_per_sample:.1f} ms/sample)"
    )
    print(f"  extrapolated to {args.samples} samples: {py_extrapolated:8.1f} s (per-sample time x {args.samples})")
    print(f"  speed-up vs pure-Python loop (extrapolated): {py_extrapolated / vec_total:8.1f}x")
    for name, ratio in (
        ("numpy per-sample loop", np_total / vec_total),
        ("pure-Python loop", py_extrapolated / vec_total),
    ):
        print(f"  target >= 20x vs {name}: {'met' if ratio >= 20 else 'NOT met'} ({ratio:.1f}x)")
    print(
        f"max |difference|: per-sample vs numpy loop {diff_np:.2e}, per-sample vs Python loop "
        f"(first {n_py}) {diff_py:.2e}, {len(vec_summary)} summary metrics {diff_summary:.2e}"
    )
    print(f"peak RSS: {rss_mib:.0f} MiB")
    for k in (
        "positive/median/miou",
        "positive/median/success",
        "positive/median/auc",
        "negatives/noise/fixed=0.5/pia",
        "f_scores/maxq3/F_Pos_Neg",
    ):
        print(f"  {k} = {vec_summary[k]:.6f}")
    assert max(diff_np, diff_py, diff_summary) <= ATOL, "vectorised and loop values differ by more than 1e-9"
    return {
        "vectorised_s": vec_total,
        "numpy_loop_s": np_total,
        "python_loop_extrapolated_s": py_extrapolated,
        "speedup_numpy_loop": np_total / vec_total,
        "speedup_python_loop": py_extrapolated / vec_total,
        "peak_rss_mib": rss_mib,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
