"""The Flickr-SoundNet adapter: XML boxes in 256-px space, the annotators' consensus map, id lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from negaudio.core.errors import InputError
from negaudio.media.masks import read_mask
from negaudio.sources import flickr, open_source

NAMED = """<annotation><object><bbox><label/><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox>
</object><object><bbox><label/><xmin>64</xmin><ymin>64</ymin><xmax>192</xmax><ymax>192</ymax></bbox>
<bbox><label/><xmin>64</xmin><ymin>64</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object></annotation>"""
POSITIONAL = "<a><o><bbox><n>x</n><v>32</v><v>0</v><v>96</v><v>256</v></bbox></o></a>"


def _fixture(root: Path, ids: dict[str, str], size=(512, 384)) -> None:
    for folder in ("frames", "audio", "Annotations"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for clip_id, xml in ids.items():
        Image.new("RGB", size, (50, 60, 70)).save(root / "frames" / f"{clip_id}.jpg")
        sf.write(root / "audio" / f"{clip_id}.wav", np.full(16000, 0.1 * (1 + len(clip_id) % 3)), 16000)
        if xml:
            (root / "Annotations" / f"{clip_id}.xml").write_text(xml)
    (root / "flickr_test.csv").write_text("".join(f"{i},{n}\n" for n, i in enumerate([*ids, "99999"])))


def test_boxes_are_read_by_name_or_by_position(tmp_path):
    (tmp_path / "named.xml").write_text(NAMED)
    (tmp_path / "positional.xml").write_text(POSITIONAL)
    assert flickr.read_boxes(tmp_path / "named.xml") == [(0, 0, 128, 128), (64, 64, 192, 192), (64, 64, 128, 128)]
    assert flickr.read_boxes(tmp_path / "positional.xml") == [(32, 0, 96, 256)]


def test_consensus_map_weighs_each_annotator_box_half(tmp_path, cli, write_recipe):
    _fixture(tmp_path / "src", {"10000130166": NAMED, "10007936344": POSITIONAL, "10008553263": ""})
    source = open_source(flickr.Config(kind="flickr"), tmp_path / "src")
    samples = {s.sample_id: s for s in source.samples()}
    assert set(samples) == {"10000130166", "10007936344"}
    assert source.report.missing == {"Annotations file missing": 1, "frames file missing": 1}
    first = samples["10000130166"]
    assert [r.box for r in first.regions] == [(0, 0, 128, 128), (64, 64, 192, 192), (64, 64, 128, 128)]
    assert {(r.weight, r.box_space) for r in first.regions} == {(0.5, (256.0, 256.0))}
    assert first.label == "flickr:10000130166" and first.image_classes == (first.label,)
    assert samples["10007936344"].regions[0].box == (32, 0, 96, 256)

    recipe = write_recipe(source={"kind": "flickr"})
    out = tmp_path / "out"
    result = cli("build", recipe, "-o", out, "--source", tmp_path / "src")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    positive = next(r for r in records if r["kind"] == "positive" and r["sample_id"] == "10000130166")
    assert positive["regions"][0]["box"] == [0.0, 0.0, 256.0, 192.0]  # 512x384 frame: x2, x1.5
    gt = read_mask(out / positive["mask"]["path"], positive["mask"]["scale"])
    assert gt[10, 10] == 0.5  # one annotator, stored exactly
    assert gt[120, 150] == 1.0  # three boxes overlap: clipped at 1
    assert gt[200, 300] == 0.5
    assert gt[300, 450] == 0.0
    for r in (r for r in records if r["kind"] == "offscreen"):
        assert r["heard_label"] != r["label"]


def test_annotation_only_mode_has_the_ids_without_boxes(tmp_path):
    (tmp_path / "ids.csv").write_text("2,0\n1,5\n")
    source = flickr.plan_source(flickr.Config(kind="flickr"), tmp_path / "ids.csv")
    samples = list(source.samples())
    assert [(s.sample_id, s.image, s.regions) for s in samples] == [
        ("1", "frames/1.jpg", ()),
        ("2", "frames/2.jpg", ()),
    ]


def test_missing_id_list_and_bad_xml_are_named(tmp_path):
    with pytest.raises(InputError, match=r"flickr_test\.csv"):
        open_source(flickr.Config(kind="flickr"), tmp_path)
    _fixture(tmp_path, {"1": "<a><o><bbox><n/><v>x</v></bbox></o></a>"})
    with pytest.raises(InputError, match=r"1\.xml"):
        list(open_source(flickr.Config(kind="flickr"), tmp_path).samples())


def test_a_source_that_keeps_no_sample_says_why(tmp_path, cli, write_recipe):
    """Every XML without a box: the error gives the reasons the samples were left out, not only 'no samples'."""
    _fixture(tmp_path / "src", {"10000130166": "<a><o/></a>", "10007936344": "<a/>"})
    result = cli("build", write_recipe(source={"kind": "flickr"}), "-o", tmp_path / "out", "--source", tmp_path / "src")
    assert result.exit_code == 2
    said = "the source holds no samples (left out: annotation without a box: 2, frames file missing: 1)"
    assert said in " ".join(result.output.split())
