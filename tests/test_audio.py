"""negaudio.media.audio: loading/conversion, length policy, quantization, hashed writing, levels and SNR mixing."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from negaudio.core.errors import InputError
from negaudio.media.audio import (
    FORMATS,
    SilentAudioError,
    as_float,
    audio_info,
    center_crop,
    decoded_levels,
    encode_frames,
    fit_length,
    load_audio,
    lufs,
    mix_at_snr,
    pcm_sha256,
    pcm_sha256_of_file,
    peak_dbfs,
    quantize,
    rms_dbfs,
    scale_to_rms_dbfs,
    write_audio,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = DATA / "samples"
needs_data = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"real sample audio not found at {SAMPLES} (shared data is absent)"
)


def _noise(channels: int, n: int, seed: int = 0, scale: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, n)) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------- quantize/write


def test_quantize_int16_scaling_and_layout():
    x = np.array([[0.0, 1.0, -1.0, 2.0, -3.0, 0.5, 1.5 / 32767, 2.5 / 32767]], dtype=np.float64)
    q = quantize(x, "wav_pcm16")
    assert q.dtype == np.int16 and q.shape == (8, 1) and q.flags.c_contiguous
    # clip to [-1, 1], times 32767, round half to even
    assert q[:, 0].tolist() == [0, 32767, -32767, 32767, -32767, 16384, 2, 2]
    stereo = np.stack([np.full(4, 0.25), np.full(4, -0.25)]).astype(np.float32)
    q2 = quantize(stereo, "flac")
    assert q2.shape == (4, 2) and q2.flags.c_contiguous and (q2[:, 0] == 8192).all() and (q2[:, 1] == -8192).all()


def test_quantize_float32_keeps_values_unclipped():
    x = np.array([[0.1, 1.5, -2.0]], dtype=np.float32)
    q = quantize(x, "wav_float32")
    assert q.dtype == np.float32 and q.shape == (3, 1)
    assert np.array_equal(q[:, 0], x[0])


def test_quantize_rejects_nonfinite_and_unknown_format():
    with pytest.raises(ValueError, match="non-finite"):
        quantize(np.array([[0.0, np.nan]], dtype=np.float32), "wav_pcm16")
    with pytest.raises(ValueError, match="unknown audio format"):
        quantize(np.zeros((1, 4), np.float32), "mp3")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("channels", [1, 2])
def test_write_read_roundtrip_and_hash(tmp_path, fmt, channels):
    _, subtype, dtype, ext = FORMATS[fmt]
    x = _noise(channels, 4000) * 4  # exceeds full scale: PCM clips, float keeps
    path = tmp_path / f"a{ext}"
    info = write_audio(path, x, 16000, fmt)
    q = quantize(x, fmt)
    decoded, rate = sf.read(path, dtype=dtype, always_2d=True)
    assert rate == 16000 and np.array_equal(decoded, q)
    assert info == {
        "num_samples": 4000,
        "channels": channels,
        "sample_rate": 16000,
        "subtype": subtype,
        "pcm_sha256": pcm_sha256_of_file(path, fmt),
    }
    header = f"16000:{channels}:{dtype}\n".encode()
    assert info["pcm_sha256"] == hashlib.sha256(header + q.astype(q.dtype.newbyteorder("<")).tobytes()).hexdigest()
    edited = decoded.copy()
    if dtype == "int16":
        edited[1234, -1] ^= 1  # flip one LSB
    else:
        edited[1234, -1] += np.float32(1e-3)
    sf.write(path, edited, 16000, subtype=subtype, format=FORMATS[fmt][0])
    assert pcm_sha256_of_file(path, fmt) != info["pcm_sha256"]


def test_hash_covers_rate_and_channels():
    q = np.zeros((10, 1), np.int16)
    assert pcm_sha256(q, 16000) != pcm_sha256(q, 44100)
    assert pcm_sha256(q, 16000) != pcm_sha256(np.zeros((5, 2), np.int16), 16000)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_write_is_byte_identical(tmp_path, fmt):
    ext = FORMATS[fmt][3]
    x = _noise(2, 3000, seed=3)
    a, b = tmp_path / f"a{ext}", tmp_path / f"b{ext}"
    write_audio(a, x, 16000, fmt)
    write_audio(b, x, 16000, fmt)
    assert a.read_bytes() == b.read_bytes()
    # libsndfile's PEAK chunk stores a wall-clock timestamp: it must not be written
    assert b"PEAK" not in a.read_bytes()[:200]


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_pcm16_wav_bytes_are_libsndfile_bytes(channels):
    """Plain PCM16 WAVs of 1 or 2 channels are encoded with the standard library: the same bytes libsndfile
    writes (3 channels take libsndfile's extensible header)."""
    for n in (1, 7, 4001):
        q = quantize(_noise(channels, n, seed=n), "wav_pcm16")
        data, info = encode_frames(q, 22050, "wav_pcm16")
        expected = io.BytesIO()
        with sf.SoundFile(expected, "w", 22050, channels, "PCM_16", format="WAV") as f:
            f.write(q)
        assert bytes(data) == expected.getvalue()
        assert info["pcm_sha256"] == pcm_sha256(q, 22050)


@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_wav_decodes_to_soundfile_values(tmp_path, channels):
    """Plain PCM16 WAVs are decoded with the standard library to exactly soundfile's float32 values, full
    scale included; a file cut short still goes to soundfile and is refused."""
    frames = np.array([[-32768] * channels, [32767] * channels, [0] * channels, [1] * channels], np.int16)
    frames = np.concatenate([frames, (_noise(channels, 500).T * 32767).astype(np.int16)])
    path = tmp_path / "a.wav"
    sf.write(path, frames, 16000, subtype="PCM_16")
    expected = sf.read(path, dtype="float32", always_2d=True)[0].T
    got = load_audio(path, 16000, channels)
    assert got.dtype == np.float32 and got.tobytes() == np.ascontiguousarray(expected).tobytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(InputError, match="truncated WAV"):
        load_audio(cut, 16000, channels)


# ---------------------------------------------------------------------------------------------- loading


@needs_data
def test_load_vggss_resamples_44k1_float_to_16k():
    path = next(iter(sorted((SAMPLES / "vggss" / "audio").glob("*.wav"))))
    rate, frames, channels = audio_info(path)
    assert (rate, channels) == (44100, 1)
    x = load_audio(path, 16000, 1)
    assert x.dtype == np.float32 and x.shape == (1, round(frames * 16000 / 44100))
    assert x.flags.c_contiguous
    native = sf.read(path, dtype="float32")[0]
    assert abs(rms_dbfs(x) - rms_dbfs(native)) < 0.5  # level survives resampling
    up = load_audio(path, 16000, 2)
    assert up.shape == (2, x.shape[1]) and np.array_equal(up[0], x[0]) and np.array_equal(up[1], x[0])


@needs_data
def test_load_s4_stereo_to_mono_is_channel_mean():
    path = next(iter(sorted((SAMPLES / "s4" / "audio_wav").glob("*.wav"))))
    native = sf.read(path, dtype="float32", always_2d=True)[0]
    assert native.shape[1] == 2
    mono = load_audio(path, 16000, 1)
    assert mono.shape == (1, native.shape[0])
    np.testing.assert_allclose(mono[0], native.mean(axis=1), rtol=0, atol=1e-7)
    stereo = load_audio(path, 16000, 2)
    assert stereo.flags.c_contiguous and np.array_equal(stereo, native.T)


@needs_data
def test_load_is3_matching_rate_is_unchanged_and_write_within_one_lsb():
    path = SAMPLES / "is3plus" / "audio_wav" / "lion_bus_807_bus.wav"
    ints = sf.read(path, dtype="int16")[0].astype(np.int64)
    x = load_audio(path, 16000, 1)
    assert np.array_equal(x[0], (ints / 32768).astype(np.float32))  # soundfile scaling: v / 32768
    diff = quantize(x, "wav_pcm16")[:, 0].astype(np.int64) - ints  # written with * 32767
    assert np.abs(diff).max() <= 1
    assert (diff[np.abs(ints) <= 16384] == 0).all()
    assert (diff * np.sign(ints) <= 0).all()  # any change is toward zero


@needs_data
def test_load_reference_negatives():
    silence = load_audio(SAMPLES / "reference" / "silence.wav", 16000, 1)
    noise = load_audio(SAMPLES / "reference" / "noise.wav", 16000, 1)
    assert silence.shape == noise.shape == (1, 48000)
    assert rms_dbfs(noise) > rms_dbfs(silence, floor=-200.0)


def _assert_input_error(path: Path, match: str, **kw):
    with pytest.raises(InputError, match=match) as err:
        load_audio(path, kw.get("sample_rate", 16000), kw.get("channels", 1))
    assert str(path) in str(err.value)
    assert err.value.exit_code == 2


def test_load_errors_name_the_file(tmp_path):
    _assert_input_error(tmp_path / "missing.wav", "not found")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 10)
    _assert_input_error(text, "not a readable audio file")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), np.int16), 16000, subtype="PCM_16")
    _assert_input_error(empty, "zero-length")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([[0.0], [np.nan], [0.1]], np.float32), 16000, subtype="FLOAT")
    _assert_input_error(nan, "NaN")
    inf = tmp_path / "inf.wav"
    sf.write(inf, np.array([[0.0], [np.inf]], np.float32), 16000, subtype="FLOAT")
    _assert_input_error(inf, "infinite")
    three = tmp_path / "three.wav"
    sf.write(three, np.zeros((100, 3), np.int16), 16000, subtype="PCM_16")
    _assert_input_error(three, "cannot map 3 channels to 2", channels=2)
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros((100, 1), np.int16), 500, subtype="PCM_16")
    _assert_input_error(slow, "unsupported sample rate 500")
    with pytest.raises(InputError, match="zero-length") as err:
        audio_info(empty)
    assert str(empty) in str(err.value)


@pytest.mark.parametrize(
    ("subtype", "channels", "extensible"),
    [("PCM_16", 1, False), ("PCM_24", 2, False), ("FLOAT", 2, False), ("PCM_16", 3, True)],
)
def test_truncated_wav_is_refused(tmp_path, subtype, channels, extensible):
    whole = tmp_path / "whole.wav"
    sf.write(whole, _noise(channels, 1000).T, 16000, subtype=subtype, format="WAVEX" if extensible else "WAV")
    data = whole.read_bytes()
    frame_bytes = channels * {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}[subtype]
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) - 600 * frame_bytes - 1])  # 399 whole frames and a partial one remain
    message = f"{cut}: truncated WAV (header promises 1000 frames, file holds 399)"
    for read in (lambda p: load_audio(p, 16000, 1), audio_info):
        with pytest.raises(InputError) as err:
            read(cut)
        assert str(err.value) == message
        assert err.value.exit_code == 2
    assert load_audio(whole, 16000, 1).shape == (1, 1000)  # the whole file is still read


def test_three_channels_downmix_to_mono(tmp_path):
    path = tmp_path / "three.wav"
    frames = _noise(3, 800).T
    sf.write(path, frames, 8000, subtype="FLOAT")
    assert audio_info(path) == (8000, 800, 3)
    np.testing.assert_allclose(load_audio(path, 8000, 1)[0], frames.mean(axis=1), atol=1e-7)
    assert load_audio(path, 16000, 1).shape == (1, 1600)


# ---------------------------------------------------------------------------------------------- length policy


def test_fit_length_tiles_circularly_and_wraps_offset():
    x = np.arange(5, dtype=np.float32)[None]
    assert fit_length(x, 12)[0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert np.array_equal(fit_length(x, 12), np.tile(x, 3)[:, :12])  # the reference loaders' np.tile
    assert fit_length(x, 4, offset=3)[0].tolist() == [3, 4, 0, 1]
    assert fit_length(x, 3, offset=-1)[0].tolist() == [4, 0, 1]
    assert fit_length(x, 3, offset=11)[0].tolist() == [1, 2, 3]
    assert fit_length(x, 0).shape == (1, 0)
    view = fit_length(x, 3, offset=1)
    assert np.shares_memory(view, x) and view[0].tolist() == [1, 2, 3]
    stereo = np.stack([np.arange(3), 10 + np.arange(3)]).astype(np.float32)
    out = fit_length(stereo, 7, offset=2)
    assert out.shape == (2, 7) and out.flags.c_contiguous
    assert out.tolist() == [[2, 0, 1, 2, 0, 1, 2], [12, 10, 11, 12, 10, 11, 12]]
    with pytest.raises(ValueError):
        fit_length(np.zeros((1, 0), np.float32), 3)


def test_center_crop():
    x = np.arange(10, dtype=np.float32)[None]
    assert center_crop(x, 4)[0].tolist() == [3, 4, 5, 6]
    assert center_crop(x, 10)[0].tolist() == list(range(10))
    short = np.arange(3, dtype=np.float32)[None]
    assert center_crop(short, 7)[0].tolist() == [1, 2, 0, 1, 2, 0, 1]  # tiled around the midpoint (sample 1)


# ---------------------------------------------------------------------------------------------- levels, SNR


def test_rms_and_peak_dbfs():
    t = np.arange(16000) / 16000
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)[None]
    assert rms_dbfs(sine) == pytest.approx(-20 * math.log10(math.sqrt(2)), abs=1e-4)
    assert peak_dbfs(0.5 * sine) == pytest.approx(-6.0206, abs=1e-3)
    zeros = np.zeros((2, 100), np.float32)
    assert rms_dbfs(zeros) == -math.inf and peak_dbfs(zeros) == -math.inf
    assert rms_dbfs(zeros, floor=-200.0) == -200.0 and peak_dbfs(zeros, floor=-120.0) == -120.0
    assert isinstance(rms_dbfs(sine), float)


def test_lufs_silence_short_clip_and_sine():
    assert lufs(np.zeros((1, 32000), np.float32), 16000) == -70.0
    assert lufs(np.zeros((1, 100), np.float32), 16000) == -70.0
    t = np.arange(48000 * 2) / 48000
    sine = np.sin(2 * np.pi * 997 * t).astype(np.float32)[None]
    assert lufs(sine, 48000) == pytest.approx(-3.01, abs=0.05)  # BS.1770 reference: full-scale 997 Hz sine
    short = sine[:, : int(0.1 * 48000)]  # shorter than the 0.4 s block: tiled, not an error
    assert lufs(short, 48000) == pytest.approx(lufs(sine, 48000), abs=0.2)
    assert lufs(np.repeat(short, 2, axis=0), 48000) == pytest.approx(lufs(sine, 48000) + 3.01, abs=0.2)
    assert lufs(1e-6 * sine, 48000) == -70.0  # below the absolute gate: floored


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 7.5, 30.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_mix_at_snr_is_exact(snr_db, channels):
    signal = _noise(channels, 48000, seed=1, scale=0.05)
    noise = _noise(channels, 48000, seed=2, scale=1.0)
    mixture, gain = mix_at_snr(signal, noise, snr_db)
    assert mixture.dtype == np.float32 and mixture.shape == signal.shape
    scaled = noise * gain
    assert rms_dbfs(signal) - rms_dbfs(scaled) == pytest.approx(snr_db, abs=1e-6)
    np.testing.assert_allclose(mixture, signal + scaled, rtol=0, atol=1e-7)


def test_mix_at_snr_refuses_silence_and_shape_mismatch():
    noise = _noise(1, 100)
    with pytest.raises(SilentAudioError, match="SNR undefined") as err:
        mix_at_snr(np.zeros((1, 100), np.float32), noise, 0.0)
    assert isinstance(err.value, ValueError) and isinstance(err.value, InputError)
    with pytest.raises(SilentAudioError):
        mix_at_snr(noise, np.zeros((1, 100), np.float32), 0.0)
    with pytest.raises(ValueError, match="shape"):
        mix_at_snr(noise, _noise(2, 100), 0.0)


def test_scale_to_rms_dbfs():
    x = _noise(2, 10000)
    scaled, gain = scale_to_rms_dbfs(x, -26.0)
    assert scaled.dtype == np.float32 and rms_dbfs(scaled) == pytest.approx(-26.0, abs=1e-6)
    assert gain == pytest.approx(10 ** (-26 / 20) / 10 ** (rms_dbfs(x) / 20))
    with pytest.raises(ValueError):
        scale_to_rms_dbfs(np.zeros((1, 10), np.float32), -20.0)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_levels_of_quantized_frames_are_those_of_the_decoded_signal(fmt):
    """Int16 frames are measured without decoding: the same floats as measuring the decoded signal."""
    rng = np.random.default_rng(5)
    for x in (_noise(2, 4001, seed=1), _noise(1, 300, scale=3.0), rng.uniform(-1e-4, 1e-4, (1, 999))):
        frames = quantize(x.astype(np.float32), fmt)
        decoded = as_float(frames)
        assert decoded_levels(frames) == (rms_dbfs(decoded), peak_dbfs(decoded))
    silent = quantize(np.zeros((1, 10), np.float32), fmt)
    assert decoded_levels(silent) == (-math.inf, -math.inf)


def _riff(chunks: list[tuple[bytes, bytes]], riff_size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(name + len(data).to_bytes(4, "little") + data for name, data in chunks)
    return b"RIFF" + (len(body) if riff_size is None else riff_size).to_bytes(4, "little") + body


def test_wavs_off_the_canonical_layout_are_read_by_soundfile(tmp_path):
    """Only the canonical 44-byte-header PCM16 layout is read directly: a chunk before the data (with an
    understated RIFF size), a trailing chunk, a data size beyond the file, a FIFO all go to soundfile as
    before (values, or its InputError), never a traceback, a hang or a 4 GB read."""
    import os
    import struct

    pcm = (_noise(1, 1000).T * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    layouts = {
        "list_first": _riff([(b"fmt ", fmt), (b"LIST", b"INFOabcd"), (b"data", pcm)], riff_size=36),
        "trailing": _riff([(b"fmt ", fmt), (b"data", pcm), (b"LIST", b"INFOabcd")]),
    }
    for name, data in layouts.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(data)
        expected = sf.read(path, dtype="float32", always_2d=True)[0].T
        np.testing.assert_array_equal(load_audio(path, 16000, 1), expected)
    huge = tmp_path / "huge.wav"
    huge.write_bytes(_riff([(b"fmt ", fmt)]) + b"data" + (0xFFFFFFF0).to_bytes(4, "little") + pcm)
    with pytest.raises(InputError, match="truncated WAV"):
        load_audio(huge, 16000, 1)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not found"):
        load_audio(fifo, 16000, 1)


def test_empty_frames_encode_as_libsndfile_and_have_no_level():
    q = np.zeros((0, 1), np.int16)
    expected = io.BytesIO()
    with sf.SoundFile(expected, "w", 16000, 1, "PCM_16", format="WAV") as f:
        f.write(q)
    assert bytes(encode_frames(q, 16000, "wav_pcm16")[0]) == expected.getvalue()
    with pytest.raises(ValueError, match="RMS of an empty array"):
        decoded_levels(q)
