"""negaudio.eval.metrics against plain per-sample Python loops written independently here."""

import json
import math

import numpy as np
import pytest

from negaudio.eval import metrics as M

ATOL = 1e-9
H, W = 12, 10  # non-square to catch transposed reshapes
N = H * W


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=ATOL)


@pytest.fixture
def rng():
    return np.random.default_rng(20250101)


def rand_maps(rng, b=9):
    return rng.random((b, H, W)).astype(np.float32)


def rand_gt(rng, b=9, soft=False):
    gt = np.zeros((b, H, W))
    for i in range(b):
        if i == 0:
            continue  # one empty GT in every batch
        y0, x0 = rng.integers(0, H - 2), rng.integers(0, W - 2)
        y1, x1 = rng.integers(y0 + 1, H + 1), rng.integers(x0 + 1, W + 1)
        gt[i, y0:y1, x0:x1] = 1.0
        if soft:  # Flickr consensus: a second annotator's box, sum / 2 clipped at 1
            extra = np.zeros((H, W))
            extra[rng.integers(0, H) :, rng.integers(0, W) :] = 1.0
            gt[i] = np.minimum(gt[i] + extra, 2.0) / 2
    return gt


# ------------------------------------------------------------------ plain loop references


def pixels(a):
    return [v for row in a.tolist() for v in row]


def ref_median(p):
    return sorted(pixels(p))[int(0.5 * len(pixels(p)))]


def ref_adaptive(p, g):
    vals, size = sorted(pixels(p)), sum(1 for v in pixels(g) if v > 0)
    if size == 0:
        size = len(vals) // 2
    return vals[len(vals) - size]


def ref_mask(p, theta):
    return [1 if v > theta else 0 for v in pixels(p)]


def ref_iou(mask, g):
    gv = pixels(g)
    inter = sum(m * x for m, x in zip(mask, gv, strict=True))
    denom = sum(gv) + sum(m for m, x in zip(mask, gv, strict=True) if x == 0)
    return 0.0 if denom == 0 else inter / denom


def ref_trapz(ys, xs):
    total = 0.0
    for k in range(len(xs) - 1):
        total += (xs[k + 1] - xs[k]) * (ys[k] + ys[k + 1]) / 2
    return total


def ref_auc(values, at_most=False):
    xs = [0.05 * k for k in range(21)]
    ys = []
    for x in xs:
        hits = sum(1 for v in values if (v <= x if at_most else v >= x))
        ys.append(hits / len(values))
    return ref_trapz(ys, xs)


def ref_pair_iou(a, b):
    inter = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    union = sum(1 for x, y in zip(a, b, strict=True) if x or y)
    if union == 0:
        return 1.0
    return inter / union


def ref_percentile(values, q):
    s = sorted(values)
    pos = q / 100 * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ref_f(x, y):
    return 0.0 if x + y == 0 else 2 * x * y / (x + y)


# ------------------------------------------------------------------ thresholds


def test_median_threshold_matches_loop(rng):
    p = rand_maps(rng)
    close(M.median_threshold(p), [ref_median(p[i]) for i in range(len(p))])
    assert M.median().resolve(p).tolist() == M.median_threshold(p).tolist()


def test_median_threshold_is_per_image():
    low = np.linspace(0.0, 0.1, N).reshape(H, W)
    high = np.linspace(0.9, 1.0, N).reshape(H, W)
    p = np.stack([low, high])
    theta = M.median_threshold(p)
    per_image = M.pia(M.binarize(p, theta))
    # distinct values: exactly N - N//2 - 1 pixels lie strictly above the median
    close(per_image, [(N - N // 2 - 1) / N] * 2)
    reused = M.pia(M.binarize(p, theta[0]))  # the reference bug: first image's θ for the whole batch
    assert reused[1] == 1.0 and per_image[1] != reused[1]


def test_adaptive_threshold_matches_loop_and_sorts_prediction(rng):
    p, g = rand_maps(rng), rand_gt(rng)
    expected = [ref_adaptive(p[i], g[i]) for i in range(len(p))]
    close(M.adaptive_threshold(p, g), expected)
    close(M.adaptive().resolve(p, g), expected)
    assert expected[0] == sorted(pixels(p[0]))[N - N // 2]  # empty GT -> |GT| = N//2
    assert np.isin(M.adaptive_threshold(p, g), p.reshape(len(p), -1)).all()  # taken from P, not from G
    with pytest.raises(ValueError, match="needs the ground truth"):
        M.adaptive().resolve(p)


def test_binarize_strict_scalar_and_per_image(rng):
    p = rand_maps(rng)
    theta = rng.random(len(p))
    per_image = M.binarize(p, theta)
    scalar = M.binarize(p, 0.37)
    for i in range(len(p)):
        assert per_image[i].ravel().astype(int).tolist() == ref_mask(p[i], float(theta[i]))
        assert scalar[i].ravel().astype(int).tolist() == ref_mask(p[i], 0.37)
    constant = np.full((2, H, W), 0.5, dtype=np.float32)
    assert not M.binarize(constant, 0.5).any()  # strict >
    assert M.binarize(constant, [0.4, 0.5])[0].all()
    with pytest.raises(ValueError, match="shape mismatch: threshold"):
        M.binarize(p, theta[:3])


def test_float32_maps_compare_exactly_with_float64_theta():
    v = np.float32(0.3)
    maps = np.full((3, 4, 4), v, dtype=np.float32)
    got = M.binarize(maps, [float(v) - 1e-12, float(v), float(v) + 1e-12])
    assert got[0].all() and not got[1].any() and not got[2].any()


def test_odd_sized_maps(rng):
    p = rng.random((6, 7, 5)).astype(np.float32)  # 35 pixels: the count fallback path
    g = rng.random((6, 7, 5)) > 0.5
    m = M.binarize(p, 0.5)
    close(M.iou(m, g), [ref_iou(ref_mask(p[i], 0.5), g[i].astype(float)) for i in range(6)])
    close(M.pia(m), [sum(ref_mask(p[i], 0.5)) / 35 for i in range(6)])
    close(M.mask_pair_iou(m, g), [ref_pair_iou(ref_mask(p[i], 0.5), pixels(g[i])) for i in range(6)])
    close(M.median_threshold(p), [ref_median(p[i]) for i in range(6)])


def test_threshold_kinds_and_provenance():
    assert M.fixed(0.5).label == "fixed=0.5" and M.fixed(0.5).resolve(np.zeros((3, 2, 2))).tolist() == [0.5] * 3
    assert M.adaptive().size_prior and not M.median().size_prior
    with pytest.raises(ValueError, match="needs value"):
        M.Threshold("maxq3")
    with pytest.raises(ValueError, match="takes no value"):
        M.Threshold("median", 0.5)
    with pytest.raises(ValueError, match="unknown threshold kind"):
        M.Threshold("ciou", 0.5)


def test_calibrate_universal_matches_loop(rng):
    negs = {"silence": rand_maps(rng, 7), "noise": rand_maps(rng, 5) * 0.8, "offscreen": rng.random(11)}
    pos = rand_maps(rng, 6)
    u = M.calibrate_universal(negs, split="vggss-cal", positives=pos)
    maxima = {t: (v.tolist() if v.ndim == 1 else [max(pixels(m)) for m in v]) for t, v in negs.items()}
    pooled = [x for t in maxima for x in maxima[t]]
    mean = sum(pooled) / len(pooled)
    close(u.max, mean)
    close(u.max10, 1.1 * mean)
    close(u.maxq3, ref_percentile(pooled, 75))
    close(u.maxq3_separate, max(ref_percentile(m, 75) for m in maxima.values()))
    close(u.pos_p25, ref_percentile([max(pixels(m)) for m in pos], 25))
    assert u.n_maxima == {"silence": 7, "noise": 5, "offscreen": 11} and u.n_positives == 6
    again = M.UniversalThresholds.from_dict(json.loads(json.dumps(u.to_dict())))
    assert again == u
    thr = again.threshold("maxq3")
    assert thr.kind == "maxq3" and thr.value == u.maxq3 and "vggss-cal" in thr.source
    no_pos = M.calibrate_universal(negs, split="x")
    with pytest.raises(ValueError, match="not calibrated"):
        no_pos.threshold("pos_p25")
    with pytest.raises(ValueError, match=r"^maxq3 must be a finite number, got 'abc'$"):
        M.UniversalThresholds.from_dict(u.to_dict() | {"maxq3": "abc"})
    with pytest.raises(ValueError, match=r"^missing split, max, max10, maxq3_separate, pos_p25, n_maxima$"):
        M.UniversalThresholds.from_dict({"maxq3": 0.5})  # every missing key, not only the first


# ------------------------------------------------------------------ positives


@pytest.mark.parametrize("soft", [False, True])
def test_iou_and_aggregates_match_loop(rng, soft):
    p, g = rand_maps(rng, 40), rand_gt(rng, 40, soft=soft)
    theta = M.median_threshold(p)
    got = M.iou(M.binarize(p, theta), g)
    expected = [ref_iou(ref_mask(p[i], float(theta[i])), g[i]) for i in range(len(p))]
    close(got, expected)
    if soft:
        assert set(np.unique(g)) == {0.0, 0.5, 1.0}
    else:
        close(M.iou(M.binarize(p, theta), g.astype(bool)), expected)
    close(M.mean_iou(got), sum(expected) / len(expected))
    close(M.success_rate(got), sum(1 for v in expected if v >= 0.5) / len(expected))
    close(M.iou_auc(got), ref_auc(expected))


def test_iou_empty_rules():
    empty = np.zeros((1, H, W), dtype=bool)
    full = np.ones((1, H, W), dtype=bool)
    assert M.iou(empty, np.zeros((1, H, W))).tolist() == [0.0]  # both empty: 0 (reference NaN -> 0)
    assert M.iou(full, np.zeros((1, H, W))).tolist() == [0.0]  # empty GT, something predicted
    assert M.iou(empty, np.ones((1, H, W))).tolist() == [0.0]
    assert M.iou(full, np.ones((1, H, W), dtype=bool)).tolist() == [1.0]


def test_iou_auc_exact_value():
    # IoU values 0.0, 0.5, 1.0: y_k = 1 (k=0), 2/3 (k=1..10), 1/3 (k=11..20)
    expected = 0.05 * (1 + 2 / 3) / 2 + 9 * 0.05 * 2 / 3 + 0.05 * (2 / 3 + 1 / 3) / 2 + 9 * 0.05 / 3
    close(M.iou_auc([0.0, 0.5, 1.0]), expected)
    close(M.success_rate([0.0, 0.5, 1.0]), 2 / 3)


def ref_interactive(ious, groups, thr):
    by_group = {}
    for v, g in zip(ious, groups, strict=True):
        by_group.setdefault(g, []).append(1 if v >= thr else 0)
    return sum(min(v) for v in by_group.values()) / len(by_group)


def test_interactive_iou_groups_of_one_and_two(rng):
    ious = rng.random(9)
    groups = np.array(["a_b_1", "a_b_1", "c_d_2", "c_d_2", "solo", "e_f_3", "e_f_3", "g", "h_i"])
    for thr in (0.3, 0.5, 0.7):
        close(M.interactive_iou(ious, groups, thr), ref_interactive(ious.tolist(), groups.tolist(), thr))
    xs = [0.05 * k for k in range(21)]
    ref_iauc = ref_trapz([ref_interactive(ious.tolist(), groups.tolist(), x) for x in xs], xs)
    close(M.interactive_auc(ious, groups), ref_iauc)
    # hand-checked: pair (0.6, 0.4) fails, pair (0.6, 0.7) succeeds, singleton 0.5 succeeds
    assert M.interactive_iou([0.6, 0.4, 0.6, 0.7, 0.5], [1, 1, 2, 2, 3]) == pytest.approx(2 / 3, abs=ATOL)
    with pytest.raises(ValueError, match="shape mismatch: groups"):
        M.interactive_iou(ious, groups[:3])


# ------------------------------------------------------------------ negatives


def test_pia_and_aggregates_match_loop(rng):
    p = rand_maps(rng, 30) * np.linspace(0.2, 1.4, 30, dtype=np.float32)[:, None, None]
    theta = rng.random(30) * 0.5 + 0.3
    got = M.pia(M.binarize(p, theta))
    expected = [sum(ref_mask(p[i], float(theta[i]))) / N for i in range(len(p))]
    close(got, expected)
    close(M.pia_auc(got), ref_auc(expected, at_most=True))
    close(M.pia_success(got), sum(1 for v in expected if v < 0.5) / len(expected))


def test_pia_constant_and_zero_maps():
    zero = np.zeros((1, H, W), dtype=np.float32)
    const = np.full((1, H, W), 0.7, dtype=np.float32)
    assert M.pia(M.binarize(zero, 0.5)).tolist() == [0.0]
    assert M.pia(M.binarize(const, 0.5)).tolist() == [1.0]
    assert M.pia(M.binarize(const, M.median_threshold(const))).tolist() == [0.0]  # nothing > its own median
    close(M.pia_auc([0.0]), 1.0)  # pIA 0 <= every x_k
    close(M.pia_auc([1.0]), 0.05 * 0.5)  # only the last point counts (<=, not <)
    assert M.pia_success([0.5]) == 0.0


def test_mask_pair_iou_rules_and_loop(rng):
    a = rng.random((12, H, W)) > 0.6
    b = rng.random((12, H, W)) > 0.4
    a[0], b[0] = False, False  # both empty -> 1
    a[1], b[1] = False, True  # one empty -> 0
    expected = [ref_pair_iou(pixels(a[i]), pixels(b[i])) for i in range(12)]
    close(M.mask_pair_iou(a, b), expected)
    assert expected[:2] == [1.0, 0.0]
    with pytest.raises(ValueError, match="shape mismatch"):
        M.mask_pair_iou(a, b[:, :5])


# ------------------------------------------------------------------ combined scores


def test_f_scores_match_loop():
    assert M.f_score(0.0, 0.0) == 0.0
    close(M.f_score(40.0, 60.0), 48.0)
    miou, auc = 0.31, 0.35
    pias = {"silence": 0.2, "noise": 0.6, "offscreen": 0.45}
    aocs = {"silence": 0.8, "noise": 0.3, "offscreen": 0.5}
    got = M.pos_neg_f_scores(miou, auc, pias, aocs)
    spec = [100 - 100 * v for v in pias.values()]
    close(got["F_Pos_Neg"], ref_f(100 * miou, sum(spec) / 3))
    close(got["F_Pos_noise"], ref_f(100 * miou, 40.0))
    close(got["F_AUC_AOC_Pos_Neg"], ref_f(100 * auc, sum(100 * v for v in aocs.values()) / 3))
    close(got["F_AUC_AOC_silence"], ref_f(35.0, 80.0))
    assert len(got) == 8


def test_hearing_impairment_matches_loop(rng):
    p, p_mis, g = rand_maps(rng, 20), rand_maps(rng, 20), rand_gt(rng, 20)
    b, b_mis = M.binarize(p, 0.5), M.binarize(p_mis, 0.5)
    m, h, s = M.iou(b, g), M.iou(b_mis, g), M.mask_pair_iou(b, b_mis)
    got = M.hearing_impairment(m, h, s)
    ref_m = [ref_iou(ref_mask(p[i], 0.5), g[i]) for i in range(20)]
    ref_h = [ref_iou(ref_mask(p_mis[i], 0.5), g[i]) for i in range(20)]
    ref_s = [ref_pair_iou(ref_mask(p[i], 0.5), ref_mask(p_mis[i], 0.5)) for i in range(20)]
    hi = sum(1 for v in ref_h if v >= 0.5) / 20
    miou = sum(ref_m) / 20
    close(got["HI"], hi)
    close(got["mean_s"], sum(ref_s) / 20)
    close(got["HI_F"], ref_f(miou, 1 - hi))
    assert M.hearing_impairment([0.0], [0.9], [1.0]) == {"HI": 1.0, "mean_s": 1.0, "HI_F": 0.0}


# ------------------------------------------------------------------ max-value distributions


def test_maxima_stats_and_separability_match_loop(rng):
    pos = rand_maps(rng, 25)
    neg = rand_maps(rng, 31) * 0.95
    pos_max = M.map_maxima(pos)
    neg_max = M.map_maxima(neg)
    ref_pos = [max(pixels(m)) for m in pos]
    ref_neg = [max(pixels(m)) for m in neg]
    close(pos_max, ref_pos)
    stats = M.maxima_stats(neg_max)
    close(stats["mean"], sum(ref_neg) / len(ref_neg))
    close(stats["median"], ref_percentile(ref_neg, 50))
    close(stats["q1"], ref_percentile(ref_neg, 25))
    close(stats["q3"], ref_percentile(ref_neg, 75))
    assert stats["min"] == min(ref_neg) and stats["max"] == max(ref_neg)

    def ref_sep(ps, ns):
        score = 0.0
        for x in ps:
            for y in ns:
                score += 1.0 if x > y else 0.5 if x == y else 0.0
        return score / (len(ps) * len(ns))

    close(M.separability_auc(pos_max, neg_max), ref_sep(ref_pos, ref_neg))
    tied_pos, tied_neg = [0.5, 0.5, 0.9, 0.1], [0.5, 0.2, 0.5]
    close(M.separability_auc(tied_pos, tied_neg), ref_sep(tied_pos, tied_neg))
    close(M.separability_auc([0.5], [0.5]), 0.5)


# ------------------------------------------------------------------ SLAVC extended sets


def ref_confidence(p):
    vals = sorted(pixels(p))
    n = len(vals)
    top = vals[-n // 4 :]
    return sum(top) / len(top)


def ref_pr(has, ious, conf, t, iou_thr=0.5):
    tp = fp = fn = 0
    for h, v, c in zip(has, ious, conf, strict=True):
        if not h:
            if c >= t:
                fp += 1
        elif c >= t:
            if v >= iou_thr:
                tp += 1
            else:
                fp += 1
        else:
            fn += 1
    p = 1.0 if tp + fp == 0 else tp / (tp + fp)
    r = 1.0 if tp + fn == 0 else tp / (tp + fn)
    return p, r


def ref_slavc(has, ious, conf):
    n = len(conf)
    desc = sorted(conf)[:-1][::-1][:: max(1, n // 200)]
    prs = [ref_pr(has, ious, conf, t) for t in desc]
    ap = 0.0
    for i in range(len(prs) - 1):
        ap += max(p for p, _ in prs[i:]) * (prs[i + 1][1] - prs[i][1])
    f1 = []
    for t in sorted(conf)[:: max(1, n // 10)]:
        p, r = ref_pr(has, ious, conf, t)
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return {"AP": ap, "max_F1": max(f1), "Precision": ref_pr(has, ious, conf, -1000)[0]}


def test_slavc_confidence_of_large_maps_with_ties_matches_loop(rng):
    """Maps large enough for selection by sampled bracket, with many values tied at the quartile boundary."""
    maps = np.round(rng.random((4, 130, 131)), 2).astype(np.float32)
    maps[1] = 0.25
    maps[2, :40] = 1.0
    maps[3] = rng.normal(0, 1, maps[3].shape)
    assert maps[0].size > 8 * 2048
    assert M.slavc_confidence(maps).tolist() == [ref_confidence(m) for m in maps.astype(np.float64)]


@pytest.mark.parametrize("n", [7, 450])
def test_slavc_matches_loop(rng, n):
    maps = rand_maps(rng, n)
    maps[: n // 2] *= 0.6  # less confident half
    conf = M.slavc_confidence(maps)
    close(conf[:5], [ref_confidence(maps[i]) for i in range(5)])
    has = rng.random(n) < 0.5
    ious = np.where(has, rng.random(n), 0.0)
    ious[:3] = [0.5, 0.49, 0.8]
    conf[3] = conf[4]  # a tie in confidence
    got = M.slavc_scores(ious, conf, has)
    expected = ref_slavc(has.tolist(), ious.tolist(), conf.tolist())
    for k in expected:
        close(got[k], expected[k])
    thr = np.sort(conf)[::3]
    p, r = M.slavc_precision_recall(ious, conf, has, thr)
    ref = [ref_pr(has.tolist(), ious.tolist(), conf.tolist(), t) for t in thr.tolist()]
    close(p, [x for x, _ in ref])
    close(r, [y for _, y in ref])


def test_slavc_precision_with_no_targets():
    p, r = M.slavc_precision_recall([0.0, 0.0], [0.2, 0.9], np.array([False, False]), [0.5, 2.0])
    assert p.tolist() == [0.0, 1.0] and r.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ AVSBench


def ref_avs_jaccard(prob, target):
    pv = [1 if v > 0.5 else 0 for v in pixels(prob)]
    tv = [int(v) for v in pixels(target)]
    if sum(tv) == 0:
        return sum((1 - a) * (1 - b) for a, b in zip(pv, tv, strict=True)) / len(pv)
    return sum(a * b for a, b in zip(pv, tv, strict=True)) / sum(max(a, b) for a, b in zip(pv, tv, strict=True))


def ref_fcurve(prob, target):
    pv, tv = pixels(prob), pixels(target)
    out = []
    for k in range(255):
        th = k * ((1 - 1e-10) / 254)
        yhat = [1 if v >= th else 0 for v in pv]
        tp = sum(a * b for a, b in zip(yhat, tv, strict=True))
        prec, rec = tp / (sum(yhat) + 1e-20), tp / (sum(tv) + 1e-20)
        den = 0.3 * prec + rec
        out.append(0.0 if den == 0 else 1.3 * prec * rec / den)
    return out


def test_avs_jaccard_and_fmeasure_match_loop(rng):
    logits = rng.normal(0, 2, (8, H, W))
    prob = 1 / (1 + np.exp(-logits))
    target = (rand_gt(rng, 8) > 0).astype(np.float32)
    target[3] = 0  # second empty-mask frame
    prob[3] = 0.1
    prob[3, :2] = 0.9  # predicts two rows on an empty frame
    logits[3] = np.log(prob[3] / (1 - prob[3]))
    expected = [ref_avs_jaccard(prob[i], target[i]) for i in range(8)]
    close(M.avs_jaccard(prob, target), expected)
    close(M.avs_jaccard(logits, target.astype(bool), logits=True), expected)
    close(expected[3], 1 - 2 * W / N)
    curves = M.avs_fmeasure_curves(prob, target)
    assert np.isnan(curves[[0, 3]]).all() and not np.isnan(curves[1]).any()
    ref_curves = {i: ref_fcurve(prob[i], target[i]) for i in range(8) if i not in (0, 3)}
    for i, ref in ref_curves.items():
        close(curves[i], ref)
    mean_curve = [sum(c[k] for c in ref_curves.values()) / len(ref_curves) for k in range(255)]
    close(M.avs_fmeasure(curves), max(mean_curve))
    close(M.avs_fmeasure(M.avs_fmeasure_curves(logits, target, logits=True)), max(mean_curve))
    assert M.avs_fmeasure(curves[[0, 3]]) == 0.0
    with pytest.raises(ValueError, match="must be binary"):
        M.avs_jaccard(prob, target * 0.5)


def test_fmeasure_counts_a_value_on_a_threshold_as_predicted(rng):
    """Values on, just below and just above each of the 255 thresholds (and outside [0, 1]): ŷ = 1[p >= θ]."""
    from negaudio.eval.metrics_avs import FMEASURE_THRESHOLDS as TH

    values = np.concatenate([TH, np.nextafter(TH, -1), np.nextafter(TH, 2), [-0.5, -1e-300, 1.0, 1.5]])
    prob = rng.permutation(np.concatenate([values, rng.random(2 * 30 * 30 - values.size)])).reshape(2, 30, 30)
    target = rng.random(prob.shape) < 0.4
    curves = M.avs_fmeasure_curves(prob, target)
    for i in range(2):
        pv, tv = pixels(prob[i]), pixels(target[i])
        for k, th in enumerate(TH):
            tp = sum(v >= th and t for v, t in zip(pv, tv, strict=True))
            prec, rec = tp / (sum(v >= th for v in pv) + 1e-20), tp / (sum(tv) + 1e-20)
            assert curves[i, k] == (1.3 * prec * rec / (0.3 * prec + rec) if tp else 0.0), (i, k)


def ref_avss(pred, target, n_classes, exclude):
    iou_sum, f_sum, count = [0.0] * n_classes, [0.0] * n_classes, [0] * n_classes
    for b in range(len(pred)):
        pv, tv = pixels(pred[b]), pixels(target[b])
        for c in range(n_classes):
            inter = sum(1 for x, y in zip(pv, tv, strict=True) if x == c and y == c)
            area_p = sum(1 for x in pv if x == c)
            area_l = sum(1 for y in tv if y == c)
            union = area_p + area_l - inter
            if union > 0:
                count[c] += 1
                iou_sum[c] += inter / union
            if inter > 0:
                prec, rec = inter / area_p, inter / area_l
                f_sum[c] += 1.3 * prec * rec / (0.3 * prec + rec)
    keep = [c for c in range(n_classes) if c != exclude]
    miou = sum(iou_sum[c] / count[c] if count[c] else 0.0 for c in keep) / len(keep)
    fs = sum(f_sum[c] / count[c] if count[c] else 0.0 for c in keep) / len(keep)
    return miou, fs


@pytest.mark.parametrize("exclude", [None, 0, 5])
def test_avss_matches_loop(rng, exclude):
    n_classes = 7  # class 6 never appears: counts as 0 in the class mean
    target = rng.integers(0, 6, (5, H, W))
    pred = np.where(rng.random((5, H, W)) < 0.6, target, rng.integers(0, 6, (5, H, W)))
    target[2] = 5  # a frame fully labelled with one class
    got = M.avss_scores(*M.avss_per_frame(pred, target, n_classes), exclude_class=exclude)
    miou, fs = ref_avss(pred, target, n_classes, exclude)
    close(got["miou"], miou)
    close(got["fscore"], fs)
    with pytest.raises(ValueError, match=r"must lie in \[0, 7\)"):
        M.avss_per_frame(pred + 3, target, n_classes)


# ------------------------------------------------------------------ input validation


def test_nan_and_inf_maps_rejected(rng):
    p = rand_maps(rng, 4)
    p[2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="prediction maps contain NaN at batch index 2"):
        M.binarize(p, 0.5)
    with pytest.raises(ValueError, match="prediction maps contain NaN at batch index 2"):
        M.median_threshold(p)
    p[2, 3, 4] = 0.1
    p[1, 0, 0] = -np.inf
    with pytest.raises(ValueError, match="prediction maps contain inf at batch index 1"):
        M.slavc_confidence(p)
    with pytest.raises(ValueError, match="ious contain NaN/inf at index 1"):
        M.iou_auc([0.1, np.nan])


def test_shape_and_type_errors(rng):
    p = rand_maps(rng, 4)
    with pytest.raises(ValueError, match=r"shape mismatch: masks \(4, 12, 10\) vs ground truth \(3, 12, 10\)"):
        M.iou(p > 0.5, np.zeros((3, H, W)))
    with pytest.raises(TypeError, match="must be boolean"):
        M.iou(p, np.zeros((4, H, W)))
    with pytest.raises(ValueError, match=r"must have shape \[B, H, W\]"):
        M.binarize(p[0], 0.5)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        M.iou(p > 0.5, np.full((4, H, W), 2.0))


# ------------------------------------------------------------------ streaming evaluator


def flat_keys(nested, prefix=""):
    out = {}
    for k, v in nested.items():
        out |= flat_keys(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def test_evaluator_streams_and_matches_loop(rng):
    b = 10
    pos, gt = rand_maps(rng, b), rand_gt(rng, b) > 0
    negs = {"silence": rand_maps(rng, b) * 0.5, "noise": rand_maps(rng, b) * 0.9}
    thresholds = [M.median(), M.adaptive(), M.fixed(0.5), M.Threshold("maxq3", 0.7, "test")]
    whole = M.NegativeAudioEvaluator(thresholds, ("silence", "noise"))
    whole.update(pos, gt, negs)
    streamed = M.NegativeAudioEvaluator(thresholds, ("silence", "noise"))
    for s in (slice(0, 4), slice(4, 10)):
        streamed.update(pos[s], gt[s], {t: m[s] for t, m in negs.items()})
    a, c = whole.compute(), streamed.compute()
    assert a == c

    theta = [ref_median(pos[i]) for i in range(b)]  # the positive map's θ, reused for its negatives
    ious = [ref_iou(ref_mask(pos[i], theta[i]), gt[i].astype(float)) for i in range(b)]
    noise_pia = [sum(ref_mask(negs["noise"][i], theta[i])) / N for i in range(b)]
    pair = [ref_pair_iou(ref_mask(pos[i], theta[i]), ref_mask(negs["noise"][i], theta[i])) for i in range(b)]
    close(c["positive"]["median"]["miou"], sum(ious) / b)
    close(c["positive"]["median"]["auc"], ref_auc(ious))
    noise = c["negatives"]["noise"]["median"]
    close(noise["pia"], sum(noise_pia) / b)
    close(noise["auc_n"], ref_auc(noise_pia, at_most=True))
    close(noise["posneg_iou"], sum(pair) / b)
    close(c["maxima"]["silence"]["max"], max(max(pixels(m)) for m in negs["silence"]))
    theta = [ref_adaptive(pos[i], gt[i]) for i in range(b)]
    silence_pia = [sum(ref_mask(negs["silence"][i], theta[i])) / N for i in range(b)]
    close(c["negatives"]["silence"]["adaptive"]["pia"], sum(silence_pia) / b)
    assert "F_Pos_Neg" in c["f_scores"]["maxq3"] and "all" in c["separability"]
    assert c["noisy_positives"] == {} and c["hearing_impairment"] == {} and "iiou" not in c["positive"]["median"]
    with pytest.raises(ValueError, match="unknown item types"):
        whole.update(pos, gt, {"offscreen": negs["silence"]})
    with pytest.raises(ValueError, match="unique labels"):
        M.NegativeAudioEvaluator([M.fixed(0.5), M.fixed(0.5)])
    with pytest.raises(ValueError, match="roles must be one of"):
        M.NegativeAudioEvaluator([M.fixed(0.5)], {"silence": "loud"})


def test_evaluator_input_checks(rng):
    pos, gt, neg = rand_maps(rng, 3), rand_gt(rng, 3), rand_maps(rng, 2)
    ev = M.NegativeAudioEvaluator([M.median()], ("silence",))
    with pytest.raises(ValueError, match="no batch was added"):
        ev.compute()
    with pytest.raises(ValueError, match=r"present\['silence'\] must hold one batch index per silence map"):
        ev.update(pos, gt, {"silence": neg})
    with pytest.raises(ValueError, match=r"must be distinct indices in \[0, 3\)"):
        ev.update(pos, gt, {"silence": neg}, present={"silence": [0, 3]})
    with pytest.raises(ValueError, match="shape mismatch"):
        ev.update(pos, gt, {"silence": neg[:, :5]}, present={"silence": [0, 1]})
    with pytest.raises(ValueError, match=r"shape mismatch: maxima\['positive'\]"):
        ev.update(pos, gt, maxima={"positive": [0.1]})
    with pytest.raises(ValueError, match="NaN"):
        ev.update(np.where(pos > 0.5, np.nan, pos), gt)
    ev.update(pos, gt, groups=["a", "b", "c"])
    with pytest.raises(ValueError, match="with every batch or with none"):
        ev.update(pos, gt)
    with pytest.raises(ValueError, match=r"no item of type\(s\) \['silence'\]"):
        ev.compute()
    ev.reset()
    ev.update(pos, gt, {"silence": neg}, present={"silence": [2, 0]})
    assert ev.per_item()["silence"]["sample"].tolist() == [2, 0]


# A plain reference of the protocol (docs/metrics.md §1–5, docs/eval.md "What is scored"), on 4×5 maps.

HH, WW = 4, 5
NN = HH * WW


def hot(cells, low=0.0):
    """A 4×5 map: distinct values below 0.5 everywhere, distinct values above 0.5 on ``cells`` (row, col)."""
    m = [[low + 0.01 * (1 + r * WW + c) for c in range(WW)] for r in range(HH)]
    for k, (r, c) in enumerate(cells):
        m[r][c] = 0.6 + 0.02 * k
    return m


def region(cells, value=1.0):
    g = [[0.0] * WW for _ in range(HH)]
    for r, c in cells:
        g[r][c] = value
    return g


def cells_of(rows, cols):
    return [(r, c) for r in rows for c in cols]


def plain_theta(kind, value, p, g):
    vals = sorted(v for row in p for v in row)
    if kind == "fixed":
        return value
    if kind == "median":
        return vals[int(0.5 * NN)]
    size = sum(1 for row in g for v in row if v > 0) or NN // 2
    return vals[NN - size]


def plain_mask(p, theta):
    return [[1 if v > theta else 0 for v in row] for row in p]


def plain_iou(mask, g):
    inter = sum(mask[r][c] * g[r][c] for r in range(HH) for c in range(WW))
    denom = sum(g[r][c] for r in range(HH) for c in range(WW))
    denom += sum(mask[r][c] for r in range(HH) for c in range(WW) if g[r][c] == 0)
    return 0.0 if denom == 0 else inter / denom


def plain_pia(mask):
    return sum(sum(row) for row in mask) / NN


def plain_pair(a, b):
    both = sum(1 for r in range(HH) for c in range(WW) if a[r][c] and b[r][c])
    either = sum(1 for r in range(HH) for c in range(WW) if a[r][c] or b[r][c])
    return 1.0 if either == 0 else both / either


def plain_grid_auc(values, at_most=False):
    xs = [0.05 * k for k in range(21)]
    ys = [sum(1 for v in values if (v <= x if at_most else v >= x)) / len(values) for x in xs]
    return ref_trapz(ys, xs)


def plain_report(samples, roles, thresholds):
    """Everything ``NegativeAudioEvaluator.compute`` returns, with plain loops over plain lists."""
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    names = list(roles)
    negatives = [n for n in names if roles[n] != "noisy_positive"]
    per = {n: [] for n in ["positive", *names]}  # per type: (sample index, {label: (theta, iou, pia, pair)})
    for i, s in enumerate(samples):
        pos_vals, others = {}, {n: {} for n in s["others"]}
        for kind, value, label in thresholds:
            theta = plain_theta(kind, value, s["pos"], s["gt"])
            b_pos = plain_mask(s["pos"], theta)
            pos_vals[label] = (theta, plain_iou(b_pos, s["gt"]), plain_pia(b_pos), None)
            for n, m in s["others"].items():
                th = plain_theta(kind, value, m, s["gt"]) if roles[n] == "noisy_positive" else theta
                b = plain_mask(m, th)
                others[n][label] = (th, plain_iou(b, s["gt"]), plain_pia(b), plain_pair(b_pos, b))
        per["positive"].append((i, pos_vals, max(max(r) for r in s["pos"])))
        for n, vals in others.items():
            per[n].append((i, vals, max(max(r) for r in s["others"][n])))
    col = lambda n, label, k: [v[label][k] for _, v, _ in per[n]]  # noqa: E731

    def posneg(n, label):  # pos–neg IoU over non-empty positives, and the reference convention over all pairs
        pos_pia = {i: v[label][2] for i, v, _ in per["positive"]}
        pairs = [(v[label][3], pos_pia[i], v[label][2]) for i, v, _ in per[n]]
        kept = [s for s, p, _ in pairs if p > 0]
        return {
            "posneg_iou": mean(kept) if kept else None,
            "posneg_pairs": len(kept),
            "posneg_excluded": len(pairs) - len(kept),
            "both_empty": mean([p == 0 and q == 0 for _, p, q in pairs]),
            "posneg_iou_reference": mean([s for s, _, _ in pairs]),
        }

    groups = [s["group"] for s in samples]
    out = {"positive": {}, "negatives": {n: {} for n in negatives}, "f_scores": {}, "hearing_impairment": {}}
    out["noisy_positives"] = {n: {} for n in names if roles[n] == "noisy_positive"}
    for _, _, label in thresholds:
        ious = col("positive", label, 1)
        pos = {"success": mean([v >= 0.5 for v in ious]), "miou": mean(ious), "auc": plain_grid_auc(ious)}
        if len(set(groups)) < len(groups):
            xs = [0.05 * k for k in range(21)]
            pos["iiou"] = ref_interactive(ious, groups, 0.5)
            pos["iauc"] = ref_trapz([ref_interactive(ious, groups, x) for x in xs], xs)
        out["positive"][label] = pos
        for n in negatives:
            pias, gt_ious, pairs = col(n, label, 2), col(n, label, 1), col(n, label, 3)
            out["negatives"][n][label] = {
                "pia": mean(pias),
                "auc_n": plain_grid_auc(pias, at_most=True),
                "pia_success": mean([v < 0.5 for v in pias]),
                **posneg(n, label),
                "gt_iou": mean(gt_ious),
                "gt_success": mean([v >= 0.5 for v in gt_ious]),
            }
        for n in out["noisy_positives"]:
            n_ious = col(n, label, 1)
            out["noisy_positives"][n][label] = {
                "success": mean([v >= 0.5 for v in n_ious]),
                "miou": mean(n_ious),
                "auc": plain_grid_auc(n_ious),
                **posneg(n, label),
            }
        neg = out["negatives"]
        spec = {n: 100 - 100 * neg[n][label]["pia"] for n in negatives}
        aoc = {n: 100 * neg[n][label]["auc_n"] for n in negatives}
        f = {"F_Pos_Neg": ref_f(100 * pos["miou"], mean(list(spec.values())))}
        f |= {f"F_Pos_{n}": ref_f(100 * pos["miou"], spec[n]) for n in negatives}
        f["F_AUC_AOC_Pos_Neg"] = ref_f(100 * pos["auc"], mean(list(aoc.values())))
        f |= {f"F_AUC_AOC_{n}": ref_f(100 * pos["auc"], aoc[n]) for n in negatives}
        out["f_scores"][label] = f
        pairs = [(i, v[label]) for n in names if roles[n] == "mismatched" for i, v, _ in per[n]]
        matched = [ious[i] for i, _ in pairs]
        hi = mean([v[1] >= 0.5 for _, v in pairs])
        out["hearing_impairment"][label] = {
            "HI": hi,
            "mean_s": mean([v[3] for _, v in pairs]),
            "HI_F": ref_f(mean(matched), 1 - hi),
            "pairs": len(pairs),
        }
    out["maxima"] = {}
    for n in per:
        m = [x for _, _, x in per[n]]
        q = {"q1": 25, "median": 50, "q3": 75}
        out["maxima"][n] = {"mean": mean(m), "min": min(m), "max": max(m)} | {
            k: ref_percentile(m, v) for k, v in q.items()
        }

    def sep(ps, ns):
        return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in ps for y in ns) / (len(ps) * len(ns))

    pos_max = [x for _, _, x in per["positive"]]
    out["separability"] = {n: sep(pos_max, [x for _, _, x in per[n]]) for n in negatives}
    out["separability"]["all"] = sep(pos_max, [x for n in negatives for _, _, x in per[n]])
    return out


def hand_made_samples():
    """Five samples of one 4×5 frame: two IS3 groups of two, one sample without a region, a soft GT, and
    samples lacking some item types. Hand values at θ = 0.5 are checked in the test."""
    gt7 = region(cells_of([0], range(4)) + cells_of([1], range(3)))  # 7 pixels
    gt10 = region(cells_of([2, 3], range(5)))  # 10 pixels
    soft = region(cells_of([0, 1], [3, 4]), 1.0)  # Flickr-style consensus: 1 inside, 0.5 around
    for r, c in cells_of([2], [3, 4]) + cells_of([0, 1], [2]):
        soft[r][c] = 0.5
    return [
        {  # IoU 4/7 ≈ 0.57; silence: pIA 6/20 = 0.3, pos–neg IoU 2/8 = 0.25
            "group": "img1",
            "gt": gt7,
            "pos": hot([(0, 0), (0, 1), (0, 2), (1, 0)]),
            "others": {
                "silence": hot([(0, 0), (0, 1), (3, 0), (3, 1), (3, 2), (3, 3)]),
                "noise": hot([]),
                "mismatched": hot([(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]),
                "noisy": hot([(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)], low=0.1),
            },
        },
        {  # IoU 3/10 = 0.3
            "group": "img1",
            "gt": gt10,
            "pos": hot([(2, 0), (2, 1), (3, 4)]),
            "others": {
                "silence": hot([(2, 0)]),
                "mismatched": hot(cells_of([2, 3], range(4))),
                "noisy": hot([(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (0, 0)]),
            },
        },
        {  # no region: IoU 0 by definition
            "group": "img2",
            "gt": region([]),
            "pos": hot([(1, 1), (1, 2)]),
            "others": {"silence": hot([(1, 1)]), "noise": hot(cells_of([0, 1, 2], range(5)))},
        },
        {
            "group": "img3",
            "gt": soft,
            "pos": hot(cells_of([0, 1], [2, 3, 4])),
            "others": {
                "silence": hot([(0, 4), (3, 0)]),
                "noise": hot(cells_of([0, 1], [3, 4])),
                "mismatched": hot([(3, 3)]),
                "noisy": hot(cells_of([0, 1], [3, 4])),
            },
        },
        {
            "group": "img3",
            "gt": gt10,
            "pos": hot(cells_of([2, 3], range(5)), low=0.2),
            "others": {"silence": hot([]), "noise": hot([(2, 2), (2, 3)]), "mismatched": hot(cells_of([3], range(5)))},
        },
    ]


HAND_ROLES = {"silence": "negative", "noise": "negative", "mismatched": "mismatched", "noisy": "noisy_positive"}
HAND_THRESHOLDS = [("fixed", 0.5, "fixed=0.5"), ("median", None, "median"), ("adaptive", None, "adaptive")]


def feed(ev, samples, start, stop):
    batch = samples[start:stop]
    others, present = {}, {}
    for i, s in enumerate(batch):
        for n, m in s["others"].items():
            others.setdefault(n, []).append(m)
            present.setdefault(n, []).append(i)
    ev.update(
        np.array([s["pos"] for s in batch]),
        np.array([s["gt"] for s in batch]),
        {n: np.array(m) for n, m in others.items()},
        present=present,
        groups=[s["group"] for s in batch],
        sample_ids=[f"s{start + i}" for i in range(len(batch))],
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_evaluator_on_hand_made_maps_matches_a_plain_reference(dtype):
    samples = hand_made_samples()
    for s in samples:
        s["pos"] = np.asarray(s["pos"], dtype=dtype).tolist()  # the reference sees the values the engine sees
        s["others"] = {n: np.asarray(m, dtype=dtype).tolist() for n, m in s["others"].items()}
    thresholds = [M.fixed(0.5), M.median(), M.adaptive()]
    whole = M.NegativeAudioEvaluator(thresholds, HAND_ROLES)
    feed(whole, samples, 0, 5)
    got = whole.compute()
    expected = plain_report(samples, HAND_ROLES, HAND_THRESHOLDS)
    a, b = flat_keys(got), flat_keys(expected)
    assert a.keys() == b.keys()
    close([a[k] for k in a], [b[k] for k in a])

    # intermediate values, checked by hand at θ = 0.5
    v = whole.per_item()
    close(v["positive"]["iou@fixed=0.5"][:2], [4 / 7, 0.3])
    close(v["silence"]["pia@fixed=0.5"][0], 0.3)
    close(v["silence"]["posneg_iou@fixed=0.5"][0], 0.25)
    close(v["silence"]["iou@fixed=0.5"][0], 2 / 11)
    assert v["noise"]["sample"].tolist() == [0, 2, 3, 4] and v["noisy"]["sample"].tolist() == [0, 1, 3]
    assert 0 < got["positive"]["median"]["miou"] < 1 and 0 < got["hearing_impairment"]["median"]["HI"] < 1
    assert got["hearing_impairment"]["median"]["pairs"] == 4 and "iiou" in got["positive"]["adaptive"]
    # a noisy positive is thresholded at its own median, not at its positive's
    assert v["noisy"]["theta@median"][0] != v["positive"]["theta@median"][0]
    close(v["noisy"]["pia@median"], [(NN - NN // 2 - 1) / NN] * 3)

    # streaming in several batches (types left out of some batches) gives the same numbers, exactly
    streamed = M.NegativeAudioEvaluator(thresholds, HAND_ROLES)
    for start, stop in ((0, 1), (1, 3), (3, 5)):
        feed(streamed, samples, start, stop)
    assert streamed.compute() == got
    assert [r["item_id"] for r in streamed.rows()] == [None] * 21
    assert [(r["sample_id"], r["name"]) for r in streamed.rows()][:6] == [
        ("s0", "positive"),
        ("s0", "silence"),
        ("s0", "noise"),
        ("s0", "mismatched"),
        ("s0", "noisy"),
        ("s1", "positive"),
    ]
    row = streamed.rows()[1]
    assert row["group"] == "img1" and row["pia@fixed=0.5"] == 0.3 and row["posneg_iou@fixed=0.5"] == 0.25
    assert streamed.rows()[0]["posneg_iou@median"] is None


def test_separability_is_mann_whitney_u_over_pairs(rng):
    from scipy.stats import mannwhitneyu

    pos = np.round(rng.random(37), 1)  # rounded: many ties, within each set and across the two
    neg = np.round(rng.random(53) * 0.8, 1)
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic  # U of the first sample, ties counting 1/2
    close(M.separability_auc(pos, neg), u / (pos.size * neg.size))

    ev = M.NegativeAudioEvaluator([M.fixed(0.5)], ("silence", "noise"))
    ev.update(
        rand_maps(rng, 37),
        rand_gt(rng, 37),
        {"silence": rand_maps(rng, 20), "noise": rand_maps(rng, 33)},
        present={"silence": list(range(20)), "noise": list(range(4, 37))},
        maxima={"positive": pos, "silence": neg[:20], "noise": neg[20:]},
    )
    sep = ev.compute()["separability"]
    for name, values in (("silence", neg[:20]), ("noise", neg[20:]), ("all", neg)):
        u = mannwhitneyu(pos, values, alternative="two-sided").statistic
        close(sep[name], u / (pos.size * values.size))


def numpy_trapezoid(y, x):
    return np.trapezoid(y, x) if hasattr(np, "trapezoid") else np.trapz(y, x)  # numpy < 2: trapz


def test_aucs_are_the_trapezoid_over_the_005_grid(rng):
    xs = np.array([0.05 * k for k in range(21)])
    ious = np.concatenate([[0.0, 0.05, 0.3, 0.57, 1.0], rng.random(40)])
    pias = np.concatenate([[0.0, 0.25, 0.3, 0.5, 1.0], rng.random(40) ** 2])
    iou_points = [np.mean(ious >= x) for x in xs]  # explicit (x_k, y_k) points
    pia_points = [np.mean(pias <= x) for x in xs]
    close(M.iou_auc(ious), numpy_trapezoid(iou_points, xs))
    close(M.pia_auc(pias), numpy_trapezoid(pia_points, xs))

    pos, gt, neg = rand_maps(rng, 30), rand_gt(rng, 30), rand_maps(rng, 30) * 0.9
    ev = M.NegativeAudioEvaluator([M.median()], ("silence",))
    ev.update(pos, gt, {"silence": neg})
    v, got = ev.per_item(), ev.compute()
    ious, pias = v["positive"]["iou@median"], v["silence"]["pia@median"]
    assert 0 < np.median(ious) < ious.max() < 1 and 0 < np.median(pias) < 1  # intermediate values
    close(got["positive"]["median"]["auc"], numpy_trapezoid([np.mean(ious >= x) for x in xs], xs))
    close(got["negatives"]["silence"]["median"]["auc_n"], numpy_trapezoid([np.mean(pias <= x) for x in xs], xs))
    close(ev.pia_curves(xs)["median"]["silence"], [np.mean(pias <= x) for x in xs])
