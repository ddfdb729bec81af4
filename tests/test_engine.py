"""The one-pass metric engine: order statistics by selection, every threshold from one histogram per map, equal
to per-threshold reference loops (ties, duplicate thresholds, float64/int maps, soft GT, noisy positives). The
torch engine is tested in test_engine_torch.py, so these run without torch too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from negaudio.eval import metrics as M
from negaudio.eval.engine import select, top_sum


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


@pytest.mark.parametrize("n", [1, 7, 16384, 16385, 50176, 120000])
@pytest.mark.parametrize("pattern", ["random", "few-values", "signed-integers", "sorted", "reversed", "constant"])
def test_select_equals_sorting(rng, n, pattern):
    v = rng.random(n, dtype=np.float32)
    if pattern == "signed-integers":  # sums are exact in any order: top_sum must equal the sorted sum exactly
        v = rng.integers(-300, 300, n).astype(np.float32)
    elif pattern == "few-values":
        v = np.round(v * 5).astype(np.float32)  # heavy ties
    elif pattern == "sorted":
        v = np.sort(v)
    elif pattern == "reversed":
        v = np.sort(v)[::-1].copy()
    elif pattern == "constant":
        v = np.full(n, 0.25, dtype=np.float32)
    ranks = [0, n // 2, n - 1, int(rng.integers(0, n))]
    assert select(v, ranks).tolist() == np.sort(v)[ranks].tolist()
    for k in {1, -(-n // 4), n}:  # the top value alone (no upper bracket bound), SLAVC's quarter, all values
        expected = math.fsum(np.sort(v)[n - k :].tolist())
        assert top_sum(v, k) == (expected if pattern == "signed-integers" else pytest.approx(expected, rel=1e-12))


def reference(pos, gt, others, thresholds, noisy=()):
    """Per item and threshold, the plain formulas of docs/metrics.md, one threshold at a time."""
    n = pos[0].size
    out = {"positive": {k: [] for k in ("theta", "iou", "pia", "max")}}
    out |= {t: {k: [] for k in ("theta", "iou", "pia", "posneg_iou", "max")} for t in others}

    def theta_of(thr, p, g):
        if thr.kind == "median":
            return float(np.sort(p.ravel())[n // 2])
        if thr.kind == "adaptive":
            return float(np.sort(p.ravel())[n - (int(np.count_nonzero(g)) or n // 2)])
        return thr.value

    def iou(b, g):
        g = g.astype(np.float64)
        denom = g.sum() + np.sum(b & (g == 0))
        return float(np.sum(b * g) / denom) if denom > 0 else 0.0

    for i in range(len(pos)):
        p, g = pos[i], gt[i]
        rows = {k: [] for k in out["positive"]}
        for thr in thresholds:
            th = theta_of(thr, p, g)
            b = p.astype(np.float64) > th
            rows["theta"].append(th)
            rows["iou"].append(iou(b, g))
            rows["pia"].append(b.sum() / n)
        for k in ("theta", "iou", "pia"):
            out["positive"][k].append(rows[k])
        out["positive"]["max"].append(float(p.max()))
        for t, maps in others.items():
            m, cols = maps[i], {k: [] for k in ("theta", "iou", "pia", "posneg_iou")}
            for thr in thresholds:
                th_pos = theta_of(thr, p, g)
                th = theta_of(thr, m, g) if t in noisy else th_pos
                b_pos, b = p.astype(np.float64) > th_pos, m.astype(np.float64) > th
                union = np.sum(b_pos | b)
                cols["theta"].append(th)
                cols["iou"].append(iou(b, g))
                cols["pia"].append(b.sum() / n)
                cols["posneg_iou"].append(float(np.sum(b_pos & b) / union) if union else 1.0)
            for k, v in cols.items():
                out[t][k].append(v)
            out[t]["max"].append(float(m.max()))
    return out


def assert_equal_to_reference(ev, ref, thresholds):
    got = ev.per_item()
    for name, cols in ref.items():
        for key, rows in cols.items():
            if key == "max":
                assert got[name]["max"].tolist() == rows, (name, key)
                continue
            for k, thr in enumerate(thresholds):
                expected = [r[k] for r in rows]
                assert got[name][f"{key}@{thr.label}"].tolist() == expected, (name, key, thr.label)


def hard_case(rng, b=3, size=160, dtype=np.float32):
    """Maps with many ties (values on a coarse grid) and thresholds that hit pixel values exactly."""
    pos = (np.round(rng.random((b, size, size)) * 40) / 40).astype(dtype)
    gt = np.zeros((b, size, size), dtype=bool)
    gt[:, 20:90, 30:120] = True
    gt[-1] = False  # an empty GT: adaptive uses N//2
    others = {"silence": (np.round(rng.random((b, size, size)) * 40) / 40).astype(dtype), "noise": pos * 0.9}
    return pos, gt, others


THRESHOLDS = [
    M.fixed(0.5),  # a pixel value exactly: strict > keeps it out
    M.median(),
    M.adaptive(),
    M.fixed(0.5 + 1e-12),  # rounds to the same float32 as 0.5: a tie between thresholds
    M.Threshold("max", 0.275, "test"),
    M.Threshold("maxq3", 0.5, "test"),  # a duplicate θ
    M.fixed(-1e40),  # beyond float32: every pixel
    M.fixed(1e40),  # beyond float32: none
]


def test_engine_equals_reference_with_ties_and_duplicate_thresholds(rng):
    pos, gt, others = hard_case(rng)
    ev = M.NegativeAudioEvaluator(THRESHOLDS, ("silence", "noise"))
    ev.update(pos, gt, others)
    assert_equal_to_reference(ev, reference(pos, gt, others, THRESHOLDS), THRESHOLDS)


@pytest.mark.parametrize("dtype", [np.float64, np.int16])
def test_engine_equals_reference_for_other_dtypes(rng, dtype):
    pos, gt, others = hard_case(rng, dtype=np.float64)
    if dtype == np.int16:
        pos, others = (pos * 40).astype(dtype), {k: (v * 40).astype(dtype) for k, v in others.items()}
    thresholds = [M.median(), M.adaptive(), M.fixed(12.0), M.fixed(0.5)]
    ev = M.NegativeAudioEvaluator(thresholds, ("silence", "noise"))
    ev.update(pos, gt, others)
    assert_equal_to_reference(ev, reference(pos, gt, others, thresholds), thresholds)


def test_engine_soft_gt_noisy_positive_and_missing_items(rng):
    pos, gt, others = hard_case(rng, b=4)
    soft = gt * np.float32(0.5)
    soft[0, 20:40, 30:60] = 1.0  # Flickr consensus {0, 0.5, 1}
    roles = {"silence": M.NEGATIVE, "noise": M.NOISY_POSITIVE}
    ev = M.NegativeAudioEvaluator(THRESHOLDS[:6], roles)
    ev.update(pos, soft, {"silence": others["silence"][[1, 3]], "noise": others["noise"]}, present={"silence": [1, 3]})
    ref = reference(pos, soft, others, THRESHOLDS[:6], noisy=("noise",))
    ref["silence"] = {k: [v[1], v[3]] for k, v in ref["silence"].items()}
    got = ev.per_item()
    for name, cols in ref.items():
        for key, rows in cols.items():
            expected = np.asarray(rows)
            actual = (
                got[name]["max"]
                if key == "max"
                else np.stack([got[name][f"{key}@{t.label}"] for t in ev.thresholds], 1)
            )
            np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12, err_msg=f"{name} {key}")


def test_many_thresholds_take_the_searchsorted_path(rng):
    pos, gt, others = hard_case(rng, b=2, size=48)
    thresholds = [M.fixed(round(0.025 * k, 3)) for k in range(40)] + [M.median(), M.adaptive()]
    ev = M.NegativeAudioEvaluator(thresholds, ("silence", "noise"))
    ev.update(pos, gt, others)
    assert_equal_to_reference(ev, reference(pos, gt, others, thresholds), thresholds)


def test_buckets_skip_levels_outside_the_values_range_exactly():
    """With the values' min and max known, levels below all values or at/above all of them cost no pass: the
    buckets are the same, levels equal to the min or the max included."""
    from negaudio.eval.engine import buckets

    rng = np.random.default_rng(3)
    values = rng.random(5000, dtype=np.float32)
    lo, hi = values.min(), values.max()
    for ordered in (
        np.sort(np.array([lo, hi, 0.5, -1.0, 2.0, np.nextafter(lo, np.float32(-1)), np.nextafter(hi, np.float32(2))])),
        np.array([-3.0, -2.0], dtype=np.float32),
        np.array([hi, 5.0], dtype=np.float32),
        np.array([], dtype=np.float32),
    ):
        ordered = ordered.astype(np.float32)
        assert np.array_equal(buckets(values, ordered, lo, hi), buckets(values, ordered))
