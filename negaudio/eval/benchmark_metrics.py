"""The benchmarks' own metrics on a build, collected per item while scoring: SLAVC's extended-set AP, max-F1 and
Precision (every build with negatives) and AVSBench's Jaccard, F_β and per-class AVSS scores (builds whose ground
truth is a segmentation mask). Formulas: docs/metrics.md §6, §7 and §8."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np

from negaudio.eval.metrics import NOISY_POSITIVE, POSITIVE, NegativeAudioEvaluator, is_tensor
from negaudio.eval.metrics_avs import (
    FMEASURE_THRESHOLDS,
    avs_fmeasure,
    avs_fmeasure_curves,
    avs_jaccard,
    avss_per_class,
    avss_per_frame,
    avss_scores,
)
from negaudio.eval.metrics_common import flat
from negaudio.eval.metrics_slavc import slavc_scores, top_quarter_means

MASK_SOURCES = frozenset({"s4", "ms3", "avss", "composite", "demo"})
"""Sources whose ground truth is a segmentation mask (for the others: when no positive region has a box)."""
ALL = "all"
NUMPY_OPS = SimpleNamespace(
    top_quarter_means=top_quarter_means,
    avs_jaccard=avs_jaccard,
    avs_fmeasure_curves=avs_fmeasure_curves,
    avss_per_frame=lambda pred, target, n: avss_per_frame(pred.astype(np.int64), target.astype(np.int64), n),
)
"""The per-item values of numpy maps (benchmark_torch.py has the same functions for torch maps)."""


class BenchmarkMetrics:
    """Per-item SLAVC confidences and, on segmentation builds, AVSBench per-frame values; ``compute`` aggregates
    them with the item's IoU from the :class:`NegativeAudioEvaluator` it was fed alongside (same batches)."""

    def __init__(self, roles: Mapping[str, str], source_kind: str):
        self.roles = dict(roles)
        self.source_kind = source_kind
        self.negatives = {n for n, r in self.roles.items() if r != NOISY_POSITIVE}
        self.mask_source = source_kind in MASK_SOURCES
        self.boxless = True  # no positive region seen so far has a box
        self.confidence: dict[str, list[np.ndarray]] = {POSITIVE: [], **{n: [] for n in self.negatives}}
        self.jaccard: dict[str, list[np.ndarray]] = {POSITIVE: [], **{n: [] for n in self.roles}}
        self.curve_sums: list[np.ndarray] = []  # per batch; added up in order by ``avsbench``
        self.curve_frames = 0
        self.labels: list[str] = []
        self.frame_class: list[np.ndarray] = []  # per positive: [IoU, F, present] of background and object

    def update(self, batch: Sequence, pos, gt, others: Mapping, present: Mapping) -> None:
        """One scoring batch: the samples, their resized positive maps and GT, the other maps by type and the
        batch indices of the samples that have them (as given to ``NegativeAudioEvaluator.update``): numpy
        arrays, or torch tensors on one device (their values taken there by benchmark_torch.py)."""
        # the maps were checked by the evaluator fed alongside
        if is_tensor(pos):
            from negaudio.eval import benchmark_torch as ops
        else:
            ops = NUMPY_OPS
        if self.negatives:  # SLAVC scores the positives against the negatives (noisy positives take no part)
            self.confidence[POSITIVE].append(ops.top_quarter_means(flat(pos)))
        for name in self.negatives & others.keys():
            self.confidence[name].append(ops.top_quarter_means(flat(others[name])))
        self.boxless &= all(r.box is None for s in batch for r in s.positive.regions)
        if not self.segmentation:  # a box seen on a non-mask source: no AVSBench report, nothing to collect
            return
        target = (gt if is_tensor(gt) else np.asarray(gt)) >= 0.5
        self.jaccard[POSITIVE].append(ops.avs_jaccard(pos, target))
        curves = ops.avs_fmeasure_curves(pos, target)
        valid = ~np.isnan(curves).any(axis=1)
        self.curve_sums.append(curves[valid].sum(axis=0))
        self.curve_frames += int(valid.sum())
        ious, fscores, seen = ops.avss_per_frame(pos > 0.5, target, 2)
        self.frame_class.append(np.stack([ious, fscores, seen], axis=1))
        self.labels += [s.positive.label for s in batch]
        for name, maps in others.items():
            if self.roles[name] == NOISY_POSITIVE:  # present: as in NegativeAudioEvaluator.update, default all
                own = target[list(present[name]) if name in present else slice(None)]
            else:
                own = target.new_zeros(maps.shape) if is_tensor(target) else np.zeros(maps.shape, dtype=bool)
            self.jaccard[name].append(ops.avs_jaccard(maps, own))

    def extend(self, other: BenchmarkMetrics) -> None:
        """Append the batches ``other`` collected after this one's (scoring split into consecutive parts)."""
        for name, values in other.confidence.items():
            self.confidence[name] += values
        if self.segmentation:  # as ``update``: the AVSBench values stop once a box is seen on a box source
            for name, values in other.jaccard.items():
                self.jaccard[name] += values
            self.curve_sums += other.curve_sums
            self.curve_frames += other.curve_frames
            self.labels += other.labels
            self.frame_class += other.frame_class
        self.boxless &= other.boxless

    @property
    def segmentation(self) -> bool:
        """Whether the ground truth is a segmentation mask: a mask source, or no positive region with a box."""
        return self.mask_source or self.boxless

    def compute(self, evaluator: NegativeAudioEvaluator) -> dict:
        """``slavc`` per threshold label and negative type (and ``all`` pooled); ``avsbench`` on segmentation
        builds."""
        out = {"slavc": self.slavc(evaluator)}
        if self.segmentation and self.labels:
            out["avsbench"] = self.avsbench()
        return out

    def slavc(self, evaluator: NegativeAudioEvaluator) -> dict:
        negatives = [n for n in self.roles if n in self.negatives]
        if not negatives:
            return {}
        per_item = evaluator.per_item()
        conf = {n: np.concatenate(c) for n, c in self.confidence.items() if c}
        out = {}
        for t in evaluator.thresholds:
            ious = per_item[POSITIVE][f"iou@{t.label}"]
            sets = {n: [n] for n in negatives} | ({ALL: negatives} if len(negatives) > 1 else {})
            out[t.label] = {}
            for key, names in sets.items():
                neg_conf = np.concatenate([conf[n] for n in names])
                out[t.label][key] = slavc_scores(
                    np.concatenate([ious, np.zeros(neg_conf.size)]),
                    np.concatenate([conf[POSITIVE], neg_conf]),
                    np.concatenate([np.ones(ious.size, bool), np.zeros(neg_conf.size, bool)]),
                )
        return out

    def _curve_sum(self) -> np.ndarray:
        total = np.zeros(FMEASURE_THRESHOLDS.size)
        for batch in self.curve_sums:
            total += batch
        return total

    def avsbench(self) -> dict:
        jaccard = {n: np.concatenate(j) for n, j in self.jaccard.items() if j}
        frames = np.concatenate(self.frame_class)  # [N, 3, 2]: (IoU, F, present) x (background, object)
        classes = sorted(set(self.labels))
        column = np.searchsorted(classes, self.labels) + 1  # 0: background
        n = len(self.labels)
        per = [np.zeros((n, len(classes) + 1)) for _ in range(3)]
        for k in range(3):
            per[k][:, 0] = frames[:, k, 0]
            per[k][np.arange(n), column] = frames[:, k, 1]
        by_class = avss_per_class(*per)
        return {
            "positive": {
                "miou": float(jaccard[POSITIVE].mean()),
                "fbeta": avs_fmeasure(self._curve_sum()[None] / self.curve_frames) if self.curve_frames else 0.0,
                "frames": n,
                "fbeta_frames": self.curve_frames,
            },
            "negatives": {n: {"miou": float(jaccard[n].mean())} for n, r in self.roles.items() if r != NOISY_POSITIVE},
            "noisy_positives": {
                n: {"miou": float(jaccard[n].mean())} for n, r in self.roles.items() if r == NOISY_POSITIVE
            },
            "classes": avss_scores(*per) | {"count": len(classes) + 1},  # the labels and the background
            "per_class": {
                name: {k: float(by_class[k][i + 1]) if k != "frames" else int(by_class[k][i + 1]) for k in by_class}
                for i, name in enumerate(classes)
            }
            | {"background": {k: float(v[0]) if k != "frames" else int(v[0]) for k, v in by_class.items()}},
        }
