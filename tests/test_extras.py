"""Optional dependencies: a missing one is an input error (exit 2) that names the extra to install."""

from __future__ import annotations

import sys

import pytest

from negaudio.core.errors import InputError
from negaudio.core.extras import require


def test_require_returns_the_module_or_names_the_extra(monkeypatch):
    assert require("json", "none", "reading JSON") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InputError) as err:
        require("torch", "torch", "--model ezvsl")
    assert str(err.value) == "--model ezvsl needs torch: pip install 'negaudio[torch]'"
    assert err.value.exit_code == 2


def test_dask_executor_without_dask(cli, write_recipe, demo_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    out = tmp_path / "out"
    result = cli("build", write_recipe(), "-o", out, "--source", demo_root, "--executor", "dask")
    assert result.exit_code == 2
    assert "--executor dask needs dask.distributed: pip install 'negaudio[dask]'" in result.output


def test_video_source_without_ffmpeg_python(monkeypatch):
    from negaudio.sources import video

    monkeypatch.setitem(sys.modules, "ffmpeg", None)
    with pytest.raises(InputError, match=r"^the video source needs ffmpeg: pip install 'negaudio\[video\]'$"):
        video.ffmpeg_python()


def test_no_ffmpeg_binary_names_the_extra(monkeypatch, tmp_path):
    from negaudio.sources import video

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    monkeypatch.delenv("NEGAUDIO_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    video.ffmpeg_exe.cache_clear()
    try:
        with pytest.raises(InputError, match=r"pip install 'negaudio\[video\]', or set NEGAUDIO_FFMPEG"):
            video.ffmpeg_exe()
    finally:
        video.ffmpeg_exe.cache_clear()
