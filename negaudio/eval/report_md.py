"""report.md: the report's tables in the papers' terms (rates in percent), from the report.json content."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

HEADLINE_ORDER = ("maxq3", "maxq3_separate", "max10", "max", "median")


def headline_label(report: dict) -> str:
    """The threshold of the at-a-glance table and gallery: the calibrated Q3 of negative maxima when present."""
    labels = [t["label"] for t in report["thresholds"]]
    return next((k for k in HEADLINE_ORDER if k in labels), labels[0])


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "--:" for i in range(len(header))) + "|",
    ]
    return lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows]


def reading(separability: float, posneg: float) -> str:
    if separability >= 0.9 and posneg < 0.5:
        return "reacts to the audio"
    if separability >= 0.7:
        return "partly reacts"
    if separability <= 0.3:
        return "reacts, but more than to the real sound"
    return "does not react"


def _theta(t: dict) -> str:
    value = "per image" if t["value"] is None else f"{t['value']:.4g}"
    return f"{t['label']} ({value})"


def _by_threshold(report: dict, header: Sequence[str], cells: Callable[[str], list[str]]) -> list[str]:
    return table(["θ", *header], [[_theta(t), *cells(t["label"])] for t in report["thresholds"]])


def partial_note(report: dict) -> str | None:
    """One line when the build is partial (``partial`` or a non-empty ``missing`` in its build.json), else None."""
    b = report["build"]
    missing = b.get("missing") or {}
    if not (b.get("partial") or missing):
        return None
    left = []
    if missing:
        left.append(
            f"{missing.get('files', '?')} source file(s) missing, {missing.get('samples_dropped', '?')} sample(s) "
            f"and {missing.get('items_dropped', '?')} item(s) dropped"
        )
    if b.get("failures"):
        left.append(f"{b['failures']} failure(s)")
    counts = f" ({'; '.join(left)})" if left else ""
    root = Path(b["path"])
    return (
        f"partial build: some items were left out{counts}, so these scores cover only the items present; "
        f"see `missing` in {root / 'build.json'} and {root / 'failures.jsonl'} for what was left out"
    )


def _header(report: dict) -> list[str]:
    b, cal = report["build"], report["calibration"]
    lines = [f"# negaudio evaluation: {b['dataset']}@{b['version']}", ""]
    counts = ", ".join(f"{n} {c}" for n, c in report["counts"].items() if n not in ("samples", "items"))
    lines.append(f"- **Build** `{b['path']}`, content sha256 `{b['content_sha256']}`")
    lines.append(f"  ({report['counts']['samples']} samples, {report['counts']['items']} items: {counts})")
    note = partial_note(report)
    if note:
        lines.append(f"  - **{note}**")
    if report.get("model"):
        m = report["model"]
        lines.append(f"- **Model** `{m['spec']}` on {m['device']} (options {m.get('options') or {}})")
    for f in report["predictions"]["files"]:
        lines.append(f"- **Predictions** `{f['path']}`, sha256 `{f['sha256']}`")
    if report["predictions"]["unknown_items"]:
        first = ", ".join(report["predictions"]["unknown_first"][:5])
        lines.append(f"  - ignored {report['predictions']['unknown_items']} map(s) of unknown items (first: {first})")
    lines.append(f"- **Resizing** {report['upsampling']}; map maxima on {report['maxima_on']}")
    if cal["source"] != "none":
        lines.append(f"- **Universal thresholds** calibrated on split `{cal['split']}` ({cal['source']})")
        if cal["in_sample"]:
            lines.append(f"  - **In-sample, optimistic**: {cal['note']}")
    lines.append("- Rates are percent. ↑ higher is better, ↓ lower is better.")
    return lines


def _glance(report: dict) -> list[str]:
    m, label = report["metrics"], headline_label(report)
    if not m["negatives"]:
        return []
    per_image = "median" if "median" in m["positive"] else label
    rows = []
    for n, by_thr in m["negatives"].items():
        sep, same = m["separability"][n], by_thr[per_image]["posneg_iou"]
        rows.append([n, report["counts"][n], f"{sep:.2f}", pct(same), pct(by_thr[label]["pia"]), reading(sep, same)])
    header = [
        "negative",
        "items",
        "separability ROC-AUC ↑",
        f"pos–neg IoU @{per_image} ↓",
        f"mean pIA @{label} ↓",
        "reading",
    ]
    lines = ["", "## At a glance: does the model listen?", "", *table(header, rows), ""]
    lines.append(
        f"Positives @{label}: cIoU {pct(m['positive'][label]['success'])}, mIoU {pct(m['positive'][label]['miou'])}; "
        f"pooled separability {m['separability']['all']:.2f}. Separability = P(max of a positive map > max of the "
        "negative's map), 0.5 when the peak ignores the audio. Pos–neg IoU = overlap of the regions painted for "
        "the real sound and for the negative (100: the same region whatever is heard). Reading: separability "
        "≥ 0.9 and pos–neg IoU < 50 reacts; ≥ 0.7 partly; ≤ 0.3 the negative peaks higher than the real sound."
    )
    return lines


def _thresholds(report: dict) -> list[str]:
    rows = []
    for t in report["thresholds"]:
        value = "per image" if t["value"] is None else f"{t['value']:.4g}"
        label = f"{t['label']} ⚠" if t["size_prior"] else t["label"]
        rows.append([label, t["kind"], value, t["source"]])
    return ["", "## Thresholds", "", *table(["θ", "kind", "value", "provenance"], rows)]


def _positives(report: dict) -> list[str]:
    m = report["metrics"]
    groups = any("iiou" in v for v in m["positive"].values())
    header = ["cIoU (success) ↑", "mIoU ↑", "AUC ↑"] + (["iIoU ↑", "IAUC ↑"] if groups else [])

    def cells(label: str) -> list[str]:
        v = m["positive"][label]
        return [pct(v[k]) for k in ("success", "miou", "auc", *(("iiou", "iauc") if groups else ()))]

    lines = ["", f"## Positives ({report['counts']['positive']} items)", ""]
    lines += _by_threshold(report, header, cells)
    lines += ["", "cIoU = fraction of positives with IoU ≥ 0.5 (the papers' cIoU); AUC over IoU thresholds 0..1."]
    if groups:
        lines[-1] += " iIoU/IAUC: a group (one image's samples) counts only if all its samples succeed."
    return lines


def _negatives(report: dict) -> list[str]:
    negs = report["metrics"]["negatives"]
    if not negs:
        return []
    lines = ["", "## Negatives", ""]
    parts = [
        ("pia", "Mean pIA (percentage of image area above θ) ↓"),
        ("auc_n", "AUC-N: area under frac(pIA ≤ t) ↑"),
        ("pia_success", "pIA success: fraction of items with pIA < 50% ↑"),
        ("posneg_iou", "Pos–neg IoU: overlap of binarised positive and negative maps ↓"),
        ("gt_success", "Negatives still localising the object: fraction with IoU(map, GT) ≥ 0.5 ↓"),
    ]
    for key, title in parts:
        lines += ["", f"### {title}", ""]
        lines += _by_threshold(report, list(negs), lambda label, k=key: [pct(negs[n][label][k]) for n in negs])
    return lines


def _noisy(report: dict) -> list[str]:
    noisy = report["metrics"]["noisy_positives"]
    if not noisy:
        return []
    lines = ["", "## Noisy positives (the sound plus noise; scored as positives)", ""]
    header = [f"{n} {h}" for n in noisy for h in ("cIoU ↑", "mIoU ↑")]
    return lines + _by_threshold(
        report, header, lambda label: [pct(noisy[n][label][k]) for n in noisy for k in ("success", "miou")]
    )


def _f_scores(report: dict) -> list[str]:
    f = report["metrics"]["f_scores"]
    if not f:
        return []
    keys = list(next(iter(f.values())))
    lines = ["", "## F-scores (percent; vssl_eval's combination of positives and negatives)", ""]
    lines += _by_threshold(report, keys, lambda label: [f"{f[label][k]:.1f}" for k in keys])
    lines += ["", "F_Pos_Neg = F(mIoU, 100 − mean pIA); F_AUC_AOC = F(AUC, AUC-N); vssl_eval reports them at maxq3."]
    return lines


def _hearing(report: dict) -> list[str]:
    hi = report["metrics"]["hearing_impairment"]
    if not hi:
        return []
    lines = ["", "## Hearing Impairment (mismatched audio; definition: docs/protocols.md#hearing-impairment)", ""]
    lines += _by_threshold(
        report,
        ["HI ↓", "mean s (pos/mismatched map IoU) ↓", "HI-F ↑", "pairs"],
        lambda label: [pct(hi[label]["HI"]), pct(hi[label]["mean_s"]), pct(hi[label]["HI_F"]), hi[label]["pairs"]],
    )
    lines += ["", "HI = fraction of mismatched pairs whose map still finds the object (IoU ≥ 0.5)."]
    return lines


def _maxima(report: dict) -> list[str]:
    m = report["metrics"]
    rows = []
    for n, s in m["maxima"].items():
        sep = m["separability"].get(n)
        rows.append(
            [
                n,
                report["counts"][n],
                *(f"{s[k]:.3f}" for k in ("mean", "median", "q1", "q3", "min", "max")),
                "–" if sep is None else f"{sep:.3f}",
            ]
        )
    header = ["type", "items", "mean", "median", "q1", "q3", "min", "max", "separability ROC-AUC ↑"]
    return ["", "## Map maxima (raw maps)", "", *table(header, rows)]


def render(report: dict) -> str:
    """The whole Markdown report."""
    lines = _header(report)
    for part in (_glance, _thresholds, _positives, _negatives, _noisy, _f_scores, _hearing, _maxima):
        lines += part(report)
    lines += ["", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in report.get("plots", [])]
    lines += ["", "Per-item values: `items.csv`. Everything above, unrounded: `report.json`.", ""]
    return "\n".join(lines)
