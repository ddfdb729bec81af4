"""Report figures with matplotlib's object API (Agg canvas, no pyplot state): maxima, pIA curves, gallery.

Each figure is written as a PNG and, beside it, a vector PDF of the same name. Maps use a perceptually uniform
colormap (viridis); item types get the colour-blind-safe Okabe–Ito colours, with distinct dashes and markers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from textwrap import fill

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from negaudio.eval.metrics import Threshold

COLORS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#999999")
DPI = 110
CMAP = "viridis"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
ALPHA = 0.55
DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)), (0, (6, 2, 1, 2, 1, 2)), (0, (3, 3)))
THRESHOLD_COLORS = ("#A50026", "#5E3C99", "#8C510A", "#01665E", "#C51B7D", "#4D4D4D", "#1B3A8C", "#7F7F00")
"""θ lines: dark shades none of COLORS uses, so a line stays visible on every item type's fill; with DASHES,
each line gets its own dash and its own colour."""
GT_COLOR, PRED_COLOR = "white", "#FF1F8E"
"""Gallery outlines: GT solid white, map > θ dashed magenta (contrasts with viridis and with white)."""


def _save(fig: Figure, path: Path) -> None:
    """``path`` (PNG) and a vector PDF beside it."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})
    save_pdf(fig, path.with_suffix(".pdf"))


def save_pdf(fig: Figure, path: Path) -> None:
    """``fig`` as a PDF with no creation date: the same figure gives the same bytes on every run."""
    fig.savefig(path, metadata={"CreationDate": None})


def _colors(names: Sequence[str]) -> dict[str, str]:
    return {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}


def _margins(width: float, height: float, left=0.7, right=0.2, top=0.55, bottom=0.5, **spacing) -> dict:
    """Subplot grid parameters from margins in inches (cheap, unlike constrained layout)."""
    return {
        "left": left / width,
        "right": 1 - right / width,
        "top": 1 - top / height,
        "bottom": bottom / height,
    } | spacing


def max_histograms(
    values: Mapping[str, np.ndarray], thresholds: Sequence[Threshold], separability: Mapping, path: Path
) -> None:
    """One histogram of per-item map maxima per item type, the positives' outline behind each, universal θ lines."""
    names = list(values)
    lo = min(v.min() for v in values.values())
    hi = max(v.max() for v in values.values())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 41)
    colors = _colors(names)
    universal = [t for t in thresholds if t.value is not None and t.kind != "fixed"]
    width, height = 9.0, 1.5 * len(names) + 1.0
    fig = Figure(figsize=(width, height))
    grid = _margins(width, height, right=2.0, hspace=0.55)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False, gridspec_kw=grid)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        if name != "positive":
            ax.hist(values["positive"], bins=bins, histtype="step", color="#777777", linewidth=1.2, zorder=3)
        ax.hist(values[name], bins=bins, histtype="stepfilled", color=colors[name], alpha=0.8)
        for j, t in enumerate(universal):
            style = {"color": THRESHOLD_COLORS[j % len(THRESHOLD_COLORS)], "linestyle": DASHES[j % len(DASHES)]}
            ax.axvline(t.value, linewidth=1.3, label=t.label, **style)
        sep = separability.get(name)
        extra = "" if sep is None else f", separability ROC-AUC vs positives {sep:.2f}"
        ax.set_title(f"{name} (n={values[name].size}{extra})", fontsize=9, loc="left")
        ax.set_ylabel("items", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.tick_params(labelsize=8)
    if universal:
        labels = [f"{t.label} = {t.value:.3g}" for t in universal]
        axes[0].legend(axes[0].lines, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="θ")
    axes[-1].set_xlabel("max of the raw map (grey outline: positives)", fontsize=9)
    fig.suptitle("Per-item map maxima by item type", fontsize=11)
    _save(fig, path)


def pia_curves(
    curves: Mapping[str, Mapping[str, Sequence[float]]], grid: np.ndarray, summary: Mapping, path: Path
) -> None:
    """frac(pIA <= t) against t, one panel per threshold, one line per negative type (area = AUC-N)."""
    labels = list(curves)
    names = list(next(iter(curves.values())))
    colors = _colors(["positive", *names])
    cols = min(4, len(labels))
    rows = -(-len(labels) // cols)
    width, height = 3.0 * cols + 2.2, 3.0 * rows + 1.2
    fig = Figure(figsize=(width, height))
    spacing = _margins(width, height, right=2.2, top=0.95, bottom=0.65, wspace=0.25, hspace=0.5)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True, gridspec_kw=spacing).ravel()
    every = max(1, len(grid) // 8)
    for ax, label in zip(axes, labels, strict=False):
        # curves often coincide (e.g. all negatives empty at a high θ): distinct dashes and markers at staggered
        # positions keep each visible, the first drawn widest
        for k, name in enumerate(names):
            ax.step(
                grid,
                curves[label][name],
                where="post",
                color=colors[name],
                label=name,
                linewidth=2.4 - 1.6 * k / max(1, len(names) - 1),
                linestyle=("-", *DASHES)[k % (len(DASHES) + 1)],
                marker=MARKERS[k % len(MARKERS)],
                markersize=4,
                markevery=(k * every // max(1, len(names)), every),
            )
        aucs = "/".join(f"{100 * summary['negatives'][n][label]['auc_n']:.0f}" for n in names)
        ax.set_title(f"θ = {label}\nAUC-N {aucs}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(cols + 0.1 + 0.25 * (cols - 1), 1.0))
    fig.supxlabel("t: fraction of the image above θ (pIA)", fontsize=9)
    fig.supylabel("fraction of items with pIA ≤ t", fontsize=9)
    fig.suptitle(
        "pIA curves of the negatives (higher is better: little area lit up); AUC-N in legend order", fontsize=10
    )
    _save(fig, path)


def overlay(image: np.ndarray, heat: np.ndarray, norm: Normalize) -> np.ndarray:
    """The image in grey blended with the colour-mapped map (the outlines are drawn over it as contours)."""
    grey = (image @ np.array([0.299, 0.587, 0.114]) / 255.0)[..., None]
    colored = colormaps[CMAP](norm(heat))[..., :3]
    return np.clip((1 - ALPHA) * grey + ALPHA * colored, 0, 1)


def _outlines(ax, gt: np.ndarray, binary: np.ndarray) -> None:
    """GT boundary solid white, boundary of the binarised map dashed magenta on top: where they coincide the
    dashes alternate with the white, so both stay visible."""
    if gt.any() and not gt.all():
        ax.contour(gt.astype(float), [0.5], colors=GT_COLOR, linewidths=1.8, linestyles="solid")
    if binary.any() and not binary.all():
        ax.contour(binary.astype(float), [0.5], colors=PRED_COLOR, linewidths=1.4, linestyles=[(0, (3, 2))])


def gallery(entries: Sequence[dict], rows_by_id: Mapping[str, dict], label: str, path: Path):
    """Maps over their image (``entry["image"]``, RGB) for a few samples: one row per sample, one column per type.

    Rows go from the largest separability margin (``entry["margin"]``: the positive map's max minus the highest
    max of its negatives) to the smallest, each labelled with its rank (ties said as such). Colour scale shared
    along a row (so positive and negatives compare); solid white: GT boundary; dashed magenta: boundary of the map
    binarised at θ = ``label``.
    A row is one image (its panels side by side) in one axes, which keeps the figure cheap to draw.
    """
    entries = sorted(entries, key=lambda e: -e.get("margin", 0.0))
    names = list(entries[0]["maps"])
    for e in entries[1:]:
        names += [n for n in e["maps"] if n not in names]
    cols, rows = len(names), len(entries)
    aspect = max(e["gt"].shape[1] / e["gt"].shape[0] for e in entries)  # the widest frame sets the width
    width, height = cols * (1.85 * aspect + 0.12) + 1.6, 2.3 * rows + 0.8
    fig = Figure(figsize=(width, height))
    spacing = _margins(width, height, left=0.45, right=1.05, top=0.85, bottom=0.4, hspace=0.42)
    axes = fig.subplots(rows, 1, squeeze=False, gridspec_kw=spacing)[:, 0]
    for ax, entry in zip(axes, entries, strict=True):
        sample, image, maps = entry["sample"], entry["image"], entry["maps"]
        h, w = entry["gt"].shape  # frames may differ between samples
        gap = max(2, w // 24)
        norm = Normalize(min(float(m.min()) for m in maps.values()), max(float(m.max()) for m in maps.values()))
        if norm.vmax - norm.vmin < 1e-9:
            norm.vmax = norm.vmin + 1.0
        records = {"positive": sample.positive, **sample.others}
        strip = np.ones((h, cols * (w + gap) - gap, 3))
        gt_strip, pred_strip = np.zeros(strip.shape[:2], bool), np.zeros(strip.shape[:2], bool)
        for c, name in enumerate(names):
            if name not in maps:
                continue
            row = rows_by_id[records[name].item_id]
            panel = slice(c * (w + gap), c * (w + gap) + w)
            strip[:, panel] = overlay(image, maps[name], norm)
            gt_strip[:, panel], pred_strip[:, panel] = entry["gt"] > 0.5, maps[name] > row[f"theta@{label}"]
            positive = records[name].kind in ("positive", "noisy_positive")
            score = f"IoU {row[f'iou@{label}']:.2f}" if positive else f"pIA {row[f'pia@{label}']:.0%}"
            ax.text(
                c * (w + gap) + w / 2,
                -h * 0.03,
                f"{name}\nmax {row['max']:.2f} · {score}",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.imshow(strip, interpolation="nearest")
        _outlines(ax, gt_strip, pred_strip)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        rank = "" if "rank" not in entry else f"{entry['rank']}\n"
        margin = "" if "margin" not in entry else f"\nmargin {entry['margin']:.2f}"
        ax.set_ylabel(f"{rank}{sample.sample_id}{margin}", fontsize=7)
        cax = ax.inset_axes((1.005, 0.0, 0.015, 1.0))
        bar = fig.colorbar(ScalarMappable(norm, CMAP), cax=cax)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("map value", fontsize=7)
    title = f"Maps on positives vs negatives, best to worst separability margin (θ = {label})"
    fig.suptitle(  # about 13 characters an inch at 10 pt; 0.1 in from the top edge whatever the figure's height
        fill(title, max(30, int(13 * width))), fontsize=10, y=1 - 0.1 / height, va="top"
    )
    key = [
        Line2D([], [], color=GT_COLOR, linewidth=1.8, label="ground truth"),
        Line2D([], [], color=PRED_COLOR, linewidth=1.4, linestyle=(0, (3, 2)), label=f"map > θ {label}"),
    ]
    fig.legend(  # in the bottom margin: clear of the title and of the figure's edge whatever the width
        handles=key,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.04 / height),
        ncol=2,
        fontsize=8,
        facecolor="0.3",
        labelcolor="white",
        framealpha=1.0,
    )
    _save(fig, path)
