"""Build benchmark: throughput of ``negaudio.build.build`` against a soundfile/Pillow I/O floor, the jobs=2
speed-up, determinism across worker counts, and the peak RSS of a 50,000-item build.

The I/O floor reads the source files (soundfile decodes each clip, Pillow checks each image) and writes the same
outputs with soundfile and Pillow alone. The Dask figure builds on a 1-worker and a 2-worker LocalCluster.
Run from the repository root: ``python bench/run.py`` (``make bench``), or ``python bench/bench_build.py``
(``--rounds N``, default 3: interleaved rounds, best reported with median and max; ``--profile`` adds a cProfile
of one extra jobs=1 build; ``--skip-rss`` leaves out the 50k build, ``--skip-dask`` the Dask builds). Each timed
section starts after ``os.sync()``. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from negaudio.builder import BuildOptions, build  # noqa: E402
from negaudio.recipe.models import Recipe  # noqa: E402

SAMPLES = 500  # x 4 items = 2,000
CLASSES = 8
IMAGE_SIZE = 224
SAMPLE_RATE = 16000
SECONDS = 3
SEED = 20250101
RSS_SAMPLES = 12_500  # x 4 items = 50,000
MASK_COMPRESS_LEVEL = 1  # negaudio.media.masks.encode_mask saves PNGs with compress_level=1

TARGET_FLOOR_RATIO = 1.5
TARGET_SPEEDUP = 1.7
TARGET_DASK_SPEEDUP = 1.6
TARGET_RSS_MB = 400.0
RSS_SOFT_LIMIT_S = 300.0


# ---------------------------------------------------------------------------------------------------- data


def make_source(root: Path, samples: int = SAMPLES, seed: int = SEED) -> None:
    """A folder source: ``samples`` 224x224 RGB PNGs and 3 s 16 kHz mono PCM16 wavs, 8 classes, one box each."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(samples):
        label = f"class{i % CLASSES}"
        image = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        Image.fromarray(image, mode="RGB").save(root / "images" / f"{i:05d}.png")
        wave = (rng.standard_normal(SAMPLE_RATE * SECONDS) * 0.1).clip(-1, 1)
        sf.write(root / "audio" / f"{i:05d}.wav", wave, SAMPLE_RATE, subtype="PCM_16")
        x1, y1 = (int(v) for v in rng.integers(0, IMAGE_SIZE // 2, 2))
        x2, y2 = (int(v) for v in rng.integers(IMAGE_SIZE // 2 + 1, IMAGE_SIZE + 1, 2))
        rows.append(
            {
                "sample_id": f"s{i:05d}",
                "image": f"images/{i:05d}.png",
                "audio": f"audio/{i:05d}.wav",
                "label": label,
                "image_classes": [label],
                "regions": [{"label": label, "box": [x1, y1, x2, y2]}],
            }
        )
    write_index(root / "index.jsonl", rows)


def write_index(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def write_big_index(root: Path, samples: int, name: str) -> None:
    """An index of ``samples`` rows with unique ids, reusing the media of ``index.jsonl`` round-robin."""
    base = [json.loads(t) for t in (root / "index.jsonl").read_text().splitlines() if t.strip()]
    rows = []
    for i in range(samples):
        row = dict(base[i % len(base)])
        row["sample_id"] = f"b{i:06d}"
        rows.append(row)
    write_index(root / name, rows)


def recipe(index: str = "index.jsonl") -> Recipe:
    return Recipe.model_validate(
        {
            "name": "bench-build",
            "version": "1.0.0",
            "seed": 7,
            "source": {"kind": "folder", "index": index},
            "audio": {
                "sample_rate": SAMPLE_RATE,
                "channels": 1,
                "duration": {"policy": "match"},
                "format": "wav_pcm16",
            },
            "negatives": [
                {"kind": "silence"},
                {"kind": "noise", "color": "white", "level": {"sigma": 1.0}, "clip": "clip"},
                {"kind": "offscreen", "pool": "same"},
            ],
        }
    )


# ---------------------------------------------------------------------------------------------------- timings


def timed_build(
    src: Path, out: Path, jobs: int, profile: cProfile.Profile | None = None, address: str | None = None
) -> tuple[float, float, dict]:
    """(wall, this process's CPU time, build.json) of ``build`` (plan, render, merge) into a fresh ``out``.

    Dirty pages are synced first, so each timing starts with the same (empty) write-back backlog.
    """
    options = BuildOptions(jobs=jobs, overwrite=True, executor="dask" if address else "process", address=address)
    r = recipe()
    os.sync()
    c0, t0 = time.process_time(), time.perf_counter()
    if profile is None:
        info = build(r, out, source=src, options=options)
    else:
        info = profile.runcall(build, r, out, source=src, options=options)
    return time.perf_counter() - t0, time.process_time() - c0, info


def load_outputs(build_dir: Path) -> tuple[list, list, list]:
    """The built files' decoded arrays (audio as int16 [frames, channels], masks uint8) and image paths."""
    audio, masks, images, seen = [], [], [], set()
    with (build_dir / "manifest.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            data, rate = sf.read(build_dir / rec["audio"]["path"], dtype="int16", always_2d=True)
            audio.append((rec["audio"]["path"], data, rate))
            if rec["sample_id"] in seen:
                continue
            seen.add(rec["sample_id"])
            if rec["mask"] is not None:
                with Image.open(build_dir / rec["mask"]["path"]) as im:
                    masks.append((rec["mask"]["path"], np.asarray(im.convert("L"))))
            images.append((rec["image"]["path"], build_dir / rec["image"]["path"]))
    return audio, masks, images


def io_floor(outputs: tuple[list, list, list], out: Path, src: Path) -> tuple[float, float]:
    """(wall, CPU time) of reading the source files (each clip decoded with soundfile, each image's bytes read
    and checked by Pillow, as a build reads them) and writing the same arrays with soundfile and Pillow alone,
    and the same image bytes, into ``out``."""
    audio, masks, images = outputs
    for rel in {str(Path(p).parent) for p, *_ in [*audio, *masks, *images]}:
        (out / rel).mkdir(parents=True, exist_ok=True)
    os.sync()
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(SAMPLES):
        sf.read(src / "audio" / f"{i:05d}.wav", dtype="float32", always_2d=True)
        data = (src / "images" / f"{i:05d}.png").read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    for rel, data, rate in audio:
        sf.write(out / rel, data, rate, subtype="PCM_16", format="WAV")
    for rel, arr in masks:
        Image.fromarray(arr, mode="L").save(out / rel, format="PNG", compress_level=MASK_COMPRESS_LEVEL)
    for rel, path in images:
        (out / rel).write_bytes(path.read_bytes())
    return time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------------------------------------- peak RSS


def _hwm_kib(pid: int | str) -> int:
    """VmHWM (peak resident set of the current program image) of a process, in KiB; 0 when it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _child_pids(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(entry))
    return pids


def rss_child(index: str, out: str, src: str) -> None:
    """Body of the peak-RSS process: plan + build with jobs=2, then print its and its workers' peak RSS as JSON.

    ``ru_maxrss`` (RUSAGE_SELF here, RUSAGE_CHILDREN for the pool's workers once joined) is the figure asked
    for; the workers' VmHWM, polled every 0.2 s, cross-checks it: on Linux ru_maxrss survives ``execve``, so
    a spawned worker's ru_maxrss is at least its parent's RSS at spawn time, not only its own.
    """
    import resource
    import threading

    workers: dict[int, int] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            for pid in _child_pids(os.getpid()):
                workers[pid] = max(workers.get(pid, 0), _hwm_kib(pid))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    options = BuildOptions(jobs=2, overwrite=True)
    t0 = time.perf_counter()
    info = build(recipe(index), Path(out), source=Path(src), options=options)
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    result = {
        "wall_s": wall,
        "items": info["items"],
        "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "self_hwm_kib": _hwm_kib("self"),
        "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "workers_hwm_kib": sorted(workers.values(), reverse=True),
    }
    print(json.dumps(result))


def peak_rss(src: Path, out: Path, samples: int) -> dict:
    """Plan + build ``samples`` x 4 items with jobs=2 in a fresh interpreter; its peak RSS and its workers'.

    The interpreter is started by ``/bin/sh``, which forks it (``; exit $?`` stops sh from exec'ing in place):
    ru_maxrss is kept across ``execve`` on Linux, so a child exec'd straight from this process would report
    this process's own peak (the decoded arrays of the I/O floor) as its own.
    """
    index = "index_rss.jsonl"
    write_big_index(src, samples, index)
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from bench.bench_build import rss_child; "
        f"rss_child({index!r}, {str(out)!r}, {str(src)!r})"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, code], capture_output=True, text=True, check=False
    )
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"peak-RSS build failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = total
    return result


# ---------------------------------------------------------------------------------------------------- Dask


def dask_rows(src: Path, tmp: Path, rounds: int, expected_sha: str) -> list[tuple[str, str, str, str]]:
    """Builds on a 1-worker and a 2-worker Dask LocalCluster (the one ``--executor dask`` starts, started before
    the timings), best of ``rounds`` each; the speed-up and whether the outputs equal the process-pool build's."""
    from negaudio.rendering.execute import local_cluster

    times: dict[int, list[float]] = {1: [], 2: []}
    shas = set()
    with local_cluster(1, tmp / "dask-files-1") as one, local_cluster(2, tmp / "dask-files-2") as two:
        clusters = {1: one.scheduler_address, 2: two.scheduler_address}
        for k in range(rounds):
            for workers, address in clusters.items():
                wall, _, info = timed_build(src, tmp / f"build-dask{workers}-{k}", workers, address=address)
                times[workers].append(wall)
                shas.add(info["content_sha256"])
            print(f"  dask round {k + 1}: 1 worker {times[1][-1]:.2f} s, 2 workers {times[2][-1]:.2f} s", flush=True)
    speedup = min(times[1]) / min(times[2])
    same = shas == {expected_sha}
    return [
        ("dask 1 / 2 workers", f"{min(times[1]):.2f} s / {min(times[2]):.2f} s {spread(times[2])}", "", ""),
        (
            "dask speed-up 2 workers",
            f"{speedup:.3f}x {paired(times[1], times[2])}",
            f">= {TARGET_DASK_SPEEDUP}x",
            verdict(speedup >= TARGET_DASK_SPEEDUP),
        ),
        ("determinism dask == pool", expected_sha[:16], "equal", verdict(same)),
    ]


# ---------------------------------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for k, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all CPUs) since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its waited-for children (the pool workers, the RSS build)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def paired(numerators: list[float], denominators: list[float]) -> str:
    """The ratio of each round's two timings and their median: a check on the best-of ratio, which may pair
    timings from rounds where the machine ran at different speeds."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    if len(ratios) < 2:
        return ""
    return f"(per round {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f})"


def spread(values: list[float]) -> str:
    """``(median M, max X)`` of the rounds, beside the best one (empty for a single round)."""
    return f"(median {statistics.median(values):.2f}, max {max(values):.2f})" if len(values) > 1 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (jobs=1, jobs=2, floor)")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra jobs=1 build (top 15 cumulative)")
    parser.add_argument("--skip-rss", action="store_true", help="leave out the 50,000-item peak-RSS build")
    parser.add_argument(
        "--rss-samples", type=int, default=RSS_SAMPLES, help="samples of the peak-RSS build (x 4 items)"
    )
    parser.add_argument("--skip-dask", action="store_true", help="leave out the Dask LocalCluster builds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args([] if argv is None else argv)

    tmp = Path(tempfile.mkdtemp(prefix="negaudio-bench-build-"))
    try:
        print(f"bench_build: {SAMPLES} samples x 4 items, {os.cpu_count()} CPU(s), {args.rounds} round(s), temp {tmp}")
        src = tmp / "source"
        t0 = time.perf_counter()
        make_source(src)
        print(f"  source generated in {time.perf_counter() - t0:.1f} s (not timed)")

        t1s: list[float] = []
        t2s: list[float] = []
        tfs: list[float] = []
        c1s: list[float] = []
        cfs: list[float] = []
        others: list[float] = []
        infos: list[tuple[dict, dict]] = []
        outputs = None
        for k in range(args.rounds):
            busy0, own0, wall0 = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
            t1, c1, info1 = timed_build(src, tmp / f"build-j1-{k}", jobs=1)
            t2, _, info2 = timed_build(src, tmp / f"build-j2-{k}", jobs=2)
            if outputs is None:  # decoded once, before any floor is timed
                outputs = load_outputs(tmp / "build-j1-0")
            tf, cf = io_floor(outputs, tmp / f"floor-{k}", src)
            t1s.append(t1)
            t2s.append(t2)
            tfs.append(tf)
            c1s.append(c1)
            cfs.append(cf)
            infos.append((info1, info2))
            other = max(0.0, (_busy_cpu_s() - busy0) - (_own_cpu_s() - own0))
            others.append(other / (time.perf_counter() - wall0))
            print(
                f"  round {k + 1}: build jobs=1 {t1:.2f} s (cpu {c1:.2f}), jobs=2 {t2:.2f} s, "
                f"I/O floor {tf:.2f} s (cpu {cf:.2f}); other processes used {others[-1]:.2f} CPU on average",
                flush=True,
            )
        wavs, masks, images = (len(v) for v in outputs)
        print(
            f"  I/O floor writes {wavs} wavs (sf.write PCM_16) + {masks} mask PNGs (compress_level 1) + {images} copies"
        )
        info1, info2 = infos[0]
        shas = {i["content_sha256"] for pair in infos for i in pair}
        same = len(shas) == 1 and all(i["items"] == info1["items"] for pair in infos for i in pair)
        print(f"  content_sha256 jobs=1 {info1['content_sha256']}")
        print(f"  content_sha256 jobs=2 {info2['content_sha256']}")
        print(f"  distinct content_sha256 over all {2 * args.rounds} builds: {len(shas)}")

        rss = None
        if not args.skip_rss:
            print(f"  peak-RSS build: {args.rss_samples} samples x 4 items, jobs=2, fresh interpreter ...", flush=True)
            rss = peak_rss(src, tmp / "build-rss", args.rss_samples)

        items = info1["items"]
        # best of the rounds: other work on the machine only ever adds time (timeit's rule)
        t1, t2, tf = min(t1s), min(t2s), min(tfs)
        ratio, speedup = t1 / tf, t1 / t2
        c1, cf = min(c1s), min(cfs)
        rows = [
            ("figure (best of rounds)", "value", "target", "verdict"),
            ("items", f"{items}", f"{SAMPLES * 4}", verdict(items == SAMPLES * 4)),
            ("build jobs=1", f"{t1:.2f} s  {items / t1:.0f} items/s  cpu {c1:.2f} s {spread(t1s)}", "", ""),
            ("build jobs=2", f"{t2:.2f} s  {items / t2:.0f} items/s {spread(t2s)}", "", ""),
            ("I/O floor", f"{tf:.2f} s  {items / tf:.0f} items/s  cpu {cf:.2f} s {spread(tfs)}", "", ""),
            (
                "build(jobs=1) / floor",
                f"{ratio:.3f}x {paired(t1s, tfs)}",
                f"<= {TARGET_FLOOR_RATIO}x",
                verdict(ratio <= TARGET_FLOOR_RATIO),
            ),
            (
                "speed-up jobs=2",
                f"{speedup:.3f}x {paired(t1s, t2s)}",
                f">= {TARGET_SPEEDUP}x",
                verdict(speedup >= TARGET_SPEEDUP),
            ),
            ("determinism j1 == j2", info1["content_sha256"][:16], "equal", verdict(same)),
        ]
        if rss is not None:
            main_mb, worker_mb = rss["self_kib"] / 1024, rss["children_kib"] / 1024
            hwm = ", ".join(f"{v / 1024:.0f}" for v in rss["workers_hwm_kib"]) or "-"
            rows += [
                ("RSS build wall", f"{rss['wall_s']:.1f} s  {rss['items'] / rss['wall_s']:.0f} items/s", "", ""),
                (
                    "RSS build peak main",
                    f"{main_mb:.0f} MB",
                    f"< {TARGET_RSS_MB:.0f} MB",
                    verdict(main_mb < TARGET_RSS_MB),
                ),
                (
                    "RSS build peak worker",
                    f"{worker_mb:.0f} MB",
                    f"< {TARGET_RSS_MB:.0f} MB",
                    verdict(worker_mb < TARGET_RSS_MB),
                ),
                ("  cross-check VmHWM main", f"{rss['self_hwm_kib'] / 1024:.0f} MB", "", ""),
                ("  cross-check VmHWM workers", f"{hwm} MB", "", ""),
            ]
        print()
        print_table(rows)
        if rss is not None:
            print(
                f"  (RSS build: {rss['items']} items, {rss['process_s']:.1f} s with interpreter start; a spawned "
                "worker's ru_maxrss includes its parent's RSS at spawn, VmHWM is its own; the 13 MB-ish process is "
                "multiprocessing's resource tracker)"
            )
            if rss["wall_s"] > RSS_SOFT_LIMIT_S:
                print(f"  note: the RSS build took {rss['wall_s']:.0f} s, over the ~{RSS_SOFT_LIMIT_S:.0f} s budget")
        if min(others) > 0.25:
            print(
                f"  note: other processes kept {min(others):.2f}-{max(others):.2f} of the {os.cpu_count()} CPUs busy "
                "during the rounds: wall times and the jobs=2 speed-up are pessimistic"
            )
        if not args.skip_dask:
            rows += dask_rows(src, tmp, args.rounds, info1["content_sha256"])
            print()
            print_table(rows[:1] + rows[-3:])
        failed = [r[0] for r in rows[1:] if r[3] == "FAIL"]
        print(f"  verdict: {'all targets met' if not failed else 'missed: ' + ', '.join(failed)}")
        if args.profile:
            profile = cProfile.Profile()
            tp, _, _ = timed_build(src, tmp / "build-profile", jobs=1, profile=profile)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(15)
            print(f"\ncProfile of an extra jobs=1 build ({tp:.2f} s under the profiler), top 15 cumulative:")
            print(out.getvalue().rstrip())
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
