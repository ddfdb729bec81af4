"""Per-item scores of upsampled maps at every threshold, and their aggregation into the report's metrics.

Per-image thresholds are resolved on the positive map and reused for that sample's negatives (vssl_eval);
a noisy positive is a positive: its per-image threshold comes from its own map. Everything per item is
kept (a few floats), so samples may lack some negatives and ``items.csv`` can list every value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from negaudio.eval.metrics import (
    Threshold,
    binarize,
    hearing_impairment,
    interactive_auc,
    interactive_iou,
    iou,
    iou_auc,
    mask_pair_iou,
    maxima_stats,
    mean_iou,
    pia,
    pia_auc,
    pia_success,
    pos_neg_f_scores,
    separability_auc,
    success_rate,
)
from negaudio.eval.samples import NOISY_POSITIVE, POSITIVE, BuildIndex, Sample


def row_keys(labels: Sequence[str]) -> list[str]:
    """Column names of one item's scores: identity, raw max, then θ, IoU, pIA, pos–neg IoU per threshold."""
    keys = ["item_id", "kind", "name", "sample_id", "group", "max"]
    for label in labels:
        keys += [f"theta@{label}", f"iou@{label}", f"pia@{label}", f"posneg_iou@{label}"]
    return keys


class Scorer:
    """Accumulates per-item scores batch by batch; ``summary()`` aggregates them with the metric core."""

    def __init__(self, thresholds: Sequence[Threshold], index: BuildIndex):
        self.thresholds = tuple(thresholds)
        self.index = index
        self.rows: list[dict] = []
        self._by_name: dict[str, list[dict]] = {}

    def add(
        self,
        samples: Sequence[Sample],
        pos: np.ndarray,
        gt: np.ndarray,
        others: Mapping[str, list[tuple[int, np.ndarray]]],
        maxima: Mapping[str, float],
    ) -> None:
        """Score one batch: positive maps and GT [B, H, W] (one frame), ``others[name]`` = [(batch index, map)]."""
        rows = {s.positive.item_id: self._row(s.positive, maxima) for s in samples}
        for name, entries in others.items():
            for i, _ in entries:
                r = samples[i].others[name]
                rows[r.item_id] = self._row(r, maxima)
        for thr in self.thresholds:
            at = f"@{thr.label}"
            theta = thr.resolve(pos, gt)
            b_pos = binarize(pos, theta)
            self._put(rows, [s.positive.item_id for s in samples], at, theta, iou(b_pos, gt), pia(b_pos), None)
            for name, entries in others.items():
                idx = np.array([i for i, _ in entries])
                maps = np.stack([m for _, m in entries])
                th = thr.resolve(maps, gt[idx]) if self.index.types[name] == NOISY_POSITIVE else theta[idx]
                b = binarize(maps, th)
                ids = [samples[i].others[name].item_id for i in idx]
                self._put(rows, ids, at, th, iou(b, gt[idx]), pia(b), mask_pair_iou(b_pos[idx], b))
        for row in rows.values():
            self.rows.append(row)
            self._by_name.setdefault(row["name"], []).append(row)

    @staticmethod
    def _row(record, maxima: Mapping[str, float]) -> dict:
        return {
            "item_id": record.item_id,
            "kind": record.kind,
            "name": record.name,
            "sample_id": record.sample_id,
            "group": record.group or record.sample_id,
            "max": maxima[record.item_id],
        }

    @staticmethod
    def _put(rows, ids, at, theta, ious, pias, pairs) -> None:
        for j, item_id in enumerate(ids):
            row = rows[item_id]
            row[f"theta{at}"] = float(theta[j])
            row[f"iou{at}"] = float(ious[j])
            row[f"pia{at}"] = float(pias[j])
            row[f"posneg_iou{at}"] = None if pairs is None else float(pairs[j])

    def column(self, name: str, key: str) -> np.ndarray:
        """One score of every item named ``name``, in manifest order."""
        return np.array([r[key] for r in self._by_name.get(name, [])], dtype=np.float64)

    def summary(self) -> dict:
        """Every aggregate metric, nested by group of items and threshold label (rates as fractions)."""
        idx = self.index
        groups = [r["group"] for r in self._by_name.get(POSITIVE, [])]
        out: dict = {"positive": {}, "negatives": {n: {} for n in idx.negatives()}}
        out["noisy_positives"] = {n: {} for n in idx.noisy()}
        out["f_scores"], out["hearing_impairment"] = {}, {}
        mismatched = idx.kinds("mismatched")
        for thr in self.thresholds:
            at = f"@{thr.label}"
            ious = self.column(POSITIVE, f"iou{at}")
            pos = {"success": success_rate(ious), "miou": mean_iou(ious), "auc": iou_auc(ious)}
            if idx.shared_groups:
                pos |= {"iiou": interactive_iou(ious, groups), "iauc": interactive_auc(ious, groups)}
            out["positive"][thr.label] = pos
            for name in idx.negatives():
                out["negatives"][name][thr.label] = self._negative(name, at)
            for name in idx.noisy():
                n_ious = self.column(name, f"iou{at}")
                out["noisy_positives"][name][thr.label] = {
                    "success": success_rate(n_ious),
                    "miou": mean_iou(n_ious),
                    "auc": iou_auc(n_ious),
                    "posneg_iou": float(self.column(name, f"posneg_iou{at}").mean()),
                }
            negs = out["negatives"]
            if negs:
                out["f_scores"][thr.label] = pos_neg_f_scores(
                    pos["miou"],
                    pos["auc"],
                    {n: negs[n][thr.label]["pia"] for n in negs},
                    {n: negs[n][thr.label]["auc_n"] for n in negs},
                )
            if mismatched:
                out["hearing_impairment"][thr.label] = self._hearing(mismatched, at)
        out["maxima"] = {n: maxima_stats(self.column(n, "max")) for n in idx.types}
        pos_max = self.column(POSITIVE, "max")
        out["separability"] = {n: separability_auc(pos_max, self.column(n, "max")) for n in idx.negatives()}
        if idx.negatives():
            pooled = np.concatenate([self.column(n, "max") for n in idx.negatives()])
            out["separability"]["all"] = separability_auc(pos_max, pooled)
        return out

    def _negative(self, name: str, at: str) -> dict:
        pias = self.column(name, f"pia{at}")
        gt_ious = self.column(name, f"iou{at}")
        return {
            "pia": float(pias.mean()),
            "auc_n": pia_auc(pias),
            "pia_success": pia_success(pias),
            "posneg_iou": float(self.column(name, f"posneg_iou{at}").mean()),
            "gt_iou": mean_iou(gt_ious),
            "gt_success": success_rate(gt_ious),
        }

    def _hearing(self, names: list[str], at: str) -> dict:
        matched = {r["sample_id"]: r[f"iou{at}"] for r in self._by_name[POSITIVE]}
        rows = [r for n in names for r in self._by_name.get(n, [])]
        result = hearing_impairment(
            [matched[r["sample_id"]] for r in rows],
            [r[f"iou{at}"] for r in rows],
            [r[f"posneg_iou{at}"] for r in rows],
        )
        return result | {"pairs": len(rows)}


def pia_curves(scorer: Scorer, grid: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """frac(pIA <= t) for t in ``grid``, per threshold label and negative type (the AUC-N integrand)."""
    curves: dict[str, dict[str, list[float]]] = {}
    for thr in scorer.thresholds:
        curves[thr.label] = {}
        for name in scorer.index.negatives():
            pias = np.sort(scorer.column(name, f"pia@{thr.label}"))
            curves[thr.label][name] = (np.searchsorted(pias, grid, side="right") / pias.size).tolist()
    return curves
