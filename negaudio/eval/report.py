"""Write an evaluation's folder: report.json, report.md, items.csv, calibration.json and the plots (PNG + PDF)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Collection
from concurrent import futures
from pathlib import Path

import numpy as np

from negaudio.eval import plots
from negaudio.eval.calibration import save_calibration
from negaudio.eval.metrics import NegativeAudioEvaluator
from negaudio.eval.predictions import model_maps
from negaudio.eval.report_md import render
from negaudio.manifest import Build

PIA_GRID = np.linspace(0.0, 1.0, 201)
REPORT = "report.json"
MODEL_MAPS = "predictions.npz"
CALIBRATION_MAPS = "calibration_predictions.npz"


def earlier_report(folder: Path) -> dict | None:
    """The report.json that ``negaudio eval`` wrote in ``folder`` before, or None when there is none."""
    try:
        report = json.loads((folder / REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and {"negaudio_version", "headline"} <= report.keys() else None


def is_eval_folder(folder: Path, inputs: Collection[Path] = ()) -> bool:
    """A folder ``negaudio eval`` may write into: it holds a report, or only maps files, each the maps of a model
    run that stopped early (marked so) or one of the ``inputs`` to score (a user's own maps, put there to be
    scored)."""
    if earlier_report(folder) is not None:
        return True
    scored = {Path(p).resolve() for p in inputs}
    partial = {MODEL_MAPS + ".tmp", CALIBRATION_MAPS + ".tmp"}  # maps a killed model run was writing
    return all(
        (p.name in (MODEL_MAPS, CALIBRATION_MAPS) and model_maps(p)) or p.resolve() in scored
        for p in folder.iterdir()
        if not p.name.startswith(DRAFT) and p.name not in partial
    )


def retire_report(out_dir: Path, inputs: set[Path]) -> None:
    """Remove the earlier report of ``out_dir`` (report.json first, then the other files it lists), keeping maps
    files and the run's ``inputs`` (resolved paths, e.g. a ``--calibration`` file there): called before a model
    run's new maps replace its maps, so that the folder never holds a report of other maps (a run stopped after
    that leaves the maps, which the same command takes again)."""
    earlier = earlier_report(out_dir)
    if earlier is not None:
        (out_dir / REPORT).unlink()
        remove_stale(out_dir, earlier, [REPORT, MODEL_MAPS, CALIBRATION_MAPS], inputs)


def remove_stale(out_dir: Path, earlier: dict | None, written: list[str], inputs: set[Path]) -> None:
    """Delete the files an earlier evaluation in ``out_dir`` wrote that this one did not (a gallery of another
    model must not sit beside this report). Only plain names listed in the earlier report are touched, never a
    file this evaluation read (``inputs``: the predictions scored, e.g. an earlier run's predictions.npz)."""
    listed = (earlier or {}).get("files") or []
    for name in set(listed) - set(written):
        if isinstance(name, str) and name == Path(name).name and not name.startswith("."):
            path = out_dir / name
            if path.resolve() not in inputs:
                path.unlink(missing_ok=True)


def item_keys(labels: list[str]) -> list[str]:
    """Column names of items.csv: identity, raw max, then θ, IoU, pIA, pos–neg IoU per threshold label."""
    keys = ["item_id", "kind", "name", "sample_id", "group", "max"]
    for label in labels:
        keys += [f"theta@{label}", f"iou@{label}", f"pia@{label}", f"posneg_iou@{label}"]
    return keys


def items_csv(evaluator: NegativeAudioEvaluator, labels: list[str], kinds: dict[str, str]) -> str:
    """items.csv: one row per item (the evaluator's rows, with each item type's kind); empty cells for missing
    values."""
    keys = item_keys(labels)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(keys)
    for row in evaluator.rows():
        row = row | {"kind": kinds[row["name"]]}
        writer.writerow(["" if (value := row.get(k)) is None else value for k in keys])
    return text.getvalue()


def plot_inputs(
    metrics: dict, evaluator: NegativeAudioEvaluator, rows: list[dict], gallery: list[dict], label: str
) -> dict:
    """What the plots draw, as plain values (picklable: a worker process may draw them): maxima per type, the
    thresholds, separability, the pIA curves, the gallery with its items' rows, and the headline label."""
    ids = {e["sample"].sample_id for e in gallery}
    return {
        "maxima": {n: v["max"] for n, v in evaluator.per_item().items()},
        "thresholds": evaluator.thresholds,
        "metrics": metrics,
        "pia_curves": evaluator.pia_curves(PIA_GRID) if metrics["negatives"] else None,
        "gallery": gallery,
        "rows": {r["item_id"]: r for r in rows if r["sample_id"] in ids},
        "label": label,
    }


def plot_parts(inputs: dict) -> list[tuple[str, dict]]:
    """The plots to draw from :func:`plot_inputs`, in order: each PNG name with the inputs it needs alone."""
    metrics = inputs["metrics"]
    parts = [
        (
            "max_histograms.png",
            {"maxima": inputs["maxima"], "thresholds": inputs["thresholds"], "separability": metrics["separability"]},
        )
    ]
    if inputs["pia_curves"] is not None:
        parts.append(("pia_curves.png", {"curves": inputs["pia_curves"], "metrics": metrics}))
    if inputs["gallery"]:
        parts.append(("gallery.png", {key: inputs[key] for key in ("gallery", "rows", "label")}))
    return parts


def draw_plot(out_dir: Path, name: str, part: dict) -> str:
    """Draw one plot of :func:`plot_parts` into ``out_dir`` (PNG + PDF); return its PNG name."""
    if name == "max_histograms.png":
        plots.max_histograms(part["maxima"], part["thresholds"], part["separability"], out_dir / name)
    elif name == "pia_curves.png":
        plots.pia_curves(part["curves"], PIA_GRID, part["metrics"], out_dir / name)
    else:
        plots.gallery(part["gallery"], part["rows"], part["label"], out_dir / name)
    return name


DRAFT = ".plots-draft."
"""Prefix of the hidden folder of a report folder where the report's files wait until report.json is in place (see
PlotDraft and write_outputs)."""


class PlotDraft:
    """The plots drawn by ``executor`` (pool workers, one task per plot, or this process) while the report is
    computed, into a hidden folder of the report folder. ``move`` moves them in once the report is written;
    ``discard`` removes them, so a failed or interrupted evaluation leaves an earlier report's plots as they were
    and no plot in a folder without a report. A draft left by a killed run is removed by the next one."""

    def __init__(self, out_dir: Path, executor, inputs: dict):
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob(DRAFT + "*"):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
        parts = plot_parts(inputs)
        self.folder = Path(tempfile.mkdtemp(prefix=DRAFT, dir=out_dir))
        self.futures: list = []
        try:
            for name, part in parts:
                self.futures.append(executor.submit(draw_plot, self.folder, name, part))
        except BaseException:  # a pool that broke, or Ctrl-C, between two submits: leave no draft behind
            self.discard(wait=False)
            raise

    def wait(self) -> list[str]:
        """Wait for the plots; their PNG names."""
        return [future.result() for future in self.futures]

    def move(self, out_dir: Path) -> None:
        """Move the plots (and whatever else was staged in the draft) into ``out_dir``; remove the draft."""
        for path in self.folder.iterdir():
            os.replace(path, out_dir / path.name)
        self.folder.rmdir()

    def discard(self, wait: bool) -> None:
        """Remove the draft (``wait``: for a drawing under way first; not on Ctrl-C, when the workers are stopped
        and the next run removes what is left)."""
        for future in self.futures:
            future.cancel()
        if wait:
            futures.wait(self.futures)
        shutil.rmtree(self.folder, ignore_errors=True)


def write_outputs(
    out_dir: Path,
    build: Build,
    report: dict,
    items: str,
    calibration: dict | None,
    draft: PlotDraft,
) -> None:
    """Write the report folder; ``items`` is items.csv (:func:`items_csv`), ``draft`` the plots drawn for it.
    report.json comes first, whole (staged in the draft, then renamed): a folder that holds any other file of
    the report holds a report, so a run stopped on the way may be run again into it."""
    earlier = earlier_report(out_dir)
    files = [REPORT, "report.md", "items.csv"]
    report["plots"] = draft.wait()
    if calibration is not None:
        files.append("calibration.json")
    if report.get("model"):  # the model's maps, written into this folder by the run
        files.append(MODEL_MAPS)
        if report["calibration"].get("source") == "build":
            files.append(CALIBRATION_MAPS)
    report["files"] = files + [f for png in report["plots"] for f in (png, str(Path(png).with_suffix(".pdf")))]
    (draft.folder / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(draft.folder / REPORT, out_dir / REPORT)
    (draft.folder / "report.md").write_text(render(report), encoding="utf-8")
    with (draft.folder / "items.csv").open("w", newline="", encoding="utf-8") as fh:
        fh.write(items)
    if calibration is not None:
        save_calibration(draft.folder / "calibration.json", calibration)
    draft.move(out_dir)
    read = report["predictions"]["files"] + report["calibration"].get("predictions", [])
    inputs = {Path(f["path"]).resolve() for f in read}
    remove_stale(out_dir, earlier, report["files"], inputs)
