"""The raw-video adapter: frames and mono 16 kHz audio extracted by ffmpeg into the cache, labels, rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from negaudio.builder import build
from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError
from negaudio.recipe.models import Recipe
from negaudio.sources import open_source, video

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (the ffmpeg binary wheel) not installed")
pytest.importorskip("ffmpeg", reason="ffmpeg-python (the command builder) not installed")


def _clip(path: Path, seconds: float, colour: str = "red", tone: int = 440) -> None:
    """A small mp4 (mpeg4 + aac): a solid colour at 16 fps and a stereo 44.1 kHz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c={colour}:size=96x64:rate=16:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone}:sample_rate=44100:duration={seconds}",
            "-ac",
            "2",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    _clip(root / "a" / "abcdefghijk_000004.mp4", 6.0, "red", 440)
    _clip(root / "b" / "-_zyxwvutsrq_000120.mp4", 3.0, "blue", 880)
    (root / "notes.txt").write_text("not a clip")
    return root


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEGAUDIO_CACHE", str(cache))
    return cache


def test_middle_frames_and_mono_16k_audio_land_in_the_cache(clips, isolated_cache):
    source = open_source(video.Config(kind="video"), clips)
    samples = {s.sample_id: s for s in source.samples()}
    assert set(samples) == {"abcdefghijk_000004", "-_zyxwvutsrq_000120"}
    red = samples["abcdefghijk_000004"]
    assert red.label == "video:abcdefghijk_000004" and red.regions == ()
    assert red.image.startswith("cache:") and red.audio.startswith("cache:")  # portable: no absolute paths
    image, audio = resolve_media(Path("/nowhere"), red.image), resolve_media(Path("/nowhere"), red.audio)
    assert image.is_relative_to(isolated_cache) and audio.is_relative_to(isolated_cache)
    with Image.open(image) as im:
        assert im.size == (96, 64)
        r, g, b = np.asarray(im.convert("RGB"), dtype=float).mean(axis=(0, 1))
        assert r > 200 and g < 60 and b < 60
    info = sf.info(audio)
    assert (info.samplerate, info.channels) == (16000, 1) and info.duration == pytest.approx(6.0, abs=0.05)
    assert source.report.notes[0].startswith("ffmpeg: ffmpeg version")
    assert not any(p.suffix in (".jpg", ".wav") for p in clips.rglob("*"))  # the source folder is untouched


def test_extraction_is_cached_and_deterministic(clips, tmp_path, monkeypatch):
    outputs = []
    for name in ("one", "two"):
        monkeypatch.setenv("NEGAUDIO_CACHE", str(tmp_path / name))
        (sample, *_) = open_source(video.Config(kind="video"), clips).samples()
        outputs.append(
            (
                resolve_media(tmp_path, sample.image).read_bytes(),
                resolve_media(tmp_path, sample.audio).read_bytes(),
                resolve_media(tmp_path, sample.image).relative_to(tmp_path / name),
            )
        )
    assert outputs[0] == outputs[1]
    stamp = resolve_media(tmp_path, sample.image).stat().st_mtime_ns
    list(open_source(video.Config(kind="video"), clips).samples())
    assert resolve_media(tmp_path, sample.image).stat().st_mtime_ns == stamp  # kept, not re-extracted


def test_avsbench_rule_keeps_the_frames_inside_the_clip(clips, isolated_cache):
    source = open_source(video.Config(kind="video", frames="avsbench"), clips)
    ids = [s.sample_id for s in source.samples()]
    assert ids == [f"-_zyxwvutsrq_000120_{k}" for k in (1, 2, 3)] + [f"abcdefghijk_000004_{k}" for k in range(1, 6)]
    assert source.report.missing == {"extraction failed": 2}  # 3.94 s and 4.94 s are past the 3-s clip
    assert all("-_zyxwvutsrq_000120.mp4" in note for note in source.report.notes[1:])


def test_labels_from_either_csv_style(clips, isolated_cache, tmp_path):
    (tmp_path / "test.csv").write_text("abcdefghijk_000004.mp4,playing hammond organ\nother_000001.mp4,x\n")
    (tmp_path / "vggsound.csv").write_text('-_zyxwvutsrq,120,"bird chirping, tweeting",test\n')
    source = open_source(video.Config(kind="video", labels=tmp_path / "test.csv"), clips)
    assert [(s.sample_id, s.label) for s in source.samples()] == [("abcdefghijk_000004", "playing hammond organ")]
    assert source.report.missing == {"clip without a label": 1, "labelled clip missing": 1}
    source = open_source(video.Config(kind="video", labels=tmp_path / "vggsound.csv"), clips)
    assert [s.label for s in source.samples()] == ["bird chirping, tweeting"]
    with pytest.raises(InputError, match=r"nolabels\.csv"):
        open_source(video.Config(kind="video", labels=tmp_path / "nolabels.csv"), clips)


def test_build_from_raw_clips_offscreen_uses_the_other_clip(clips, isolated_cache, tmp_path):
    recipe = Recipe.model_validate(
        {"name": "clips", "source": {"kind": "video"}, "negatives": [{"kind": "silence"}, {"kind": "offscreen"}]}
    )
    info = build(recipe, tmp_path / "out", source=clips)
    assert info["counts"] == {"offscreen": 2, "positive": 2, "silence": 2}
    lines = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    rows = {(r["sample_id"], r["kind"]): r for r in map(json.loads, lines)}
    off = rows[("abcdefghijk_000004", "offscreen")]
    assert off["heard_label"] == "video:-_zyxwvutsrq_000120"
    assert off["audio"]["channels"] == 1 and off["audio"]["duration_s"] == pytest.approx(6.0, abs=0.05)


def test_ffmpeg_override_is_honoured(monkeypatch, tmp_path):
    video.ffmpeg_exe.cache_clear()
    monkeypatch.setenv("NEGAUDIO_FFMPEG", str(tmp_path / "my-ffmpeg"))
    try:
        assert video.ffmpeg_exe() == str(tmp_path / "my-ffmpeg")
        with pytest.raises(InputError, match="my-ffmpeg"):
            video.ffmpeg_version(video.ffmpeg_exe())
    finally:
        video.ffmpeg_exe.cache_clear()
