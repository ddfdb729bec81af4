"""`negaudio.open_build` for other code: items by id, filtered views, samples, images, and the path guard."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import negaudio
from negaudio.core import limits
from negaudio.core.errors import InputError
from negaudio.eval.samples import index_build, iter_samples
from tests.conftest import BASE_RECIPE


@pytest.fixture(scope="module")
def built(demo_root, tmp_path_factory) -> Path:
    """A folder-source build of the demo (12 samples, 2 per image: 60 items, with groups)."""
    root = tmp_path_factory.mktemp("loaders")
    recipe = root / "recipe.yaml"
    recipe.write_text(json.dumps(BASE_RECIPE))
    negaudio.build(recipe, root / "b", source=demo_root)
    return root / "b"


@pytest.fixture
def copy(built, tmp_path) -> Path:
    """A copy of the build to damage."""
    shutil.copytree(built, tmp_path / "b")
    return tmp_path / "b"


def _rewrite(build_dir: Path, change) -> None:
    manifest = build_dir / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))


def test_items_by_id_are_the_records_iteration_gives(built):
    build = negaudio.open_build(built)
    records = list(build)
    assert len(records) == len(build) == 60
    for record in reversed(records):
        assert build[record.item_id] == record
        assert record.item_id in build
    assert "nope" not in build and 3 not in build
    with pytest.raises(KeyError, match="no item 'nope'"):
        build["nope"]
    with pytest.raises(TypeError, match=r"looked up by item id \(a str\), not by slice: .*islice"):
        build.filter(kind="noise")[:1]
    assert build.item_ids() == [r.item_id for r in records]


def test_a_manifest_changed_after_indexing_is_an_error_not_a_wrong_record(copy):
    build = negaudio.open_build(copy)
    first, last = build.item_ids()[0], build.item_ids()[-1]
    _rewrite(copy, lambda rows: rows[::-1])
    with pytest.raises(InputError, match=f"item '{first}' is no longer where it was indexed"):
        build[first]
    (copy / "manifest.jsonl").write_text("")
    with pytest.raises(InputError, match=f"item '{last}' is no longer where it was indexed"):
        build[last]


def test_an_item_id_twice_is_refused(copy):
    _rewrite(copy, lambda rows: [*rows, rows[0]])
    with pytest.raises(InputError, match=r"manifest.jsonl:61: item .* appears twice"):
        negaudio.open_build(copy)["x"]


def test_filters_by_kind_name_and_group(built):
    build = negaudio.open_build(built)
    records = list(build)
    noise = build.filter(kind="noise")
    assert [r.item_id for r in noise] == [r.item_id for r in records if r.kind == "noise"]
    assert len(noise) == 24 and noise.item_ids() == [r.item_id for r in noise]
    both = build.filter(kind=("silence", "offscreen"))
    assert {r.kind for r in both} == {"silence", "offscreen"} and len(both) == 24
    pink = build.filter(name=["noise-pink-rms-30"])
    assert len(pink) == 12 and {r.name for r in pink} == {"noise-pink-rms-30"}
    group = records[0].group
    one = build.filter(group=group)
    assert len(one) == 10 and {r.group for r in one} == {group}  # two samples share the image
    narrowed = noise.filter(group=group)  # a filter of a view narrows it
    assert [r.kind for r in narrowed] == ["noise"] * 4
    silence = next(r for r in records if r.kind == "silence")
    assert noise.filter(name="noise-white-sigma1")[records[2].item_id] == records[2]
    with pytest.raises(KeyError, match="filtered view"):
        noise[silence.item_id]
    assert silence.item_id not in noise and silence.item_id in build
    assert len(build) == 60  # the build itself is unchanged


@pytest.mark.parametrize(
    "given, message",
    [
        ({"kind": "nois"}, "unknown kind nois; the kinds here: noise, offscreen, positive, silence"),
        ({"name": ["silence", "offscren"]}, "unknown name offscren; the names here: noise-pink-rms-30, "),
        ({"group": "nowhere"}, "unknown group nowhere; the groups here: "),
        ({"kind": []}, "an empty list of kinds"),
    ],
)
def test_an_unknown_filter_value_names_the_known_ones(built, given, message):
    with pytest.raises(InputError, match=message):
        negaudio.open_build(built).filter(**given)


def test_samples_are_the_positive_with_its_other_items(built):
    build = negaudio.open_build(built)
    samples = list(build.samples())
    assert len(samples) == 12 == index_build(build).n_samples
    assert [s.sample_id for s in samples] == [s.sample_id for s in iter_samples(build)]  # the rule eval scores by
    first = samples[0]
    assert first.positive.kind == "positive"
    assert list(first.others) == ["silence", "noise-white-sigma1", "noise-pink-rms-30", "offscreen"]
    assert all(r.sample_id == first.sample_id for r in first.records())

    silent = list(build.filter(kind="silence").samples())  # the positive always comes with its sample
    assert len(silent) == 12 and all(list(s.others) == ["silence"] and s.positive.kind == "positive" for s in silent)
    group = samples[0].positive.group
    grouped = list(build.filter(group=group, name="offscreen").samples())
    assert [s.sample_id for s in grouped] == [s.sample_id for s in samples if s.positive.group == group]
    assert all(list(s.others) == ["offscreen"] for s in grouped)


def test_samples_refuse_scattered_or_ambiguous_items(copy, built):
    def two_positives(rows):
        rows[1]["kind"] = "positive"
        return rows

    _rewrite(copy, two_positives)
    with pytest.raises(InputError, match="expected one positive item, found 2"):
        list(negaudio.open_build(copy).samples())
    shutil.copy(built / "manifest.jsonl", copy / "manifest.jsonl")
    _rewrite(copy, lambda rows: [*rows[:4], *rows[5:10], rows[4], *rows[10:]])  # a sample's item after the next
    with pytest.raises(InputError, match=r"the items of sample .* are not consecutive"):
        list(negaudio.open_build(copy).samples())
    with pytest.raises(InputError, match="are not consecutive"):
        index_build(negaudio.open_build(copy))  # eval applies the same rule


def test_load_image_is_rgb_uint8_through_the_checked_opener(built, monkeypatch):
    build = negaudio.open_build(built)
    record = build[build.item_ids()[0]]
    image = build.load_image(record)
    with Image.open(built / record.image.path) as im:
        expected = np.asarray(im.convert("RGB"))
    assert image.dtype == np.uint8 and image.shape == (record.image.height, record.image.width, 3)
    assert np.array_equal(image, expected) and image.flags.writeable
    monkeypatch.setattr(limits, "MAX_PIXELS", 100)
    with pytest.raises(InputError, match="over the limit"):
        build.load_image(record)


def test_a_grayscale_image_comes_as_three_channels(copy):
    build = negaudio.open_build(copy)
    record = next(iter(build))
    path = copy / record.image.path
    with Image.open(path) as im:
        im.convert("L").save(path, format=im.format)
    manifest = copy / "manifest.jsonl"  # a build made with a grayscale image: its hash in the manifest
    manifest.write_text(
        manifest.read_text().replace(record.image.sha256, hashlib.sha256(path.read_bytes()).hexdigest())
    )
    build = negaudio.open_build(copy)
    image = build.load_image(build[record.item_id])
    assert image.shape == (record.image.height, record.image.width, 3)
    assert np.array_equal(image[..., 0], image[..., 2])


@pytest.mark.parametrize("media", ["audio", "image", "mask"])
def test_a_file_altered_since_the_build_is_refused_naming_verify(copy, media):
    build = negaudio.open_build(copy)
    record = next(r for r in build if r.mask is not None)
    ref = getattr(record, media)
    data = bytearray((copy / ref.path).read_bytes())
    data[-1] ^= 1  # one bit of the file's last byte
    (copy / ref.path).write_bytes(bytes(data))
    load = {"audio": build.load_audio, "image": build.load_image, "mask": build.load_mask}[media]
    with pytest.raises(InputError, match=rf"{ref.path} does not match its sha256 in the manifest.*negaudio verify"):
        load(record)


def test_a_media_file_over_the_size_bound_is_refused_unread(copy, monkeypatch):
    from negaudio.manifest import reader

    build = negaudio.open_build(copy)
    record = next(iter(build))
    monkeypatch.setattr(reader, "MAX_MEDIA_BYTES", 100)  # a small bound stands in for a huge planted file
    with pytest.raises(InputError, match=r"is larger than any media file a build holds \(100 bytes\)"):
        build.load_image(record)


def test_an_undecodable_file_of_a_build_without_file_hashes_is_named_without_an_address(copy):
    from dataclasses import replace

    build = negaudio.open_build(copy)
    record = next(iter(build))
    (copy / record.audio.path).write_bytes(b"not audio")
    unhashed = replace(record, audio=replace(record.audio, file_sha256=None))  # a build whose schema had none
    with pytest.raises(InputError, match="is unreadable") as caught:
        build.load_audio(unhashed)
    assert " at 0x" not in str(caught.value) and "negaudio verify" in str(caught.value)


@pytest.mark.parametrize("where", ["/etc/hostname", "../outside.png", "link/outside.png"])
def test_loaders_never_leave_the_build_folder(copy, tmp_path, where):
    (tmp_path / "outside.png").write_bytes(b"")
    (copy / "link").symlink_to(tmp_path)

    def retarget(rows):
        rows[0]["image"]["path"] = where
        return rows

    _rewrite(copy, retarget)
    build = negaudio.open_build(copy)
    record = build[build.item_ids()[0]]
    with pytest.raises(InputError, match="leaves"):
        build.load_image(record)


def test_the_summary_median_level_is_the_median(built):
    from negaudio.manifest.summary import summarize

    levels: dict[str, list[float]] = {}
    for record in negaudio.open_build(built):
        if record.audio.rms_dbfs is not None:
            levels.setdefault(record.name, []).append(record.audio.rms_dbfs)
    rows = {r["name"]: r for r in summarize(built)}
    assert any(len(v) % 2 == 0 for v in levels.values())  # an even count: the mean of the two middle values
    for name, values in levels.items():
        assert rows[name]["rms_dbfs_median"] == pytest.approx(float(np.median(values)))
