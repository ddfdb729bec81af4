"""Figures and report text fit for a paper: perceptually uniform colormaps, a PDF beside every PNG, labelled
axes and integer count ticks, every pIA curve visible, a gallery of representative samples, report.md without
repeated sentences and with left-aligned text columns, calibration provenance, recordings scored per class."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg

from negaudio.eval import plots
from negaudio.eval.metrics import fixed
from negaudio.eval.pipeline import gallery_picks
from negaudio.manifest import gallery as contact_sheet

UNIFORM = {"viridis", "cividis", "magma", "inferno", "plasma"}


@pytest.fixture(scope="module")
def demo_eval(tmp_path_factory):
    """The demo build (8 samples) scored with the random baseline, gallery of 3."""
    from typer.testing import CliRunner

    from negaudio.cli import app

    root = tmp_path_factory.mktemp("figures")
    runner = CliRunner()
    env = {"NEGAUDIO_CACHE": str(root / "cache")}
    result = runner.invoke(app, ["build", "is3plus", "-o", str(root / "b"), "--limit", "8"], env=env)
    assert result.exit_code == 0, result.output
    args = ["eval", str(root / "b"), "--model", "random", "-o", str(root / "e"), "--gallery", "3", "--bootstrap", "0"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return root


def captured(monkeypatch) -> list:
    """Figures handed to plots._save, kept instead of written."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    return figures


def test_every_figure_has_a_pdf_beside_its_png(demo_eval):
    out = demo_eval / "e"
    report = json.loads((out / "report.json").read_text())
    assert report["plots"] == ["max_histograms.png", "pia_curves.png", "gallery.png"]
    for png in report["plots"]:
        pdf = (out / png).with_suffix(".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.name in report["files"]
    sheet = demo_eval / "sheet.png"
    assert contact_sheet.gallery(demo_eval / "b", sheet, count=4)[0] == 4
    assert contact_sheet.gallery(demo_eval / "b", sheet.with_suffix(".pdf"), count=4)[0] == 4
    assert sheet.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"


def test_maps_and_outlines_use_a_perceptually_uniform_colormap():
    assert plots.CMAP in UNIFORM
    from matplotlib import colormaps

    viridis = (np.asarray(colormaps["viridis"].colors) * 255).round()
    for colour in contact_sheet.SOUNDING:  # every sounding outline colour is a step of viridis
        assert np.abs(viridis - np.asarray(colour)).max(axis=1).min() <= 1


def test_histograms_count_in_integers_and_label_their_axes(monkeypatch):
    figures = captured(monkeypatch)
    rng = np.random.default_rng(0)
    values = {"positive": rng.random(7), "silence": rng.random(7) * 0.5}
    plots.max_histograms(values, [fixed(0.5)], {"silence": 0.9}, Path("unused.png"))
    (fig,) = figures
    for ax in fig.axes:
        ticks = ax.get_yticks()
        assert np.allclose(ticks, np.round(ticks)) and ax.get_ylabel() == "items"
    assert fig.axes[-1].get_xlabel()


def test_coinciding_pia_curves_stay_visible(monkeypatch):
    figures = captured(monkeypatch)
    grid = np.linspace(0, 1, 201)
    same = np.ones_like(grid).tolist()  # at fixed 0.5 every negative is empty: the curves coincide
    names = ["silence", "noise", "offscreen", "mismatched"]
    summary = {"negatives": {n: {"fixed=0.5": {"auc_n": 1.0}} for n in names}}
    plots.pia_curves({"fixed=0.5": dict.fromkeys(names, same)}, grid, summary, Path("unused.png"))
    ax = figures[0].axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4
    assert len({(str(line.get_linestyle()), line.get_marker()) for line in lines}) == 4
    assert len({str(line.get_markevery()) for line in lines}) == 4  # markers staggered along the curve
    assert [t.get_text() for t in ax.get_legend().get_texts()] == names


def test_gallery_picks_the_best_median_and_worst_separability():
    margins = [0.3, -0.2, 0.9, 0.1, 0.5]
    assert gallery_picks(margins, 3) == {2: "best", 0: "median", 1: "worst"}
    assert gallery_picks(margins, 0) == {} and set(gallery_picks(margins, 9)) == set(range(5))


def test_the_eval_gallery_shows_representative_samples(demo_eval, monkeypatch):
    """The three gallery rows are the samples of largest, median and smallest margin (from items.csv)."""
    rows = list(csv.DictReader((demo_eval / "e" / "items.csv").open()))
    pos = {r["sample_id"]: float(r["max"]) for r in rows if r["kind"] == "positive"}
    neg: dict[str, float] = {}
    for r in rows:
        if r["kind"] != "positive":
            neg[r["sample_id"]] = max(neg.get(r["sample_id"], -np.inf), float(r["max"]))
    order = sorted(pos, key=lambda s: -(pos[s] - neg[s]))
    expected = [order[0], order[round((len(order) - 1) / 2)], order[-1]]  # 8 samples: rank 4 of 0..7

    from negaudio.eval import report

    shown = []
    monkeypatch.setattr(report.plots, "gallery", lambda entries, *a: shown.extend(entries))
    from negaudio.eval.pipeline import EvalConfig, evaluate

    evaluate(
        demo_eval / "b", [demo_eval / "e" / "predictions.npz"], demo_eval / "e2", EvalConfig(gallery=3, bootstrap=0)
    )
    by_rank = {e["rank"]: e["sample"].sample_id for e in shown}
    assert [by_rank["best"], by_rank["median"], by_rank["worst"]] == expected


def test_report_md_has_no_repeated_sentence_and_left_aligned_text(demo_eval):
    md = (demo_eval / "e" / "report.md").read_text()
    sentences = Counter(
        s.strip()
        for line in md.splitlines()
        if line.strip() and not line.startswith("|")
        for s in re.split(r"(?<=[.;])\s+", line)
        if len(s.strip()) > 25
    )
    assert [s for s, n in sentences.items() if n > 1] == []
    assert md.count("calibrated on split") == 2  # the header line, and once under the thresholds table
    tables = re.findall(r"^\| (.*) \|\n^\|([-:|]+)\|\n((?:^\|.*\|\n)+)", md, re.MULTILINE)
    assert tables
    for _header, align, body in tables:
        cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))] for row in body.splitlines()]
        for k, spec in enumerate(align.split("|")):
            column = [row[k] for row in cells]
            numeric = all(re.fullmatch(r"–|[-+]?\d[\d.,]*%?( \[[^]]*\])?", c) for c in column)
            assert spec == ("--:" if numeric else ":--"), (column, spec)


def test_in_sample_calibration_records_the_predictions(demo_eval):
    record = json.loads((demo_eval / "e" / "calibration.json").read_text())
    pred = demo_eval / "e" / "predictions.npz"
    report = json.loads((demo_eval / "e" / "report.json").read_text())
    assert record["predictions"] == report["predictions"]["files"]  # the evaluated predictions
    assert [Path(p["path"]).resolve() for p in record["predictions"]] == [pred.resolve()]
    assert Path(record["predictions"][0]["path"]).name == "predictions.npz"


def test_recordings_of_each_class_are_their_own_item_type(cli, write_recipe, demo_root, shared_data, tmp_path):
    folder = tmp_path / "recordings"
    for recorded in ("silence", "noise"):
        (folder / recorded).mkdir(parents=True)
        data, rate = sf.read(shared_data / "samples" / "reference" / f"{recorded}.wav")
        for k in range(2):
            sf.write(folder / recorded / f"{recorded}-{k}.wav", data, rate)
    negatives = [{"kind": "recording", "folder": str(folder), "classes": ["silence", "noise"]}]
    out = tmp_path / "b"
    result = cli("build", write_recipe(negatives=negatives), "--source", demo_root, "-o", out, "--limit", "3")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    drawn = [r for r in records if r["kind"] == "recording"]
    assert Counter(r["name"] for r in drawn) == {"recording-recordings-silence": 3, "recording-recordings-noise": 3}
    for r in drawn:
        recorded = r["name"].rsplit("-", 1)[1]
        assert r["params"]["recorded_class"] == recorded and r["params"]["clip_audio"].startswith(f"{recorded}/")
    printed = " ".join(result.output.split())
    assert "recording-recordings-silence" in printed and "recording-recordings-noise" in printed
    result = cli("eval", out, "--model", "random", "-o", tmp_path / "e", "--bootstrap", "0", "--gallery", "0")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert {"recording-recordings-silence", "recording-recordings-noise"} <= set(report["metrics"]["negatives"])


def test_recordings_without_classes_plan_as_before(write_recipe, tmp_path):
    from negaudio.recipe.io import validate_file
    from negaudio.recipe.models import Recipe

    recipe = validate_file(Recipe, write_recipe(negatives=[{"kind": "recording", "folder": str(tmp_path)}]))
    assert "classes" not in recipe.model_dump(mode="json")["negatives"][0]
    assert recipe.item_names() == ["positive", f"recording-{tmp_path.name}"]


def test_the_gallery_draws_samples_of_different_frame_sizes(monkeypatch):
    """One row per sample, each in its own frame (VGG-SS mixes 4:3 and 16:9 frames)."""
    from types import SimpleNamespace

    figures = captured(monkeypatch)
    entries, rows = [], {}
    for k, (h, w) in enumerate(((12, 16), (9, 16))):
        pos = SimpleNamespace(item_id=f"s{k}-p", kind="positive")
        neg = SimpleNamespace(item_id=f"s{k}-n", kind="silence")
        sample = SimpleNamespace(sample_id=f"s{k}", positive=pos, others={"silence": neg})
        maps = {"positive": np.random.default_rng(k).random((h, w)), "silence": np.zeros((h, w))}
        gt = np.zeros((h, w))
        gt[2:5, 3:8] = 1
        entries.append({"sample": sample, "gt": gt, "maps": maps, "image": np.full((h, w, 3), 128.0)})
        entries[-1] |= {"margin": float(k), "rank": ("worst", "best")[k]}
        for item, kind_max in ((pos, 1.0), (neg, 0.0)):
            rows[item.item_id] = {"theta@t": 0.5, "iou@t": 0.3, "pia@t": 0.0, "max": kind_max}
    plots.gallery(entries, rows, "t", Path("unused.png"))
    plots.gallery(entries * 6, rows, "t", Path("unused.png"))  # 12 rows: a tall figure
    for fig in figures:  # the title sits above the first row's panel titles, whatever the figure's height
        renderer = FigureCanvasAgg(fig).get_renderer()
        first = next(ax for ax in fig.axes if ax.get_images())
        title = fig._suptitle.get_window_extent(renderer)
        assert all(title.y0 > t.get_window_extent(renderer).y1 for t in first.texts)
    fig = figures[0]
    images = [ax.get_images()[0].get_array().shape[:2] for ax in fig.axes if ax.get_images()]
    assert images == [(9, 2 * 16 + 2), (12, 2 * 16 + 2)]  # best first; two panels and a gap per row
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes if ax.get_images()] == ["best", "worst"]


def test_every_threshold_line_has_its_own_dash_and_colour(monkeypatch):
    from negaudio.eval.thresholds import UNIVERSAL_KINDS, Threshold

    figures = captured(monkeypatch)
    rng = np.random.default_rng(0)
    values = {"positive": rng.random(9), "silence": rng.random(9)}
    labels = list(UNIVERSAL_KINDS)
    thresholds = [Threshold(kind, 0.1 * (k + 1)) for k, kind in enumerate(labels)]
    plots.max_histograms(values, thresholds, {}, Path("unused.png"))
    for ax in figures[0].axes:
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == labels
        assert len({line.get_color() for line in lines}) == len(labels)
        assert len({str(line._unscaled_dash_pattern) for line in lines}) == len(labels)  # the dash itself
        assert not {line.get_color() for line in lines} & set(plots.COLORS)  # never the colour of a fill


def test_gallery_ranks_say_when_samples_tie():
    picks = gallery_picks([0.0, 0.0, 0.5, 0.0, -1.0], 5)
    assert picks == {2: "best", 0: "rank 2 of 5, one of 3 tied", 1: "median, one of 3 tied"} | {
        3: "rank 4 of 5, one of 3 tied",
        4: "worst",
    }
    assert gallery_picks([0.0] * 4, 2) == {0: "best, one of 4 tied", 3: "worst, one of 4 tied"}  # stream order


def test_gallery_outlines_differ_where_they_coincide(monkeypatch):
    """GT solid white, map > θ dashed magenta drawn on top, both named in a legend (here the two coincide)."""
    from types import SimpleNamespace

    from matplotlib.colors import to_rgba

    figures = captured(monkeypatch)
    pos = SimpleNamespace(item_id="p", kind="positive")
    sample = SimpleNamespace(sample_id="s", positive=pos, others={})
    gt = np.zeros((20, 20))
    gt[5:15, 5:15] = 1
    entry = {"sample": sample, "gt": gt, "maps": {"positive": gt.copy()}, "image": np.full((20, 20, 3), 90.0)}
    rows = {"p": {"theta@t": 0.5, "iou@t": 1.0, "pia@t": 0.25, "max": 1.0}}
    plots.gallery([entry], rows, "t", Path("unused.png"))
    (fig,) = figures
    ax = next(a for a in fig.axes if a.get_images())
    gt_lines, pred_lines = ax.collections
    assert tuple(gt_lines.get_edgecolor()[0]) == to_rgba(plots.GT_COLOR)
    assert tuple(pred_lines.get_edgecolor()[0]) == to_rgba(plots.PRED_COLOR) != to_rgba(plots.GT_COLOR)
    assert gt_lines.get_linestyle()[0][1] is None and pred_lines.get_linestyle()[0][1]  # solid vs dashed
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ground truth", "map > θ t"]


def test_the_contact_sheet_is_written_in_the_format_its_suffix_names(cli, demo_eval, tmp_path):
    from PIL import Image

    assert contact_sheet.gallery(demo_eval / "b", tmp_path / "sheet.jpg", count=2)[0] == 2
    with Image.open(tmp_path / "sheet.jpg") as im:
        assert im.format == "JPEG"
    (tmp_path / "sheet.pdf").write_text("my paper figure")
    contact_sheet.gallery(demo_eval / "b", tmp_path / "sheet.jpg", count=2)
    assert (tmp_path / "sheet.pdf").read_text() == "my paper figure"  # only the named file is written
    contact_sheet.gallery(demo_eval / "b", tmp_path / "only.pdf", count=2)
    assert [p.name for p in tmp_path.glob("only*")] == ["only.pdf"]
    result = cli("inspect", demo_eval / "b", "--gallery", tmp_path / "sheet.xyz")
    assert result.exit_code == 2 and "'.xyz'" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("sheet.xyz*"))
    result = cli("inspect", demo_eval / "b", "--gallery", tmp_path / "new" / "sub" / "s.png", "--count", "2")
    assert result.exit_code == 0 and (tmp_path / "new" / "sub" / "s.png").is_file()  # folders made, as plan -o


def test_contact_sheet_numbers_never_overlap_and_the_sheet_has_a_legend(demo_eval, tmp_path):
    from PIL import Image

    same = [(100.0, 50.0)] * 5 + [(250.0, 250.0)] * 3  # objects sharing a corner, some at the tile's edge
    boxes = contact_sheet.badge_boxes(same, (256, 200), (10, 12))
    for k, a in enumerate(boxes):
        assert min(a[0], a[1]) >= 0 and a[2] <= 256 and a[3] <= 200
        for b in boxes[:k]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    contact_sheet.gallery(demo_eval / "b", tmp_path / "sheet.png", count=2)
    with Image.open(tmp_path / "sheet.png") as im:
        legend = np.asarray(im.convert("RGB"))[: 3 * contact_sheet.LINE + 6]
    colours = {tuple(c) for c in legend.reshape(-1, 3)}
    assert {*contact_sheet.SOUNDING[:3], contact_sheet.DISTRACTOR} <= colours  # the swatches of the legend
    plain = contact_sheet._legend(600, distractors=False)  # a build without distractors (VGG-SS): no (D) row
    assert plain.height == 2 * contact_sheet.LINE + 6 < contact_sheet._legend(600, distractors=True).height
