"""``negaudio compare``: one table of several evaluations of one build, with intervals and paired differences.

Each evaluation folder holds report.json (the headline and its intervals) and items.csv (per-item values). The
differences against a baseline row are paired: every resample draws the same units (samples or IS3 groups) for
both models, so the interval is that of the difference on the same test items.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from negaudio.core.errors import InputError
from negaudio.eval import bootstrap as bs
from negaudio.eval.report_md import empty_positives_note
from negaudio.kinds.base import role_of

POSITIVE = "positive"


@dataclass
class Evaluation:
    """One evaluation folder: its name, report.json and per-item values at the headline θ."""

    name: str
    path: Path
    report: dict
    per_item: dict[str, dict[str, np.ndarray]]
    sample_ids: list[str]
    groups: list[str]


def _float(cell: str) -> float:
    return float("nan") if cell == "" else float(cell)


def load_evaluation(path: Path, name: str | None = None) -> Evaluation:
    """Read report.json and items.csv of an evaluation folder (the columns of its headline θ)."""
    report_path, items_path = path / "report.json", path / "items.csv"
    if not path.exists():
        raise InputError(f"{path}: evaluation folder not found")
    if not report_path.is_file() or not items_path.is_file():
        raise InputError(f"{path}: not an evaluation folder (needs report.json and items.csv from negaudio eval)")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # not JSON, not UTF-8 (a ValueError too), unreadable
        raise InputError(f"{report_path}: not a readable report ({exc})") from None
    if not isinstance(report, dict) or "headline" not in report:
        raise InputError(f"{path}: report.json has no headline section; rerun negaudio eval with this version")
    try:
        return _evaluation(path, name, report, items_path)
    except (ValueError, KeyError, TypeError, csv.Error, OSError) as exc:
        raise InputError(f"{items_path}: not the items.csv of its report.json ({type(exc).__name__}: {exc})") from None


def _evaluation(path: Path, name: str | None, report: dict, items_path: Path) -> Evaluation:
    at = f"@{report['headline']['threshold']}"
    cols: dict[str, dict[str, list]] = {}
    sample_ids: list[str] = []
    groups: list[str] = []
    index: dict[str, int] = {}
    with items_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["name"] == POSITIVE:
            index[row["sample_id"]] = len(sample_ids)
            sample_ids.append(row["sample_id"])
            groups.append(row["group"] or row["sample_id"])
    for row in rows:
        c = cols.setdefault(row["name"], {"sample": [], "max": [], "iou": [], "pia": [], "posneg_iou": []})
        c["sample"].append(index[row["sample_id"]])
        c["max"].append(float(row["max"]))
        for key in ("iou", "pia", "posneg_iou"):
            c[key].append(_float(row[f"{key}{at}"]))
    per_item = {n: {k: np.asarray(v) for k, v in c.items()} for n, c in cols.items()}
    return Evaluation(name or path.name, path, report, per_item, sample_ids, groups)


def roles(report: dict) -> dict[str, str]:
    """Scoring role of each non-positive item type, from its kind (as ``negaudio eval`` assigns them)."""
    out = {}
    for name, kind in report["types"].items():
        if name == POSITIVE:
            continue
        role = role_of(kind)
        out[name] = (
            "noisy_positive" if role == "noisy_positive" else ("mismatched" if kind == "mismatched" else "negative")
        )
    return out


def posneg_valid(e: Evaluation) -> dict[str, np.ndarray]:
    """Per negative type, which of its items form a pos–neg pair: those whose sample's positive map is non-empty
    at the headline θ (pIA > 0), as ``negaudio eval`` counts them."""
    pos = e.per_item[POSITIVE]
    return {n: pos["pia"][e.per_item[n]["sample"]] > 0 for n, r in roles(e.report).items() if r != "noisy_positive"}


def statistics(
    e: Evaluation, unit_of: np.ndarray, pairs: dict[str, np.ndarray] | None = None
) -> dict[str, bs.Statistic]:
    """The headline statistics of one evaluation as functions of the unit counts (keys as in the headline).
    ``pairs``: per negative type, the items the pos–neg IoU averages over (default: ``posneg_valid(e)``)."""
    v = e.per_item
    pos = v[POSITIVE]
    pairs = posneg_valid(e) if pairs is None else pairs

    def weights(name: str):
        units = unit_of[v[name]["sample"]]
        return lambda w: w[:, units]

    pos_w, ious = weights(POSITIVE), pos["iou"]
    stats: dict[str, bs.Statistic] = {
        "positive/success": lambda w: bs.weighted_mean(pos_w(w), ious >= 0.5),
        "positive/miou": lambda w: bs.weighted_mean(pos_w(w), ious),
        "positive/auc": lambda w: bs.weighted_grid_auc(pos_w(w), ious),
    }
    negatives = [n for n, r in roles(e.report).items() if r != "noisy_positive"]
    for n in negatives:
        w_n, cols = weights(n), v[n]
        kept = pairs[n]
        pair_ious = np.nan_to_num(cols["posneg_iou"])
        stats[f"negatives/{n}/pia"] = lambda w, w_n=w_n, x=cols["pia"]: bs.weighted_mean(w_n(w), x)
        stats[f"negatives/{n}/posneg_iou"] = lambda w, w_n=w_n, x=pair_ious, k=kept: bs.weighted_mean(w_n(w) * k, x)
        stats[f"negatives/{n}/separability"] = bs.weighted_separability(
            pos["max"], unit_of[pos["sample"]], cols["max"], unit_of[cols["sample"]]
        )
    if negatives:
        neg_max = np.concatenate([v[n]["max"] for n in negatives])
        neg_units = np.concatenate([unit_of[v[n]["sample"]] for n in negatives])
        stats["pooled_separability"] = bs.weighted_separability(pos["max"], unit_of[pos["sample"]], neg_max, neg_units)
    return stats


NO_COMMON_PAIR = "no pair valid for both models"


def _common_pairs(e: Evaluation, base: Evaluation) -> dict[str, np.ndarray]:
    """Per negative type of both, the items that form a pos–neg pair for both models (the intersection)."""
    mine, theirs = posneg_valid(e), posneg_valid(base)
    out = {}
    for n in mine.keys() & theirs.keys():
        if not np.array_equal(e.per_item[n]["sample"], base.per_item[n]["sample"]):
            raise InputError(f"{e.name}: its items.csv lists other {n} items than {base.name}'s")
        out[n] = mine[n] & theirs[n]
    return out


def _headline_value(report: dict, key: str):
    node = report["headline"]
    for part in key.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def columns(report: dict) -> list[tuple[str, str]]:
    """(key, title) of the table's metric columns, in order."""
    cols = [("positive/success", "cIoU ↑"), ("positive/miou", "mIoU ↑"), ("pooled_separability", "sep. all ↑")]
    for n, r in roles(report).items():
        if r == "noisy_positive":
            continue
        cols += [
            (f"negatives/{n}/separability", f"sep. {n} ↑"),
            (f"negatives/{n}/pia", f"pIA {n} ↓"),
            (f"negatives/{n}/posneg_iou", f"pos–neg IoU {n} ↓"),
        ]
    return cols


def _row_name(path: Path, paths: list[Path]) -> str:
    """A folder's row name: its name, with as many parent folders as tell it from the other ``paths`` (real
    paths, all different): ``a/eval`` and ``b/eval``."""
    k = 1
    while any(other != path and other.parts[-k:] == path.parts[-k:] for other in paths):
        k += 1
    return "/".join(path.parts[-k:]).lstrip("/") or str(path)


def compare(
    paths: list[Path],
    baseline: str | None = None,
    allow_mixed: bool = False,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Load the evaluations, check they score one build at one θ, and compute the paired differences."""
    bs.check_resamples(resamples)
    if len(paths) < 1:
        raise InputError("give at least one evaluation folder")
    real = [p.resolve() for p in paths]
    twice = next((p for p, r in zip(paths, real, strict=True) if real.count(r) > 1), None)
    if twice is not None:
        raise InputError(f"{twice}: given more than once (a folder compared with itself shows no difference)")
    names = [_row_name(r, real) for r in real]
    evals = [load_evaluation(p, n) for p, n in zip(paths, names, strict=True)]
    builds = {e.report["build"]["content_sha256"] for e in evals}
    if len(builds) > 1 and not allow_mixed:
        listing = ", ".join(f"{e.name}: {e.report['build']['content_sha256'][:12]}" for e in evals)
        raise InputError(f"the evaluations score different builds ({listing}); pass --allow-mixed-builds to compare")
    thetas = {e.report["headline"]["threshold"] for e in evals}
    if len(thetas) > 1:
        raise InputError(f"the evaluations have different headline thresholds {sorted(thetas)}: score the same set")
    base = evals[0] if baseline is None else next((e for e in evals if e.name == baseline), None)
    if base is None:
        raise InputError(f"--baseline {baseline!r}: not one of {names}")
    cols = columns(base.report)
    rows = []
    for e in evals:
        row = {"name": e.name, "path": str(e.path), "build": e.report["build"]["content_sha256"], "metrics": {}}
        if note := empty_positives_note(e.report):
            row["note"] = note
        for key, _ in cols:
            entry = _headline_value(e.report, key)
            row["metrics"][key] = entry if isinstance(entry, dict) else {"value": None, "ci": None}
        rows.append(row)
    paired = len(builds) == 1 and resamples > 0
    if paired:
        _, unit_of = np.unique(np.asarray(base.groups, dtype=str), return_inverse=True)
        base_stats = statistics(base, unit_of)
        for e, row in zip(evals, rows, strict=True):
            if e is base:
                continue
            if e.sample_ids != base.sample_ids:
                raise InputError(f"{e.name}: its items.csv lists other samples than {base.name}'s")
            common = _common_pairs(e, base)
            stats, pair_stats = statistics(e, unit_of), statistics(e, unit_of, common)
            base_pair_stats = statistics(base, unit_of, common)
            diffs = {
                k: (lambda w, a=stats[k], b=base_stats[k]: a(w) - b(w))
                for k, _ in cols
                if k in stats and k in base_stats
            }
            n_units = int(unit_of.max()) + 1
            for n in common:  # pos–neg IoU: the same pairs for both models
                key = f"negatives/{n}/posneg_iou"
                diffs[key] = lambda w, a=pair_stats[key], b=base_pair_stats[key]: a(w) - b(w)
            cis = bs.bootstrap_values(diffs, n_units, resamples, seed)
            for key, values in cis.items():
                a, b = row["metrics"][key]["value"], _headline_value(base.report, key + "/value")
                finite = values[np.isfinite(values)]
                diff = {
                    "value": None if a is None or b is None else a - b,
                    "ci": bs.interval(values, level),
                    "p": None
                    if not finite.size
                    else float(min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0)))),
                }
                if key.endswith("/posneg_iou"):
                    pairs = int(common[key.split("/")[1]].sum())
                    point = float(diffs[key](np.ones((1, n_units)))[0])
                    if not pairs:
                        diff = {"value": None, "ci": None, "p": None, "pairs": 0, "reason": NO_COMMON_PAIR}
                    elif pairs < bs.MIN_PAIRS:
                        note = f"fewer than {bs.MIN_PAIRS} common pairs: no interval or p"
                        diff = {"value": point, "ci": None, "p": None, "pairs": pairs, "note": note}
                    else:
                        diff |= {"value": point, "pairs": pairs}
                row["metrics"][key]["diff"] = diff
    return {
        "baseline": base.name,
        "threshold": base.report["headline"]["threshold"],
        "builds": sorted(builds),
        "bootstrap": {"method": "percentile, paired", "resamples": resamples, "seed": seed, "level": level}
        if paired
        else None,
        "columns": [{"key": k, "title": t} for k, t in cols],
        "rows": rows,
    }


# ---------------------------------------------------------------- outputs


def row_label(row: dict, result: dict) -> str:
    """A model's name as the table and the figure show it (the baseline marked)."""
    return row["name"] + (" (baseline)" if row["name"] == result["baseline"] else "")


def _cell(entry: dict, key: str, fmt) -> str:
    value = entry.get("value")
    text = fmt(value)
    if entry.get("ci") is not None:
        text += f" [{fmt(entry['ci'][0])}, {fmt(entry['ci'][1])}]"
    return text


def _formatter(key: str):
    if "separability" in key:
        return lambda x: "–" if x is None else f"{x:.2f}"
    return lambda x: "–" if x is None else f"{100 * x:.1f}"


def _p_value(p: float | None, resamples: int) -> str:
    if p is None:
        return ""
    return f" p<{1 / resamples:.2g}" if p == 0 else f" p={p:.3f}"


def _signed(fmt):
    def signed(x):
        if x is None:
            return "–"
        text = fmt(x)
        if text.startswith("-") and float(text) == 0:  # a small negative that rounds to zero: no "-0.0"
            text = text[1:]
        return text if text.startswith("-") else "+" + text

    return signed


def table_rows(result: dict, with_diff: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison: value [CI] per metric, and Δ vs the baseline [CI] below each model."""
    header = ["model", *(c["title"] for c in result["columns"])]
    rows = []
    for row in result["rows"]:
        cells = [row_label(row, result)]
        cells += [_cell(row["metrics"][c["key"]], c["key"], _formatter(c["key"])) for c in result["columns"]]
        rows.append(cells)
        diffs = [row["metrics"][c["key"]].get("diff") for c in result["columns"]]
        if with_diff and any(d is not None for d in diffs):
            line = [f"  Δ {row['name']} − {result['baseline']}"]
            for c, d in zip(result["columns"], diffs, strict=True):
                if d is not None and d.get("reason"):
                    line.append(f"n/a ({d['reason']})")
                    continue
                if d is None or d["value"] is None:
                    line.append("–")
                    continue
                text = _cell(d, c["key"], _signed(_formatter(c["key"])))
                text += _p_value(d["p"], result["bootstrap"]["resamples"])
                line.append(text + (f" n={d['pairs']}" if "pairs" in d else ""))
            rows.append(line)
    return header, rows


def markdown(result: dict) -> str:
    header, rows = table_rows(result)
    lines = [f"# negaudio comparison (headline θ = {result['threshold']})", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|:--|" + "|".join("--:" for _ in header[1:]) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    b = result["bootstrap"]
    lines.append("")
    lines.append(
        "Rates in percent, separability as ROC-AUC; [lo, hi]: each evaluation's percentile bootstrap interval "
        "(report.json). "
        + (
            f"Δ rows: difference to the baseline with its {100 * b['level']:g}% paired percentile bootstrap interval "
            f"({b['resamples']} resamples of the same samples or IS3 groups for both models, seed {b['seed']}) and "
            "the two-sided bootstrap p = 2·min(P(Δ* ≤ 0), P(Δ* ≥ 0)). Δ pos–neg IoU is taken over the n pairs "
            "valid for both models (the sample's positive map non-empty at θ for each), so it can differ from "
            "the difference of the two rows."
            if b
            else "No paired differences (mixed builds or --bootstrap 0)."
        )
    )
    lines.append(f"Builds: {', '.join(f'`{x}`' for x in result['builds'])}.")
    lines += [f"\n**Note: {row['name']}: {row['note']}.**" for row in result["rows"] if row.get("note")]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(a, b)
    symbols = (("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("Δ", r"$\Delta$"), ("<", "$<$"))
    for a, b in (*symbols, ("−", "--"), ("–", "--")):
        text = text.replace(a, b)
    return text


def latex(result: dict) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    header, rows = table_rows(result)
    lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule"]
    lines.append(" & ".join(_latex_escape(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_csv(result: dict, path: Path) -> None:
    """One row per model and metric: value, interval, and the difference to the baseline with its interval and p."""
    keys = ["model", "metric", "value", "ci_lo", "ci_hi", "diff", "diff_ci_lo", "diff_ci_hi", "diff_p", "diff_pairs"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(keys)
        for row in result["rows"]:
            for c in result["columns"]:
                e = row["metrics"][c["key"]]
                d = e.get("diff") or {}
                ci, dci = e.get("ci") or ["", ""], d.get("ci") or ["", ""]
                cells = [row["name"], c["key"], e["value"], *ci, d.get("value"), *dci, d.get("p"), d.get("pairs")]
                writer.writerow(["" if x is None else x for x in cells])


def draw(result: dict):
    """The comparison figure: separability (0–1) and mean pIA (percent, the table's unit) per negative type, one
    bar per model, with the intervals as error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    negatives = [c["key"].split("/")[1] for c in result["columns"] if c["key"].endswith("/separability")]
    models = [r["name"] for r in result["rows"]]
    fig = Figure(figsize=(max(6.0, 1.2 * len(negatives) * max(1, len(models)) / 2 + 2), 3.6))
    FigureCanvasAgg(fig)
    width = 0.8 / max(1, len(models))
    from matplotlib import colormaps

    palette = colormaps["viridis"](np.linspace(0.1, 0.85, max(1, len(models))))
    bars = []
    for ax, metric, ylabel, scale in (
        (fig.add_subplot(1, 2, 1), "separability", "separability (ROC-AUC, 0–1) ↑", 1.0),
        (fig.add_subplot(1, 2, 2), "pia", "mean pIA (%) ↓", 100.0),
    ):
        x = np.arange(len(negatives))
        top = 1.0 if metric == "separability" else 0.0
        for m, row in enumerate(result["rows"]):
            vals, lo, hi = [], [], []
            entries = [row["metrics"][f"negatives/{n}/{metric}"] for n in negatives]
            for e in entries:
                v = np.nan if e["value"] is None else scale * e["value"]
                ci = [None if c is None else scale * c for c in (e.get("ci") or [None, None])]
                vals.append(v)
                lo.append(0.0 if ci[0] is None else v - ci[0])
                hi.append(0.0 if ci[1] is None else ci[1] - v)
                top = np.nanmax([top, v + hi[-1]])
            at = x + (m - (len(models) - 1) / 2) * width
            ax.bar(at, vals, width, yerr=[lo, hi], capsize=2, color=palette[m], label=row_label(row, result))
            ends = [v + h if np.isfinite(v) else np.nan for v, h in zip(vals, hi, strict=True)]  # interval tops
            bars.append((ax, at, [e["value"] for e in entries], ends, metric, scale))
        ax.set_xticks(x, negatives, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.08 * top if top > 0 else 1.0)  # headroom above the highest interval: nothing clipped
        if metric == "separability":
            ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="0.5: the peak ignores the audio")
    for ax, at, values, ends, metric, scale in bars:  # a bar too low to see shows its value, as the table writes it
        low = ax.get_ylim()[1] / 100
        for xi, value, end in zip(at, values, ends, strict=True):
            if value is not None and np.isfinite(value) and scale * value < low:
                ax.annotate(  # above its interval's cap, a little apart from it
                    _formatter(metric)(value),
                    (xi, max(scale * value, end)),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    handles, labels = fig.axes[1].get_legend_handles_labels()
    chance = fig.axes[0].get_lines()[-1]
    handles, labels = [*handles, chance], [*labels, chance.get_label()]
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(labels))
    fig.suptitle(f"headline θ = {result['threshold']}", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room for the legend below the panels
    return fig


def figure(result: dict, path: Path) -> None:
    """``draw`` saved as PNG at ``path`` and as PDF beside it."""
    from negaudio.eval.plots import save_pdf

    fig = draw(result)
    fig.savefig(path, dpi=150)
    save_pdf(fig, path.with_suffix(".pdf"))


def write_comparison(result: dict, out_dir: Path) -> list[str]:
    """compare.md, compare.tex, compare.csv, compare.json, compare.png and compare.pdf in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compare.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out_dir / "compare.md").write_text(markdown(result), encoding="utf-8")
    (out_dir / "compare.tex").write_text(latex(result), encoding="utf-8")
    write_csv(result, out_dir / "compare.csv")
    files = ["compare.json", "compare.md", "compare.tex", "compare.csv"]
    if any(c["key"].endswith("/separability") for c in result["columns"]):
        figure(result, out_dir / "compare.png")
        files += ["compare.png", "compare.pdf"]
    return files
