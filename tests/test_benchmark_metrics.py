"""The benchmarks' own metrics reach the report: SLAVC extended-set AP/max-F1/Precision on every build with
negatives, AVSBench Jaccard/F_β and per-class scores on segmentation builds; checked against plain loops."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from negaudio.eval import report_md
from negaudio.eval.benchmark_metrics import BenchmarkMetrics
from negaudio.eval.metrics import MISMATCHED, NEGATIVE, NOISY_POSITIVE, NegativeAudioEvaluator, fixed, median
from tests.test_metrics import (
    H,
    W,
    close,
    pixels,
    rand_gt,
    rand_maps,
    ref_avs_jaccard,
    ref_confidence,
    ref_fcurve,
    ref_iou,
    ref_mask,
    ref_slavc,
)

ROLES = {"silence": NEGATIVE, "mismatched": MISMATCHED, "noisy": NOISY_POSITIVE}


def sample(label: str, box=None):
    return SimpleNamespace(positive=SimpleNamespace(label=label, regions=[SimpleNamespace(box=box)]))


@pytest.fixture
def scored():
    """Two batches of samples fed to the evaluator and the benchmark collector alike; the plain inputs kept."""
    rng = np.random.default_rng(7)
    evaluator = NegativeAudioEvaluator([fixed(0.5), median()], ROLES)
    bench = BenchmarkMetrics(ROLES, "s4")
    kept = {"pos": [], "gt": [], "labels": [], "silence": [], "mismatched": [], "noisy": [], "noisy_gt": []}
    for b, labels in ((5, ["dog", "cat", "dog", "car", "cat"]), (4, ["car", "dog", "owl", "dog"])):
        pos, gt = rand_maps(rng, b), rand_gt(rng, b).astype(bool)
        others = {"silence": rand_maps(rng, b) * 0.6, "mismatched": rand_maps(rng, b - 1), "noisy": rand_maps(rng, 2)}
        present = {"silence": list(range(b)), "mismatched": list(range(1, b)), "noisy": [0, 2]}
        evaluator.update(pos, gt, others, present=present)
        bench.update([sample(c) for c in labels], pos, gt, others, present)
        kept["pos"] += list(pos)
        kept["gt"] += list(gt)
        kept["labels"] += labels
        for name, maps in others.items():
            kept[name] += list(maps)
        kept["noisy_gt"] += [gt[0], gt[2]]
    return evaluator, bench, kept


def test_slavc_metrics_of_each_negative_type_match_a_plain_loop(scored):
    evaluator, bench, kept = scored
    got = bench.compute(evaluator)["slavc"]
    assert set(got) == {"fixed=0.5", "median"}
    assert set(got["median"]) == {"silence", "mismatched", "all"}  # noisy positives are not negatives
    assert set(bench.confidence) == {"positive", "silence", "mismatched"}  # nor is their confidence taken
    pos_conf = [ref_confidence(p) for p in kept["pos"]]
    for label, theta in (("fixed=0.5", lambda p: 0.5), ("median", lambda p: float(np.median(p)))):
        ious = [ref_iou(ref_mask(p, theta(p)), g) for p, g in zip(kept["pos"], kept["gt"], strict=True)]
        for key, names in (
            ("silence", ["silence"]),
            ("mismatched", ["mismatched"]),
            ("all", ["silence", "mismatched"]),
        ):
            neg_conf = [ref_confidence(m) for n in names for m in kept[n]]
            expected = ref_slavc(
                [True] * len(ious) + [False] * len(neg_conf), ious + [0.0] * len(neg_conf), pos_conf + neg_conf
            )
            for k, v in expected.items():
                close(got[label][key][k], v)


def ref_pair(pred, target):
    """(IoU, F) of the background and the object of one frame, from plain pixel counts (AVSS formulas)."""
    p, t = [v > 0.5 for v in pixels(pred)], [bool(v) for v in pixels(target)]
    out = []
    for c in (False, True):
        inter = sum(a == c and b == c for a, b in zip(p, t, strict=True))
        area_p, area_l = sum(a == c for a in p), sum(b == c for b in t)
        union = area_p + area_l - inter
        f = 1.3 * inter / (0.3 * area_l + area_p) if inter else 0.0
        out.append((inter / union if union else 0.0, f, union > 0))
    return out


def test_avsbench_metrics_match_a_plain_loop(scored):
    evaluator, bench, kept = scored
    avs = bench.compute(evaluator)["avsbench"]
    pos, gt = kept["pos"], kept["gt"]
    close(avs["positive"]["miou"], np.mean([ref_avs_jaccard(p, g) for p, g in zip(pos, gt, strict=True)]))
    curves = [ref_fcurve(p, g) for p, g in zip(pos, gt, strict=True) if g.any()]
    close(avs["positive"]["fbeta"], max(np.mean(curves, axis=0)))
    assert avs["positive"]["fbeta_frames"] == len(curves) < len(pos)  # frames with an empty target are skipped
    empty = np.zeros((H, W))
    close(avs["negatives"]["silence"]["miou"], np.mean([ref_avs_jaccard(m, empty) for m in kept["silence"]]))
    close(avs["negatives"]["mismatched"]["miou"], np.mean([ref_avs_jaccard(m, empty) for m in kept["mismatched"]]))
    noisy = [ref_avs_jaccard(m, g) for m, g in zip(kept["noisy"], kept["noisy_gt"], strict=True)]
    close(avs["noisy_positives"]["noisy"]["miou"], np.mean(noisy))
    # per class: Σ over the frames where the class is present / their count; the class mean over classes + bg
    frames = [ref_pair(p, g) for p, g in zip(pos, gt, strict=True)]
    per_class = {}
    for c in sorted(set(kept["labels"])):
        mine = [f[1] for f, label in zip(frames, kept["labels"], strict=True) if label == c and f[1][2]]
        per_class[c] = (
            len(mine),
            sum(x[0] for x in mine) / max(1, len(mine)),
            sum(x[1] for x in mine) / max(1, len(mine)),
        )
    bg = [f[0] for f in frames if f[0][2]]
    per_class["background"] = (len(bg), sum(x[0] for x in bg) / len(bg), sum(x[1] for x in bg) / len(bg))
    assert list(avs["per_class"]) == [*sorted(set(kept["labels"])), "background"]
    for c, (n, iou, f) in per_class.items():
        assert avs["per_class"][c]["frames"] == n
        close(avs["per_class"][c]["miou"], iou)
        close(avs["per_class"][c]["fscore"], f)
    close(avs["classes"]["miou"], np.mean([v[1] for v in per_class.values()]))
    close(avs["classes"]["fscore"], np.mean([v[2] for v in per_class.values()]))
    assert avs["classes"]["count"] == len(per_class)  # the classes the mean is over: the labels and the background
    line = report_md.console_lines({"metrics": {"avsbench": avs}, "headline": {"threshold": "x"}})[0]
    assert f"({len(per_class)} classes incl. background)" in line


def test_avsbench_metrics_need_a_segmentation_ground_truth():
    rng = np.random.default_rng(1)
    roles = {"silence": NEGATIVE}
    for kind, box, expected in (
        ("vggss", [0, 0, 4, 4], False),
        ("folder", None, True),
        ("folder", [0, 0, 4, 4], False),
    ):
        evaluator, bench = NegativeAudioEvaluator([fixed(0.5)], roles), BenchmarkMetrics(roles, kind)
        pos, gt = rand_maps(rng, 3), rand_gt(rng, 3).astype(bool)
        evaluator.update(pos, gt, {"silence": rand_maps(rng, 3)})
        bench.update([sample("a", box)] * 3, pos, gt, {"silence": rand_maps(rng, 3)}, {"silence": [0, 1, 2]})
        assert ("avsbench" in bench.compute(evaluator)) is expected, (kind, box)
        # a build that cannot report AVSBench metrics collects nothing for them
        assert (bench.curve_frames > 0 and len(bench.jaccard["silence"]) == 1) is expected, (kind, box)


def test_the_demo_eval_reports_the_benchmark_metrics(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / "cache"))
    assert cli("build", "is3plus", "-o", tmp_path / "b", "--limit", "4").exit_code == 0
    result = cli("eval", tmp_path / "b", "--model", "oracle", "-o", tmp_path / "e", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    label = report["headline"]["threshold"]
    slavc, avs = report["metrics"]["slavc"][label], report["metrics"]["avsbench"]
    assert set(slavc) == {*report["metrics"]["negatives"], "all"}
    assert slavc["all"]["max_F1"] == 1.0  # the oracle: every positive found, no negative map above 0
    assert avs["positive"]["miou"] == 1.0 and avs["positive"]["fbeta"] == pytest.approx(1.0)
    assert all(v["miou"] == 1.0 for v in avs["negatives"].values())
    md = (tmp_path / "e" / "report.md").read_text()
    assert f"## SLAVC extended-set metrics (headline θ = {label})" in md and "## AVSBench metrics" in md
    printed = " ".join(result.output.split())
    assert f"SLAVC extended set @{label}: AP" in printed and "AVSBench: mIoU 100.0, F_β 100.0" in printed
