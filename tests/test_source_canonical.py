"""Canonical plans (manifests/): checksums, reproducibility from the annotations, rendering on a partial copy."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from negaudio.planning.planfile import read_plan

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
    script = _script()
    assert script.main(["--annotations", str(shared_data / "annotations"), "--out", str(tmp_path), "--only", name]) == 0
    (committed,) = (p for p in PLANS if p.parts[-3] == name)
    made = tmp_path / committed.relative_to(MANIFESTS)
    (h1, rows1), (h2, rows2) = read_plan(committed), read_plan(made)
    for h in (h1, h2):
        h.pop("negaudio_version"), h.pop("schema_version")
    assert h1 == h2
    assert list(rows1) == list(rows2)


def test_canonical_vggss_plan_renders_on_the_real_samples_like_a_recipe_build(shared_data, cli, tmp_path):
    root = shared_data / "samples" / "vggss"
    (plan,) = (p for p in PLANS if p.parts[-3] == "vggss-neg")
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
