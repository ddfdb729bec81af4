"""The single audio path: load/convert, length policy, levels, SNR mixing, quantization and hashed writing.

Conventions (every negative and positive goes through them):

* Waveforms are float32 arrays shaped ``[channels, samples]``; full scale is 1.0.
* Loading decodes as float32 (soundfile; canonical PCM16 WAVs directly, to the same values), so an int16
  source sample ``v`` becomes ``v / 32768``.
* Writing PCM16 stores ``round(clip(x, -1, 1) * 32767)`` (round half to even of the exact product). Hence
  load + write of an int16 file keeps every sample with ``|v| <= 16384`` and moves louder ones by at most
  1 LSB toward zero (a gain of 32767/32768, -0.00027 dB). Float32 output stores the float32 values as
  they are, without clipping.
* ``pcm_sha256`` hashes the decoded array, not the container bytes: sha256 of the ASCII header
  ``f"{sample_rate}:{channels}:{dtype}\\n"`` followed by the ``[frames, channels]`` C-contiguous little-endian
  samples in the format's decoded dtype (int16 or float32).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import wave
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from negaudio.core.errors import InputError
from negaudio.core.files import write_bytes

FORMATS = {
    "wav_pcm16": ("WAV", "PCM_16", "int16", ".wav"),
    "wav_float32": ("WAV", "FLOAT", "float32", ".wav"),
    "flac": ("FLAC", "PCM_16", "int16", ".flac"),
}
"""format name -> (soundfile container, subtype, decoded dtype, file extension)."""

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000
LUFS_FLOOR = -70.0
LUFS_MIN_DURATION = 0.5  # seconds; shorter clips are tiled before metering (pyloudnorm needs one 0.4 s block)
INT16_SCALE = 32767.0

_INTEGER_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW"})
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command; the PEAK chunk of float WAVs carries a timestamp
_WAV_FRAME_CODECS = frozenset({1, 3, 6, 7, 0xFFFE})  # PCM, IEEE float, A-law, mu-law, extensible: a block is a frame
_WAV_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF})  # data sizes streaming writers leave in place of the real one

Pathish = str | PathLike


class SilentAudioError(InputError, ValueError):
    """A level-relative operation (SNR, RMS target) on digital silence. Callers wrap it with the sample id."""


# ---------------------------------------------------------------------------------------------------- reading


def _open(path: Pathish) -> sf.SoundFile:
    """Open ``path`` for reading and check its header, raising InputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: audio file not found")
    try:
        f = sf.SoundFile(p)
    except (RuntimeError, OSError, TypeError) as e:  # sf.LibsndfileError is a RuntimeError
        raise InputError(f"{p}: not a readable audio file ({e})") from e
    if not MIN_SAMPLE_RATE <= f.samplerate <= MAX_SAMPLE_RATE:
        f.close()
        raise InputError(
            f"{p}: unsupported sample rate {f.samplerate} Hz (supported {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE})"
        )
    if f.frames == 0:
        f.close()
        raise InputError(f"{p}: zero-length audio")
    if f.format in ("WAV", "WAVEX") and (promised := _wav_promised_frames(p)) is not None and promised > f.frames:
        f.close()
        raise InputError(f"{p}: truncated WAV (header promises {promised} frames, file holds {f.frames})")
    return f


def _wav_promised_frames(path: Path) -> int | None:
    """The frame count a RIFF WAV's ``data`` chunk header claims, or None where it cannot tell.

    libsndfile reads a truncated file without complaint (it shortens the data chunk to what is there), so the
    claim is read here and compared with what soundfile finds. None for RIFX/RF64, compressed codecs, the
    placeholder sizes of streamed files, or a header that does not parse.
    """
    with path.open("rb") as fh:
        if fh.read(4) != b"RIFF":
            return None
        fh.seek(8)
        if fh.read(4) != b"WAVE":
            return None
        block = None
        while len(head := fh.read(8)) == 8:
            chunk, size = struct.unpack("<4sI", head)
            if chunk == b"fmt ":
                fmt = fh.read(size)
                if len(fmt) < 16:
                    return None
                codec, block = struct.unpack_from("<H", fmt)[0], struct.unpack_from("<H", fmt, 12)[0]
                if codec not in _WAV_FRAME_CODECS or block == 0:
                    return None
                fh.seek(size & 1, 1)
            elif chunk == b"data":
                return None if block is None or size in _WAV_UNKNOWN_SIZES else size // block
            else:
                fh.seek(size + (size & 1), 1)
    return None


def audio_info(path: Pathish) -> tuple[int, int, int]:
    """Header-only read: ``(sample_rate, frames, channels)``; InputError naming the file if it is unusable."""
    with _open(path) as f:
        return f.samplerate, f.frames, f.channels


_CANONICAL_WAV = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF, WAVE, a 16-byte PCM 'fmt ' chunk, the 'data' header


def _plain_pcm16_wav(path: Pathish) -> tuple[np.ndarray, int, int] | None:
    """``(frames [N, C] float32, sample rate, channels)`` of a canonical PCM16 WAV of 1 or 2 channels (the
    44-byte header ``sf.write`` and negaudio write, then the samples, nothing else), read directly: the values
    soundfile gives (``v / 32768``, exact). None for any other file (other layouts and codecs, extra chunks, a
    short or odd file, an unsupported rate), which soundfile then reads or refuses with its error."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        with p.open("rb") as fh:
            head = fh.read(_CANONICAL_WAV.size)
            if len(head) < _CANONICAL_WAV.size:
                return None
            riff, _, wave_id, fmt, fmt_size, codec, src, rate, byte_rate, align, bits, data, size = (
                _CANONICAL_WAV.unpack(head)
            )
            if (
                (riff, wave_id, fmt, data, fmt_size, codec, bits) != (b"RIFF", b"WAVE", b"fmt ", b"data", 16, 1, 16)
                or src not in (1, 2)
                or align != 2 * src
                or byte_rate != rate * align
                or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
                or size == 0
                or size % align
                or os.fstat(fh.fileno()).st_size != _CANONICAL_WAV.size + size
            ):
                return None
            raw = fh.read(size)
    except OSError:
        return None
    if len(raw) != size:
        return None
    x = np.frombuffer(raw, dtype="<i2").reshape(-1, src) / np.float32(32768.0)
    return x.astype(np.float32, copy=False), rate, src


def load_audio(path: Pathish, sample_rate: int, channels: int) -> np.ndarray:
    """Decode any file soundfile reads into float32 ``[channels, samples]`` at ``sample_rate``.

    Channels: target 1 -> mean of the source channels; same count -> kept; mono source -> duplicated;
    anything else is refused. Resampling uses soxr 'HQ' (after a downmix, before an upmix). Int16 sources
    are scaled by 1/32768 (soundfile's convention). Raises InputError naming the file for a missing,
    unreadable, empty, truncated (WAV) or non-finite file, an unsupported native rate or an impossible channel
    mapping.
    """
    if channels < 1 or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"bad target: {sample_rate} Hz, {channels} channels")
    if (plain := _plain_pcm16_wav(path)) is not None:
        x, native, src = plain
    else:
        with _open(path) as f:
            native, src, integer = f.samplerate, f.channels, f.subtype in _INTEGER_SUBTYPES
            try:
                x = f.read(dtype="float32", always_2d=True)  # [N, C]
            except (RuntimeError, OSError) as e:
                raise InputError(f"{path}: cannot decode audio ({e})") from e
        if x.shape[0] == 0:
            raise InputError(f"{path}: zero-length audio")
        if not integer and not np.isfinite(x).all():
            raise InputError(f"{path}: contains NaN or infinite samples")
    if channels != src and src != 1 and channels != 1:
        raise InputError(f"{path}: cannot map {src} channels to {channels}")
    if channels == 1 and src > 1:
        x = x.mean(axis=1, keepdims=True)
    if native != sample_rate:
        x = soxr.resample(x, native, sample_rate, quality="HQ")
    if channels > 1 and src == 1:
        return np.repeat(x.T, channels, axis=0)
    return np.ascontiguousarray(x.T)


# ---------------------------------------------------------------------------------------------------- length


def fit_length(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Exactly ``n`` samples of ``x`` (last axis) starting at sample ``offset``, read circularly.

    Circular tiling, as the reference loaders tile short clips (``np.tile``): the window wraps past the end
    back to sample 0 as often as needed. Returns a view of ``x`` when no wrap is needed, else a new array.
    """
    total = x.shape[-1]
    if total == 0 or n < 0:
        raise ValueError(f"cannot fit {total} samples to {n}")
    start = offset % total
    if start + n <= total:
        return x[..., start : start + n]
    head = x[..., start:]
    full, rest = divmod(n - head.shape[-1], total)
    return np.concatenate([head, *([x] * full), x[..., :rest]], axis=-1)


def center_crop(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n``-sample window centred on the clip's midpoint (start ``(N - n) // 2``).

    A clip shorter than ``n`` is tiled circularly on both sides of its midpoint (see :func:`fit_length`).
    """
    return fit_length(x, n, (x.shape[-1] - n) // 2)


# ---------------------------------------------------------------------------------------------------- writing


def _format(fmt: str) -> tuple[str, str, str, str]:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {sorted(FORMATS)}") from None


def quantize(x: np.ndarray, fmt: str) -> np.ndarray:
    """The exact ``[frames, channels]`` array written for ``x`` (``[C, N]``) and read back by decoding.

    int16 formats: ``round(clip(x, -1, 1) * 32767)``, half to even, the product computed in float64 (exact
    for float32 input). float32: the values as float32, not clipped (may be a view of ``x``). Non-finite
    input raises ValueError.
    """
    dtype = _format(fmt)[2]
    frames = x.T
    if not np.isfinite(frames).all():
        raise ValueError("cannot quantize non-finite samples")
    if dtype == "float32":
        return np.ascontiguousarray(frames, dtype=np.float32)
    out = np.empty(frames.shape, dtype=np.float64)  # C order: [frames, channels] interleaved
    np.multiply(frames, INT16_SCALE, out=out, dtype=np.float64)  # exact for float32 x; clipped as clip(x) * 32767
    np.clip(out, -INT16_SCALE, INT16_SCALE, out=out)
    np.rint(out, out=out)
    return out.astype(np.int16)


def pcm_sha256(frames: np.ndarray, sample_rate: int) -> str:
    """Hash of a decoded ``[frames, channels]`` array (see the module docstring for the definition)."""
    header = f"{sample_rate}:{frames.shape[1]}:{frames.dtype.name}\n".encode()
    h = hashlib.sha256(header)
    h.update(np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<")))
    return h.hexdigest()


def write_audio(path: Pathish, x: np.ndarray, sample_rate: int, fmt: str) -> dict:
    """Quantize ``x`` (``[C, N]``), encode it (see :func:`encode_frames`) and write it atomically."""
    data, info = encode_frames(quantize(x, fmt), sample_rate, fmt)
    write_bytes(Path(path), data)
    return info


def encode_frames(q: np.ndarray, sample_rate: int, fmt: str) -> tuple[memoryview, dict]:
    """Encode quantized ``[frames, channels]`` samples in memory; byte-identical for identical input (no float
    PEAK chunk). Encoding in memory also avoids libsndfile's fsync on close (about 1 ms per item).
    Returns the file's bytes and ``{"num_samples", "channels", "sample_rate", "subtype", "pcm_sha256"}``.
    """
    container, subtype, _, _ = _format(fmt)
    buffer = io.BytesIO()
    if (container, subtype) == ("WAV", "PCM_16") and q.shape[1] <= 2 and q.shape[0]:
        with wave.open(buffer, "wb") as w:  # the 44-byte header libsndfile writes for 1 or 2 channels
            w.setparams((q.shape[1], 2, sample_rate, q.shape[0], "NONE", "not compressed"))
            w.writeframesraw(np.ascontiguousarray(q, dtype="<i2"))
    else:
        with sf.SoundFile(buffer, "w", sample_rate, q.shape[1], subtype, format=container) as f:
            if subtype == "FLOAT" and container == "WAV":
                sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
            f.write(q)
    return buffer.getbuffer(), {
        "num_samples": q.shape[0],
        "channels": q.shape[1],
        "sample_rate": sample_rate,
        "subtype": subtype,
        "pcm_sha256": pcm_sha256(q, sample_rate),
    }


def as_float(q: np.ndarray) -> np.ndarray:
    """Quantized frames as the float32 ``[C, N]`` signal a reader decodes (int16 / 32768, as soundfile does)."""
    if q.dtype == np.int16:
        return (q.T / np.float32(32768.0)).astype(np.float32, copy=False)  # exact: a power of two
    return q.T


def pcm_sha256_of_file(path: Pathish, fmt: str) -> str:
    """Recompute ``pcm_sha256`` by decoding ``path`` in the format's dtype (for ``negaudio verify``)."""
    dtype = _format(fmt)[2]
    with _open(path) as f:
        try:
            frames = f.read(dtype=dtype, always_2d=True)
        except (RuntimeError, OSError) as e:
            raise InputError(f"{path}: cannot decode audio ({e})") from e
        return pcm_sha256(frames, f.samplerate)


# ---------------------------------------------------------------------------------------------------- levels


def rms(x: np.ndarray) -> float:
    """Root mean square over all channels and samples (accumulated in float64)."""
    if x.size == 0:
        raise ValueError("RMS of an empty array")
    return math.sqrt(float(np.mean(np.square(x), dtype=np.float64)))


def _db(value: float, floor: float | None) -> float:
    level = 20.0 * math.log10(value) if value > 0 else -math.inf
    return level if floor is None else max(level, floor)


def rms_dbfs(x: np.ndarray, floor: float | None = None) -> float:
    """20 log10 RMS over all channels; -inf for digital silence, or at least ``floor`` (e.g. -200.0)."""
    return _db(rms(x), floor)


def peak_dbfs(x: np.ndarray, floor: float | None = None) -> float:
    """20 log10 of the largest absolute sample; -inf for digital silence, or at least ``floor``."""
    if x.size == 0:
        raise ValueError("peak of an empty array")
    return _db(float(max(x.max(), -x.min())), floor)


def decoded_levels(frames: np.ndarray) -> tuple[float, float]:
    """``(rms_dbfs, peak_dbfs)`` of quantized ``[frames, channels]`` as decoded (:func:`as_float`). Int16 frames
    are measured without decoding them: a sample v decodes to v / 2^15 exactly, and that power-of-two scale
    passes through every rounding of the RMS (squares, their float64 mean, the root) unchanged."""
    if frames.dtype != np.int16:
        decoded = as_float(frames)
        return rms_dbfs(decoded), peak_dbfs(decoded)
    level = rms(frames.astype(np.float32)) / 32768.0  # an empty array raises here, as in rms_dbfs
    peak = max(int(frames.max()), -int(frames.min())) / 32768.0
    return _db(level, None), _db(peak, None)


@lru_cache(maxsize=8)
def _meter(sample_rate: int):
    import pyloudnorm

    return pyloudnorm.Meter(sample_rate)


def lufs(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770, pyloudnorm) of ``x`` (``[C, N]``, at most 5 channels).

    Scaper's rule: a clip shorter than 0.5 s is tiled to at least 0.5 s, and the result is floored at
    -70 LUFS (the absolute gate), so silence gives -70.
    """
    frames = x.T.astype(np.float64)
    need = math.ceil(LUFS_MIN_DURATION * sample_rate)
    if frames.shape[0] < need:
        frames = np.tile(frames, (-(-need // frames.shape[0]), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = _meter(sample_rate).integrated_loudness(frames)
    return float(value) if math.isfinite(value) and value > LUFS_FLOOR else LUFS_FLOOR


# ---------------------------------------------------------------------------------------------------- gains


def scale_to_rms_dbfs(x: np.ndarray, dbfs: float) -> tuple[np.ndarray, float]:
    """Scale ``x`` so its RMS over all channels is ``dbfs``; returns ``(scaled, gain)``."""
    level = rms(x)
    if level == 0:
        raise SilentAudioError("cannot scale digital silence to an RMS level")
    gain = 10.0 ** (dbfs / 20.0) / level
    return (x * gain).astype(np.float32, copy=False), gain


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, float]:
    """``signal + gain * noise`` with ``20 log10(rms(signal) / rms(gain * noise)) == snr_db``.

    SNR is defined on RMS over the whole clip, all channels pooled. Shapes must match. Returns
    ``(mixture, gain)``; the mixture is not clipped. Raises SilentAudioError (a ValueError) when the
    signal (SNR undefined) or the noise is digital silence.
    """
    if signal.shape != noise.shape:
        raise ValueError(f"signal {signal.shape} and noise {noise.shape} differ in shape")
    s, n = rms(signal), rms(noise)
    if s == 0:
        raise SilentAudioError("signal is digital silence: SNR undefined")
    if n == 0:
        raise SilentAudioError("noise is digital silence: cannot reach an SNR")
    gain = s / (n * 10.0 ** (snr_db / 20.0))
    return (signal + noise * gain).astype(np.float32, copy=False), gain


def mix_at_levels(clips: list[np.ndarray], levels_db: list[float]) -> tuple[np.ndarray, list[float]]:
    """The sum of ``clips`` ([C, N_k] each) with clip k at ``levels_db[k]`` dB relative to the RMS of clip 0:
    ``gain_k = 10^(levels_db[k]/20) * rms(clip 0) / rms(clip k)`` (just ``10^(levels_db[k]/20)`` when either
    is digital silence). Shorter clips are zero-padded at the end to the longest. The mixture is not clipped.
    Returns ``(mixture, gains)``."""
    if len(clips) != len(levels_db) or not clips:
        raise ValueError(f"{len(clips)} clips and {len(levels_db)} levels: one level per clip")
    reference = rms(clips[0])
    gains = []
    for clip, level in zip(clips, levels_db, strict=True):
        own = rms(clip)
        gain = 10.0 ** (level / 20.0)
        gains.append(gain * reference / own if reference > 0 and own > 0 else gain)
    n = max(clip.shape[1] for clip in clips)
    out = np.zeros((clips[0].shape[0], n), dtype=np.float64)
    for clip, gain in zip(clips, gains, strict=True):
        out[:, : clip.shape[1]] += clip.astype(np.float64) * gain
    return out.astype(np.float32), [float(g) for g in gains]
