"""The VGG-SS adapter: normalised boxes on real frames of many sizes, the sentinel, splits, missing media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from negaudio.core.errors import InputError
from negaudio.media.masks import read_mask
from negaudio.sources import open_source, vggss


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _real(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / "samples" / "vggss", shared_data / "annotations" / "vggss.json"


def test_real_annotations_report_the_sentinel_and_the_boxless_entries(shared_data):
    root, annotations = _real(shared_data)
    source = open_source(vggss.Config(kind="vggss", annotations=annotations), root)
    samples = list(source.samples())
    assert len(samples) == 13
    assert source.report.missing == {"frame missing": 5158 - 13 - 2, "no valid box": 2}
    assert "boxes with the -2.88e16 sentinel, clipped to [0, 1]: 12" in source.report.notes
    for s in samples:
        assert s.image_classes == (s.label,)
        assert all(r.box_space == (1.0, 1.0) and min(r.box) >= 0 and max(r.box) <= 1 for r in s.regions)


def test_real_build_scales_normalised_boxes_by_each_frame_size(shared_data, cli, write_recipe, tmp_path):
    root, annotations = _real(shared_data)
    recipe = write_recipe(source={"kind": "vggss", "annotations": str(annotations)})
    out = tmp_path / "out"
    result = cli("build", recipe, "-o", out, "--source", root)
    assert result.exit_code == 0, result.output
    records = _manifest(out)
    entries = {e["file"]: e for e in json.loads(annotations.read_text())}
    positives = [r for r in records if r["kind"] == "positive"]
    sizes = {(r["image"]["width"], r["image"]["height"]) for r in positives}
    assert {(272, 480), (1920, 1080), (640, 360)} <= sizes
    for r in positives:
        w, h = r["image"]["width"], r["image"]["height"]
        assert (w, h) == Image.open(root / "frames" / f"{r['sample_id']}.jpg").size
        expected = [[b[0] * w, b[1] * h, b[2] * w, b[3] * h] for b in entries[r["sample_id"]]["bbox"]]
        assert [reg["box"] for reg in r["regions"]] == [pytest.approx(b) for b in expected]
        assert r["label"] == entries[r["sample_id"]]["class"] and r["image_classes"] == [r["label"]]
        # 44.1 kHz float 3-s clips come out as 16 kHz mono, as long as the source
        assert (r["audio"]["sample_rate"], r["audio"]["channels"], r["audio"]["duration_s"]) == (16000, 1, 3.0)
    two_boxes = next(r for r in positives if r["sample_id"] == "6FUmapkqPn0_000080")
    gt = read_mask(out / two_boxes["mask"]["path"])
    assert gt.shape == (1080, 1920) and gt[500, 100] == 1 and gt[800, 1000] == 1 and gt[100, 100] == 0
    for r in (r for r in records if r["kind"] == "offscreen"):
        assert r["heard_label"] not in r["image_classes"]


# --- look-alike fixtures ----------------------------------------------------------------------------------

ENTRIES = [
    {"file": "__2MwJ2uHu0_000004", "class": "playing ukulele", "bbox": [[0.1, 0.2, 0.5, 0.6]]},
    {
        "file": "-abcdefghij_000010",
        "class": "dog barking, howling",
        "bbox": [[0.0, 0.0, 0.25, 0.5], [0.5, 0.5, 1.2, 1.0], [0.3, 0.3, -2.8823037615171176e16, 0.9]],
    },
    {"file": "zzzzzzzzzzz_000030", "class": "playing ukulele", "bbox": [[0.4, 0.4, 0.4, 0.9]]},  # empty only
    {"file": "yyyyyyyyyyy_000001", "class": "cat purring", "bbox": [[0.2, 0.2, 0.8, 0.8]]},
]


def _fixture(root: Path, entries=ENTRIES, present=None) -> Path:
    (root / "frames").mkdir(parents=True)
    (root / "audio").mkdir()
    for i, entry in enumerate(entries):
        if present is None or entry["file"] in present:
            Image.new("RGB", (320 + 40 * i, 180), (90, 90, 90)).save(root / "frames" / f"{entry['file']}.jpg")
            sf.write(root / "audio" / f"{entry['file']}.wav", np.zeros(8000, dtype=np.float32), 16000)
    (root / "metadata").mkdir()
    path = root / "metadata" / "vggss.json"
    path.write_text(json.dumps(entries))
    return path


def test_clipping_drops_empty_boxes_and_keeps_the_others(tmp_path):
    _fixture(tmp_path)
    source = open_source(vggss.Config(kind="vggss"), tmp_path)
    samples = {s.sample_id: s for s in source.samples()}
    assert set(samples) == {"__2MwJ2uHu0_000004", "-abcdefghij_000010", "yyyyyyyyyyy_000001"}
    boxes = [r.box for r in samples["-abcdefghij_000010"].regions]
    assert boxes == [(0.0, 0.0, 0.25, 0.5), (0.5, 0.5, 1.0, 1.0)]
    assert source.report.missing == {"no valid box": 1}
    assert source.report.notes == [
        "boxes empty after clipping, dropped: 2",
        "boxes with the -2.88e16 sentinel, clipped to [0, 1]: 1",
    ]


def test_split_restricts_and_reports_unknown_ids(tmp_path):
    _fixture(tmp_path, present={"__2MwJ2uHu0_000004"})
    (tmp_path / "heard.csv").write_text("__2MwJ2uHu0_000004\nyyyyyyyyyyy_000001\nnot_in_vggss\n")
    source = open_source(vggss.Config(kind="vggss", split=Path("heard.csv")), tmp_path)
    assert [s.sample_id for s in source.samples()] == ["__2MwJ2uHu0_000004"]
    assert source.report.missing == {"frame missing": 1, "split id without annotation": 1}
    with pytest.raises(InputError, match=r"missing\.csv"):
        open_source(vggss.Config(kind="vggss", split=Path("missing.csv")), tmp_path)


def test_media_mode_plan_equals_the_annotation_only_plan_on_a_complete_copy(tmp_path):
    path = _fixture(tmp_path)
    config = vggss.Config(kind="vggss")
    assert list(open_source(config, tmp_path).samples()) == list(vggss.plan_source(config, path).samples())


def test_malformed_annotations_are_named(tmp_path):
    (tmp_path / "vggss.json").write_text(json.dumps([{"file": "x", "class": "c"}]))
    with pytest.raises(InputError, match=r"vggss.json\[0\]"):
        open_source(vggss.Config(kind="vggss"), tmp_path)
    with pytest.raises(InputError, match="needs a root"):
        open_source(vggss.Config(kind="vggss"), None)
