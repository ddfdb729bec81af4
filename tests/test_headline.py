"""Headline numbers: pos–neg IoU that cannot reward emptiness, one named θ, bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from negaudio.eval import bootstrap as bs
from negaudio.eval import metrics as M
from negaudio.eval.headline import headline, headline_threshold


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def maps(*rows):
    """[B, 1, W] maps from lists of pixel values."""
    return np.array([[r] for r in rows], dtype=np.float64)


def test_posneg_summary_against_a_plain_reference():
    # pairs: both empty (IoU 1 by convention), positive empty only (IoU 0), two non-empty pairs
    pairs, pos_pia, neg_pia = [1.0, 0.0, 0.5, 0.25], [0.0, 0.0, 0.5, 0.25], [0.0, 0.5, 0.5, 0.5]
    got = M.posneg_summary(pairs, pos_pia, neg_pia)
    assert got == {
        "posneg_iou": (0.5 + 0.25) / 2,
        "posneg_pairs": 2,
        "posneg_excluded": 2,
        "both_empty": 1 / 4,
        "posneg_iou_reference": (1.0 + 0.0 + 0.5 + 0.25) / 4,
    }
    empty = M.posneg_summary([1.0, 1.0], [0.0, 0.0], [0.0, 0.0])
    assert empty["posneg_iou"] is None and empty["posneg_excluded"] == 2 and empty["both_empty"] == 1.0


def test_a_model_blank_on_silence_and_on_its_positives_is_not_rewarded():
    # θ = 0.5: sample 0's positive map is empty (like its silence map); sample 1's is not
    pos = maps([0.1, 0.2, 0.3, 0.4], [0.9, 0.9, 0.1, 0.1])
    gt = maps([1, 1, 0, 0], [1, 1, 0, 0]).astype(bool)
    silence = np.zeros_like(pos)
    ev = M.NegativeAudioEvaluator([M.fixed(0.5)], ("silence",))
    ev.update(pos, gt, {"silence": silence})
    s = ev.compute()["negatives"]["silence"]["fixed=0.5"]
    # plain: pair 0 both empty (reference 1, excluded), pair 1 |{0,1} ∧ {}| / |{0,1} ∨ {}| = 0
    assert s["posneg_iou_reference"] == 0.5
    assert s["posneg_iou"] == 0.0 and s["posneg_pairs"] == 1 and s["posneg_excluded"] == 1
    assert s["both_empty"] == 0.5


def test_headline_uses_one_named_threshold():
    assert headline_threshold(["0.5", "median", "maxq3"]) == "maxq3"
    assert headline_threshold(["0.5", "median"]) == "median"
    assert headline_threshold(["0.5", "adaptive"]) == "0.5"


def test_headline_section_has_values_intervals_and_settings(rng):
    b = 40
    pos = rng.random((b, 4, 4))
    gt = rng.random((b, 4, 4)) > 0.5
    ev = M.NegativeAudioEvaluator([M.fixed(0.5), M.median()], ("silence", "noise"))
    ev.update(pos, gt, {"silence": np.zeros_like(pos), "noise": rng.random((b, 4, 4))})
    m = ev.compute()
    h = headline(m, ev, resamples=200, seed=3, level=0.9)
    assert h["threshold"] == "median" and "median" in h["rule"]
    assert h["bootstrap"] == {
        "method": "percentile",
        "resamples": 200,
        "seed": 3,
        "level": 0.9,
        "unit": "sample",
        "units": b,
    }
    miou = h["positive"]["miou"]
    assert miou["value"] == m["positive"]["median"]["miou"] and miou["ci"][0] <= miou["value"] <= miou["ci"][1]
    noise = h["negatives"]["noise"]
    assert noise["separability"]["value"] == m["separability"]["noise"]
    assert noise["posneg_iou_reference"] == m["negatives"]["noise"]["median"]["posneg_iou_reference"]
    assert h["negatives"]["silence"]["separability"]["ci"] == [1.0, 1.0]
    assert headline(m, ev, resamples=200, seed=3, level=0.9) == h  # seeded
    assert headline(m, ev, resamples=0)["bootstrap"] is None


def test_weighted_statistics_with_unit_weights_equal_the_plain_ones(rng):
    pos, neg = rng.random(30), np.round(rng.random(50), 1)
    pos[:5] = neg[:5]  # ties count one half
    one = lambda n: np.ones((1, n))  # noqa: E731
    separability = bs.weighted_separability(pos, np.arange(30), neg, np.arange(30, 80))  # one unit per item
    assert separability(one(80))[0] == pytest.approx(M.separability_auc(pos, neg))
    assert bs.weighted_grid_auc(one(30), pos)[0] == pytest.approx(M.iou_auc(pos))
    assert bs.weighted_grid_auc(one(30), pos, at_most=True)[0] == pytest.approx(M.pia_auc(pos))
    # integer weights = repeating items
    w = rng.integers(0, 3, 30).astype(float)
    assert separability(np.concatenate([w, np.ones(50)])[None])[0] == pytest.approx(
        M.separability_auc(np.repeat(pos, w.astype(int)), neg)
    )
    # counts so large that w·Σw leaves int32: the same value as with unit weights (sums in int64)
    assert separability(np.full((1, 80), 40000.0))[0] == pytest.approx(M.separability_auc(pos, neg))


def test_bootstrap_interval_covers_a_known_mean_and_a_known_separability():
    """200 synthetic test sets with known answers: the 95% intervals cover them about 95% of the time."""
    rng = np.random.default_rng(7)
    reps, n, p, d = 200, 60, 0.6, 1.0
    true_auc = 0.5 * math.erfc(-d / 2)  # P(N(d,1) > N(0,1)) = Φ(d/√2)
    covered_miou = covered_sep = 0
    for rep in range(reps):
        hit = rng.random(n) < p  # IoU 1 (pixel 0 found) with probability p, else 0
        pos = np.zeros((n, 1, 4))
        pos[:, 0, 0] = np.where(hit, 0.9, 0.1)
        pos[:, 0, 1:] = 0.2
        gt = np.zeros((n, 1, 4), dtype=bool)
        gt[:, 0, 0] = True
        ev = M.NegativeAudioEvaluator([M.fixed(0.5)], ("noise",))
        ev.update(
            pos,
            gt,
            {"noise": np.zeros_like(pos)},
            maxima={"positive": rng.normal(d, 1, n), "noise": rng.normal(0, 1, n)},
        )
        ci = ev.bootstrap("fixed=0.5", resamples=400, seed=rep)
        lo, hi = ci["positive"]["miou"]
        covered_miou += lo <= p <= hi
        lo, hi = ci["separability"]["noise"]
        covered_sep += lo <= true_auc <= hi
    assert 0.89 <= covered_miou / reps <= 0.99
    assert 0.89 <= covered_sep / reps <= 0.99


def test_bootstrap_resamples_whole_groups():
    """k identical samples per group resample as one unit: the same intervals as one sample per group."""
    rng = np.random.default_rng(1)
    g, k = 30, 4
    vals = rng.random((g, 1, 4))
    gt = np.ones((g, 1, 4), dtype=bool)
    single = M.NegativeAudioEvaluator([M.fixed(0.5)], ("noise",))
    single.update(vals, gt, {"noise": vals[::-1]}, groups=[f"g{i}" for i in range(g)])
    grouped = M.NegativeAudioEvaluator([M.fixed(0.5)], ("noise",))
    grouped.update(
        np.repeat(vals, k, axis=0),
        np.repeat(gt, k, axis=0),
        {"noise": np.repeat(vals[::-1], k, axis=0)},
        groups=[f"g{i}" for i in range(g) for _ in range(k)],
    )
    a, b = single.bootstrap("fixed=0.5", 300, seed=5), grouped.bootstrap("fixed=0.5", 300, seed=5)
    assert (a["unit"], a["units"], b["unit"], b["units"]) == ("sample", g, "group", g)
    assert b["positive"]["iiou"] is not None
    for key in ("success", "miou", "auc"):
        assert b["positive"][key] == pytest.approx(a["positive"][key])
    for key, ci in a["negatives"]["noise"].items():
        assert b["negatives"]["noise"][key] == pytest.approx(ci)
    assert b["separability"]["noise"] == pytest.approx(a["separability"]["noise"])


def test_bootstrap_rejects_bad_settings(rng):
    ev = M.NegativeAudioEvaluator([M.fixed(0.5)], ("noise",))
    ev.update(rng.random((3, 2, 2)), rng.random((3, 2, 2)) > 0.5, {"noise": rng.random((3, 2, 2))})
    with pytest.raises(ValueError, match="unknown threshold"):
        ev.bootstrap("median")
    with pytest.raises(ValueError, match="level"):
        ev.bootstrap("fixed=0.5", 10, level=1.5)
