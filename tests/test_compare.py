"""``negaudio compare``: one table across evaluations of a build, paired bootstrap differences, refused mixes."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from matplotlib.container import BarContainer

from negaudio.builder import BuildOptions, build
from negaudio.core.errors import InputError
from negaudio.eval import bootstrap as bs
from negaudio.eval.bootstrap import MIN_PAIRS
from negaudio.eval.compare import compare, draw, load_evaluation, markdown, statistics, table_rows
from negaudio.recipe.io import validate_data
from negaudio.recipe.models import Recipe

RECIPE = {
    "name": "compare-test",
    "version": "1.0.0",
    "seed": 5,
    "source": {"kind": "folder"},
    "audio": {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "format": "wav_pcm16"},
    "negatives": [{"kind": "silence"}, {"kind": "offscreen", "pool": "same"}],
}


@pytest.fixture(scope="module")
def runs(demo_root, tmp_path_factory):
    from typer.testing import CliRunner

    from negaudio.cli.app import app

    root = tmp_path_factory.mktemp("compare")
    builds = {}
    for seed in (5, 6):
        builds[seed] = root / f"build{seed}"
        build(validate_data(Recipe, {**RECIPE, "seed": seed}), builds[seed], source=demo_root, options=BuildOptions())
    out = {}
    for model, seed in (("oracle", 5), ("energy-gated", 5), ("random", 5), ("oracle", 6)):
        out[(model, seed)] = root / f"{model}-{seed}"
        args = ["eval", str(builds[seed]), "--model", model, "-o", str(out[(model, seed)]), "--gallery", "0"]
        result = CliRunner().invoke(app, [*args, "--bootstrap", "200"])
        assert result.exit_code == 0, result.output
    return out


def test_compare_writes_one_table_in_every_format(cli, runs, tmp_path):
    out = tmp_path / "cmp"
    dirs = [runs[("energy-gated", 5)], runs[("oracle", 5)], runs[("random", 5)]]
    result = cli("compare", *dirs, "-o", out, "--bootstrap", "200", "--baseline", "energy-gated-5")
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compare.json").read_text())
    assert data["baseline"] == "energy-gated-5" and data["threshold"] == "maxq3"
    assert [r["name"] for r in data["rows"]] == ["energy-gated-5", "oracle-5", "random-5"]
    assert data["bootstrap"]["resamples"] == 200
    md = (out / "compare.md").read_text()
    assert "| energy-gated-5 (baseline) |" in md and "Δ oracle-5 − energy-gated-5" in md
    tex = (out / "compare.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "oracle-5" in tex
    assert "p<" not in tex and "$\\Delta$" in tex  # math-mode symbols, not text-mode glyphs
    with (out / "compare.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"energy-gated-5", "oracle-5", "random-5"}
    sep = next(r for r in rows if r["model"] == "oracle-5" and r["metric"] == "negatives/silence/separability")
    assert float(sep["value"]) == 1.0 and float(sep["diff"]) == 0.0  # energy-gated is perfect on silence too
    assert float(sep["diff_ci_lo"]) == float(sep["diff_ci_hi"]) == 0.0 and float(sep["diff_p"]) == 1.0
    for name in ("compare.png", "compare.pdf"):
        assert (out / name).stat().st_size > 5000


def test_a_model_against_itself_differs_by_exactly_zero(runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(runs[("random", 5)], copy)
    result = compare([runs[("random", 5)], copy], resamples=100)
    for key, entry in result["rows"][1]["metrics"].items():
        if entry["value"] is not None:
            few = entry["diff"].get("pairs", MIN_PAIRS) < MIN_PAIRS  # no interval from fewer pairs
            assert entry["diff"]["value"] == 0.0 and entry["diff"]["ci"] == (None if few else [0.0, 0.0]), key


def test_paired_differences_match_a_plain_resampling_reference(runs):
    """Δ mIoU on each resample equals the plain difference of the two means over the drawn samples."""
    a, b = load_evaluation(runs[("energy-gated", 5)]), load_evaluation(runs[("random", 5)])
    _, unit_of = np.unique(np.asarray(a.groups, dtype=str), return_inverse=True)
    sa, sb = statistics(a, unit_of), statistics(b, unit_of)
    w = bs.resample_counts(int(unit_of.max()) + 1, 20, np.random.default_rng(0))
    got = sa["positive/miou"](w) - sb["positive/miou"](w)
    ia, ib = a.per_item["positive"]["iou"], b.per_item["positive"]["iou"]
    for r in range(20):
        drawn = [i for i in range(len(ia)) for _ in range(int(w[r, unit_of[i]]))]
        assert got[r] == pytest.approx(np.mean(ia[drawn]) - np.mean(ib[drawn]))


def test_mixed_builds_are_refused_unless_asked(cli, runs, tmp_path):
    dirs = [runs[("oracle", 5)], runs[("oracle", 6)]]
    result = cli("compare", *dirs, "-o", tmp_path / "x")
    assert result.exit_code == 2 and "different builds" in result.output
    result = cli("compare", *dirs, "-o", tmp_path / "y", "--allow-mixed-builds")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "y" / "compare.json").read_text())
    assert data["bootstrap"] is None and all("diff" not in e for e in data["rows"][1]["metrics"].values())
    result = cli("compare", dirs[0], "-o", tmp_path / "z", "--baseline", "nope")
    assert result.exit_code == 2 and "not one of" in result.output


def test_a_missing_evaluation_folder_is_named_as_not_found(cli, runs, tmp_path):
    result = cli("compare", runs[("oracle", 5)], tmp_path / "nowhere", "-o", tmp_path / "x")
    assert result.exit_code == 2 and f"{tmp_path / 'nowhere'}: evaluation folder not found" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("compare", runs[("oracle", 5)], empty, "-o", tmp_path / "y")
    assert result.exit_code == 2 and "not an evaluation folder" in result.output


def test_a_folder_given_twice_is_refused(cli, runs, tmp_path):
    run = runs[("oracle", 5)]
    result = cli("compare", run, run.parent / ".." / run.parent.name / run.name, "-o", tmp_path / "x")
    assert result.exit_code == 2 and "given more than once" in result.output and not (tmp_path / "x").exists()


def test_too_few_resamples_for_an_interval_are_refused(cli, runs, tmp_path):
    result = cli("compare", runs[("oracle", 5)], runs[("oracle", 5)], "-o", tmp_path / "x", "--bootstrap", "1")
    assert result.exit_code == 2 and "--bootstrap must be 0 (no intervals) or >= 100, got 1" in result.output
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="got 50"):  # the Python function as the command
        compare([runs[("oracle", 5)], runs[("oracle", 5)]], resamples=50)


def _blank_positives(src, dst, which):
    """A copy of an evaluation folder whose positive maps read as empty at the headline θ for samples ``which``."""
    shutil.copytree(src, dst)
    at = json.loads((dst / "report.json").read_text())["headline"]["threshold"]
    with (dst / "items.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    positives = [r for r in rows if r["name"] == "positive"]
    for i, r in enumerate(positives):
        if which(i):
            r[f"pia@{at}"] = "0.0"
    with (dst / "items.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return dst


def test_posneg_difference_pairs_only_the_pairs_valid_for_both_models(runs, tmp_path):
    """Same per-pair values, fewer valid pairs in one copy: over the common pairs the Δ is exactly 0."""
    src = runs[("random", 5)]
    fewer = _blank_positives(src, tmp_path / "fewer", lambda i: i % 2 == 0)
    result = compare([src, fewer], resamples=100)
    a = load_evaluation(fewer)
    for n in ("silence", "offscreen"):
        kept = a.per_item["positive"]["pia"][a.per_item[n]["sample"]] > 0
        d = result["rows"][1]["metrics"][f"negatives/{n}/posneg_iou"]["diff"]
        assert d["pairs"] == int(kept.sum()) > 0
        assert d["value"] == 0.0 and d["ci"] == (None if d["pairs"] < MIN_PAIRS else [0.0, 0.0]), n


def test_posneg_difference_matches_a_plain_mean_over_the_common_pairs(runs):
    a, b = load_evaluation(runs[("energy-gated", 5)]), load_evaluation(runs[("random", 5)])
    result = compare([runs[("random", 5)], runs[("energy-gated", 5)]], resamples=100)
    for n in ("silence", "offscreen"):
        valid = [e.per_item["positive"]["pia"][e.per_item[n]["sample"]] > 0 for e in (a, b)]
        common = valid[0] & valid[1]
        d = result["rows"][1]["metrics"][f"negatives/{n}/posneg_iou"]["diff"]
        assert d["pairs"] == int(common.sum())
        if common.any():
            s_a, s_b = a.per_item[n]["posneg_iou"][common], b.per_item[n]["posneg_iou"][common]
            assert d["value"] == pytest.approx(np.mean(s_a) - np.mean(s_b))
        else:
            assert d["value"] is None and d["reason"]


def test_posneg_difference_without_a_common_pair_is_not_available(runs, tmp_path):
    src = runs[("random", 5)]
    blank = _blank_positives(src, tmp_path / "blank", lambda i: True)
    result = compare([src, blank], resamples=100)
    d = result["rows"][1]["metrics"]["negatives/silence/posneg_iou"]["diff"]
    assert d["value"] is None and d["ci"] is None and d["pairs"] == 0
    assert "n/a (no pair valid for both models)" in markdown(result)


def test_posneg_difference_over_too_few_pairs_has_no_interval_or_p(runs, tmp_path):
    """One common pair resamples to itself: no zero-width interval and no 'p<0.001' from it."""
    src = runs[("oracle", 5)]
    blank = _blank_positives(src, tmp_path / "blank", lambda i: i > 0)  # only the first positive is non-empty
    result = compare([src, blank], resamples=100)
    d = result["rows"][1]["metrics"]["negatives/silence/posneg_iou"]["diff"]
    assert d["pairs"] == 1 and d["ci"] is None and d["p"] is None and "fewer than" in d["note"]
    _, rows = table_rows(result)
    cell = rows[-1][[c["key"] for c in result["columns"]].index("negatives/silence/posneg_iou") + 1]
    assert d["value"] is not None and cell.endswith(f" n={d['pairs']}") and "p" not in cell and "[" not in cell


def test_compare_figure_uses_the_table_units_and_clips_nothing(runs):
    result = compare([runs[("energy-gated", 5)], runs[("oracle", 5)], runs[("random", 5)]], resamples=100)
    fig = draw(result)
    sep_ax, pia_ax = fig.axes
    assert "ROC-AUC" in sep_ax.get_ylabel() and "(%)" in pia_ax.get_ylabel()
    negatives = [t.get_text() for t in pia_ax.get_xticklabels()]
    heights = [p.get_height() for p in pia_ax.patches]
    expected = [100 * r["metrics"][f"negatives/{n}/pia"]["value"] for r in result["rows"] for n in negatives]
    assert heights == pytest.approx(expected)  # percent, as in compare.md
    for ax, metric, scale in ((sep_ax, "separability", 1), (pia_ax, "pia", 100)):
        his = [scale * r["metrics"][f"negatives/{n}/{metric}"]["ci"][1] for r in result["rows"] for n in negatives]
        assert ax.get_ylim()[1] > max(his)  # the highest interval ends below the top of the axis
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["energy-gated-5 (baseline)", "oracle-5", "random-5", "0.5: the peak ignores the audio"]
    low = [h for h in heights if h < pia_ax.get_ylim()[1] / 100]
    assert len(pia_ax.texts) == len(low) > 0  # each bar too low to see says its value
    tops = {  # each bar's interval top: the upper end of its error bar
        round(segment[0][0], 6): segment[:, 1].max()
        for container in pia_ax.containers
        if isinstance(container, BarContainer)
        for segment in container.errorbar.lines[2][0].get_segments()
    }
    for text in pia_ax.texts:  # drawn above its interval's cap, not over it
        x, y = text.xy
        assert y >= tops[round(x, 6)] and text.xyann == (0, 2)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (("report.json", b"{"), "report.json: not a readable report"),
        (("report.json", b"\xff\xfe"), "report.json: not a readable report"),
        (("items.csv", b"\xff\xfe"), "items.csv: not the items.csv of its report.json"),
        (("items.csv", b"item_id,name\nx,abc\n"), "items.csv: not the items.csv of its report.json"),
    ],
)
def test_a_damaged_evaluation_folder_is_one_error_line(cli, runs, tmp_path, damage, named):
    folder = tmp_path / "damaged"
    shutil.copytree(runs[("oracle", 5)], folder)
    (folder / damage[0]).write_bytes(damage[1])
    result = cli("compare", runs[("oracle", 5)], folder, "-o", tmp_path / "x")
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_difference_that_rounds_to_zero_has_no_minus_sign():
    from negaudio.eval.compare import _formatter, _signed

    pia, separability = _signed(_formatter("negatives/x/pia")), _signed(_formatter("negatives/x/separability"))
    assert [pia(-0.0001), pia(0.0), pia(-0.002), pia(0.002)] == ["+0.0", "+0.0", "-0.2", "+0.2"]
    assert [separability(-0.001), separability(-0.02)] == ["+0.00", "-0.02"]


def test_folders_of_one_name_are_told_apart_by_their_parents(cli, runs, tmp_path):
    for parent, run in (("a", runs[("oracle", 5)]), ("b", runs[("random", 5)])):
        shutil.copytree(run, tmp_path / parent / "eval")
    result = compare([tmp_path / "a" / "eval", tmp_path / "b" / "eval"], baseline="b/eval", resamples=0)
    assert [r["name"] for r in result["rows"]] == ["a/eval", "b/eval"] and result["baseline"] == "b/eval"
