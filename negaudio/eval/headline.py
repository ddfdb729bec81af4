"""The headline of an evaluation: one named threshold, the numbers a reader quotes, each with its bootstrap interval.

report.json's ``headline`` section is built here; report.md's "At a glance" and the console summary read it.
"""

from __future__ import annotations

from collections.abc import Sequence

from negaudio.eval.bootstrap import MIN_PAIRS
from negaudio.eval.metrics import NegativeAudioEvaluator

HEADLINE_ORDER = ("maxq3", "maxq3_separate", "max10", "max", "median")
HEADLINE_RULE = (
    "the first of maxq3, maxq3_separate, max10, max, median among the thresholds scored (else the first scored): "
    "the calibrated Q3 of negative maxima, at which vssl_eval reports"
)
POSITIVE_KEYS = ("success", "miou", "auc", "iiou", "iauc")
NEGATIVE_KEYS = ("pia", "auc_n", "posneg_iou", "both_empty")
NOISY_KEYS = ("success", "miou")


def headline_threshold(labels: Sequence[str]) -> str:
    """The headline threshold's label among the scored ``labels``."""
    return next((k for k in HEADLINE_ORDER if k in labels), labels[0])


def _entry(value, ci: dict | None, key: str) -> dict:
    return {"value": value, "ci": None if ci is None else ci.get(key)}


def headline(
    metrics: dict, evaluator: NegativeAudioEvaluator, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """The ``headline`` section: threshold, bootstrap settings and {value, ci} per headline metric.

    ``resamples`` 0 skips the bootstrap (every ``ci`` is None).
    """
    label = headline_threshold([t.label for t in evaluator.thresholds])
    ci = evaluator.bootstrap(label, resamples, seed, level) if resamples > 0 else {}
    settings = None
    if resamples > 0:
        settings = {"method": "percentile", "resamples": resamples, "seed": seed, "level": level}
        settings |= {"unit": ci["unit"], "units": ci["units"]}
    out: dict = {"threshold": label, "rule": HEADLINE_RULE, "bootstrap": settings}
    pos, pos_ci = metrics["positive"][label], ci.get("positive")
    out["positive"] = {k: _entry(pos[k], pos_ci, k) for k in POSITIVE_KEYS if k in pos}
    out["negatives"] = {}
    for n, by_thr in metrics["negatives"].items():
        v, n_ci = by_thr[label], ci.get("negatives", {}).get(n)
        entry = {k: _entry(v[k], n_ci, k) for k in NEGATIVE_KEYS}
        entry["separability"] = _entry(metrics["separability"][n], ci.get("separability"), n)
        entry |= {k: v[k] for k in ("posneg_pairs", "posneg_excluded", "posneg_iou_reference")}
        if v["posneg_pairs"] < MIN_PAIRS:  # too few pairs resample to a zero-width interval
            entry["posneg_iou"]["ci"] = None
        out["negatives"][n] = entry
    if metrics["negatives"]:
        out["pooled_separability"] = _entry(metrics["separability"]["all"], ci.get("separability"), "all")
    out["noisy_positives"] = {
        n: {k: _entry(by_thr[label][k], ci.get("noisy_positives", {}).get(n), k) for k in NOISY_KEYS}
        for n, by_thr in metrics["noisy_positives"].items()
    }
    if metrics["hearing_impairment"]:
        out["hearing_impairment"] = {
            "HI": _entry(metrics["hearing_impairment"][label]["HI"], ci.get("hearing_impairment"), "HI")
        }
    return out
