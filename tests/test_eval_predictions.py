"""Prediction files: the .npz reader's checks (missing, unknown, duplicate, NaN, shape) and the streaming writer."""

from __future__ import annotations

import zipfile
import zlib

import numpy as np
import pytest

from negaudio.core.errors import InputError
from negaudio.eval.predictions import Predictions, PredictionWriter


def write(path, maps: dict) -> str:
    np.savez(path, **maps)
    return path


def test_writer_output_reads_back_with_numpy_and_the_reader(tmp_path):
    path = tmp_path / "p.npz"
    with PredictionWriter(path) as w:
        w.add("a__positive", np.arange(6).reshape(2, 3))
        w.add("a__silence", np.zeros((7, 7), dtype=np.float64))
    with np.load(path) as raw:
        assert raw.files == ["a__positive", "a__silence"] and raw["a__silence"].dtype == np.float32
    preds = Predictions([path])
    np.testing.assert_array_equal(preds.load("a__positive"), np.arange(6, dtype=np.float32).reshape(2, 3))
    assert preds.check_items(["a__positive"]) == ["a__silence"]  # unknown to the build: reported, not fatal
    preds.close()
    with zipfile.ZipFile(path) as zf:  # stored as np.savez stores them: deflate costs ~5 ms a 224x224 map
        assert {m.compress_type for m in zf.infolist()} == {zipfile.ZIP_STORED}


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "p.npz"
    with pytest.raises(RuntimeError), PredictionWriter(path) as w:
        w.add("a", np.zeros((2, 2)))
        raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []

    def refused():
        raise PermissionError("the earlier report could not be removed")

    with pytest.raises(PermissionError), PredictionWriter(path, before_replace=refused) as w:
        w.add("a", np.zeros((2, 2)))
    assert list(tmp_path.iterdir()) == []  # nor when the step before the rename fails


def test_missing_items_name_the_file_and_the_first_ids(tmp_path):
    path = write(tmp_path / "p.npz", {"x__positive": np.zeros((2, 2))})
    with pytest.raises(InputError, match=r"p\.npz: 3 of 4 build items have no map \(first: a, b, c\)") as info:
        Predictions([path]).check_items(["a", "x__positive", "b", "c"])
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((1, 2, 2)), r"item 'bad': map must be 2-D \[h, w\], got shape \(1, 2, 2\)"),
        (np.zeros(4), "got shape"),
        (np.zeros((0, 3)), r"item 'bad': the map is empty \(shape \(0, 3\)\)"),
        (np.array([[0.0, np.nan]]), "item 'bad': map contains NaN"),
        (np.array([[np.inf, 0.0]]), "map contains inf"),
        (np.array([["a", "b"]]), "must be real numeric"),
    ],
)
def test_bad_maps_are_rejected_naming_the_item(tmp_path, value, message):
    path = write(tmp_path / "p.npz", {"bad": value, "good": np.zeros((2, 2))})
    preds = Predictions([path])
    assert preds.load("good").shape == (2, 2)
    with pytest.raises(InputError, match=message):
        preds.load("bad")


def test_folders_are_expanded_and_duplicates_refused(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    write(folder / "part1.npz", {"a": np.zeros((2, 2))})
    write(folder / "part2.npz", {"b": np.ones((3, 3))})
    preds = Predictions([folder])
    assert "a" in preds and "b" in preds and preds.check_items(["a", "b"]) == []
    write(tmp_path / "again.npz", {"b": np.ones((3, 3))})
    with pytest.raises(InputError, match=r"item 'b' has a map in both .*part2\.npz and .*again\.npz"):
        Predictions([folder, tmp_path / "again.npz"])


@pytest.mark.parametrize("name", ["absent.npz", "empty-folder", "single.npy", "text.npz"])
def test_unusable_paths_are_input_errors(tmp_path, name):
    (tmp_path / "empty-folder").mkdir()
    np.save(tmp_path / "single.npy", np.zeros((2, 2)))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError):
        Predictions([tmp_path / name])


def test_stored_members_with_long_headers_are_read_and_checked(tmp_path):
    """A stored member whose .npy header runs past the first block read at its start (a long name, a long
    shape) is still parsed whole: a 2-D map with a padded header loads, a many-dimensional one is refused."""
    import io
    import zipfile

    good = np.arange(12, dtype=np.float32).reshape(3, 4)
    header = {"descr": "<f4", "fortran_order": False, "shape": (3, 4)}
    padded = io.BytesIO()
    np.lib.format.write_array_header_1_0(padded, header)
    text = padded.getvalue()
    long_header = text[:-1] + b" " * 640 + b"\n"  # the same header, padded past 512 bytes
    long_header = long_header[:8] + (len(long_header) - 10).to_bytes(2, "little") + long_header[10:]
    many = {"descr": "<f4", "fortran_order": False, "shape": tuple([10**12] * 40)}
    many_bytes = io.BytesIO()
    np.lib.format.write_array_header_1_0(many_bytes, many)
    path = tmp_path / "p.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("x" * 300 + ".npy", long_header + good.tobytes())
        zf.writestr("many.npy", many_bytes.getvalue())
    preds = Predictions([path])
    try:
        np.testing.assert_array_equal(preds.load("x" * 300), good)
        assert preds.maximum("x" * 300) == 11.0
        with pytest.raises(InputError, match="map must be 2-D"):
            preds.load("many")
    finally:
        preds.close()


def test_a_stored_member_short_of_its_shape_is_refused_and_a_long_extra_field_is_read(tmp_path):
    import io
    import struct
    import zipfile

    good = np.arange(63, dtype=np.float32).reshape(7, 9)
    buffer = io.BytesIO()
    np.save(buffer, good)
    path = tmp_path / "p.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("short.npy", buffer.getvalue()[:-40])
        info = zipfile.ZipInfo("extra.npy")
        info.extra = struct.pack("<HH", 0xCAFE, 596) + b"\0" * 596
        zf.writestr(info, buffer.getvalue())
        zf.writestr("next.npy", buffer.getvalue())
    preds = Predictions([path])
    try:
        with pytest.raises(InputError, match="fewer bytes"):
            preds.load("short")
        np.testing.assert_array_equal(preds.load("extra"), good)
    finally:
        preds.close()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\x93NUMPY\x09\x00", r"\.npy format version 9\.0: numpy writes 1\.0, 2\.0 and 3\.0 only"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': x}    \n", r"unparsable \.npy header \(a damaged file\?\)\)$"),
        (b"\x93NUMPY\x01\x00\x10\x00{'shape': ((1,\n", r"unparsable \.npy header \(a damaged file\?\)\)$"),
    ],
)
def test_an_unknown_or_damaged_npy_header_is_named_so(tmp_path, header, message):
    """numpy scored a version-9 member and said 'malformed node or string ... <ast.Name object at 0x...>' or
    raised a tokenize error for a garbled header text."""
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = tmp_path / f"p{compression}.npz"
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            zf.writestr("bad.npy", header + np.zeros(4, np.float32).tobytes())
        preds = Predictions([path])
        try:
            with pytest.raises(InputError, match=rf"item 'bad': unreadable map \({message}"):
                preds.load("bad")
        finally:
            preds.close()


def test_missing_items_name_the_ids_the_file_holds_instead(tmp_path):
    """A renamed id was reported only as a missing item; the id the file holds instead is named too."""
    path = write(tmp_path / "p.npz", {"a": np.zeros((2, 2)), "no_such_item": np.zeros((2, 2))})
    with pytest.raises(
        InputError,
        match=r"1 of 2 build items have no map \(first: b\); they hold 1 map\(s\) of ids "
        r"the build does not have \(first: no_such_item\)",
    ):
        Predictions([path]).check_items(["a", "b"])


def test_the_crc_32_of_map_reads_is_zlibs():
    from negaudio.eval.predictions import crc32

    head, body = b"\x93NUMPY header", np.random.default_rng(0).random(50_000).astype(np.float32).tobytes()
    assert crc32(body, crc32(head)) == zlib.crc32(head + body) and crc32(b"") == 0
