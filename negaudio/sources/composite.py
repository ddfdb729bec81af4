"""The composite source: new IS3-style images made from a bank of cut-outs, backgrounds and class sounds.

Each image is planned from its own generator (the recipe seed and the key ``composite/<index>``): the
background, the classes (sounding objects and silent distractors), each object's cut-out, scale, flip,
rotation, position, z-order and blend, and a clip per sounding object. Placements that break the occlusion
constraints are redrawn, up to ``retries`` times, from the same generator. The resolved image spec is written
into every plan row of the image (``PlanRow.composite``); rendering makes the image and masks from it
(:mod:`negaudio.media.compose`). One sample per sounding object, named ``<objA>_<objB>_<id>_<target>``; with
``multi_source``, one more whose audio mixes the sounding objects' clips (``<objA>_<objB>_<id>_<objA>+<objB>``).

Bank layouts, recipe fields and mask definitions: ``docs/composites.md``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator

from negaudio.core.dist import Choice, Dist, Uniform, draw, lowest
from negaudio.core.errors import InputError
from negaudio.core.model import Strict
from negaudio.core.regions import Region
from negaudio.kinds.base import generator, item_seed
from negaudio.media import compose
from negaudio.media.images import open_image
from negaudio.sources.base import Sample, SourceReport

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
AUDIO_SUFFIXES = {".wav", ".flac"}
ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


# --- recipe fields --------------------------------------------------------------------------------------------


class FolderObjects(Strict):
    """``<folder>/<class>/*.png``: RGBA cut-outs whose alpha is the object."""

    layout: Literal["folder"] = "folder"
    folder: str = "objects"


class CocoObjects(Strict):
    """COCO instance annotations: polygons or RLE over ``images``; crowds and tiny instances are skipped."""

    layout: Literal["coco"]
    annotations: str = "instances.json"
    images: str = "images"
    min_area: int = Field(256, ge=1, description="Instances with fewer mask pixels are skipped (counted).")


class MaskObjects(Strict):
    """Image + binary mask pairs (AVSBench S4/MS3, IS3 gt_masks): ``images/<class>/<name>.*`` with
    ``masks/<class>/<name>.png``, or an ``index`` (csv/jsonl with ``image,mask,label``)."""

    layout: Literal["masks"]
    images: str = "images"
    masks: str = "masks"
    index: str | None = None


Objects = Annotated[FolderObjects | CocoObjects | MaskObjects, Field(discriminator="layout")]


class AudioBank(Strict):
    """Clips per sound class: ``<folder>/<class>/*.wav|flac`` or an ``index`` (csv/jsonl ``audio,label``)."""

    folder: str = "audio"
    index: str | None = None
    class_map: dict[str, list[str]] = Field(
        default_factory=dict, description="Object class -> the sound classes it can make (default: its own name)."
    )
    silent: list[str] = Field(default_factory=list, description="Object classes that never sound (distractors).")


class Backgrounds(Strict):
    """Scenes from ``folder`` (png/jpg; ``classes``: an optional csv/jsonl ``image,classes`` index, classes
    separated by '|', counted as visible), or a ``procedural`` kind when the bank has none."""

    folder: str | None = "backgrounds"
    classes: str | None = None
    procedural: Literal["gradient", "clouds"] | None = None


class Blend(Strict):
    """How objects are pasted: ``hard``, ``feather`` (Gaussian matte of ``sigma`` px) or ``multiband``
    (Laplacian stack of ``levels`` octaves). ``mode`` and ``sigma`` are distributions, drawn per object."""

    mode: Dist = "hard"
    sigma: Dist = 2.0
    levels: int = Field(4, ge=1, le=8)


class Position(Strict):
    """Where an object's layer goes, as fractions of the room left on each axis (0 = left/top edge)."""

    x: Dist = Uniform(uniform=(0.0, 1.0))
    y: Dist = Uniform(uniform=(0.0, 1.0))


class MultiSource(Strict):
    """One more positive per image with two or more sounding objects: their clips mixed, the k-th sounding
    object at ``levels_db[k]`` dB relative to the first one's RMS (each a distribution, drawn per image); its
    ground truth is the union of their visible masks."""

    levels_db: list[Dist] = Field(min_length=1, description="Level of the k-th sounding object, dB re the first.")


class Output(Strict):
    format: Literal["png", "jpeg"] = "png"
    quality: int = Field(95, ge=1, le=100, description="JPEG quality.")


class Config(Strict):
    kind: Literal["composite"]
    root: Path | None = Field(None, description="The bank folder; none: the embedded bank (generated, offline).")
    images: int = Field(12, ge=1, le=1_000_000)
    objects: Objects = FolderObjects()
    audio: AudioBank = AudioBank()
    backgrounds: Backgrounds = Backgrounds()
    size: tuple[int, int] | Literal["background"] = (224, 224)
    sounding: Dist = 2
    distractors: Dist = 0
    scale: Dist = Field(
        Uniform(uniform=(0.25, 0.5)),
        description="The object's size sqrt(w*h) as a fraction of the canvas's short side.",
    )
    position: Position = Position()
    flip: float = Field(0.5, ge=0, le=1, description="Probability of a left-right flip.")
    rotation: Dist = Field(0.0, description="Degrees, counter-clockwise.")
    z_order: Literal["random", "sounding_front", "distractors_front"] = "random"
    max_occluded: float = Field(0.3, ge=0, le=1, description="Largest hidden fraction of any object's amodal mask.")
    min_visible: int = Field(64, ge=1, description="Fewest visible pixels of any object.")
    retries: int = Field(50, ge=1, le=10_000)
    blend: Blend = Blend()
    output: Output = Output()
    multi_source: MultiSource | None = Field(
        None, description="Also a positive whose audio mixes every sounding object's clip (none: off)."
    )

    @field_validator("size")
    @classmethod
    def _size(cls, value):
        if isinstance(value, tuple) and not (8 <= value[0] <= 8192 and 8 <= value[1] <= 8192):
            raise ValueError("size: [width, height] between 8 and 8192 pixels")
        return value


def embedded_demo() -> Config:
    """What ``negaudio build is3plus`` without ``--source`` makes: two sounding objects, sometimes a silent
    distractor, small rotations, the three blend modes."""
    return Config(
        kind="composite",
        distractors=Choice(choice=[0, 0, 1]),
        rotation=Uniform(uniform=(-15.0, 15.0)),
        blend=Blend(mode=Choice(choice=["hard", "feather", "multiband"]), sigma=Uniform(uniform=(1.0, 2.5))),
    )


# --- the bank ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutout:
    """One object of the bank: its file, where its alpha comes from, its crop box (the alpha's box)."""

    path: str
    alpha: str | dict
    crop: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]


@dataclass
class Bank:
    objects: dict[str, list[Cutout]]
    clips: dict[str, list[str]]
    backgrounds: list[tuple[str, tuple[int, int], tuple[str, ...]]]
    sound_classes: dict[str, list[str]]  # object class -> sound classes (absent: silent)
    skipped: dict[str, int] = field(default_factory=dict)


def _listing(folder: Path, suffixes: set[str]) -> dict[str, list[str]]:
    """``folder/<class>/<file>`` -> {class: [relative paths under folder's parent]}, sorted."""
    out: dict[str, list[str]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(f.name for f in sub.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
        if files:
            out[sub.name] = [f"{folder.name}/{sub.name}/{name}" for name in files]
    return out


def _need_dir(root: Path, rel: str, what: str) -> Path:
    path = root / rel
    if not path.is_dir():
        raise InputError(f"{path}: {what} folder not found")
    return path


def _alpha_box(path: Path) -> tuple[int, int, int, int]:
    """The box of an RGBA cut-out's alpha (>= 0.5), refusing files without alpha or with an empty one."""
    try:
        with open_image(path, str(path)) as im:
            if im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info:
                raise InputError(f"{path}: cut-out has no alpha channel (objects must be RGBA PNGs)")
            alpha = np.asarray(im.convert("RGBA").getchannel("A"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read cut-out ({exc})") from None
    box = compose.mask_box(alpha >= compose.ALPHA_THRESHOLD)
    if box is None:
        raise InputError(f"{path}: cut-out alpha is empty (no pixel with alpha >= 0.5)")
    return tuple(int(v) for v in box)


def _folder_objects(root: Path, spec: FolderObjects) -> dict[str, list[Cutout]]:
    listing = _listing(_need_dir(root, spec.folder, "objects"), {".png"})
    return {label: [Cutout(rel, "alpha", _alpha_box(root / rel)) for rel in files] for label, files in listing.items()}


def _coco_objects(root: Path, spec: CocoObjects, skipped: dict[str, int]) -> dict[str, list[Cutout]]:
    from pycocotools import mask as coco_mask

    path = root / spec.annotations
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {c["id"]: c["name"] for c in data["categories"]}
        images = {im["id"]: im for im in data["images"]}
        annotations = data["annotations"]
    except FileNotFoundError:
        raise InputError(f"{path}: COCO annotations not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not COCO instance annotations ({exc!r:.80})") from None
    out: dict[str, list[Cutout]] = {}
    for ann in sorted(annotations, key=lambda a: a.get("id", 0)):
        try:
            if ann.get("iscrowd"):
                skipped["coco crowd annotation"] = skipped.get("coco crowd annotation", 0) + 1
                continue
            im = images[ann["image_id"]]
            h, w = int(im["height"]), int(im["width"])
            seg = ann["segmentation"]
            if isinstance(seg, list):
                rle = coco_mask.merge(coco_mask.frPyObjects(seg, h, w))
            elif isinstance(seg["counts"], list):
                rle = coco_mask.frPyObjects(seg, h, w)
            else:
                rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            label = names[ann["category_id"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: annotation {ann.get('id')!r}: malformed ({exc!r:.80})") from None
        area = int(coco_mask.area(rle))
        if area < spec.min_area:
            skipped["coco instance under min_area"] = skipped.get("coco instance under min_area", 0) + 1
            continue
        x, y, bw, bh = (float(v) for v in coco_mask.toBbox(rle))
        crop = (math.floor(x), math.floor(y), math.ceil(x + bw), math.ceil(y + bh))
        alpha = {"rle": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}}
        out.setdefault(label, []).append(Cutout(f"{spec.images}/{im['file_name']}", alpha, crop))
    return dict(sorted(out.items()))


def _mask_objects(root: Path, spec: MaskObjects, skipped: dict[str, int]) -> dict[str, list[Cutout]]:
    pairs: list[tuple[str, str, str]] = []
    if spec.index is not None:
        for where, row in _index_rows(root / spec.index):
            if not all(isinstance(row.get(k), str) and row[k] for k in ("image", "mask", "label")):
                raise InputError(f"{where}: needs 'image', 'mask' and 'label'")
            pairs.append((row["image"], row["mask"], row["label"]))
    else:
        listing = _listing(_need_dir(root, spec.images, "object images"), IMAGE_SUFFIXES)
        masks = root / spec.masks
        for label, files in listing.items():
            for rel in files:
                mask = f"{spec.masks}/{label}/{Path(rel).stem}.png"
                if not (masks / label / f"{Path(rel).stem}.png").is_file():
                    raise InputError(f"{root / rel}: no mask {root / mask} beside it")
                pairs.append((rel, mask, label))
    out: dict[str, list[Cutout]] = {}
    for image, mask, label in pairs:
        path = root / mask
        try:
            with open_image(path, str(path)) as m:
                box = compose.mask_box(np.asarray(m.convert("L")) > 127)
        except FileNotFoundError:
            raise InputError(f"{path}: mask not found") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read mask ({exc})") from None
        if box is None:
            skipped["empty object mask"] = skipped.get("empty object mask", 0) + 1
            continue
        out.setdefault(label, []).append(Cutout(image, {"mask": mask}, tuple(int(v) for v in box)))
    return dict(sorted(out.items()))


def _index_rows(path: Path) -> Iterator[tuple[str, dict]]:
    if not path.is_file():
        raise InputError(f"{path}: index not found")
    with path.open(encoding="utf-8", newline="") as fh:
        if path.suffix == ".csv":
            for line, row in enumerate(csv.DictReader(fh), start=2):
                yield f"{path}:{line}", row
        else:
            for line, text in enumerate(fh, start=1):
                if text.strip():
                    try:
                        yield f"{path}:{line}", json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}:{line}: invalid JSON ({exc.msg})") from None


def _clips(root: Path, spec: AudioBank) -> dict[str, list[str]]:
    if spec.index is None:
        return _listing(_need_dir(root, spec.folder, "audio"), AUDIO_SUFFIXES)
    out: dict[str, list[str]] = {}
    for where, row in _index_rows(root / spec.index):
        if not row.get("audio") or not row.get("label"):
            raise InputError(f"{where}: needs 'audio' and 'label'")
        out.setdefault(row["label"], []).append(row["audio"])
    return {label: sorted(files) for label, files in sorted(out.items())}


def _backgrounds(root: Path, spec: Backgrounds) -> list[tuple[str, tuple[int, int], tuple[str, ...]]]:
    if spec.procedural is not None:
        return []
    if spec.folder is None:
        raise InputError("source.backgrounds: give a folder or a procedural kind (gradient, clouds)")
    folder = _need_dir(root, spec.folder, "backgrounds")
    classes: dict[str, tuple[str, ...]] = {}
    if spec.classes is not None:
        for where, row in _index_rows(folder / spec.classes):
            if not row.get("image"):
                raise InputError(f"{where}: needs 'image'")
            value = row.get("classes") or ""
            classes[row["image"]] = tuple(value.split("|") if isinstance(value, str) else value)
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        try:
            with open_image(path, str(path)) as im:
                size = im.size
        except OSError as exc:
            raise InputError(f"{path}: cannot read background ({exc})") from None
        out.append((f"{spec.folder}/{path.name}", size, tuple(c for c in classes.get(path.name, ()) if c)))
    if not out:
        raise InputError(f"{folder}: no backgrounds (png, jpg); or set backgrounds.procedural")
    return out


def load_bank(root: Path, config: Config) -> Bank:
    """Read and check a bank: every cut-out has a non-empty alpha, every class that can sound has clips."""
    skipped: dict[str, int] = {}
    spec = config.objects
    if isinstance(spec, FolderObjects):
        objects = _folder_objects(root, spec)
    elif isinstance(spec, CocoObjects):
        objects = _coco_objects(root, spec, skipped)
    else:
        objects = _mask_objects(root, spec, skipped)
    if not objects:
        raise InputError(f"{root}: the bank holds no objects (layout {spec.layout})")
    clips = _clips(root, config.audio)
    sound_classes: dict[str, list[str]] = {}
    for label in objects:
        if label in config.audio.silent:
            continue
        mapped = config.audio.class_map.get(label, [label])
        if not mapped:
            raise InputError(
                f"source.audio.class_map: object class {label!r} is mapped to no sound class "
                "(list sound classes, or put the class under audio.silent)"
            )
        for sound in mapped:
            if not clips.get(sound):
                raise InputError(
                    f"{root / config.audio.folder}: object class {label!r} can sound but sound class {sound!r} has "
                    "no clip (add clips, map it with audio.class_map, or list it under audio.silent)"
                )
        sound_classes[label] = list(mapped)
    return Bank(objects, clips, _backgrounds(root, config.backgrounds), sound_classes, skipped)


# --- planning one image -----------------------------------------------------------------------------------------


def _id_part(label: str) -> str:
    return ID_UNSAFE.sub("-", label).strip("-") or "object"


class CompositeSource:
    name = "composite"

    def __init__(self, root: Path, config: Config, embedded: bool = False):
        self.root, self.config, self.embedded = Path(root), config, embedded
        self.report = SourceReport()
        self.bank = load_bank(self.root, config)
        self.seed = 0
        self._check_fit()

    def bind_seed(self, seed: int) -> None:
        """The recipe seed: every image's generator derives from it and the image's index."""
        self.seed = seed

    def bank_info(self) -> dict:
        """What ``build.json`` records of the bank (no absolute path)."""
        c = self.config
        return {
            "embedded": self.embedded,
            "objects_layout": c.objects.layout,
            "classes": len(self.bank.objects),
            "cutouts": sum(len(v) for v in self.bank.objects.values()),
            "sound_classes": len(self.bank.clips),
            "clips": sum(len(v) for v in self.bank.clips.values()),
            "backgrounds": len(self.bank.backgrounds) or f"procedural:{c.backgrounds.procedural}",
            "skipped": dict(sorted(self.bank.skipped.items())),
        }

    def _check_fit(self) -> None:
        """Refuse a cut-out that is larger than the canvas at the smallest scale the recipe allows."""
        if self.config.size == "background":
            return
        low = lowest(self.config.scale)
        if low is None:
            return
        width, height = self.config.size
        for cutouts in self.bank.objects.values():
            for cut in cutouts:
                w, h = _scaled(cut.size, low, min(width, height))
                if w > width or h > height:
                    raise InputError(
                        f"{self.root / cut.path}: {w}x{h} pixels at the smallest scale ({low:g} of the short side, "
                        f"source.scale) is larger than the {width}x{height} canvas"
                    )

    def samples(self) -> Iterator[Sample]:
        self.report = SourceReport()
        for k, v in self.bank.skipped.items():
            self.report.missing[k] = v
        for index in range(self.config.images):
            yield from self.image_samples(index)

    def image_samples(self, index: int) -> list[Sample]:
        rng = generator(item_seed(self.seed, f"composite/{index:06d}"))
        try:
            spec, boxes = self.plan_image(index, rng)
        except _PlacementError as exc:
            return [Sample(f"image-{index:05d}", "-", "-", "-", (), extra={"error": str(exc)})]
        sounding = [i for i, o in enumerate(spec["objects"]) if o["role"] == "sounding"]
        group = "_".join(_id_part(spec["objects"][i]["label"]) for i in sounding) + f"_{index:04d}"
        visible_classes = {o["label"] for o in spec["objects"]} | set(spec["background"].get("classes", []))
        image = spec["background"].get("path") or f"procedural/{spec['background']['procedural']}"
        out = []
        for i in sounding:
            obj = spec["objects"][i]
            out.append(
                Sample(
                    sample_id=f"{group}_{_id_part(obj['label'])}",
                    image=image,
                    audio=obj["audio"],
                    label=obj["label"],
                    image_classes=tuple(sorted(visible_classes)),
                    regions=(Region(label=obj["label"], box=tuple(boxes[i])),),
                    group=group,
                    extra={"composite": {**spec, "targets": [i]}},
                )
            )
        if self.config.multi_source is not None and len(sounding) > 1:
            out.append(self._mix_sample(index, spec, sounding, boxes, group, image, visible_classes))
        self.report.kept += len(out)
        return out

    def _mix_sample(self, index, spec, sounding, boxes, group, image, visible_classes) -> Sample:
        """The multi-source positive of one image: ``<group>_<objA>+<objB>``, heard as every sounding class
        (joined by '+'), its audio mixed at render time at levels drawn from the image's own mix generator."""
        wanted = self.config.multi_source.levels_db
        if len(wanted) < len(sounding):
            raise InputError(
                f"source.multi_source.levels_db: {len(wanted)} level(s) for {len(sounding)} sounding objects "
                f"(image {index}); give one per sounding object"
            )
        rng = generator(item_seed(self.seed, f"composite/{index:06d}/mix"))
        levels = [round(float(draw(level, rng)), 6) for level in wanted[: len(sounding)]]
        labels = [spec["objects"][i]["label"] for i in sounding]
        return Sample(
            sample_id=f"{group}_{'+'.join(_id_part(label) for label in labels)}",
            image=image,
            audio=spec["objects"][sounding[0]]["audio"],
            label="+".join(labels),
            image_classes=tuple(sorted(visible_classes)),
            regions=tuple(Region(label=spec["objects"][i]["label"], box=tuple(boxes[i])) for i in sounding),
            group=group,
            audio_classes=tuple(labels),
            extra={"composite": {**spec, "targets": list(sounding), "mix": {"levels_db": levels}}},
            mixed=True,
        )

    def plan_image(self, index: int, rng: np.random.Generator) -> tuple[dict, list]:
        """Resolve one image's spec and each object's visible box; :class:`_PlacementError` when no placement
        meets the constraints."""
        c, bank = self.config, self.bank
        if bank.backgrounds:
            path, bg_size, bg_classes = bank.backgrounds[int(rng.integers(len(bank.backgrounds)))]
            background = {"path": path, "classes": list(bg_classes)}
        else:
            bg_size = None
            background = {"procedural": c.backgrounds.procedural, "seed": int(rng.integers(0, 2**63 - 1))}
        canvas = list(bg_size) if c.size == "background" else list(c.size)
        soundable = sorted(bank.sound_classes)
        n_sound = int(draw(c.sounding, rng))
        n_dis = int(draw(c.distractors, rng))
        if n_sound < 1 or n_sound > len(soundable):
            raise InputError(
                f"source.sounding: {n_sound} sounding objects drawn, the bank has {len(soundable)} classes"
            )
        picks = [soundable[int(k)] for k in rng.choice(len(soundable), size=n_sound, replace=False)]
        others = [label for label in sorted(bank.objects) if label not in picks]
        if n_dis < 0 or n_dis > len(others):
            raise InputError(f"source.distractors: {n_dis} distractors drawn, {len(others)} other classes in the bank")
        picks += [others[int(k)] for k in rng.choice(len(others), size=n_dis, replace=False)] if n_dis else []
        objects = []
        for k, label in enumerate(picks):
            cut = bank.objects[label][int(rng.integers(len(bank.objects[label])))]
            obj = {"label": label, "role": "sounding" if k < n_sound else "distractor", "cutout": cut.path}
            if cut.alpha != "alpha":
                obj["alpha"] = cut.alpha
            obj["crop"] = list(cut.crop)
            if k < n_sound:
                sounds = bank.sound_classes[label]
                sound = sounds[int(rng.integers(len(sounds)))]
                obj["sound_class"] = sound
                obj["audio"] = bank.clips[sound][int(rng.integers(len(bank.clips[sound])))]
            else:
                obj["sound_class"], obj["audio"] = None, None
            objects.append(obj)
        z = _z_order(c.z_order, n_sound, len(objects), rng)
        spec = {
            "canvas": canvas,
            "background": background,
            "output": c.output.model_dump(),
            "objects": objects,
        }
        reasons: dict[str, int] = {}
        for _ in range(c.retries):
            for k, obj in enumerate(objects):
                obj.update(self._geometry(bank_size(obj), canvas, rng))
                obj["z"] = z[k]
                obj["blend"] = self._blend(rng)
            why, boxes = self._check(spec)
            if why is None:
                return spec, boxes
            reasons[why] = reasons.get(why, 0) + 1
        listed = ", ".join(f"{why} ({n}x)" for why, n in sorted(reasons.items()))
        raise _PlacementError(
            f"image {index}: no placement met the constraints within {c.retries} retries (source.retries): {listed}"
        )

    def _geometry(self, size: tuple[int, int], canvas: list[int], rng: np.random.Generator) -> dict:
        c = self.config
        scale = float(draw(c.scale, rng))
        w, h = _scaled(size, scale, min(canvas))
        flip = bool(rng.random() < c.flip)
        rotation = float(draw(c.rotation, rng))
        geo = {"scale": scale, "size": [w, h], "flip": flip, "rotation": round(rotation, 6)}
        lw, lh = compose.layer_size(geo)
        px, py = float(draw(c.position.x, rng)), float(draw(c.position.y, rng))
        geo["position"] = [
            round(min(max(px, 0.0), 1.0) * (canvas[0] - lw)),
            round(min(max(py, 0.0), 1.0) * (canvas[1] - lh)),
        ]
        return geo

    def _blend(self, rng: np.random.Generator) -> dict:
        b = self.config.blend
        mode = draw(b.mode, rng)
        if mode == "feather":
            return {"mode": mode, "sigma": float(draw(b.sigma, rng))}
        if mode == "multiband":
            return {"mode": mode, "levels": b.levels}
        if mode != "hard":
            raise InputError(f"source.blend.mode: {mode!r} is not one of {', '.join(compose.BLEND_MODES)}")
        return {"mode": "hard"}

    def _check(self, spec: dict) -> tuple[str | None, list]:
        """Why a placement is refused (None: accepted), and each object's visible box."""
        width, height = spec["canvas"]
        for obj in spec["objects"]:
            lw, lh = compose.layer_size(obj)
            if lw > width or lh > height:
                return "object larger than the canvas", []
        amodal = compose.amodal_masks(spec, self.root)
        visible = compose.visible_masks(amodal, [o["z"] for o in spec["objects"]])
        boxes = []
        for a, v in zip(amodal, visible, strict=True):
            area, seen = int(a.sum()), int(v.sum())
            if seen < self.config.min_visible:
                return "visible area under min_visible", []
            if 1 - seen / area > self.config.max_occluded:
                return "occluded beyond max_occluded", []
            boxes.append(compose.mask_box(v))
        return None, boxes


def bank_size(obj: dict) -> tuple[int, int]:
    x0, y0, x1, y1 = obj["crop"]
    return x1 - x0, y1 - y0


def _scaled(size: tuple[int, int], scale: float, short_side: int) -> tuple[int, int]:
    """An object's pixel size at ``scale``: sqrt(w*h) becomes ``scale`` x the canvas's short side."""
    w, h = size
    k = scale * short_side / math.sqrt(w * h)
    return max(1, round(w * k)), max(1, round(h * k))


def _z_order(rule: str, n_sound: int, n: int, rng: np.random.Generator) -> list[int]:
    if rule == "random":
        return [int(v) for v in rng.permutation(n)]
    sound = [int(v) for v in rng.permutation(n_sound)]
    dis = [int(v) for v in rng.permutation(n - n_sound)]
    if rule == "sounding_front":
        return [v + n - n_sound for v in sound] + dis
    return sound + [v + n_sound for v in dis]


class _PlacementError(Exception):
    pass


def open_source(config: Config, root: Path | None) -> CompositeSource:
    chosen = root or config.root
    if chosen is None:
        from negaudio.sources.composite_bank import ensure_bank

        return CompositeSource(ensure_bank(), config, embedded=True)
    chosen = Path(chosen)
    if not chosen.is_dir():
        raise InputError(f"{chosen}: composite bank folder not found")
    return CompositeSource(chosen, config)


__all__ = ["CompositeSource", "Config", "open_source"]
