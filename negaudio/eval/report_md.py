"""report.md: the report's tables in the papers' terms (rates in percent), from the report.json content."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from negaudio.eval.bootstrap import MIN_PAIRS
from negaudio.eval.headline import headline_threshold


def headline_label(report: dict) -> str:
    """The one headline threshold (at a glance, console, gallery): report.json's ``headline.threshold``."""
    if "headline" in report:
        return report["headline"]["threshold"]
    return headline_threshold([t["label"] for t in report["thresholds"]])


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def with_ci(entry: dict, percent: bool = True) -> str:
    """A headline entry as ``value [lo, hi]`` (percent, or 2 decimals), or the value alone without interval."""

    def fmt(x: float | None) -> str:
        return pct(x) if percent else ("–" if x is None else f"{x:.2f}")

    ci = entry.get("ci")
    return fmt(entry["value"]) + ("" if ci is None else f" [{fmt(ci[0])}, {fmt(ci[1])}]")


def ci_note(report: dict) -> str:
    """One sentence on the intervals of the headline."""
    b = report["headline"]["bootstrap"]
    if b is None:
        return "No confidence intervals (bootstrap disabled)."
    return (
        f"[lo, hi]: {100 * b['level']:g}% percentile bootstrap interval ({b['resamples']} resamples of the "
        f"{b['units']} {b['unit']}s, seed {b['seed']}; a {b['unit']} is resampled with all its items)."
    )


NUMBER = re.compile(r"^(–|[-+]?\d[\d.,]*%?( \[[^]]*\])?)$")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table: columns of numbers right-aligned, text columns left-aligned."""
    numeric = [bool(rows) and all(NUMBER.match(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("--:" if right else ":--" for right in numeric) + "|",
    ]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]


def reading(separability: float, posneg: float | None) -> str:
    """The 'At a glance' reading of one negative: by separability, and by pos–neg IoU where a pair defines it
    (None: every positive map is empty at θ, so no region can be compared)."""
    same = posneg is not None and posneg >= 0.5
    if separability >= 0.9 and not same:
        return "reacts to the audio"
    if separability >= 0.7:
        return "partly reacts"
    if separability <= 0.3:
        return "peaks higher for this negative" + (", in the same region" if same else "")
    return "does not react"


def _theta(t: dict) -> str:
    value = "per image" if t["value"] is None else f"{t['value']:.4g}"
    return f"{t['label']} ({value})"


def _by_threshold(report: dict, header: Sequence[str], cells: Callable[[str], list[str]]) -> list[str]:
    return table(["θ", *header], [[_theta(t), *cells(t["label"])] for t in report["thresholds"]])


def no_gt_note(report: dict) -> str | None:
    """The note of a build none of whose positives has a ground-truth region (reports before it: None)."""
    from negaudio.manifest.summary import no_ground_truth_note

    with_gt = (report.get("ground_truth") or {}).get("samples_with_gt")
    return None if with_gt is None else no_ground_truth_note(with_gt, report["counts"]["samples"])


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
    for note in (partial_note(report), no_gt_note(report)):
        if note:
            lines.append(f"  - **{note}**")
    if report.get("model"):
        m = report["model"]
        scored = f", maps scored on {m['scored_on']}" if m.get("scored_on") else ""
        lines.append(f"- **Model** `{m['spec']}` on {m['device']}{scored} (options {m.get('options') or {}})")
        if m.get("scored_on_note"):
            lines.append(f"  - {m['scored_on_note']}")
        if m.get("compat"):
            lines.append(f"  - **{m['compat']['note']}**")
    for f in report["predictions"]["files"]:
        lines.append(f"- **Predictions** `{f['path']}`, maps sha256 `{f['maps_sha256']}`")
    if note := unknown_note(report):
        lines.append(f"  - {note}")
    lines.append(f"- **Resizing** {report['upsampling']}; map maxima on {report['maxima_on']}")
    if cal["source"] != "none":
        lines.append(f"- **Universal thresholds** calibrated on split `{cal['split']}` ({cal['source']})")
        for f in cal.get("predictions", []):
            lines.append(f"  - on the maps `{f['path']}`, maps sha256 `{f['maps_sha256']}`")
        if cal["in_sample"]:
            lines.append(f"  - **In-sample, optimistic**: {cal['note'].split('; ', 1)[-1]}")
        if cal.get("model_note"):
            lines.append(f"  - **{cal['model_note']}**")
    lines.append("- Rates are percent. ↑ higher is better, ↓ lower is better.")
    return lines


def _glance(report: dict) -> list[str]:
    m, h = report["metrics"], report["headline"]
    label = h["threshold"]
    if not m["negatives"]:
        return []
    rows = []
    for n, e in h["negatives"].items():
        sep, same = e["separability"]["value"], e["posneg_iou"]["value"]
        rows.append(
            [
                n,
                report["counts"][n],
                with_ci(e["separability"], percent=False),
                with_ci(e["posneg_iou"]),
                e["posneg_excluded"],
                with_ci(e["both_empty"]),
                with_ci(e["pia"]),
                reading(sep, same),
            ]
        )
    header = [
        "negative",
        "items",
        "separability ROC-AUC ↑",
        "pos–neg IoU ↓",
        "pairs excluded (empty positive)",
        "both empty",
        "mean pIA ↓",
        "reading",
    ]
    pos = h["positive"]
    lines = ["", f"## At a glance: does the model listen? (headline θ = {label})", "", *table(header, rows), ""]
    if note := empty_positives_note(report):
        lines += [f"**Note: {note}.**", ""]
    lines.append(
        f"Positives @{label}: cIoU {with_ci(pos['success'])}, mIoU {with_ci(pos['miou'])}; "
        f"pooled separability {with_ci(h['pooled_separability'], percent=False)}. {ci_note(report)}"
    )
    lines += [
        "",
        f"Headline θ: {h['rule']}. Separability = P(max of a positive map > max of the negative's map), 0.5 when "
        "the peak ignores the audio. Pos–neg IoU = overlap of the regions painted for the real sound and for the "
        "negative (100: the same region whatever is heard), over the pairs whose positive map is non-empty at θ; "
        f"pairs with an empty positive map are excluded and counted (fewer than {MIN_PAIRS} pairs left: no "
        "interval), and 'both empty' is the fraction of all pairs with both maps empty (the reference code counts "
        "those as IoU 100: `posneg_iou_reference` in report.json). Reading: separability ≥ 0.9 and pos–neg IoU < 50 "
        "(or no pair to compare) reacts; ≥ 0.7 partly; ≤ 0.3 the negative peaks higher than the real sound (in the "
        "same region when pos–neg IoU ≥ 50).",
    ]
    return lines


def _thresholds(report: dict) -> list[str]:
    """The thresholds; a provenance shared by several rows is written once, below the table."""
    sources = [t["source"] for t in report["thresholds"]]
    shared = list(dict.fromkeys(s for s in sources if sources.count(s) > 1))
    marks = {s: "†" * (i + 1) for i, s in enumerate(shared)}
    rows = []
    for t in report["thresholds"]:
        value = "per image" if t["value"] is None else f"{t['value']:.4g}"
        label = f"{t['label']} ⚠" if t["size_prior"] else t["label"]
        rows.append([label, t["kind"], value, marks.get(t["source"], t["source"])])
    lines = ["", "## Thresholds", "", *table(["θ", "kind", "value", "provenance"], rows)]
    if shared:
        lines += ["", *(f"{marks[s]} {s}" + ("  " if i < len(shared) - 1 else "") for i, s in enumerate(shared))]
    return lines


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
    lines = ["", "## Negatives"]
    parts = [
        ("pia", "Mean pIA (percentage of image area above θ) ↓"),
        ("auc_n", "AUC-N: area under frac(pIA ≤ t) ↑"),
        ("pia_success", "pIA success: fraction of items with pIA < 50% ↑"),
        ("posneg_iou", "Pos–neg IoU: overlap of binarised positive and negative maps, non-empty positives ↓"),
        ("both_empty", "Both maps empty: fraction of pairs"),
        ("posneg_iou_reference", "Pos–neg IoU, reference convention (both empty = 100) ↓"),
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


def _slavc(report: dict) -> list[str]:
    slavc = report["metrics"].get("slavc")
    if not slavc:
        return []
    label = headline_label(report)
    rows = [[n, pct(v["AP"]), pct(v["max_F1"]), pct(v["Precision"])] for n, v in slavc[label].items()]
    lines = ["", f"## SLAVC extended-set metrics (headline θ = {label})", ""]
    lines += table(["negatives as non-sounding pairs", "AP ↑", "max-F1 ↑", "Precision ↑"], rows)
    lines += [
        "",
        "Each row scores the positives together with the negatives of that type (all: every negative) as SLAVC "
        "scores its extended sets: a pair is detected when its confidence (mean of the top quarter of the map) "
        "reaches t; a detection is a true positive when the pair has a sounding object and IoU ≥ 0.5 at θ, else a "
        "false positive. Every threshold: `slavc` in report.json.",
    ]
    return lines


def _avsbench(report: dict) -> list[str]:
    avs = report["metrics"].get("avsbench")
    if not avs:
        return []
    pos, classes = avs["positive"], avs["classes"]
    lines = ["", "## AVSBench metrics (segmentation ground truth; map > 0.5 as the mask)", ""]
    rows = [["positive", pos["frames"], pct(pos["miou"]), pct(pos["fbeta"])]]
    rows += [[n, report["counts"][n], pct(v["miou"]), "–"] for n, v in avs["noisy_positives"].items()]
    rows += [[n, report["counts"][n], pct(v["miou"]), "–"] for n, v in avs["negatives"].items()]
    lines += table(["items", "frames", "Jaccard (mIoU) ↑", "F_β ↑"], rows)
    lines += [
        "",
        f"Class means over {classes['count']} classes, the {classes['count'] - 1} labels and the background (AVSS "
        f"protocol): mIoU "
        f"{pct(classes['miou'])}, F {pct(classes['fscore'])}. F_β: β² = 0.3, maximum over 255 thresholds of the "
        "frame-averaged F curve. A negative has an empty target, so its Jaccard is the fraction of pixels left "
        "empty (100: nothing painted).",
        "",
    ]
    rows = [[c, v["frames"], pct(v["miou"]), pct(v["fscore"])] for c, v in avs["per_class"].items()]
    return lines + table(["class", "frames", "IoU ↑", "F ↑"], rows)


def unknown_note(report: dict) -> str | None:
    """The line on maps whose item the build does not hold (ignored), or None."""
    count = report["predictions"]["unknown_items"]
    if not count:
        return None
    first = ", ".join(report["predictions"]["unknown_first"][:5])
    return f"ignored {count} map(s) of items the build does not hold (first: {first})"


EMPTY_SHARE = 0.95
"""Share of empty positive maps at the headline θ from which the report warns that the negatives' pIA and AUC-N
are good by construction."""


def empty_positives_note(report: dict) -> str | None:
    """One line when the headline θ leaves (nearly) every positive map empty: nothing is lit up for the negatives
    either, so their pIA and AUC-N look perfect whatever the model heard (a map whose peak is the same for every
    item, at a θ calibrated on those peaks, is one such case). None otherwise."""
    negatives = report["headline"]["negatives"].values()
    pairs = sum(e["posneg_pairs"] + e["posneg_excluded"] for e in negatives)
    empty = sum(e["posneg_excluded"] for e in negatives)
    if not pairs or empty / pairs < EMPTY_SHARE:
        return None
    label = headline_label(report)
    value = next((t["value"] for t in report["thresholds"] if t["label"] == label), None)
    at = label if value is None else f"{label} = {value:.4g}"
    return (
        f"at the headline θ ({at}) {empty / pairs:.0%} of the positive maps are empty: the negatives' pIA and AUC-N "
        "are then near-perfect by construction, not by listening; read separability and the other thresholds"
    )


def console_lines(report: dict) -> list[str]:
    """The benchmark metrics at the headline θ in one line each, for the console."""
    m, label, lines = report["metrics"], headline_label(report), []
    if m.get("slavc"):
        pooled = m["slavc"][label].get("all") or next(iter(m["slavc"][label].values()))
        lines.append(
            f"SLAVC extended set @{label}: AP {pct(pooled['AP'])}, max-F1 {pct(pooled['max_F1'])}, "
            f"Precision {pct(pooled['Precision'])}"
        )
    if avs := m.get("avsbench"):
        lines.append(
            f"AVSBench: mIoU {pct(avs['positive']['miou'])}, F_β {pct(avs['positive']['fbeta'])}; class-mean mIoU "
            f"{pct(avs['classes']['miou'])}, F {pct(avs['classes']['fscore'])} "
            f"({avs['classes']['count']} classes incl. background)"
        )
    return lines


def render(report: dict) -> str:
    """The whole Markdown report."""
    lines = _header(report)
    parts = (_glance, _thresholds, _positives, _negatives, _noisy, _f_scores, _hearing, _slavc, _avsbench, _maxima)
    for part in parts:
        lines += part(report)
    lines += ["", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in report.get("plots", [])]
    lines += ["", "Per-item values: `items.csv`. Everything above, unrounded: `report.json`.", ""]
    return "\n".join(lines)
