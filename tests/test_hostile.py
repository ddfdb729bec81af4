"""Reliability and security: builds stay in their folder, no flag or fault loses data, verify covers what eval
reads, and hostile input gets a clear error (exit 2), never a traceback. One test per probe."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import negaudio
import negaudio.rendering.render as render_module
from negaudio.core.errors import InputError
from negaudio.core.lock import folder_lock
from negaudio.core.paths import inside
from negaudio.planning.planfile import read_plan
from negaudio.sources.demo import ensure_demo
from tests.conftest import tree_digest


def build(cli, recipe, out, source, *extra):
    return cli("build", recipe, "-o", out, "--source", source, *extra)


def every_file(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the state folder included), by relative path, with its size and mtime."""
    return {
        p.relative_to(root).as_posix(): f"{p.lstat().st_size}:{p.lstat().st_mtime_ns}"
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def plan_rows(path: Path) -> tuple[dict, list[dict]]:
    header, rows = read_plan(path)
    return header, [r.to_json() for r in rows]


def write_plan_file(path: Path, header: dict, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *rows]))
    return path


@pytest.fixture
def plan(cli, write_recipe, demo_root, tmp_path) -> Path:
    path = tmp_path / "plan.jsonl"
    assert cli("plan", write_recipe(), "--source", demo_root, "-o", path, "--limit", "2").exit_code == 0
    return path


@pytest.fixture
def built(cli, write_recipe, demo_root, tmp_path) -> Path:
    out = tmp_path / "built"
    assert build(cli, write_recipe(), out, demo_root, "--limit", "3").exit_code == 0
    return out


# --- data loss ---------------------------------------------------------------------------------------------


def test_overwrite_never_deletes_the_source_folder_or_a_folder_without_a_build(cli, write_recipe, demo_root, tmp_path):
    source = tmp_path / "dataset"
    shutil.copytree(demo_root, source)
    before = every_file(source)
    for target in (source, tmp_path, source / "audio"):
        result = build(cli, write_recipe(), target, source, "--overwrite")
        assert result.exit_code == 2, target
    assert every_file(source) == before


def test_a_failed_overwrite_keeps_the_earlier_build(cli, write_recipe, demo_root, built, monkeypatch):
    before = tree_digest(built)
    calls = {"n": 0}
    real = render_module._write_media

    def full_disk(path, data):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(render_module, "_write_media", full_disk)
    result = build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "5")
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert tree_digest(built) == before
    assert cli("verify", built).exit_code == 0


def test_an_overwrite_cut_short_while_clearing_its_staging_never_mixes_two_plans(
    cli, write_recipe, demo_root, built, tmp_path, monkeypatch
):
    import negaudio.builder as builder_module

    def fail_merge(*args, **kwargs):
        raise RuntimeError("stopped before the merge")

    with monkeypatch.context() as m:  # an overwrite stopped once every shard of its plan is in the staging folder
        m.setattr(builder_module, "merge", fail_merge)
        with pytest.raises(RuntimeError):
            build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "5")
    staging = built / ".negaudio" / "next"
    assert list((staging / ".negaudio" / "shards").glob("*.jsonl"))
    real_rmtree = shutil.rmtree

    def killed_at_the_shards(path, *args, **kwargs):
        if Path(path) == staging / ".negaudio" / "shards":
            raise KeyboardInterrupt
        return real_rmtree(path, *args, **kwargs)

    with monkeypatch.context() as m:  # another plan's overwrite, killed while it clears that staging folder
        m.setattr(shutil, "rmtree", killed_at_the_shards)
        assert build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "6").exit_code == 130
    assert (staging / ".negaudio" / "state.json").is_file()  # still names the plan of what is left
    assert build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "6").exit_code == 0
    assert build(cli, write_recipe(), tmp_path / "fresh", demo_root, "--seed", "6").exit_code == 0
    assert tree_digest(built) == tree_digest(tmp_path / "fresh")


def test_a_second_writer_is_refused_while_the_lock_is_held(cli, write_recipe, demo_root, built):
    before = tree_digest(built)
    with folder_lock(built):
        result = build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "5")
    assert result.exit_code == 2 and f"pid {os.getpid()}" in result.output
    assert tree_digest(built) == before
    (built / ".negaudio" / "lock").write_text(json.dumps({"pid": 999999, "host": "gone"}))  # a stale lock
    assert build(cli, write_recipe(), built, demo_root, "--overwrite", "--seed", "5").exit_code == 0


def test_concurrent_overwrites_leave_one_whole_build(write_recipe, demo_root, tmp_path):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "negaudio", "build", str(write_recipe()), "--source", str(demo_root), "-o", str(out)]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    procs = [
        subprocess.Popen([*cmd, "--overwrite", "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for seed in (1, 2, 3)
    ]
    codes = [p.wait(120) for p in procs]
    assert set(codes) <= {0, 2} and 0 in codes
    for p, code in zip(procs, codes, strict=True):
        if code == 2:
            assert b"another negaudio build is writing here" in p.stderr.read()
    assert subprocess.run([sys.executable, "-m", "negaudio", "verify", str(out)], capture_output=True).returncode == 0


# --- confinement -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("item_id", "../ESCAPED_ITEM"), ("sample_id", "/tmp/abs"), ("sample_id", ".."), ("name", "a/b")],
)
def test_plan_ids_cannot_leave_the_build_folder(cli, plan, demo_root, tmp_path, field, value):
    header, rows = plan_rows(plan)
    rows[0][field] = value
    bad = write_plan_file(tmp_path / "bad.jsonl", header, rows)
    result = cli("build", "--plan", bad, "--source", demo_root, "-o", tmp_path / "out" / "b")
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("ESCAPED*"))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(image="/etc/hostname"),
        lambda r: r.update(audio="../outside.wav"),
        lambda r: r["regions"].append({"label": "x", "mask": "/etc/hostname"}),
    ],
)
def test_plan_media_stay_under_the_source_root(cli, plan, demo_root, tmp_path, change):
    header, rows = plan_rows(plan)
    change(rows[0])
    bad = write_plan_file(tmp_path / "bad.jsonl", header, rows)
    result = cli("build", "--plan", bad, "--source", demo_root, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "leaves its root" in result.output and not (tmp_path / "out").exists()


def test_plan_clips_only_from_folders_the_recipe_names(cli, plan, demo_root, tmp_path):
    header, rows = plan_rows(plan)
    off = next(r for r in rows if r["kind"] == "offscreen")
    off["params"]["pool"] = "/etc"
    bad = write_plan_file(tmp_path / "bad.jsonl", header, rows)
    result = cli("build", "--plan", bad, "--source", demo_root, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "does not name" in result.output
    off["params"].update(pool="same", clip_audio="../../etc/hostname")
    bad = write_plan_file(tmp_path / "bad.jsonl", header, rows)
    result = cli("build", "--plan", bad, "--source", demo_root, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "leaves its root" in result.output


def _retarget(build_dir: Path, **paths: str) -> None:
    """Point the first manifest row's files elsewhere."""
    manifest = build_dir / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    row = json.loads(lines[0])
    for key, value in paths.items():
        row[key]["path"] = value
    manifest.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")


@pytest.mark.parametrize("where", ["/etc/passwd", "../outside.wav", "link/outside.wav"])
def test_readers_never_leave_the_build_folder(cli, built, tmp_path, where):
    (tmp_path / "outside.wav").write_bytes((built / next(iter(sorted(tree_digest(built))))).read_bytes())
    (built / "link").symlink_to(tmp_path)
    _retarget(built, audio=where)
    result = cli("verify", built)
    assert result.exit_code == 1 and "leaves" in result.output
    assert f"altered: {where}" not in result.output and f"missing: {where}" not in result.output  # never hashed
    record = next(iter(negaudio.open_build(built)))
    with pytest.raises(InputError, match="leaves"):
        negaudio.open_build(built).load_audio(record)
    result = cli("eval", built, "--model", "energy-gated", "-o", tmp_path / "e")
    assert result.exit_code == 2 and "leaves" in result.output


def test_planted_links_are_never_followed(cli, write_recipe, demo_root, built, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    shutil.rmtree(built / "audio")
    (built / "audio").symlink_to(tmp_path)
    result = build(cli, write_recipe(), built, demo_root, "--limit", "3")
    assert result.exit_code == 2 and "symbolic link" in result.output
    (built / "audio").unlink()
    for name in ("manifest.jsonl.tmp", ".negaudio/state.json.tmp", ".negaudio/shards/00000.jsonl.tmp"):
        (built / name).parent.mkdir(parents=True, exist_ok=True)
        (built / name).symlink_to(victim)
    assert build(cli, write_recipe(), built, demo_root, "--limit", "3", "--overwrite").exit_code == 0
    assert victim.read_text() == "precious"


def test_temporaries_stay_inside_the_build_folder(cli, write_recipe, demo_root, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "keep.txt").write_text("x")
    assert build(cli, write_recipe(), parent / "b", demo_root).exit_code == 0
    assert sorted(p.name for p in parent.iterdir()) == ["b", "keep.txt"]
    assert not [p for p in (parent / "b").rglob("*") if ".tmp" in p.name]


# --- verify ------------------------------------------------------------------------------------------------


def _edit_json_lines(path: Path, edit) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edit(lines)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


EDITS = {
    "kind": lambda b: _edit_json_lines(b / "manifest.jsonl", lambda rows: rows[1].update(kind="positive")),
    "box": lambda b: _edit_json_lines(
        b / "manifest.jsonl", lambda rows: rows[0]["regions"][0].update(box=[0, 0, 1, 1])
    ),
    "heard_label": lambda b: _edit_json_lines(b / "manifest.jsonl", lambda rows: rows[4].update(heard_label="drum")),
    "counts": lambda b: (b / "build.json").write_text(
        json.dumps({**json.loads((b / "build.json").read_text()), "partial": True})
    ),
    "plan": lambda b: (b / "plan.jsonl").write_text((b / "plan.jsonl").read_text().replace('"seed":7', '"seed":8')),
    "plan deleted": lambda b: (b / "plan.jsonl").unlink(),
    "fake failure": lambda b: (b / "failures.jsonl").write_text('{"sample_id": "x", "error": "made up"}\n'),
    "extra file": lambda b: (b / "audio" / "00000" / "extra.wav").write_bytes(b"RIFF"),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_verify_catches_every_edit_eval_would_trust(cli, built, edit):
    EDITS[edit](built)
    result = cli("verify", built, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and report["problems"]


@pytest.mark.parametrize("suffix", [".png", ".wav"])
def test_verify_catches_every_single_bit_flip(cli, built, suffix):
    target = sorted(built.rglob(f"*{suffix}"))[0]
    data = bytearray(target.read_bytes())
    rng = random.Random(0)
    for _ in range(8):
        flipped = bytearray(data)
        pos = rng.randrange(len(flipped))
        flipped[pos] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(flipped))
        assert cli("verify", built).exit_code == 1, pos
    target.write_bytes(bytes(data))
    assert cli("verify", built).exit_code == 0


# --- faults and signals ------------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_a_rerun_finishes(cli, write_recipe, demo_root, tmp_path, monkeypatch):
    out = tmp_path / "b"
    real = render_module._write_media
    calls = {"n": 0}

    def full_disk(path, data):
        calls["n"] += 1
        if calls["n"] == 30:  # the disk fills in the middle of a file: half of it is left behind
            real(path, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(render_module, "_write_media", full_disk)
    result = build(cli, write_recipe(), out, demo_root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "No space left on device" in line and "run the same command again" in line
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    monkeypatch.setattr(render_module, "_write_media", real)
    assert build(cli, write_recipe(), out, demo_root).exit_code == 0
    assert build(cli, write_recipe(), tmp_path / "clean", demo_root).exit_code == 0
    assert tree_digest(out) == tree_digest(tmp_path / "clean")


def test_a_resumed_build_replaces_planted_links_instead_of_writing_through_them(
    cli, write_recipe, demo_root, tmp_path, monkeypatch
):
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"precious")
    clean = tmp_path / "clean"
    assert build(cli, write_recipe(), clean, demo_root).exit_code == 0
    out = tmp_path / "b"
    real = render_module._write_media
    calls = {"n": 0}

    def full_disk(path, data):
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(render_module, "_write_media", full_disk)
    assert build(cli, write_recipe(), out, demo_root).exit_code == 1
    monkeypatch.setattr(render_module, "_write_media", real)
    planted = 0
    for rel in tree_digest(clean):
        if rel.startswith(("audio/", "images/", "masks/")) and not (out / rel).exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).symlink_to(victim)
            planted += 1
    assert planted > 0
    assert build(cli, write_recipe(), out, demo_root, "--resume").exit_code == 0
    assert victim.read_bytes() == b"precious"
    assert tree_digest(out) == tree_digest(clean)
    assert not [p for p in out.rglob("*") if p.is_symlink()]


def _marked_processes(mark: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def big_demo(tmp_path_factory) -> Path:
    """A demo source of 400 images (800 samples, 13 shards): a build that cannot finish before a signal lands."""
    return ensure_demo(tmp_path_factory.mktemp("big") / "demo", images=400, seed=3)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_build_and_its_workers(write_recipe, tmp_path, big_demo, signum, code):
    root = big_demo
    mark = f"NEGAUDIO_TEST_MARK={uuid.uuid4().hex}"
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "negaudio", "build", str(write_recipe()), "--source", str(root), "-o", str(out)]
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    proc = subprocess.Popen([*cmd, "-j", "2"], env=env, stderr=subprocess.PIPE, start_new_session=True)
    first = out / ".negaudio" / "shards" / "00000.jsonl"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signum) if signum == signal.SIGINT else proc.send_signal(signum)
    started = time.monotonic()
    assert proc.wait(30) == code
    assert time.monotonic() - started < 15
    stderr = proc.stderr.read().decode()
    assert "Traceback" not in stderr and "run the same command again" in stderr
    deadline = time.monotonic() + 10
    while _marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _marked_processes(mark) == []


def test_workers_die_with_a_killed_build(write_recipe, tmp_path, big_demo):
    root = big_demo
    mark = uuid.uuid4().hex
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "negaudio", "build", str(write_recipe()), "--source", str(root), "-o", str(out)]
    proc = subprocess.Popen([*cmd, "-j", "2"], env={**os.environ, "NEGAUDIO_TEST_MARK": mark})
    first = out / ".negaudio" / "shards" / "00000.jsonl"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _marked_processes(f"NEGAUDIO_TEST_MARK={mark}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked_processes(f"NEGAUDIO_TEST_MARK={mark}") == []


def test_random_kills_resume_to_the_same_build_and_touch_nothing_outside(write_recipe, tmp_path):
    root = ensure_demo(tmp_path / "src", images=100, seed=2)
    recipe = write_recipe()
    cmd = [sys.executable, "-m", "negaudio", "build", str(recipe), "--source", str(root), "-o"]
    assert subprocess.run([*cmd, str(tmp_path / "clean"), "-j", "2"], capture_output=True).returncode == 0
    clean = tree_digest(tmp_path / "clean")
    outside = {"src": every_file(root), "top": sorted(p.name for p in tmp_path.iterdir())}
    rng = random.Random(2026)
    for trial in range(4):
        out = tmp_path / "work" / f"k{trial}"
        for _ in range(2):  # killed twice at random points, then finished
            proc = subprocess.Popen([*cmd, str(out), "-j", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 2.5))
            proc.kill()
            proc.wait()
        assert subprocess.run([*cmd, str(out), "-j", "2"], capture_output=True).returncode == 0
        assert tree_digest(out) == clean, trial
        assert subprocess.run([sys.executable, "-m", "negaudio", "verify", str(out)]).returncode == 0
    assert every_file(root) == outside["src"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*outside["top"], "work"])


# --- hostile input -----------------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size: signature, IHDR, a tiny IDAT, IEND (decoding it would need width*height)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _jpeg_header(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("what", ["png image", "jpeg image", "mask"])
def test_decompression_bombs_are_bad_samples(cli, write_recipe, demo_root, tmp_path, what):
    source = tmp_path / "src"
    shutil.copytree(demo_root, source)
    rows = [json.loads(line) for line in (source / "index.jsonl").read_text().splitlines()]
    if what == "mask":
        target = source / rows[0]["regions"][0]["mask"] if rows[0]["regions"][0].get("mask") else None
        if target is None:
            rows[0]["regions"][0] = {"label": rows[0]["label"], "mask": "bomb.png"}
            (source / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            target = source / "bomb.png"
        target.write_bytes(_png_header(30000, 30000))
    elif what == "png image":
        (source / rows[0]["image"]).write_bytes(_png_header(30000, 30000))
    else:
        (source / rows[0]["image"]).write_bytes(_jpeg_header(20000, 20000))
    result = build(cli, write_recipe(), tmp_path / "a", source)
    assert result.exit_code == 2 and "over the limit" in result.output
    result = build(cli, write_recipe(), tmp_path / "b", source, "--on-error", "skip")
    assert result.exit_code == 0 and "sample(s) or item(s) left out for errors" in " ".join(result.output.split())


def test_yaml_alias_bombs_and_deep_nesting_are_refused(cli, tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    bomb = tmp_path / "lol.yaml"
    bomb.write_text("\n".join([*lines, "name: lol", "source: {kind: demo}"]) + "\n")
    started = time.monotonic()
    result = cli("validate", bomb)
    assert result.exit_code == 2 and "aliases" in result.output and time.monotonic() - started < 20
    deep = {
        "deep.yaml": "name: x\nsource: {kind: demo}\nnegatives: " + "[" * 5000 + "]" * 5000 + "\n",
        "deep.toml": 'name = "x"\nx = ' + "[" * 5000 + "]" * 5000 + "\n",
        "dotted.toml": 'name = "x"\n' + "a" + ".a" * 200 + " = 1\n",
    }
    for name, text in deep.items():
        (tmp_path / name).write_text(text)
        result = cli("validate", tmp_path / name)
        assert result.exit_code == 2 and "nested too deeply" in result.output, name


PLAN_BREAKS = {
    "wrong type": (lambda h, rows: rows[0].update(sample_index="zero"), "sample_index"),
    "missing params": (lambda h, rows: rows[1].update(params={}), "malformed params"),
    "unknown kind": (lambda h, rows: rows[1].update(kind="laser"), "unknown item kind"),
    "unknown format": (lambda h, rows: h["recipe"]["audio"].update(format="mp3"), "bad.jsonl:1"),
    "absurd channels": (lambda h, rows: h["recipe"]["audio"].update(channels=4096), "bad.jsonl:1"),
    "absurd duration": (
        lambda h, rows: h["recipe"]["audio"].update(duration={"policy": "fixed", "seconds": 1e9}),
        "bad.jsonl:1",
    ),
    "duplicate id": (lambda h, rows: rows.append(dict(rows[0])), "appears twice"),
    "out of sample order": (
        lambda h, rows: rows.append(
            dict(
                rows[0], sample_id="late", item_id=f"late__{rows[0]['name']}", sample_index=rows[-1]["sample_index"] - 1
            )
        ),
        "rows must be in sample order",
    ),
}


@pytest.mark.parametrize("case", PLAN_BREAKS, ids=list(PLAN_BREAKS))
def test_broken_plan_rows_are_refused(cli, plan, demo_root, tmp_path, case):
    edit, expected = PLAN_BREAKS[case]
    header, rows = plan_rows(plan)
    edit(header, rows)
    bad = write_plan_file(tmp_path / "bad.jsonl", header, rows)
    result = cli("build", "--plan", bad, "--source", demo_root, "-o", tmp_path / "out")
    assert result.exit_code == 2 and expected in result.output, result.output


def test_prediction_files_are_checked_from_their_headers(cli, built, tmp_path):
    model = tmp_path / "m"
    assert cli("eval", built, "--model", "random", "-o", model, "--gallery", "0").exit_code == 0
    maps = dict(np.load(model / "predictions.npz"))
    first = next(iter(maps))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (200000, 200000)})
    for name, payload in {
        "huge": header.getvalue(),
        "bomb": _bomb_payload(maps[first]),
    }.items():
        path = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for key, value in maps.items():
                buffer = io.BytesIO()
                np.save(buffer, value)
                zf.writestr(f"{key}.npy", payload if key == first else buffer.getvalue())
        result = cli("eval", built, "--predictions", path, "-o", tmp_path / f"e-{name}", "--gallery", "0")
        assert result.exit_code == 2 and first in result.output, name


def _bomb_payload(small: np.ndarray) -> bytes:
    """A valid small map followed by 200 MB of zeros: a deflate bomb whose header is harmless."""
    buffer = io.BytesIO()
    np.save(buffer, small)
    return buffer.getvalue() + b"\0" * (200 << 20)


def test_a_gzip_manifest_with_a_giant_line_is_refused(cli, built):
    with gzip.open(built / "manifest.jsonl.gz", "wt") as fh:
        fh.write("a" * ((1 << 24) + 10))
    (built / "manifest.jsonl").unlink()
    result = cli("inspect", built)
    assert result.exit_code == 2 and "longer than" in result.output


def test_build_json_with_wrong_types_is_refused(cli, built):
    info = json.loads((built / "build.json").read_text())
    (built / "build.json").write_text(json.dumps({**info, "counts": [1], "items": "many"}))
    result = cli("inspect", built)  # unreadable: bad input
    assert result.exit_code == 2 and "not a negaudio build.json" in result.output
    result = cli("verify", built)  # a finding of verify: the build is damaged
    assert result.exit_code == 1 and "altered: build.json (not a negaudio build.json" in result.output


def test_a_manifest_row_with_a_wrong_type_is_one_line_and_a_verify_finding(cli, built):
    lines = (built / "manifest.jsonl").read_text().splitlines()
    row = json.loads(lines[1])
    row["audio"]["sample_rate"] = "abc"
    (built / "manifest.jsonl").write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n")
    result = cli("inspect", built)  # unreadable: bad input, one line naming the line and the field
    assert result.exit_code == 2 and "manifest.jsonl:2: invalid manifest row (audio.sample_rate:" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = cli("verify", built)  # a finding of verify: the build is damaged
    assert result.exit_code == 1 and "altered: manifest.jsonl (line 2: invalid manifest row (audio" in result.output


def test_an_absurd_calibration_threshold_gives_a_whole_report_or_a_clear_error(cli, built, tmp_path):
    model = tmp_path / "m"
    assert (
        cli("eval", built, "--model", "random", "-o", model, "--save-calibration", tmp_path / "c.json").exit_code == 0
    )
    record = json.loads((tmp_path / "c.json").read_text())
    record["thresholds"]["maxq3"] = 1e308
    (tmp_path / "c.json").write_text(json.dumps(record))
    result = cli(
        "eval",
        built,
        "--predictions",
        model / "predictions.npz",
        "--calibration",
        tmp_path / "c.json",
        "-o",
        tmp_path / "e",
    )
    assert result.exit_code in (0, 2) and "Traceback" not in result.output
    if result.exit_code == 0:
        assert (tmp_path / "e" / "report.md").is_file() and (tmp_path / "e" / "report.json").is_file()
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    result = cli(
        "eval",
        built,
        "--predictions",
        model / "predictions.npz",
        "--calibration",
        tmp_path / "deep.json",
        "-o",
        tmp_path / "e2",
    )
    assert result.exit_code == 2 and "nested too deeply" in result.output


def test_rich_markup_in_names_is_printed_as_it_is(cli, write_recipe, demo_root, tmp_path):
    result = cli("verify", tmp_path / "nonexist[/x]")
    assert result.exit_code == 2 and "nonexist[/x]" in result.output
    out = tmp_path / "out[bold]x[/bold]"
    result = build(cli, write_recipe(), out, demo_root, "--limit", "1")
    assert result.exit_code == 0 and "out[bold]x[/bold]" in result.output


def test_undecodable_file_names_are_refused_at_plan_time(cli, write_recipe, demo_root, tmp_path):
    pool = tmp_path / "pool"
    (pool / "siren").mkdir(parents=True)
    wav = next((demo_root / "audio").rglob("*.wav"))
    shutil.copy(wav, os.path.join(os.fsencode(pool / "siren"), b"\xff\xfe.wav"))
    recipe = write_recipe(negatives=[{"kind": "offscreen", "pool": {"folder": str(pool)}}])
    result = build(cli, recipe, tmp_path / "out", demo_root)
    assert result.exit_code == 2 and "not valid UTF-8" in result.output and not (tmp_path / "out").exists()


def test_a_folder_resolved_once_still_has_each_file_checked_for_a_link(tmp_path):
    root = tmp_path / "build"
    (root / "audio").mkdir(parents=True)
    (root / "audio" / "a.wav").write_bytes(b"a")
    (tmp_path / "secret").write_text("s")
    (root / "audio" / "b.wav").symlink_to(tmp_path / "secret")
    (root / "audio" / "c.wav").symlink_to(root / "audio" / "a.wav")
    folders: dict[str, str] = {}
    assert inside(root, "audio/a.wav", "manifest path", folders) == root / "audio" / "a.wav"
    assert folders  # the folder's real path is kept for the next file
    with pytest.raises(InputError, match="leaves"):
        inside(root, "audio/b.wav", "manifest path", folders)
    assert inside(root, "audio/c.wav", "manifest path", folders) == root / "audio" / "c.wav"  # a link inside: fine


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif", ".pdf"])
def test_inspect_gallery_replaces_only_a_contact_sheet(cli, built, tmp_path, suffix):
    sheet = tmp_path / f"sheet{suffix}"
    assert cli("inspect", built, "--gallery", sheet).exit_code == 0
    first = sheet.stat().st_mtime_ns
    time.sleep(0.01)
    assert cli("inspect", built, "--gallery", sheet, "--count", "2").exit_code == 0  # an earlier sheet: replaced
    assert sheet.stat().st_mtime_ns != first
    mine = tmp_path / f"figure{suffix}"
    Image.new("RGB", (8, 8)).save(mine)  # the user's own picture under the name given
    before = mine.read_bytes()
    result = cli("inspect", built, "--gallery", mine)
    assert result.exit_code == 2 and "not marked as a negaudio contact sheet; it is not replaced" in result.output
    assert mine.read_bytes() == before


def test_a_contact_sheet_is_known_by_its_metadata_alone(built, tmp_path, monkeypatch):
    from negaudio.core import limits
    from negaudio.manifest.gallery import gallery, is_sheet

    sheet, pdf = tmp_path / "sheet.png", tmp_path / "sheet.pdf"
    gallery(built, sheet, count=2)
    gallery(built, pdf, count=2)
    first = pdf.read_bytes()
    time.sleep(1.1)  # PDF dates have whole seconds
    gallery(built, pdf, count=2)
    assert pdf.read_bytes() == first  # no creation date: the same sheet, the same bytes
    monkeypatch.setattr(limits, "MAX_PIXELS", 100)  # a sheet over the pixel limit (--count 1000) is still ours
    assert is_sheet(sheet) and is_sheet(pdf)
    edited = tmp_path / "edited.pdf"
    shutil.copy(pdf, edited)
    Image.new("RGB", (8, 8)).save(edited, append=True)  # a page added to it (producer kept): no longer the sheet
    assert not is_sheet(edited)
    shutil.copy(pdf, edited)
    Image.new("RGB", (8, 8)).save(edited, append=True, producer="an editor")
    assert not is_sheet(edited)


def test_inspect_gallery_never_opens_a_pipe_or_a_dangling_link(cli, built, tmp_path):
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block until a writer comes
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    for name in ("pipe.png", "gone.png"):
        result = cli("inspect", built, "--gallery", tmp_path / name)
        assert result.exit_code == 2 and "holds something other than a file; it is not replaced" in result.output
    (tmp_path / "figures").mkdir()
    result = cli("inspect", built, "--gallery", tmp_path / "figures")
    assert result.exit_code == 2 and "figures: is a folder; give a file name" in result.output
    assert (tmp_path / "gone.png").is_symlink() and not (tmp_path / "nowhere.png").exists()


def test_a_file_made_while_the_sheet_is_drawn_is_not_replaced(built, tmp_path, monkeypatch):
    from negaudio.manifest import gallery as sheets

    target = tmp_path / "sheet.png"
    legend = sheets._legend

    def drawn_meanwhile(*args):
        target.write_text("made by someone else meanwhile")
        return legend(*args)

    monkeypatch.setattr(sheets, "_legend", drawn_meanwhile)
    with pytest.raises(InputError, match="not marked as a negaudio contact sheet"):
        sheets.gallery(built, target, count=2)
    assert target.read_text() == "made by someone else meanwhile"


@pytest.mark.parametrize("media", ["audio", "mask"])
def test_eval_refuses_a_build_altered_since_it_was_made(cli, built, tmp_path, media):
    record = next(r for r in negaudio.open_build(built) if r.mask is not None)
    path = built / getattr(record, media).path
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    result = cli("eval", built, "--model", "energy-gated", "-o", tmp_path / "e", "--bootstrap", "0")
    assert result.exit_code == 2 and "does not match its sha256 in the manifest" in " ".join(result.output.split())
    assert "negaudio verify" in result.output and not (tmp_path / "e" / "report.json").exists()


def test_the_contact_sheet_refuses_an_image_altered_since_the_build(cli, built, tmp_path):
    record = next(r for r in negaudio.open_build(built) if r.kind == "positive")
    path = built / record.image.path
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    result = cli("inspect", built, "--gallery", tmp_path / "sheet.png")
    assert result.exit_code == 2 and "does not match its sha256 in the manifest" in " ".join(result.output.split())
    assert not (tmp_path / "sheet.png").exists()
