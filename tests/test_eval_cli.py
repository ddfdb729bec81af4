"""``negaudio eval`` end to end on small demo builds: baselines, report files, calibration reuse, errors."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import negaudio
from negaudio.builder import BuildOptions, build
from negaudio.eval.benchmark_metrics import BenchmarkMetrics
from negaudio.eval.bootstrap import MIN_PAIRS
from negaudio.eval.metrics import MISMATCHED, NEGATIVE, NOISY_POSITIVE, NegativeAudioEvaluator, Threshold
from negaudio.eval.predictions import PredictionWriter
from negaudio.eval.samples import iter_samples
from negaudio.eval.upsample import resize_bilinear
from negaudio.manifest import Build
from negaudio.recipe.io import validate_data
from negaudio.recipe.models import Recipe

RECIPE = {
    "name": "eval-test",
    "version": "1.0.0",
    "seed": 11,
    "source": {"kind": "folder"},
    "audio": {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "format": "wav_pcm16"},
    "negatives": [
        {"kind": "silence"},
        {"kind": "noise", "color": "white", "level": {"sigma": 1.0}, "clip": "clip"},
        {"kind": "offscreen", "pool": "same", "offset": "random"},
        {"kind": "mismatched"},
    ],
    "positive_noise": {"color": "white", "snr_db": [10]},
}
NEGATIVES = ("silence", "noise-white-sigma1", "offscreen", "mismatched")
UNIVERSAL = ("max", "max10", "maxq3", "maxq3_separate")


def make_build(out: Path, source: Path, limit: int | None = None, **changes) -> Path:
    recipe = validate_data(Recipe, {**RECIPE, **changes})
    build(recipe, out, source=source, limit=limit, options=BuildOptions())
    return out


@pytest.fixture(scope="session")
def eval_build(demo_root, tmp_path_factory) -> Path:
    """12 samples x (positive, silence, white noise, offscreen, mismatched, positive + noise at 10 dB)."""
    return make_build(tmp_path_factory.mktemp("eval") / "build", demo_root)


@pytest.fixture(scope="session")
def other_build(demo_root, tmp_path_factory) -> Path:
    """Another split: a different seed, 6 samples."""
    return make_build(tmp_path_factory.mktemp("eval") / "other", demo_root, limit=6, seed=12, version="1.1.0")


@pytest.fixture(scope="session")
def oracle_run(eval_build, tmp_path_factory):
    from typer.testing import CliRunner

    from negaudio.cli.app import app

    out = tmp_path_factory.mktemp("eval") / "oracle"
    result = CliRunner().invoke(app, ["eval", str(eval_build), "--model", "oracle", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def items(out: Path) -> dict[str, dict]:
    with (out / "items.csv").open() as fh:
        return {row["item_id"]: row for row in csv.DictReader(fh)}


def test_oracle_succeeds_on_every_positive_and_lights_nothing_on_negatives(oracle_run):
    r = report(oracle_run)
    labels = [t["label"] for t in r["thresholds"]]
    assert labels == ["fixed=0.5", "median", "adaptive", *UNIVERSAL]
    m = r["metrics"]
    for label in labels:
        if label != "adaptive":  # adaptive keeps pixels > the |GT|-th largest value: none on a binary map (ties)
            assert m["positive"][label]["success"] == 1.0
            assert m["positive"][label]["miou"] == 1.0
        for name in NEGATIVES:
            assert m["negatives"][name][label]["pia"] == 0.0
            assert m["negatives"][name][label]["auc_n"] == 1.0
        assert m["hearing_impairment"][label]["HI"] == 0.0
    assert all(m["separability"][n] == 1.0 for n in (*NEGATIVES, "all"))
    assert m["noisy_positives"]["positive-white-snr10"]["median"]["success"] == 1.0
    assert all(m["positive"][label]["iiou"] == 1.0 for label in labels if label != "adaptive")


def test_report_json_has_provenance_and_every_section(oracle_run, eval_build):
    r = report(oracle_run)
    info = json.loads((eval_build / "build.json").read_text())
    assert r["build"]["content_sha256"] == info["content_sha256"]
    assert (r["build"]["dataset"], r["build"]["version"]) == ("eval-test", "1.0.0")
    assert len(r["predictions"]["files"][0]["maps_sha256"]) == 64
    assert r["model"] == {"spec": "oracle", "options": {}, "device": "cpu", "scored_on": "cpu"}
    assert r["calibration"]["in_sample"] is True and "optimistic" in r["calibration"]["note"]
    assert r["calibration"]["split"].startswith("eval-test@1.0.0")
    assert {t["label"]: t["size_prior"] for t in r["thresholds"]}["adaptive"] is True
    assert all("calibrated on split" in t["source"] for t in r["thresholds"] if t["kind"] in UNIVERSAL)
    assert r["counts"]["samples"] == 12 and r["counts"]["items"] == 72
    assert set(r["metrics"]) == {
        "positive",
        "negatives",
        "noisy_positives",
        "f_scores",
        "hearing_impairment",
        "maxima",
        "separability",
        "slavc",  # the demo's boxes are no segmentation mask: no avsbench section
    }
    assert r["metrics"]["f_scores"]["maxq3"]["F_Pos_Neg"] == 100.0
    assert set(r["metrics"]["maxima"]["silence"]) == {"mean", "median", "q1", "q3", "min", "max"}
    for name in ("report.json", "report.md", "items.csv", "calibration.json", "predictions.npz"):
        assert (oracle_run / name).stat().st_size > 0


def test_plots_are_non_empty_pngs(oracle_run):
    for name in ("max_histograms.png", "pia_curves.png", "gallery.png"):
        data = (oracle_run / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    md = (oracle_run / "report.md").read_text()
    assert "In-sample, optimistic" in md and "![gallery.png](gallery.png)" in md
    assert "Hearing Impairment" in md and "iIoU" in md


def test_items_csv_lists_every_item_with_its_scores(oracle_run, eval_build):
    rows = items(oracle_run)
    assert set(rows) == {r.item_id for r in negaudio.open_build(eval_build)}
    row = next(r for r in rows.values() if r["kind"] == "silence")
    assert float(row["max"]) == 0.0 and float(row["pia@maxq3"]) == 0.0 and row["posneg_iou@maxq3"] == "0.0"
    positive = next(r for r in rows.values() if r["kind"] == "positive")
    assert positive["posneg_iou@median"] == "" and float(positive["iou@median"]) == 1.0


def test_visual_prior_paints_the_same_region_whatever_it_hears(cli, eval_build, tmp_path):
    out = tmp_path / "vp"
    result = cli("eval", eval_build, "--model", "visual-prior", "-o", out, "--gallery", "0")
    assert result.exit_code == 0, result.output
    rows = items(out)
    labels = [t["label"] for t in report(out)["thresholds"]]
    for row in rows.values():
        if row["kind"] in ("silence", "noise", "offscreen", "mismatched"):
            positive = rows[f"{row['sample_id']}__positive"]
            for label in labels:
                assert row[f"pia@{label}"] == positive[f"pia@{label}"]
                assert float(row[f"posneg_iou@{label}"]) == 1.0
    m = report(out)["metrics"]
    assert all(m["separability"][n] == 0.5 for n in NEGATIVES)
    assert m["hearing_impairment"]["median"]["mean_s"] == 1.0
    assert "does not react" in (out / "report.md").read_text()


def test_energy_gated_is_blank_on_silence_only(cli, eval_build, tmp_path):
    out = tmp_path / "eg"
    assert cli("eval", eval_build, "--model", "energy-gated", "-o", out, "--gallery", "0").exit_code == 0
    m = report(out)["metrics"]
    assert m["separability"]["silence"] == 1.0
    assert all(v["pia"] == 0.0 for v in m["negatives"]["silence"].values())
    assert m["negatives"]["silence"]["median"]["posneg_iou"] == 0.0
    assert m["separability"]["noise-white-sigma1"] < 0.5  # sigma-1 noise is louder than the positives
    with np.load(out / "predictions.npz") as maps:
        assert all(not maps[k].any() for k in maps.files if k.endswith("__silence"))


def test_headline_is_one_named_threshold_with_intervals_and_excluded_empty_positives(cli, eval_build, tmp_path):
    out = tmp_path / "eg-headline"
    args = ("eval", eval_build, "--model", "energy-gated", "-o", out, "--gallery", "0")
    result = cli(*args, "--bootstrap", "300", "--bootstrap-seed", "4")
    assert result.exit_code == 0, result.output
    r = report(out)
    h, m = r["headline"], r["metrics"]
    assert h["threshold"] == "maxq3" and h["bootstrap"]["resamples"] == 300 and h["bootstrap"]["seed"] == 4
    assert h["bootstrap"]["unit"] in ("sample", "group") and h["bootstrap"]["level"] == 0.95
    for n, e in h["negatives"].items():
        v = m["negatives"][n]["maxq3"]
        assert e["posneg_iou"]["value"] == v["posneg_iou"] and e["posneg_excluded"] == v["posneg_excluded"]
        assert v["posneg_pairs"] + v["posneg_excluded"] == r["counts"][n]
        if v["posneg_iou"] is not None and v["posneg_pairs"] >= MIN_PAIRS:
            lo, hi = e["posneg_iou"]["ci"]
            assert lo <= v["posneg_iou"] <= hi
        elif v["posneg_iou"] is not None:  # too few pairs: a zero-width interval would claim certainty
            assert e["posneg_iou"]["ci"] is None
    silence = m["negatives"]["silence"]["maxq3"]
    # silence maps are blank: the reference convention counts the empty positives as full overlap
    assert silence["posneg_iou_reference"] == silence["both_empty"] >= 0
    assert silence["posneg_iou"] in (0.0, None)
    md = (out / "report.md").read_text()
    assert "headline θ = maxq3" in md and "percentile bootstrap interval (300 resamples" in md
    assert "pos–neg IoU @median" not in md
    assert "negatives @maxq3 (headline θ)" in result.output and "percentile bootstrap" in result.output
    again = tmp_path / "eg-again"
    assert cli(*args[:-3], again, "--gallery", "0", "--bootstrap", "300", "--bootstrap-seed", "4").exit_code == 0
    assert report(again)["headline"] == h
    none = tmp_path / "eg-none"
    assert cli(*args[:-3], none, "--gallery", "0", "--bootstrap", "0").exit_code == 0
    assert report(none)["headline"]["bootstrap"] is None and "bootstrap disabled" in (none / "report.md").read_text()


def test_predictions_rescored_give_the_same_report_and_random_is_deterministic(cli, eval_build, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cli("eval", eval_build, "--model", "random", "-o", a, "--gallery", "0", "--batch", "5").exit_code == 0
    assert cli("eval", eval_build, "--model", "random", "-o", b, "--gallery", "0").exit_code == 0
    assert cli("eval", eval_build, "--predictions", a / "predictions.npz", "-o", c, "--gallery", "0").exit_code == 0
    with np.load(a / "predictions.npz") as x, np.load(b / "predictions.npz") as y:
        assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)
    assert report(a)["metrics"] == report(b)["metrics"] == report(c)["metrics"]
    for name in ("max_histograms.pdf", "pia_curves.pdf"):  # no creation date: the same bytes on every run
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_save_calibration_replaces_a_calibration_but_no_other_file(cli, eval_build, tmp_path):
    args = ("--model", "visual-prior", "--gallery", "0", "--bootstrap", "0", "--threshold", "max")
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("my thesis")
    result = cli("eval", eval_build, *args, "-o", tmp_path / "a", "--save-calibration", thesis)
    assert result.exit_code == 2 and f"{thesis}: holds a file that is not a negaudio calibration" in result.output
    assert thesis.read_text() == "my thesis" and not (tmp_path / "a").exists()
    saved = tmp_path / "calib.json"
    for out in ("b", "c"):  # the second run replaces the first one's calibration
        assert cli("eval", eval_build, *args, "-o", tmp_path / out, "--save-calibration", saved).exit_code == 0
    assert json.loads(saved.read_text()) == json.loads((tmp_path / "c" / "calibration.json").read_text())


def test_calibration_saved_on_one_build_is_reused_on_another(cli, eval_build, other_build, tmp_path):
    saved = tmp_path / "calib.json"
    first, second = tmp_path / "first", tmp_path / "second"
    args = ("--model", "visual-prior", "--gallery", "0", "--threshold", "median")
    universal = [x for k in UNIVERSAL for x in ("--threshold", k)]
    assert cli("eval", eval_build, *args, *universal, "-o", first, "--save-calibration", saved).exit_code == 0
    result = cli("eval", other_build, *args, *universal, "-o", second, "--calibration", saved)
    assert result.exit_code == 0, result.output
    values = [{t["label"]: t["value"] for t in report(out)["thresholds"]} for out in (first, second)]
    assert values[0] == values[1]
    assert json.loads(saved.read_text()) == json.loads((second / "calibration.json").read_text())
    cal = report(second)["calibration"]
    assert cal["source"] == "file" and cal["in_sample"] is False and "model_note" not in cal  # the same model
    assert cal["split"] == report(first)["calibration"]["split"]
    other = cli(
        "eval", other_build, "--model", "random", *args[2:], *universal, "-o", tmp_path / "x", "--calibration", saved
    )
    said = f"{saved}: calibrated on the maps of --model visual-prior, applied to --model random"
    assert other.exit_code == 0 and said in " ".join(other.output.split())
    assert report(tmp_path / "x")["calibration"]["model_note"] == said


def test_calibrate_on_another_build_needs_its_predictions(cli, eval_build, other_build, tmp_path):
    model = tmp_path / "model"
    assert cli("eval", other_build, "--model", "random", "-o", model, "--gallery", "0").exit_code == 0
    base = ("eval", eval_build, "--model", "random", "--gallery", "0", "--calibrate-on", other_build)
    result = cli(*base, "-o", tmp_path / "a")
    assert result.exit_code == 0, result.output
    cal = report(tmp_path / "a")["calibration"]
    assert cal["source"] == "build" and cal["in_sample"] is False
    assert cal["split"].startswith("eval-test@1.1.0")
    assert cal["thresholds"] == json.loads((model / "calibration.json").read_text())["thresholds"]
    calibrated_on = Path(cal["predictions"][0]["path"])  # the report names the maps the thresholds came from
    assert calibrated_on.resolve() == (tmp_path / "a" / "calibration_predictions.npz").resolve()
    assert f"maps sha256 `{cal['predictions'][0]['maps_sha256']}`" in (tmp_path / "a" / "report.md").read_text()
    pred = tmp_path / "a" / "predictions.npz"
    result = cli("eval", eval_build, "--predictions", pred, "--calibrate-on", other_build, "-o", tmp_path / "b")
    assert result.exit_code == 2 and "--calibration-predictions" in result.output


def test_user_adapter_from_a_file_with_its_own_preprocessing(cli, eval_build, tmp_path):
    adapter = tmp_path / "my_model.py"
    adapter.write_text(
        "import numpy as np\n"
        "class Centre:\n"
        "    def __init__(self, size='5'):\n"
        "        self.size = int(size)\n"
        "    def preprocess_image(self, image):\n"
        "        return np.zeros((3, 8, 8), dtype=np.float32)\n"
        "    def __call__(self, images, waves, records):\n"
        "        assert images.shape[1:] == (3, 8, 8) and waves.shape[0] == len(records)\n"
        "        m = np.zeros((self.size, self.size), dtype=np.float32)\n"
        "        m[self.size // 2, self.size // 2] = 1\n"
        "        return [m for _ in records]\n"
    )
    out = tmp_path / "user"
    result = cli(
        "eval", eval_build, "--model", f"{adapter}:Centre", "--model-opt", "size=3", "-o", out, "--gallery", "0"
    )
    assert result.exit_code == 0, result.output
    assert report(out)["model"]["options"] == {"size": "3"}
    with np.load(out / "predictions.npz") as maps:
        assert all(maps[k].shape == (3, 3) for k in maps.files)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "nope"), "expected a built-in"),
        (("--model", "energy-gate"), "file.py:callable; did you mean 'energy-gated'?"),
        (("--model", "oracle", "--model-opt", "x=1"), "--model 'oracle' does not take --model-opt x=..."),
        (("--model", "random", "--compat", "vssl_eval"), "--model 'random' does not take --compat (its options: seed"),
        (("--predictions", "p.npz", "--model-opt", "x=1"), "--model-opt apply to --model"),
        (("--predictions", "p.npz", "--device", "cuda"), "--device applies to --model"),
        (("--model", "oracle", "--threshold", "q3"), "--threshold 'q3'"),
        (("--model", "oracle", "--device", "cuda"), "--device cuda"),
        ((), "give --predictions PRED or --model SPEC"),
    ],
)
def test_bad_options_exit_2(cli, eval_build, tmp_path, args, message):
    result = cli("eval", eval_build, *args, "-o", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output


def test_missing_and_unknown_items(cli, eval_build, tmp_path):
    ids = [r.item_id for r in negaudio.open_build(eval_build)]
    partial = tmp_path / "partial.npz"
    with PredictionWriter(partial) as w:
        for item_id in ids[3:]:
            w.add(item_id, np.zeros((2, 2)))
    result = cli("eval", eval_build, "--predictions", partial, "-o", tmp_path / "a")
    assert result.exit_code == 2
    assert str(partial) in result.output and "3 of 72 build items have no map" in result.output
    assert ids[0] in result.output
    extra = tmp_path / "extra.npz"
    with PredictionWriter(extra) as w:
        for item_id in [*ids[:3], "ghost__positive"]:
            w.add(item_id, np.ones((2, 2)))
    result = cli(
        "eval", eval_build, "--predictions", partial, "--predictions", extra, "-o", tmp_path / "b", "--gallery", "0"
    )
    assert result.exit_code == 0, result.output
    assert report(tmp_path / "b")["predictions"]["unknown_first"] == ["ghost__positive"]
    note = "ignored 1 map(s) of items the build does not hold (first: ghost__positive)"
    assert note in (tmp_path / "b" / "report.md").read_text()
    assert note in result.output  # on the console too, not only in the report


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [(["nan"], "finite number"), (["inf"], "finite number"), (["0.5", "0.50"], "distinct"), (["big"], "median")],
)
def test_bad_thresholds_are_refused_before_scoring(cli, eval_build, tmp_path, thresholds, message):
    args = [a for t in thresholds for a in ("--threshold", t)]
    result = cli("eval", eval_build, "--model", "oracle", "-o", tmp_path / "o", *args)
    assert result.exit_code == 2 and message in result.output


def test_a_calibration_file_with_bad_values_is_refused(cli, eval_build, oracle_run, tmp_path):
    record = json.loads((oracle_run / "calibration.json").read_text())
    record["thresholds"]["maxq3"] = "high"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record))
    result = cli("eval", eval_build, "--model", "oracle", "-o", tmp_path / "o", "--calibration", bad)
    assert result.exit_code == 2 and "maxq3 must be a finite number" in result.output


def test_report_numbers_are_the_evaluators_on_the_same_maps(cli, eval_build, tmp_path):
    """What ``negaudio eval --predictions`` writes equals NegativeAudioEvaluator.compute() fed the same maps."""
    model, out = tmp_path / "model", tmp_path / "rescored"
    assert cli("eval", eval_build, "--model", "random", "-o", model, "--gallery", "0").exit_code == 0
    pred = model / "predictions.npz"
    assert cli("eval", eval_build, "--predictions", pred, "-o", out, "--gallery", "0", "--batch", "5").exit_code == 0
    r = report(out)
    thresholds = [Threshold(t["kind"], t["value"], t["source"]) for t in r["thresholds"]]
    role = {"noisy_positive": NOISY_POSITIVE, "mismatched": MISMATCHED}
    roles = {n: role.get(k, NEGATIVE) for n, k in r["types"].items() if k != "positive"}
    evaluator = NegativeAudioEvaluator(thresholds, roles)
    benchmark = BenchmarkMetrics(roles, "folder")
    build = Build(eval_build)
    with np.load(pred) as maps:
        for s in iter_samples(build):  # one sample per update: not the command's batching
            h, w = s.frame
            gt = build.load_mask(s.positive)
            gt = np.zeros((h, w), dtype=np.float32) if gt is None else gt
            others = {n: resize_bilinear(maps[x.item_id], h, w)[None] for n, x in s.others.items()}
            benchmark.update([s], resize_bilinear(maps[s.positive.item_id], h, w)[None], gt[None], others, {})
            evaluator.update(
                resize_bilinear(maps[s.positive.item_id], h, w)[None],
                gt[None],
                others,
                maxima={n: [float(maps[x.item_id].max())] for n, x in {"positive": s.positive, **s.others}.items()},
                item_ids={n: [x.item_id] for n, x in {"positive": s.positive, **s.others}.items()},
                sample_ids=[s.sample_id],
                groups=[s.positive.group or s.sample_id],
            )
    metrics = evaluator.compute() | benchmark.compute(evaluator)
    assert metrics == r["metrics"] and "slavc" in metrics
    assert 0 < metrics["positive"]["median"]["miou"] < 1 and 0 < metrics["separability"]["all"] < 1
    rows = items(out)
    assert len(rows) == len(evaluator.rows()) == 72
    for row in evaluator.rows():
        written = rows[row["item_id"]]
        for key, value in row.items():
            assert written[key] == ("" if value is None else str(value)), (row["item_id"], key)


@pytest.fixture
def damaged_build(eval_build, tmp_path) -> Path:
    """A private copy of the eval build, to damage."""
    root = tmp_path / "damaged"
    shutil.copytree(eval_build, root)
    return root


def damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    else:
        path.write_bytes(b"not a media file")


def check_damage_report(result, build: Path, item_id: str, rel: str, out: Path) -> None:
    assert result.exit_code == 2, result.output
    assert f"item {item_id!r}" in result.output and str(build / rel) in result.output
    assert f"negaudio verify {build}" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("how", ["missing", "unreadable"])
def test_a_damaged_mask_names_the_item_and_the_file(cli, damaged_build, oracle_run, tmp_path, how):
    record = [r for r in negaudio.open_build(damaged_build) if r.kind == "positive" and r.mask][5]
    damage(damaged_build / record.mask.path, how)
    out = tmp_path / "out"
    result = cli("eval", damaged_build, "--predictions", oracle_run / "predictions.npz", "-o", out, "--batch", "4")
    check_damage_report(result, damaged_build, record.item_id, record.mask.path, out)


@pytest.mark.parametrize("how", ["missing", "unreadable"])
def test_a_damaged_wav_names_the_item_and_the_file(cli, damaged_build, tmp_path, how):
    record = [r for r in negaudio.open_build(damaged_build) if r.kind == "silence"][-2]  # late: maps already made
    damage(damaged_build / record.audio.path, how)
    out = tmp_path / "out"
    result = cli("eval", damaged_build, "--model", "energy-gated", "-o", out, "--batch", "4", "--gallery", "0")
    check_damage_report(result, damaged_build, record.item_id, record.audio.path, out)


PARTIAL = [
    {"partial": True, "failures": 2},
    {"partial": False, "missing": {"files": 1, "samples_dropped": 1, "items_dropped": 6, "paths": ["a.wav"]}},
]


def partial_run(cli, damaged_build, oracle_run, tmp_path, info):
    path = damaged_build / "build.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | info))
    out = tmp_path / "out"
    result = cli("eval", damaged_build, "--predictions", oracle_run / "predictions.npz", "-o", out, "--gallery", "0")
    assert result.exit_code == 0, result.output
    return result, out


@pytest.mark.parametrize("info", PARTIAL)
def test_a_partial_build_is_flagged_in_report_md(cli, damaged_build, oracle_run, tmp_path, info):
    _, out = partial_run(cli, damaged_build, oracle_run, tmp_path, info)
    md = (out / "report.md").read_text()
    assert "**partial build" in md
    assert f"`missing` in {damaged_build / 'build.json'}" in md and str(damaged_build / "failures.jsonl") in md
    if "missing" in info:
        assert "1 source file(s) missing, 1 sample(s) and 6 item(s) dropped" in md
        assert report(out)["build"]["missing"] == info["missing"]
    else:
        assert "2 failure(s)" in md and report(out)["build"]["partial"] is True
    assert "partial build" not in (oracle_run / "report.md").read_text()


def test_a_partial_build_is_flagged_on_the_console(cli, damaged_build, oracle_run, tmp_path):
    result, _ = partial_run(cli, damaged_build, oracle_run, tmp_path, PARTIAL[0])
    assert "partial build" in result.output and "failures.jsonl" in result.output


@pytest.mark.parametrize("checkpoint", [[], ["--model-opt", "checkpoint=ck.pt"]])
def test_ezvsl_without_torch_says_so_and_writes_nothing(eval_build, tmp_path, checkpoint):
    hide_torch = "import sys; sys.modules['torch'] = None; from negaudio.cli import app; app(prog_name='negaudio')"
    args = ["eval", str(eval_build), "--model", "ezvsl", *checkpoint, "-o", "OUT"]
    result = subprocess.run([sys.executable, "-c", hide_torch, *args], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["error: --model ezvsl needs torch: pip install 'negaudio[torch]'"]
    assert list(tmp_path.iterdir()) == []


def test_progress_without_a_terminal_is_plain_lines(cli, eval_build, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_PROGRESS_INTERVAL", "0")
    result = cli("eval", eval_build, "--model", "oracle", "-o", tmp_path / "o", "--gallery", "0")
    assert result.exit_code == 0, result.output
    for phase in ("running model: 72/72 (100%) done in", "reading maps: 72/72 (100%) done in", "scoring: 12/12"):
        assert phase in result.output


def test_the_reading_of_a_negative_that_peaks_higher_says_where():
    """Louder noise than the real sound, painted in the same place: not 'reacts'."""
    from negaudio.eval.report_md import reading

    assert reading(0.05, 1.0) == "peaks higher for this negative, in the same region"
    assert reading(0.05, 0.1) == "peaks higher for this negative"
    assert reading(0.95, 0.1) == "reacts to the audio" and reading(0.5, 1.0) == "does not react"
    # no pair (every positive empty at θ): no claim about regions, the reading rests on separability
    assert reading(1.0, None) == "reacts to the audio" and reading(0.0, None) == "peaks higher for this negative"


@pytest.mark.parametrize("lit", [1, 12])
def test_headline_posneg_iou_has_an_interval_only_from_enough_pairs(lit):
    from negaudio.eval.headline import headline

    rng = np.random.default_rng(3)
    pos = np.zeros((12, 8, 8), dtype=np.float32)
    pos[:lit, 2:5, 2:5] = 1.0  # positives non-empty at θ = 0.5 for the first `lit` samples only
    gt = np.zeros((12, 8, 8), dtype=np.float32)
    gt[:, 2:6, 2:6] = 1.0
    evaluator = NegativeAudioEvaluator([Threshold("fixed", 0.5, "fixed")], ["silence"])
    evaluator.update(pos, gt, {"silence": (rng.random((12, 8, 8)) > 0.7).astype(np.float32)})
    h = headline(evaluator.compute(), evaluator, resamples=200)["negatives"]["silence"]
    assert h["posneg_pairs"] == lit and h["posneg_iou"]["value"] is not None
    assert (h["posneg_iou"]["ci"] is None) == (lit < MIN_PAIRS) and h["pia"]["ci"] is not None


def test_a_headline_theta_that_empties_every_positive_map_is_flagged(cli, eval_build, tmp_path):
    """The same blob for every item: max-calibrated θ = its peak, so every map is empty at θ (strict >): the
    negatives' pIA would read as perfect. The console and report.md say why."""
    blob = np.zeros((16, 16), dtype=np.float32)
    blob[4:11, 4:11] = 1.0
    with PredictionWriter(tmp_path / "blob.npz") as w:
        for r in negaudio.open_build(eval_build):
            w.add(r.item_id, blob)
    out = tmp_path / "blob"
    result = cli("eval", eval_build, "--predictions", tmp_path / "blob.npz", "-o", out, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    said = "of the positive maps are empty: the negatives' pIA and AUC-N are then near-perfect by construction"
    assert said in " ".join(result.output.split()) and said in (out / "report.md").read_text()
    energy = tmp_path / "energy"
    assert cli("eval", eval_build, "--model", "energy-gated", "-o", energy, "--bootstrap", "0").exit_code == 0
    assert "by construction" not in (energy / "report.md").read_text()
    result = cli("compare", energy, out, "-o", tmp_path / "c", "--bootstrap", "0")
    assert result.exit_code == 0 and "Note: blob: at the headline θ" in (tmp_path / "c" / "compare.md").read_text()


def test_a_build_without_any_ground_truth_says_so_at_build_inspect_and_eval(cli, eval_build, tmp_path):
    """Like the canonical flickr-neg plan (no boxes): localization scores would be against empty masks."""
    import soundfile as sf
    from PIL import Image

    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "audio").mkdir()
    rows = []
    for i in range(3):
        Image.new("RGB", (32, 32), (40 * i, 90, 20)).save(src / "images" / f"{i}.png")
        sf.write(src / "audio" / f"{i}.wav", np.full(1600, 0.1 * (i + 1)), 16000, subtype="PCM_16")
        rows.append({"sample_id": f"s{i}", "image": f"images/{i}.png", "audio": f"audio/{i}.wav", "label": f"c{i}"})
    (src / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        json.dumps(
            {
                "name": "nogt",
                "version": "1.0.0",
                "seed": 1,
                "source": {"kind": "folder", "index": "index.jsonl"},
                "negatives": [{"kind": "silence"}],
            }
        )
    )
    said = "no positive of this build has a ground-truth region"
    result = cli("build", recipe, "--source", src, "-o", tmp_path / "b")
    assert result.exit_code == 0 and said in " ".join(result.output.split()), result.output
    assert said in " ".join(cli("inspect", tmp_path / "b").output.split())
    result = cli("eval", tmp_path / "b", "--model", "energy-gated", "-o", tmp_path / "e", "--bootstrap", "0")
    assert result.exit_code == 0 and said in " ".join(result.output.split())
    assert said in (tmp_path / "e" / "report.md").read_text()
    assert json.loads((tmp_path / "e" / "report.json").read_text())["ground_truth"] == {"samples_with_gt": 0}
    inspected = cli("inspect", eval_build)
    assert inspected.exit_code == 0 and said not in " ".join(inspected.output.split())  # its positives have masks


def test_an_evaluation_stopped_while_writing_its_report_is_rerun_into_its_folder(eval_build, tmp_path, monkeypatch):
    from negaudio.eval import report as report_module
    from negaudio.eval.run import evaluate

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "out"
    monkeypatch.setattr(report_module, "save_calibration", stop)  # the last file the report folder gets
    with pytest.raises(KeyboardInterrupt):
        evaluate(eval_build, out, model="visual-prior", bootstrap=0)
    assert (out / "report.json").is_file()  # written first: the folder holds a report, so it takes one again
    monkeypatch.undo()
    again = evaluate(eval_build, out, model="visual-prior", bootstrap=0)
    assert sorted(p.name for p in out.iterdir()) == sorted(again["files"])  # every file, no draft left behind


def test_an_interrupted_eval_says_what_it_left(cli, eval_build, tmp_path, monkeypatch):
    import negaudio.eval.run as run

    def stopped(build_dir, output, **_):
        if output.name == "begun":
            output.mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "evaluate", stopped)
    result = cli("eval", eval_build, "--model", "random", "-o", tmp_path / "never")
    assert result.exit_code == 130 and "interrupted: no report was written" in result.output
    result = cli("eval", eval_build, "--model", "random", "-o", tmp_path / "begun")
    assert result.exit_code == 130 and "may hold a partial report; the same command can be run into" in result.output


def test_a_model_run_stopped_after_its_maps_leaves_no_report_of_other_maps(cli, eval_build, tmp_path, monkeypatch):
    import negaudio.eval.pipeline as pipeline

    out = tmp_path / "e"
    assert cli("eval", eval_build, "--model", "energy-gated", "-o", out, "--bootstrap", "0").exit_code == 0
    (out / "mine.txt").write_text("kept")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C once the new maps are in place, before the new report

    monkeypatch.setattr(pipeline, "evaluate", stopped)
    assert cli("eval", eval_build, "--model", "random", "-o", out, "--bootstrap", "0").exit_code == 130
    assert not (out / "report.json").exists() and not (out / "items.csv").exists()  # the other maps' report
    assert (out / "predictions.npz").is_file() and (out / "mine.txt").read_text() == "kept"
    monkeypatch.undo()
    (out / "mine.txt").unlink()
    assert cli("eval", eval_build, "--model", "random", "-o", out, "--bootstrap", "0").exit_code == 0  # taken again


def test_a_model_run_keeps_the_calibration_it_reads_from_its_own_folder(cli, eval_build, tmp_path):
    out = tmp_path / "e"
    args = ("--model", "energy-gated", "-o", out, "--bootstrap", "0", "--gallery", "0")
    assert cli("eval", eval_build, *args).exit_code == 0
    result = cli("eval", eval_build, *args, "--calibration", out / "calibration.json")
    assert result.exit_code == 0, result.output
    assert (out / "calibration.json").is_file() and (out / "report.json").is_file()


def test_a_calibration_build_missing_a_file_is_refused_before_any_maps_change(cli, eval_build, other_build, tmp_path):
    broken = tmp_path / "other"
    shutil.copytree(other_build, broken)
    record = next(iter(negaudio.open_build(broken)))
    (broken / record.image.path).unlink()
    out = tmp_path / "e"
    assert cli("eval", eval_build, "--model", "energy-gated", "-o", out, "--bootstrap", "0").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    result = cli("eval", eval_build, "--model", "random", "--calibrate-on", broken, "-o", out, "--bootstrap", "0")
    assert result.exit_code == 2 and "is missing" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # the earlier report, whole
