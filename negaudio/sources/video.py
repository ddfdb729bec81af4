"""Raw video clips (e.g. VGGSound ``<ytid>_<start:06d>.mp4``): one frame and the mono 16 kHz audio per clip.

Frames and audio are extracted with ffmpeg (built through ffmpeg-python) into the negaudio cache, keyed by the
clip's bytes, the ffmpeg version and the rule, written atomically; samples point there by absolute path (the
source folder is never written). The binary is ``$NEGAUDIO_FFMPEG``, else the one the imageio-ffmpeg wheel ships,
else ``ffmpeg`` on PATH. Frame rules: ``middle`` (one sample per clip, at half the container's duration) or
``avsbench`` (five samples ``<clip>_<k>``, k = 1..5, at k - 1/16 s: the last of every second at 16 fps, as
AVSBench's preprocessing of its 5-s clips). Clips carry no ground truth: samples have no regions.

Labels: an optional CSV, either ``<clip>.mp4,<label>`` rows (VGGSound ``test.csv``) or
``<ytid>,<start>,<label>[,<split>]`` rows (``vggsound.csv``, clip name ``<ytid>_<start:06d>``); clips without a
row are left out. Without a label file each clip is its own class (``video:<clip>``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache as memoize
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from negaudio.core import cache
from negaudio.core.errors import InputError
from negaudio.core.extras import require
from negaudio.sources.base import Sample, SourceReport
from negaudio.sources.common import clip_class, require_root

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}
SAMPLE_RATE = 16000
AVSBENCH_TIMES = tuple((16 * k + 15) / 16 for k in range(5))
DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
ADDRESS = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\] ")  # ffmpeg's "[muxer @ 0x55...] ": varies run to run
BITEXACT = {"fflags": "+bitexact", "flags": "+bitexact", "map_metadata": -1}
NOTED_FAILURES = 10


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["video"]
    root: Path | None = None
    labels: Path | None = Field(
        None,
        description="Label CSV (relative to root, or absolute): "
        "'<clip>.mp4,<label>' or '<ytid>,<start>,<label>[,<split>]' rows.",
    )
    frames: Literal["middle", "avsbench"] = "middle"


class ExtractError(Exception):
    """ffmpeg could not produce a frame or the audio of one clip."""


@memoize
def ffmpeg_exe() -> str:
    """``$NEGAUDIO_FFMPEG``, else imageio-ffmpeg's binary, else ``ffmpeg`` on PATH."""
    if os.environ.get("NEGAUDIO_FFMPEG"):
        return os.environ["NEGAUDIO_FFMPEG"]
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found is None:
            raise InputError("no ffmpeg found: pip install 'negaudio[video]', or set NEGAUDIO_FFMPEG") from None
        return found


@memoize
def ffmpeg_version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InputError(f"{exe}: cannot run ffmpeg ({exc})") from None
    return out.splitlines()[0].split(" Copyright")[0] if out else exe


def probe_duration(exe: str, clip: Path) -> float:
    """The container's duration in seconds, from ``ffmpeg -i`` (no ffprobe needed)."""
    result = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(clip)], capture_output=True, text=True)
    match = DURATION.search(result.stderr)
    if match is None:
        raise ExtractError("no duration in the container")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def ffmpeg_python():
    """The ffmpeg-python module (a command builder; the binary is :func:`ffmpeg_exe`)."""
    return require("ffmpeg", "video", "the video source")


def _run(exe: str, stream) -> None:
    ffmpeg = ffmpeg_python()
    try:
        stream.global_args("-nostdin", "-hide_banner", "-loglevel", "error").run(
            cmd=exe, capture_stdout=True, capture_stderr=True, overwrite_output=True
        )
    except ffmpeg.Error as exc:
        lines = exc.stderr.decode(errors="replace").strip().splitlines()
        raise ExtractError(ADDRESS.sub("", lines[-1]) if lines else "ffmpeg failed") from None


def extract_audio(exe: str, clip: Path, out: Path) -> None:
    ffmpeg = ffmpeg_python()
    _run(
        exe, ffmpeg.input(str(clip)).output(str(out), map="0:a:0", ac=1, ar=SAMPLE_RATE, acodec="pcm_s16le", **BITEXACT)
    )


def extract_frame(exe: str, clip: Path, seconds: float, out: Path) -> None:
    ffmpeg = ffmpeg_python()
    _run(exe, ffmpeg.input(str(clip), ss=f"{seconds:.6f}").output(str(out), vframes=1, **{"q:v": 2}, **BITEXACT))
    if not out.is_file():
        raise ExtractError(f"no frame at {seconds:.3f} s")


def read_labels(path: Path) -> dict[str, str]:
    """Clip name -> label, from a ``test.csv``-style or ``vggsound.csv``-style file."""
    labels = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if len(row) == 2:
                labels[Path(row[0].strip()).stem] = row[1].strip()
            elif len(row) >= 3:
                try:
                    labels[f"{row[0].strip()}_{int(row[1]):06d}"] = row[2].strip()
                except ValueError:
                    raise InputError(f"{path}:{line}: the start column must be an integer number of seconds") from None
            elif row:
                raise InputError(f"{path}:{line}: expected '<clip>.mp4,<label>' or '<ytid>,<start>,<label>'")
    return labels


class VideoSource:
    name = "video"

    def __init__(self, root: Path, labels: dict[str, str] | None, frames: str):
        self.root = root
        self.labels = labels
        self.frames = frames
        self.exe = ffmpeg_exe()
        self.report = SourceReport()

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        self.report.notes.append(f"ffmpeg: {ffmpeg_version(self.exe)}")
        clips = self._clips()
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = list(pool.map(self._extract, clips.values()))
        for (stem, clip), (audio, frames) in zip(clips.items(), results, strict=True):
            label = self.labels[stem] if self.labels is not None else clip_class("video", stem)
            for sample_id, frame in frames:
                if isinstance(frame, ExtractError) or isinstance(audio, ExtractError):
                    self._failed(clip, audio if isinstance(audio, ExtractError) else frame)
                    continue
                self.report.kept += 1
                yield Sample(sample_id=sample_id, image=frame, audio=audio, label=label, image_classes=(label,))

    def _failed(self, clip: Path, error: ExtractError) -> None:
        self.report.skip("extraction failed")
        if len(self.report.notes) <= NOTED_FAILURES:
            self.report.notes.append(f"{clip.relative_to(self.root).as_posix()}: {error}")

    def _clips(self) -> dict[str, Path]:
        clips: dict[str, Path] = {}
        found = (p for p in self.root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        for path in sorted(found, key=lambda p: (p.stem, p)):
            if path.stem in clips:
                raise InputError(f"{path}: a second clip named {path.stem!r} (also {clips[path.stem]})")
            if self.labels is not None and path.stem not in self.labels:
                self.report.skip("clip without a label")
                continue
            clips[path.stem] = path
        if self.labels is not None:
            unknown = len(set(self.labels) - set(clips))
            if unknown:
                self.report.missing["labelled clip missing"] = unknown
        return clips

    def _extract(self, clip: Path) -> tuple[str | ExtractError, list[tuple[str, str | ExtractError]]]:
        """The clip's audio and frames in the cache (paths), each replaced by its error when ffmpeg failed."""
        digest = cache.file_digest(clip, ffmpeg_version(self.exe), SAMPLE_RATE)
        audio = self._cached(digest, "audio.wav", lambda tmp: extract_audio(self.exe, clip, tmp))
        if self.frames == "middle":
            frame = self._cached(
                digest,
                "frame-middle.jpg",
                lambda tmp: extract_frame(self.exe, clip, probe_duration(self.exe, clip) / 2, tmp),
            )
            return audio, [(clip.stem, frame)]
        return audio, [
            (
                f"{clip.stem}_{k}",
                self._cached(
                    digest, f"frame-avsbench-{k}.jpg", lambda tmp, s=seconds: extract_frame(self.exe, clip, s, tmp)
                ),
            )
            for k, seconds in enumerate(AVSBENCH_TIMES, start=1)
        ]

    @staticmethod
    def _cached(digest: str, name: str, write) -> str | ExtractError:
        try:
            return cache.cache_ref(cache.ensure(cache.entry("video", digest, name), write))
        except ExtractError as exc:
            return exc


def open_source(config: Config, root: Path | None) -> VideoSource:
    root = require_root("video", config.root, root)
    ffmpeg_python()
    labels = None
    if config.labels is not None:
        path = config.labels if config.labels.is_absolute() else root / config.labels
        if not path.is_file():
            raise InputError(f"{path}: label file not found")
        labels = read_labels(path)
    return VideoSource(root, labels, config.frames)
