"""Write an evaluation's folder: report.json, report.md, items.csv, calibration.json and the PNG plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from negaudio.eval import plots
from negaudio.eval.calibration import save_calibration
from negaudio.eval.report_md import headline_label, render
from negaudio.eval.scoring import Scorer, pia_curves, row_keys
from negaudio.manifest import Build

PIA_GRID = np.linspace(0.0, 1.0, 201)


def write_items_csv(path: Path, scorer: Scorer) -> None:
    """One row per item: identity, raw max, and θ, IoU, pIA, pos–neg IoU at every threshold."""
    keys = row_keys([t.label for t in scorer.thresholds])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for row in scorer.rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})


def write_plots(out_dir: Path, build: Build, report: dict, scorer: Scorer, gallery: list[dict]) -> list[str]:
    metrics = report["metrics"]
    files = ["max_histograms.png"]
    plots.max_histograms(scorer, scorer.thresholds, metrics["separability"], out_dir / files[0])
    if scorer.index.negatives():
        files.append("pia_curves.png")
        curves = pia_curves(scorer, PIA_GRID)
        plots.pia_curves(curves, PIA_GRID, metrics, out_dir / files[-1])
    if gallery:
        files.append("gallery.png")
        ids = {e["sample"].sample_id for e in gallery}
        rows = {r["item_id"]: r for r in scorer.rows if r["sample_id"] in ids}
        plots.gallery(gallery, build.root, rows, headline_label(report), out_dir / files[-1])
    return files


def write_outputs(
    out_dir: Path, build: Build, report: dict, scorer: Scorer, gallery: list[dict], calibration: dict | None
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ["report.json", "report.md", "items.csv"]
    write_items_csv(out_dir / "items.csv", scorer)
    if calibration is not None:
        save_calibration(out_dir / "calibration.json", calibration)
        files.append("calibration.json")
    report["plots"] = write_plots(out_dir, build, report, scorer, gallery)
    report["files"] = files + report["plots"]
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render(report), encoding="utf-8")
