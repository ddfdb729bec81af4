"""Plan rows -> audio, image and mask files + manifest records. A pure function of the rows: no randomness
beyond the seeds the plan recorded, and every item, positive or negative, leaves through ``quantize`` and
``write_frames``."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
from PIL import Image

from negaudio import SCHEMA_VERSION
from negaudio.core.errors import InputError, SampleError
from negaudio.core.regions import Region
from negaudio.media.audio import (
    FORMATS,
    as_float,
    center_crop,
    fit_length,
    load_audio,
    lufs,
    mix_at_snr,
    peak_dbfs,
    quantize,
    rms_dbfs,
    scale_to_rms_dbfs,
    write_frames,
)
from negaudio.media.masks import boxes_of, mask_sha256, rasterize, to_rle, to_uint8, write_mask
from negaudio.media.noise import apply_clip, colored_noise, gaussian_sigma_noise, silence

SHARD_SAMPLES = 64


@dataclass(frozen=True)
class RenderContext:
    """Everything a worker needs besides the rows (picklable)."""

    source_root: str
    out_dir: str
    sample_rate: int
    channels: int
    duration: dict
    fmt: str
    rle: bool
    on_error: str = "fail"
    measure_lufs: bool = False


def warm_up() -> None:
    """A no-op task: submitted once per worker while the plan is written, so workers start and import early."""


def shard_of(row: dict) -> int:
    return row["sample_index"] // SHARD_SAMPLES


def shard_record_path(out_dir: Path, shard: int) -> Path:
    return out_dir / ".negaudio" / "shards" / f"{shard:05d}.jsonl"


def render_shard(ctx: RenderContext, shard: int, rows: list[dict]) -> dict:
    """Render one shard's rows; write its records and failures atomically; return counts."""
    out = Path(ctx.out_dir)
    records, failures = [], []
    for sample_id, sample_rows in groupby(rows, key=lambda r: r["sample_id"]):
        sample_rows = list(sample_rows)
        try:
            records.extend(render_sample(ctx, shard, sample_rows))
        except (InputError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, SampleError) else str(exc)
            if ctx.on_error != "skip":
                raise SampleError(sample_id, reason) from None
            failures.append({"sample_id": sample_id, "stage": "render", "error": reason})
    path = shard_record_path(out, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"failures": failures}, sort_keys=True) + "\n")
        fh.writelines(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    tmp.replace(path)
    return {"shard": shard, "items": len(records), "failures": len(failures), "rows": len(rows)}


def _positive(ctx: RenderContext, path: Path) -> np.ndarray:
    x = load_audio(path, ctx.sample_rate, ctx.channels)
    policy = ctx.duration["policy"]
    if policy == "match":
        return x
    n = round(ctx.duration["seconds"] * ctx.sample_rate)
    return center_crop(x, n) if policy == "center_crop" else fit_length(x, n)


def _window(ctx: RenderContext, path: Path, n: int, policy: str, fraction: float) -> tuple[np.ndarray, int]:
    """``n`` samples of a drawn clip: the centred window for ``center`` (as :func:`center_crop` cuts positives),
    else the window starting at ``fraction`` of the room left; short clips are tiled."""
    clip = load_audio(path, ctx.sample_rate, ctx.channels)
    room = clip.shape[1] - n
    if policy == "center":
        return center_crop(clip, n), max(0, room // 2)
    offset = round(fraction * max(0, room))
    return fit_length(clip, n, offset), offset


def _noise(rng: np.random.Generator, channels: int, n: int, color: str, level: dict, reference: np.ndarray):
    """Noise at a level: ``sigma`` (white: N(0, sigma^2) as the reference code), ``rms_dbfs`` or ``snr_db``."""
    if "sigma" in level:
        if color == "white":
            return gaussian_sigma_noise(rng, channels, n, level["sigma"]), {}
        return colored_noise(rng, channels, n, color) * np.float32(level["sigma"]), {}
    unit = colored_noise(rng, channels, n, color)
    if "rms_dbfs" in level:
        scaled, gain = scale_to_rms_dbfs(unit, level["rms_dbfs"])
        return scaled, {"gain": float(gain)}
    ref = rms_dbfs(reference)
    if not np.isfinite(ref):
        raise ValueError("SNR undefined: the positive clip is silent")
    scaled, gain = scale_to_rms_dbfs(unit, ref - level["snr_db"])
    return scaled, {"gain": float(gain)}


def _wave(ctx: RenderContext, row: dict, positive: np.ndarray) -> tuple[np.ndarray, dict]:
    """The waveform of one item and the facts its rendering measured or applied."""
    kind, params = row["kind"], row["params"]
    channels, n = positive.shape
    root = Path(ctx.source_root)
    if kind == "positive":
        return positive, {}
    if kind == "silence":
        rng = np.random.default_rng(params["noise_seed"])
        return silence(channels, n, params["dither_dbfs"], rng), {}
    if kind == "noise":
        rng = np.random.default_rng(params["noise_seed"])
        wave, facts = _noise(rng, channels, n, params["color"], params["level"], positive)
        wave, clip_facts = apply_clip(wave, params["clip"])
        return wave, {**facts, **clip_facts}
    if kind in ("offscreen", "mismatched", "recording"):
        base = root if params.get("pool", "same") == "same" and kind != "recording" else None
        folder = base or Path(params.get("folder") or params["pool"])
        wave, offset = _window(ctx, folder / params["clip_audio"], n, params["offset"], params["offset_fraction"])
        facts = {"offset_s": offset / ctx.sample_rate}
        if params.get("level"):
            wave, gain = scale_to_rms_dbfs(wave, params["level"]["rms_dbfs"])
            facts["gain"] = float(gain)
        return wave, facts
    if kind == "noisy_positive":
        rng = np.random.default_rng(params["noise_seed"])
        noise = colored_noise(rng, channels, n, params["color"])
        wave, gain = mix_at_snr(positive, noise, params["snr_db"])
        wave, clip_facts = apply_clip(wave, params["clip"])
        return wave, {"noise_gain": float(gain), **clip_facts}
    raise ValueError(f"unknown item kind {kind!r}")


def _read_image(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The image's bytes and (width, height), read once and checked: PNG chunk checksums are verified and JPEG
    is decoded at 1/8 scale (every byte still read), so a truncated or corrupt file fails here."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
            else:
                im.verify()
    except FileNotFoundError:
        raise InputError(f"{path}: image not found") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow reports corrupt PNG chunks as SyntaxError
        raise InputError(f"{path}: cannot read image ({exc})") from None
    return data, size


def _copy_image(ctx: RenderContext, shard: int, sample_id: str, suffix: str, data: bytes, size) -> dict:
    dest_rel = f"images/{shard:05d}/{sample_id}{suffix.lower()}"
    dest = Path(ctx.out_dir) / dest_rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return {"path": dest_rel, "width": size[0], "height": size[1], "sha256": hashlib.sha256(data).hexdigest()}


def _stored_mask(ctx: RenderContext, regions: list[dict], size: tuple[int, int]):
    """The sample's ground truth as the stored uint8 array, or None when it has no regions."""
    if not regions:
        return None
    return to_uint8(rasterize(regions_of(regions), size[0], size[1], Path(ctx.source_root)))  # (array, scale)


def _write_mask(ctx: RenderContext, shard: int, sample_id: str, stored: np.ndarray, scale: int) -> dict:
    rel = f"masks/{shard:05d}/{sample_id}.png"
    path = Path(ctx.out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mask(path, stored)
    height, width = stored.shape
    entry = {
        "path": rel,
        "width": width,
        "height": height,
        "sha256": mask_sha256(stored),
        "area": int(np.count_nonzero(stored)),
        "scale": scale,
    }
    if ctx.rle:
        entry["rle"] = to_rle(stored)
    return entry


def render_sample(ctx: RenderContext, shard: int, rows: list[dict]) -> list[dict]:
    """Render every item of one sample (they share the positive clip, the image and the mask).

    Every input is read and every waveform computed before the first file is written, so a bad sample
    leaves nothing behind.
    """
    first = rows[0]
    sample_id = first["sample_id"]
    root = Path(ctx.source_root)
    try:
        positive = _positive(ctx, root / first["audio"])
        image_bytes, size = _read_image(root / first["image"])
        stored = _stored_mask(ctx, first["regions"], size)
    except InputError as exc:
        raise SampleError(sample_id, str(exc)) from None
    waves = []
    for row in rows:
        try:
            waves.append(_wave(ctx, row, positive))
        except (InputError, ValueError) as exc:
            raise SampleError(sample_id, f"{row['kind']} item {row['item_id']}: {exc}") from None
    image = _copy_image(ctx, shard, sample_id, Path(first["image"]).suffix, image_bytes, size)
    mask = None if stored is None else _write_mask(ctx, shard, sample_id, *stored)
    audio_dir = Path(ctx.out_dir) / "audio" / f"{shard:05d}"
    audio_dir.mkdir(parents=True, exist_ok=True)
    ext = FORMATS[ctx.fmt][3]
    records = []
    for row, (wave, facts) in zip(rows, waves, strict=True):
        rel = f"audio/{shard:05d}/{row['item_id']}{ext}"
        path = Path(ctx.out_dir) / rel
        tmp = path.with_name(path.name + ".tmp")
        frames = quantize(wave, ctx.fmt)
        info = write_frames(tmp, frames, ctx.sample_rate, ctx.fmt)
        tmp.replace(path)
        records.append(_record(row, rel, info, as_float(frames), facts, image, mask, ctx))
    return records


def _record(row, rel, info, decoded, facts, image, mask, ctx) -> dict:
    """The manifest row of one item; levels are measured on what the file decodes to."""
    audio = {
        "path": rel,
        "format": ctx.fmt,
        "sample_rate": ctx.sample_rate,
        "channels": info["channels"],
        "num_samples": info["num_samples"],
        "duration_s": info["num_samples"] / ctx.sample_rate,
        "pcm_sha256": info["pcm_sha256"],
        "rms_dbfs": _finite(rms_dbfs(decoded)),
        "peak_dbfs": _finite(peak_dbfs(decoded)),
    }
    if ctx.measure_lufs:
        audio["lufs"] = float(lufs(decoded, ctx.sample_rate))
    item_hash = item_sha256(audio["pcm_sha256"], image["sha256"], mask and mask["sha256"])
    return {
        "schema_version": SCHEMA_VERSION,
        "item_id": row["item_id"],
        "kind": row["kind"],
        "name": row["name"],
        "sample_id": row["sample_id"],
        "group": row["group"],
        "label": row["label"],
        "heard_label": row["params"].get("heard_label"),
        "image_classes": row["image_classes"],
        "source": {
            "image": row["image"],
            "audio": row["audio"],
            "clip_audio": row["params"].get("clip_audio"),
        },
        "params": {k: v for k, v in row["params"].items() if k != "heard_label"},
        "rendered": facts,
        "seed": row["seed"],
        "audio": audio,
        "image": image,
        "mask": mask,
        "regions": boxes_of(regions_of(row["regions"]), image["width"], image["height"]),
        "item_sha256": item_hash,
    }


def item_sha256(pcm_sha256: str, image_sha256: str, mask_sha256: str | None) -> str:
    """The content hash of one item: its decoded audio, its image file and its decoded mask."""
    return hashlib.sha256(f"{pcm_sha256}:{image_sha256}:{mask_sha256 or '-'}".encode()).hexdigest()


def regions_of(rows: list[dict]) -> list[Region]:
    """Plan-row regions back into :class:`Region` objects."""
    return [
        Region(
            **{
                **r,
                "box": r.get("box") and tuple(r["box"]),
                "box_space": r.get("box_space") and tuple(r["box_space"]),
            }
        )
        for r in rows
    ]


def _finite(value: float) -> float | None:
    """dB values as JSON: digital silence (-inf) becomes null."""
    return float(value) if np.isfinite(value) else None
