"""``negaudio eval --jobs N`` scores chunks of samples on N worker processes and joins them in stream order: the
report, items.csv and gallery are those of one process, and a bad map is still reported by name."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import negaudio
from negaudio.builder import BuildOptions
from negaudio.eval import pipeline


@pytest.fixture(scope="module")
def demo_and_maps(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    out = root / "build"
    negaudio.build("is3plus", out, options=BuildOptions())
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(9)
    maps = root / "maps.npz"
    with zipfile.ZipFile(maps, "w") as zf:
        for r in records:
            with zf.open(f"{r['item_id']}.npy", "w") as fh:
                np.lib.format.write_array(fh, rng.random((14, 14), dtype=np.float32))
    return out, maps, [r["item_id"] for r in records]


@pytest.mark.parametrize("thresholds", [None, ["0.5", "median", "adaptive"]], ids=["in-sample", "no-calibration"])
def test_two_workers_give_the_report_of_one(cli, demo_and_maps, tmp_path, monkeypatch, thresholds):
    build, maps, _ = demo_and_maps
    monkeypatch.setattr(pipeline, "CHUNK_BATCHES", 2)  # several chunks, joined in order
    monkeypatch.setattr(pipeline, "MAXIMA_CHUNK", 7)
    extra = [a for t in thresholds or [] for a in ("--threshold", t)]
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        result = cli("eval", build, "--predictions", maps, "-o", out, "--batch", "3", "--jobs", jobs, *extra)
        assert result.exit_code == 0, result.output
        outputs[jobs] = out
    one, two = (json.loads((outputs[j] / "report.json").read_text()) for j in (1, 2))
    assert one == two
    for name in ("items.csv", "gallery.png", "report.md"):
        assert (outputs[1] / name).read_bytes() == (outputs[2] / name).read_bytes(), name


def test_a_bad_map_read_by_a_worker_is_named(cli, demo_and_maps, tmp_path):
    build, maps, ids = demo_and_maps
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(maps) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == f"{ids[-1]}.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.full((14, 14), np.nan, dtype=np.float32))
                data = buffer.getvalue()
            dst.writestr(name, data)
    result = cli("eval", build, "--predictions", bad, "-o", tmp_path / "out", "--jobs", "2")
    assert result.exit_code == 2 and ids[-1] in result.output and "NaN" in result.output
    assert "Traceback" not in result.output
    result = cli("eval", build, "--predictions", maps, "-o", tmp_path / "zero", "--jobs", "0")
    assert result.exit_code == 2 and "--jobs must be >= 1" in result.output


def test_an_evaluation_that_fails_after_the_plots_keeps_the_earlier_reports_plots(
    cli, demo_and_maps, tmp_path, monkeypatch
):
    build, maps, _ = demo_and_maps
    out = tmp_path / "out"
    assert cli("eval", build, "--predictions", maps, "-o", out, "--gallery", "0").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device", "report.json")

    monkeypatch.setattr(pipeline, "headline", failing)  # fails while a worker draws the new plots
    result = cli("eval", build, "--predictions", maps, "-o", out, "--jobs", "2", "--threshold", "0.5")
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no draft left, no plot replaced


def test_a_gzip_manifest_scores_as_the_plain_one(cli, demo_and_maps, tmp_path, monkeypatch):
    """Workers get their samples' manifest lines from the parent, so a compressed manifest scores the same."""
    import gzip
    import shutil

    build, maps, _ = demo_and_maps
    zipped = tmp_path / "zipped"
    shutil.copytree(build, zipped)
    with (zipped / "manifest.jsonl").open("rb") as src, gzip.open(zipped / "manifest.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (zipped / "manifest.jsonl").unlink()
    monkeypatch.setattr(pipeline, "CHUNK_BATCHES", 2)
    reports = []
    for name, folder, jobs in (("plain", build, 1), ("gz", zipped, 2)):
        out = tmp_path / name
        result = cli("eval", folder, "--predictions", maps, "-o", out, "--batch", "3", "--jobs", jobs, "--gallery", "0")
        assert result.exit_code == 0, result.output
        reports.append((out / "items.csv").read_bytes())
    assert reports[0] == reports[1]


def test_a_plot_draft_whose_submission_fails_leaves_no_folder(tmp_path):
    from negaudio.eval import report

    class Breaking:
        def __init__(self):
            self.calls = 0

        def submit(self, *args):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("the pool broke")
            from concurrent.futures import Future

            return Future()

    inputs = {"maxima": {}, "thresholds": (), "metrics": {"separability": {}}, "pia_curves": {}, "gallery": []}
    with pytest.raises(RuntimeError, match="the pool broke"):
        report.PlotDraft(tmp_path, Breaking(), inputs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS takes one thread anyway")
def test_this_process_takes_one_blas_thread_beside_its_workers(demo_and_maps, tmp_path, monkeypatch):
    """The bootstrap runs here while the workers draw the plots: one BLAS thread, not one per CPU beside them."""
    from threadpoolctl import threadpool_info

    build, maps, _ = demo_and_maps
    seen = {}
    real = pipeline.headline

    def headline(*args, **kwargs):
        seen["blas"] = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "headline", headline)
    pipeline.evaluate(build, [maps], tmp_path / "out", pipeline.EvalConfig(jobs=2, bootstrap=100))
    assert seen["blas"] and set(seen["blas"]) == {1}


def _copy_maps(src, dst, order=None, replace=None, extra=None) -> None:
    """Copy a maps file member by member: in ``order`` (default: as stored), with ``replace`` {name: array} and
    ``extra`` {name: array} appended."""
    replace, extra = replace or {}, extra or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in order or zin.namelist():
            if name in replace:
                buffer = io.BytesIO()
                np.save(buffer, replace[name])
                zout.writestr(name, buffer.getvalue())
            else:
                zout.writestr(name, zin.read(name))
        for name, array in extra.items():
            buffer = io.BytesIO()
            np.save(buffer, array)
            zout.writestr(name, buffer.getvalue())


def test_maps_read_while_the_build_is_indexed_count_only_for_its_items(cli, demo_and_maps, tmp_path, monkeypatch):
    """With --jobs > 1 the maxima pass starts on every map of the file while the build is indexed: a bad map of
    an item the build does not have is not reported, progress counts the build's maps, and the first bad map of
    the build in the file's order is the one named, as with one process; missing maps stop the run."""
    build, maps, ids = demo_and_maps
    monkeypatch.setattr(pipeline, "MAXIMA_CHUNK", 7)
    nan = np.full((14, 14), np.nan, dtype=np.float32)
    extra = tmp_path / "extra.npz"
    _copy_maps(maps, extra, extra={f"not-in-the-build-{k}.npy": nan for k in range(20)})
    reports, totals = [], []
    for jobs in (1, 2):
        seen = []
        config = pipeline.EvalConfig(jobs=jobs, bootstrap=0, gallery=0)
        config.progress = lambda what, done, total, seen=seen: (
            seen.append((done, total)) if what == "reading maps" else None
        )
        pipeline.evaluate(build, [extra], tmp_path / f"j{jobs}", config)
        reports.append(json.loads((tmp_path / f"j{jobs}" / "report.json").read_text()))
        totals.append(seen[-1])
    assert reports[0]["metrics"] == reports[1]["metrics"] and reports[0]["predictions"]["unknown_items"] == 20
    assert totals == [(len(ids), len(ids))] * 2
    names = [f"{i}.npy" for i in ids]
    reordered = tmp_path / "reordered.npz"  # two bad maps; the file holds the later build item first
    _copy_maps(maps, reordered, order=names[::-1], replace={names[3]: nan, names[-4]: nan})
    for jobs in (1, 2):
        result = cli("eval", build, "--predictions", reordered, "-o", tmp_path / f"bad{jobs}", "--jobs", jobs)
        assert result.exit_code == 2 and repr(ids[-4]) in result.output and repr(ids[3]) not in result.output
    short = tmp_path / "short.npz"
    _copy_maps(maps, short, order=names[:-3])
    result = cli("eval", build, "--predictions", short, "-o", tmp_path / "short", "--jobs", "2")
    assert result.exit_code == 2 and "3 of" in result.output and ids[-1] in result.output
    assert "Traceback" not in result.output and not (tmp_path / "short").exists()


def test_a_pass_narrows_what_has_not_started_to_the_builds_maps():
    """Chunks not started when the build is indexed are cancelled, and sent again with only its maps."""
    from concurrent.futures import Future

    class Recorder:
        def __init__(self):
            self.sent = []

        def submit(self, fn, files, ids):
            self.sent.append(ids)
            done = Future()
            done.set_result([float(len(i)) for i in ids])
            return done

    running = Future()
    running.set_running_or_notify_cancel()  # a worker has it: it cannot be cancelled
    running.set_result([1.0, "bad map of an item the build lacks"])
    whole = Future()  # only the build's maps: left to run
    whole.set_result([3.0])
    chunks = [(["a", "x"], running), (["y", "z"], Future()), (["bb", "w"], Future()), (["ccc"], whole)]
    executor = Recorder()
    items = {"a": "positive", "bb": "positive", "ccc": "silence"}
    maxima = pipeline.finish_maxima(pipeline.MaximaPass(("f.npz",), chunks), items, executor, None, "maps")
    assert executor.sent == [["bb"]] and chunks[1][1].cancelled() and chunks[2][1].cancelled()
    assert maxima == {"a": 1.0, "bb": 2.0, "ccc": 3.0}


def _unsupported(path, names) -> None:
    """Mark members ``names`` of a zip as compressed by method 99 (which zipfile cannot read)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename in names:
                struct.pack_into("<H", data, info.header_offset + 8, 99)  # the local header's method
    at = data.find(b"PK\x01\x02")
    while at >= 0:  # the central directory's entries
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + length]).decode() in names:
            struct.pack_into("<H", data, at + 10, 99)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_a_member_zipfile_cannot_read_is_named_or_ignored_alike_by_any_worker_count(cli, demo_and_maps, tmp_path):
    """An unknown compression method: for a build item one line naming it (it was a traceback), for a map the
    build does not have nothing, with one process or two."""
    build, maps, ids = demo_and_maps
    rng = np.random.default_rng(3)
    extra = tmp_path / "extra.npz"
    _copy_maps(maps, extra, extra={"stranger.npy": rng.random((14, 14), dtype=np.float32)})
    _unsupported(extra, {"stranger.npy"})
    bad = tmp_path / "bad.npz"
    _copy_maps(maps, bad)
    _unsupported(bad, {f"{ids[2]}.npy"})
    for jobs in (1, 2):
        result = cli(
            "eval", build, "--predictions", extra, "-o", tmp_path / f"x{jobs}", "--jobs", jobs, "--bootstrap", 0
        )
        assert result.exit_code == 0, result.output
        result = cli("eval", build, "--predictions", bad, "-o", tmp_path / f"b{jobs}", "--jobs", jobs)
        assert result.exit_code == 2 and f"item {ids[2]!r}: unreadable map" in result.output, result.output
        assert "Traceback" not in result.output
