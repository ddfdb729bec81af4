"""The whole ``negaudio eval --predictions`` command against the floor of loading the predictions file once.

A build of 5,000 samples × 4 items (positive, silence, white noise, off-screen; 224×224 images, box masks) and a
predictions file of one random 224×224 float32 map per item (20,000 maps, stored uncompressed as ``np.savez``
writes them) are made first (not timed). Then, side by side, best of the rounds:

- floor: ``np.load`` the file and take every map's max (the least any scorer does);
- eval: ``python -m negaudio eval BUILD --predictions PRED -o OUT --jobs J`` in a fresh interpreter (imports,
  default thresholds with in-sample calibration, bootstrap intervals, report, items.csv, plots included), with
  J = 1 and J = the CPU count; its peak RSS is the command's own VmHWM (``wait4``'s ru_maxrss would include this
  process's RSS at fork) plus its workers' VmHWM, polled.

Targets: eval with one worker per CPU <= 2.5x the floor; peak RSS < 1,024 MB (maps are streamed: memory does
not grow with the file).
Run: ``python bench/bench_eval.py [--samples 5000] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SIZE = 224
TARGET_FLOOR_RATIO = 2.5
TARGET_RSS_MB = 1024.0


def make_build(root: Path, samples: int) -> Path:
    """A folder source of ``samples`` flat-colour JPEGs and 0.2 s wavs with one box each, built with 2 jobs."""
    import soundfile as sf
    from PIL import Image

    from negaudio.builder import BuildOptions, build
    from negaudio.recipe.models import Recipe

    src = root / "source"
    (src / "images").mkdir(parents=True)
    (src / "audio").mkdir()
    rng = np.random.default_rng(7)
    rows = []
    for i in range(samples):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        Image.new("RGB", (SIZE, SIZE), colour).save(src / "images" / f"{i:05d}.jpg", quality=90)
        sf.write(src / "audio" / f"{i:05d}.wav", rng.standard_normal(3200) * 0.1, 16000, subtype="PCM_16")
        x1, y1 = (int(v) for v in rng.integers(0, SIZE // 2, 2))
        x2, y2 = (int(v) for v in rng.integers(SIZE // 2 + 1, SIZE + 1, 2))
        label = f"class{i % 8}"
        rows.append(
            {
                "sample_id": f"s{i:05d}",
                "image": f"images/{i:05d}.jpg",
                "audio": f"audio/{i:05d}.wav",
                "label": label,
                "image_classes": [label],
                "regions": [{"label": label, "box": [x1, y1, x2, y2]}],
            }
        )
    (src / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = Recipe.model_validate(
        {
            "name": "bench-eval",
            "version": "1.0.0",
            "seed": 7,
            "source": {"kind": "folder", "index": "index.jsonl"},
            "audio": {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "format": "wav_pcm16"},
            "negatives": [
                {"kind": "silence"},
                {"kind": "noise", "color": "white", "level": {"sigma": 1.0}, "clip": "clip"},
                {"kind": "offscreen", "pool": "same"},
            ],
        }
    )
    out = root / "build"
    build(recipe, out, source=src, options=BuildOptions(jobs=2))
    return out


def write_predictions(build_dir: Path, path: Path) -> int:
    """One random 224×224 float32 map per item, streamed into an uncompressed .npz (the ``np.savez`` layout)."""
    rng = np.random.default_rng(11)
    n = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for line in (build_dir / "manifest.jsonl").read_text().splitlines():
            item_id = json.loads(line)["item_id"]
            with zf.open(f"{item_id}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, rng.random((SIZE, SIZE), dtype=np.float32), allow_pickle=False)
            n += 1
    return n


def floor(path: Path) -> float:
    """Seconds to load every map of the file with ``np.load`` and take its max."""
    t0 = time.perf_counter()
    with np.load(path) as archive:
        for key in archive.files:
            archive[key].max()
    return time.perf_counter() - t0


# Runs ``negaudio ARGS`` and, at exit, writes the process's own VmHWM (KiB) to the file named first. On Linux
# ru_maxrss survives fork and execve, so a child of this (large) benchmark process would report at least our RSS.
OWN_PEAK = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as fh:
        kib = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(out, "w") as fh:
        fh.write(kib)
atexit.register(peak)
sys.argv[0] = "negaudio"
runpy.run_module("negaudio", run_name="__main__", alter_sys=True)
"""


def run_eval(build_dir: Path, path: Path, out: Path, jobs: int = 1) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB: the command's own VmHWM, the sum of its workers' VmHWM polled every 0.1 s)
    of ``negaudio eval --jobs JOBS`` in a fresh interpreter."""
    from bench.bench_build import _child_pids, _hwm_kib

    env = dict(os.environ, PYTHONPATH=str(REPO))
    peak = out.parent / f"{out.name}.vmhwm"
    cmd = [sys.executable, "-c", OWN_PEAK, str(peak), "eval", str(build_dir), "--predictions", str(path)]
    cmd += ["-o", str(out), "--jobs", str(jobs)]
    workers: dict[int, int] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        for pid in _child_pids(proc.pid):
            workers[pid] = max(workers.get(pid, 0), _hwm_kib(pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"negaudio eval failed (rc {proc.returncode}): {stderr.decode()[-2000:]}")
    return wall, int(peak.read_text()) / 1024, sum(workers.values()) / 1024


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args([] if argv is None else argv)
    tmp = Path(tempfile.mkdtemp(prefix="negaudio-bench-eval-"))
    try:
        t0 = time.perf_counter()
        build_dir = make_build(tmp, args.samples)
        pred = tmp / "predictions.npz"
        maps = write_predictions(build_dir, pred)
        print(
            f"bench_eval: {args.samples} samples, {maps} maps of {SIZE}x{SIZE} float32 "
            f"({pred.stat().st_size / 2**30:.1f} GiB, stored); build and file made in {time.perf_counter() - t0:.0f} s"
        )
        jobs = os.cpu_count() or 1
        floors, evals, rss = [], {1: [], jobs: []}, {1: [], jobs: []}
        for k in range(args.rounds):
            os.sync()  # each timing starts with no write-back of the file just made (or a report) pending
            floors.append(floor(pred))
            line = f"  round {k + 1}: floor {floors[-1]:.2f} s"
            for j in evals:
                os.sync()
                wall, own, workers = run_eval(build_dir, pred, tmp / f"eval-{k}-j{j}", j)
                evals[j].append(wall)
                rss[j].append(own + workers)
                line += f", eval --jobs {j} {wall:.2f} s (peak RSS {own:.0f} + workers {workers:.0f} MB)"
            print(line)
        print(f"  floor (np.load + max per map)  {min(floors):.2f} s  {1e3 * min(floors) / maps:.3f} ms/map")
        for j in evals:
            print(f"  negaudio eval --jobs {j}  {min(evals[j]):.2f} s  {1e3 * min(evals[j]) / maps:.3f} ms/map")
        ratio = min(evals[jobs]) / min(floors)
        peak = max(max(v) for v in rss.values())
        ok_ratio, ok_rss = ratio <= TARGET_FLOOR_RATIO, peak < TARGET_RSS_MB
        print(f"  eval --jobs 1 / floor {min(evals[1]) / min(floors):.2f}x")
        print(
            f"  eval --jobs {jobs} (the CPUs) / floor {ratio:.3f}x  target <= {TARGET_FLOOR_RATIO}x  "
            f"{'PASS' if ok_ratio else 'FAIL'}"
        )
        if args.rounds > 1:
            per_round = [e / f for e, f in zip(evals[jobs], floors, strict=True)]
            print(f"    per round: {', '.join(f'{r:.2f}x' for r in per_round)} (side by side in each round)")
        print(
            f"  peak RSS of eval on {maps} maps (with its workers) {peak:.0f} MB  target < {TARGET_RSS_MB:.0f} MB  "
            f"{'PASS' if ok_rss else 'FAIL'}"
        )
        return {"ratio": ratio, "rss_mb": peak, "ok": ok_ratio and ok_rss}
    finally:
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:])["ok"] else 1)
