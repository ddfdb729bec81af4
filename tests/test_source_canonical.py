"""Canonical plans (manifests/): checksums, reproducibility from the annotations, rendering on a partial copy."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from negaudio.planning.planfile import read_plan, write_plan

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
PLANS = sorted(MANIFESTS.glob("*/*/plan.jsonl.gz"))


def _script():
    spec = importlib.util.spec_from_file_location("make_canonical_plans", REPO / "scripts" / "make_canonical_plans.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_recipe_of_the_script_has_a_committed_plan():
    names = {spec.recipe for spec in _script().SETS}
    assert names == {p.parts[-3] for p in PLANS}
    assert sum(p.stat().st_size for p in MANIFESTS.rglob("*") if p.is_file()) < 20 * 2**20


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.parts[-3])
def test_committed_plans_match_their_checksums(plan):
    digest, name = (plan.parent / "SHA256SUMS").read_text().split()
    assert name == plan.name and hashlib.sha256(plan.read_bytes()).hexdigest() == digest
    header, rows = read_plan(plan)
    assert header["source"]["annotations"]["sha256"] in (plan.parent / "README.md").read_text()
    first = next(rows)
    assert first.sample_index == 0 and "root" not in header["source"]


@pytest.mark.parametrize("name", ["ms3-neg", "flickr-neg"])
def test_plans_are_reproduced_from_the_annotations(shared_data, tmp_path, name):
    """Every version is remade: the latest byte for byte, 1.0.0 (written by an earlier plan writer) row for row."""
    script = _script()
    assert script.main(["--annotations", str(shared_data / "annotations"), "--out", str(tmp_path), "--only", name]) == 0
    committed = [p for p in PLANS if p.parts[-3] == name]
    assert {p.parts[-2] for p in committed} == {"1.0.0", "1.1.0"}
    for plan in committed:
        made = tmp_path / plan.relative_to(MANIFESTS)
        (h1, rows1), (h2, rows2) = read_plan(plan), read_plan(made)
        for h in (h1, h2):
            h.pop("negaudio_version"), h.pop("schema_version")
        assert h1 == h2
        assert list(rows1) == list(rows2)
    latest = next(p for p in committed if p.parts[-2] == "1.1.0")
    assert (tmp_path / latest.relative_to(MANIFESTS)).read_bytes() == latest.read_bytes()


def test_regenerating_in_place_leaves_every_committed_file_byte_identical(shared_data, tmp_path):
    script = _script()
    names = ("ms3-neg", "flickr-neg")
    for name in names:
        shutil.copytree(MANIFESTS / name, tmp_path / name)
    only = [arg for name in names for arg in ("--only", name)]
    assert script.main(["--annotations", str(shared_data / "annotations"), "--out", str(tmp_path), *only]) == 0
    for name in names:
        files = sorted(p for p in (MANIFESTS / name).rglob("*") if p.is_file())
        assert {p.relative_to(MANIFESTS) for p in files} == {
            p.relative_to(tmp_path) for p in (tmp_path / name).rglob("*") if p.is_file()
        }
        for p in files:
            assert (tmp_path / p.relative_to(MANIFESTS)).read_bytes() == p.read_bytes(), p
    # a committed version never changes: a plan whose rows differ is refused, and left as it was
    plan = tmp_path / "ms3-neg" / "1.0.0" / "plan.jsonl.gz"
    header, rows = read_plan(plan)
    rows = list(rows)[:-1]
    write_plan(plan, header, rows)
    before = plan.read_bytes()
    with pytest.raises(SystemExit, match="would change"):
        script.main(
            ["--annotations", str(shared_data / "annotations"), "--out", str(tmp_path), "--only", "ms3-neg@1.0.0"]
        )
    assert plan.read_bytes() == before and not (plan.parent / "new-plan.jsonl.gz").exists()


def _groups(name: str) -> dict[str, str]:
    with (REPO / "negaudio" / "kinds" / "data" / f"{name}.csv").open(newline="") as fh:
        return {row["class"]: row["group"] for row in csv.DictReader(fh)}


@pytest.mark.parametrize(
    ("name", "kind", "groups"),
    [
        ("vggss-neg", "offscreen", "vggsound-supercategories"),
        ("un-vggss", "mismatched", "vggsound-supercategories"),
        ("s4-neg", "offscreen", "avsbench-is3-supercategories"),
        ("un-s4", "mismatched", "avsbench-is3-supercategories"),
    ],
)
def test_version_1_1_draws_never_share_a_super_category_with_a_visible_class(name, kind, groups):
    group_of = _groups(groups)
    old = {r.item_id: r for r in read_plan(MANIFESTS / name / "1.0.0" / "plan.jsonl.gz")[1] if r.kind == kind}
    _, rows = read_plan(MANIFESTS / name / "1.1.0" / "plan.jsonl.gz")
    drawn = [r for r in rows if r.kind == kind]
    assert len(drawn) == len(old) > 0
    changed = 0
    for r in drawn:
        visible = {*r.image_classes, r.label}
        assert visible <= group_of.keys()  # the map knows every class of the set
        assert group_of[r.params["heard_label"]] not in {group_of[c] for c in visible}, r.item_id
        assert r.params["exclude_groups"] == groups
        changed += r.params["group_changed"]
        if not r.params["group_changed"]:  # an untouched draw is the published one
            same = {k: v for k, v in r.params.items() if k not in ("exclude_groups", "group_changed")}
            assert same == old[r.item_id].params
    plain_inside = sum(
        group_of[o.params["heard_label"]] in {group_of[c] for c in {*o.image_classes, o.label}} for o in old.values()
    )
    assert changed == plain_inside > 0
    readme = (MANIFESTS / name / "1.1.0" / "README.md").read_text()
    assert f"`{groups}` changed {changed} of {len(drawn)} `{kind}` draws" in readme


@pytest.mark.parametrize("name", ["vggss-neg", "s4-neg", "ms3-neg", "flickr-neg"])
def test_version_1_1_adds_level_matched_white_and_pink_noise(name):
    _, rows = read_plan(MANIFESTS / name / "1.1.0" / "plan.jsonl.gz")
    noise = {r.name: r.params for r in rows if r.name.endswith("-snr0")}
    assert set(noise) == {"noise-white-snr0", "noise-pink-snr0"}
    assert noise["noise-white-snr0"]["color"] == "white" and noise["noise-pink-snr0"]["color"] == "pink"
    assert all(p["level"] == {"snr_db": 0.0} for p in noise.values())


def test_level_matched_noise_renders_at_the_positive_rms(shared_data, cli, tmp_path):
    """vggss-neg 1.1.0 on the real samples: each 0 dB SNR noise has its positive's whole-clip RMS."""
    out = tmp_path / "out"
    result = cli("build", "vggss-neg", "--source", shared_data / "samples" / "vggss", "-o", out, "--allow-missing")
    assert result.exit_code == 0 and "canonical plan vggss-neg 1.1.0" in result.output, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    positive = {r["sample_id"]: r["audio"]["rms_dbfs"] for r in records if r["kind"] == "positive"}
    matched = [r for r in records if r["name"].endswith("-snr0")]
    assert len(matched) == 2 * len(positive) == 26
    for r in matched:
        assert r["audio"]["rms_dbfs"] == pytest.approx(positive[r["sample_id"]], abs=0.1), r["item_id"]


def test_canonical_vggss_plan_renders_on_the_real_samples_like_a_recipe_build(shared_data, cli, tmp_path):
    root = shared_data / "samples" / "vggss"
    (plan,) = (p for p in PLANS if p.parts[-3:-1] == ("vggss-neg", "1.0.0"))
    out = tmp_path / "out"
    result = cli("build", "--plan", plan, "-o", out, "--source", root, "--allow-missing")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    positives = {r["sample_id"]: r for r in records if r["kind"] == "positive"}
    assert len(positives) == 13
    annotations = {e["file"]: e for e in json.loads((shared_data / "annotations" / "vggss.json").read_text())}
    for sample_id, r in positives.items():
        w, h = r["image"]["width"], r["image"]["height"]
        expected = [[b[0] * w, b[1] * h, b[2] * w, b[3] * h] for b in annotations[sample_id]["bbox"]]
        assert [reg["box"] for reg in r["regions"]] == [pytest.approx(b) for b in expected]
