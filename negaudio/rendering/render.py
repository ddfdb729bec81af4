"""Plan rows -> audio, image and mask files + manifest records. A pure function of the rows: no randomness
beyond the seeds the plan recorded, and every item, positive or negative, leaves through ``quantize`` and
``encode_frames``. Each item's signal comes from its kind (:mod:`negaudio.kinds`)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from negaudio import SCHEMA_VERSION
from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError, SampleError, failure_reason, without_addresses
from negaudio.core.files import atomic_open
from negaudio.core.regions import Region
from negaudio.kinds import Signal, kind_class
from negaudio.manifest.schema import (
    AudioRef,
    CompositeMix,
    CompositeObject,
    CompositeRef,
    ImageRef,
    ItemSeed,
    ManifestRecord,
    MaskRef,
    RegionRef,
    Rle,
    SourceRef,
    item_sha256,
)
from negaudio.media.audio import (
    FORMATS,
    as_float,
    center_crop,
    decoded_levels,
    encode_frames,
    fit_length,
    load_audio,
    lufs,
    mix_at_levels,
    quantize,
)
from negaudio.media.images import open_image
from negaudio.media.masks import boxes_of, encode_mask, mask_sha256, rasterize, to_rle, to_uint8
from negaudio.planning.rows import PlanRow

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


def shard_of(row: PlanRow) -> int:
    return row.sample_index // SHARD_SAMPLES


def shard_record_path(out_dir: Path, shard: int) -> Path:
    return out_dir / ".negaudio" / "shards" / f"{shard:05d}.jsonl"


def render_shard(ctx: RenderContext, shard: int, rows: list[PlanRow]) -> dict:
    """Render one shard's rows; write its records and failures atomically; return counts."""
    out = Path(ctx.out_dir)
    records, failures = [], []
    for sample_id, sample_rows in groupby(rows, key=lambda r: r.sample_id):
        try:
            records.extend(render_sample(ctx, shard, list(sample_rows)))
        except (InputError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, SampleError) else str(exc)
            if ctx.on_error != "skip":
                raise SampleError(sample_id, without_addresses(reason)) from None
            failures.append(
                {"sample_id": sample_id, "stage": "render", "error": failure_reason(reason, ctx.source_root)}
            )
    path = shard_record_path(out, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        fh.write(json.dumps({"failures": failures}, sort_keys=True) + "\n")
        fh.writelines(r.to_line() for r in records)
    return {"shard": shard, "items": len(records), "failures": len(failures), "rows": len(rows)}


def _positive(ctx: RenderContext, path: Path) -> np.ndarray:
    x = load_audio(path, ctx.sample_rate, ctx.channels)
    policy = ctx.duration["policy"]
    if policy == "match":
        return x
    n = round(ctx.duration["seconds"] * ctx.sample_rate)
    return center_crop(x, n) if policy == "center_crop" else fit_length(x, n)


def _mixed(ctx: RenderContext, root: Path, spec: dict) -> tuple[np.ndarray, CompositeMix]:
    """A multi-source positive: each target's clip through the duration policy, mixed at the recorded levels."""
    clips = [_positive(ctx, resolve_media(root, spec["objects"][t]["audio"])) for t in spec["targets"]]
    levels = [float(v) for v in spec["mix"]["levels_db"]]
    wave, gains = mix_at_levels(clips, levels)
    return wave, CompositeMix(levels_db=levels, gains=gains)


WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _write_media(path: Path, data: bytes | memoryview) -> None:
    """Write a media file in place. The shard's record file, written atomically after all its media, is what
    commits them: a file cut short by an interruption belongs to a shard without a record, which ``--resume``
    renders again, so a temporary and a rename per file would buy nothing. A symbolic link planted at the path
    is replaced, never written through."""
    try:
        fd = os.open(path, WRITE_FLAGS, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        path.unlink()
        fd = os.open(path, WRITE_FLAGS, 0o666)
    with open(fd, "wb") as fh:
        fh.write(data)


def _read_image(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The image's bytes and (width, height), read once and checked: PNG chunk checksums are verified and JPEG
    is decoded at 1/8 scale (every byte still read), so a truncated or corrupt file fails here."""
    try:
        data = path.read_bytes()
        with open_image(io.BytesIO(data), str(path)) as im:
            size = im.size
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
            else:
                im.verify()
    except FileNotFoundError:
        raise InputError(f"{path}: image not found") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: cannot read image (not an image format Pillow reads)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow reports corrupt PNG chunks as SyntaxError
        raise InputError(f"{path}: cannot read image ({exc})") from None
    return data, size


def _copy_image(ctx: RenderContext, shard: int, sample_id: str, suffix: str, data: bytes, size) -> ImageRef:
    rel = f"images/{shard:05d}/{sample_id}{suffix.lower()}"
    dest = Path(ctx.out_dir) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    _write_media(dest, data)
    return ImageRef(path=rel, width=size[0], height=size[1], sha256=hashlib.sha256(data).hexdigest())


def _stored_mask(ctx: RenderContext, regions: list[dict], size: tuple[int, int]):
    """The sample's ground truth as the stored uint8 array and its scale, or None when it has no regions."""
    if not regions:
        return None
    return to_uint8(rasterize(regions_of(regions), size[0], size[1], Path(ctx.source_root)))


def _write_mask(ctx: RenderContext, shard: int, sample_id: str, stored: np.ndarray, scale: int) -> MaskRef:
    rel = f"masks/{shard:05d}/{sample_id}.png"
    path = Path(ctx.out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_mask(stored)
    _write_media(path, data)
    height, width = stored.shape
    return MaskRef(
        path=rel,
        width=width,
        height=height,
        sha256=mask_sha256(stored),
        area=int(np.count_nonzero(stored)),
        scale=scale,
        rle=Rle(**to_rle(stored)) if ctx.rle else None,
        file_sha256=hashlib.sha256(data).hexdigest(),
    )


def render_sample(ctx: RenderContext, shard: int, rows: list[PlanRow]) -> list[ManifestRecord]:
    """Render every item of one sample (they share the positive clip, the image and the mask).

    Every input is read and every waveform computed before the first file is written, so a bad sample
    leaves nothing behind.
    """
    first = rows[0]
    sample_id = first.sample_id
    root = Path(ctx.source_root)
    made = None
    try:
        if first.composite is not None and first.composite.get("mix") is not None:
            positive, mix = _mixed(ctx, root, first.composite)
        else:
            positive, mix = _positive(ctx, resolve_media(root, first.audio)), None
        if first.composite is not None:
            made = _composite(root, first.composite, mix)
            image_bytes, size, suffix, stored = made.data, made.size, made.suffix, made.stored
            rows = [replace(row, regions=made.regions) for row in rows]
        else:
            image_bytes, size = _read_image(resolve_media(root, first.image))
            suffix, stored = Path(first.image).suffix, _stored_mask(ctx, first.regions, size)
    except InputError as exc:
        raise SampleError(sample_id, str(exc)) from None
    signal = Signal(positive=positive, sample_rate=ctx.sample_rate, source_root=root)
    waves = []
    for row in rows:
        try:
            waves.append(kind_class(row.kind).render(row.params, signal))
        except (InputError, ValueError) as exc:
            raise SampleError(sample_id, f"{row.kind} item {row.item_id}: {exc}") from None
        except (KeyError, TypeError) as exc:  # a hand-made plan row whose params do not fit its kind
            raise SampleError(sample_id, f"{row.kind} item {row.item_id}: malformed params ({exc!r})") from None
    image = _copy_image(ctx, shard, sample_id, suffix, image_bytes, size)
    mask = None if stored is None else _write_mask(ctx, shard, sample_id, *stored)
    audio_dir = Path(ctx.out_dir) / "audio" / f"{shard:05d}"
    audio_dir.mkdir(parents=True, exist_ok=True)
    ext = FORMATS[ctx.fmt][3]
    records = []
    for row, (wave, facts) in zip(rows, waves, strict=True):
        rel = f"audio/{shard:05d}/{row.item_id}{ext}"
        data, info = _encoded(wave, ctx)
        _write_media(Path(ctx.out_dir) / rel, data)
        records.append(_record(row, rel, info, facts, image, mask, ctx, made and made.ref))
    return records


_SILENT: dict = {}  # digital silence encodes alike for every item of one shape: encoded once per process


def _encoded(wave: np.ndarray, ctx: RenderContext) -> tuple[memoryview, dict]:
    """The item's file bytes and its facts: encoding, hashes, and levels measured on what the file decodes to."""
    key = (wave.shape, ctx.fmt, ctx.sample_rate, ctx.measure_lufs)
    bits = wave.view(np.int32) if wave.dtype == np.float32 and wave.size else None
    silent = bits is not None and not bits.flat[0] and not bits.any()  # every bit zero: +0.0 only
    if silent and key in _SILENT:
        return _SILENT[key]
    frames = quantize(wave, ctx.fmt)
    data, info = encode_frames(frames, ctx.sample_rate, ctx.fmt)
    info["file_sha256"] = hashlib.sha256(data).hexdigest()
    rms, peak = decoded_levels(frames)
    info["rms_dbfs"], info["peak_dbfs"] = _finite(rms), _finite(peak)
    info["lufs"] = float(lufs(as_float(frames), ctx.sample_rate)) if ctx.measure_lufs else None
    if silent:
        _SILENT[key] = (data, info)
    return data, info


@dataclass(frozen=True)
class _Made:
    """A rendered composite: file bytes, size, suffix, the sample's stored ground truth, regions, manifest facts."""

    data: bytes
    size: tuple[int, int]
    suffix: str
    stored: tuple[np.ndarray, int]
    regions: list[dict]
    ref: CompositeRef


_LAST_IMAGE: dict = {}  # the samples of one image follow each other in a plan: compose and encode it once


def _composite(root: Path, spec: dict, mix: CompositeMix | None = None) -> _Made:
    """Render a composite image spec (:mod:`negaudio.media.compose`) and its masks for one sample."""
    from negaudio.media import compose  # scipy.ndimage: imported by the workers of composite builds only

    image_spec = {k: v for k, v in spec.items() if k not in ("targets", "mix")}
    key = (str(root), json.dumps(image_spec, sort_keys=True))
    if _LAST_IMAGE.get("key") != key:
        made = compose.compose(image_spec, root)
        output = spec.get("output") or {}
        data, suffix = compose.encode_image(made.image, output.get("format", "png"), output.get("quality", 95))
        objects = [
            _object_facts(obj, a, v) for obj, a, v in zip(spec["objects"], made.amodal, made.visible, strict=True)
        ]
        _LAST_IMAGE.clear()
        _LAST_IMAGE.update(key=key, made=made, data=data, suffix=suffix, objects=objects)
    made, objects = _LAST_IMAGE["made"], _LAST_IMAGE["objects"]
    targets = list(spec["targets"])
    union = np.zeros(made.image.shape[:2], dtype=bool)
    for t in targets:
        union |= made.visible[t]
    regions = [{"label": objects[t].label, "box": objects[t].box} for t in targets]
    height, width = made.image.shape[:2]
    ref = CompositeRef(canvas=[width, height], background=spec["background"], targets=targets, objects=objects, mix=mix)
    return _Made(
        _LAST_IMAGE["data"], (width, height), _LAST_IMAGE["suffix"], to_uint8(union.astype(np.float32)), regions, ref
    )


def _object_facts(obj: dict, amodal: np.ndarray, visible: np.ndarray) -> CompositeObject:
    from negaudio.media import compose

    amodal_area, visible_area = int(amodal.sum()), int(visible.sum())
    return CompositeObject(
        label=obj["label"],
        role=obj["role"],
        sound_class=obj.get("sound_class"),
        audio=obj.get("audio"),
        cutout=obj["cutout"],
        crop=[int(v) for v in obj["crop"]],
        scale=float(obj.get("scale", 0.0)),
        size=[int(v) for v in obj["size"]],
        position=[int(v) for v in obj["position"]],
        flip=bool(obj["flip"]),
        rotation=float(obj["rotation"]),
        z=int(obj["z"]),
        blend=dict(obj["blend"]),
        box=compose.mask_box(visible),
        amodal_box=compose.mask_box(amodal),
        visible_area=visible_area,
        amodal_area=amodal_area,
        occluded_fraction=0.0 if amodal_area == 0 else 1.0 - visible_area / amodal_area,
        visible=Rle(**to_rle(visible.astype(np.uint8))),
        amodal=Rle(**to_rle(amodal.astype(np.uint8))),
    )


def _record(row: PlanRow, rel: str, info: dict, facts, image: ImageRef, mask, ctx, composite=None) -> ManifestRecord:
    """The manifest record of one item (``info``: from :func:`_encoded`)."""
    audio = AudioRef(
        path=rel,
        format=ctx.fmt,
        sample_rate=ctx.sample_rate,
        channels=info["channels"],
        num_samples=info["num_samples"],
        duration_s=info["num_samples"] / ctx.sample_rate,
        pcm_sha256=info["pcm_sha256"],
        rms_dbfs=info["rms_dbfs"],
        peak_dbfs=info["peak_dbfs"],
        lufs=info["lufs"],
        file_sha256=info["file_sha256"],
    )
    return ManifestRecord(
        schema_version=SCHEMA_VERSION,
        item_id=row.item_id,
        kind=row.kind,
        name=row.name,
        sample_id=row.sample_id,
        group=row.group,
        label=row.label,
        heard_label=row.params.get("heard_label"),
        image_classes=row.image_classes,
        source=SourceRef(image=row.image, audio=row.audio, clip_audio=row.params.get("clip_audio")),
        params={k: v for k, v in row.params.items() if k != "heard_label"},
        rendered=facts,
        seed=ItemSeed(**row.seed),
        audio=audio,
        image=image,
        mask=mask,
        regions=[RegionRef(**r) for r in boxes_of(regions_of(row.regions), image.width, image.height)],
        item_sha256=item_sha256(audio.pcm_sha256, image.sha256, mask and mask.sha256),
        composite=composite,
    )


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
