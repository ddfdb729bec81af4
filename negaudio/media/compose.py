"""Composite images: a background and cut-out objects, pasted by z-order, with exact per-object masks.

A pure function of an image spec (every parameter resolved at plan time, see ``docs/composites.md``) and the
files it names. For each object, in order:

1. the cut-out: an RGBA file (its alpha), an image with a binary mask file (``> 127``), or an image with a COCO
   RLE; cropped to ``crop`` (``[x0, y0, x1, y1]``, end exclusive, the box of the alpha in the source file);
2. flipped left-right when ``flip``; resized to ``size`` (``[w, h]``, bilinear on premultiplied alpha);
   rotated by ``rotation`` degrees counter-clockwise about its centre (bilinear, the layer grows to hold it);
3. pasted with its layer's top-left corner at ``position`` (``[x, y]``, pixels of the canvas).

The **amodal mask** of an object is its transformed alpha ``>= 128`` (alpha >= 0.5) on the canvas; its
**visible mask** is the amodal mask minus the amodal masks of every object with a higher ``z``. Blending
(``hard``, ``feather``, ``multiband``) changes pixels only, never the masks.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from negaudio.core.cache import resolve_media
from negaudio.core.errors import InputError
from negaudio.media.images import open_image

ALPHA_THRESHOLD = 128
BLEND_MODES = ("hard", "feather", "multiband")


@dataclass
class Composite:
    """A rendered composite: the RGB image [H, W, 3] uint8 and per-object boolean masks [H, W]."""

    image: np.ndarray
    amodal: list[np.ndarray]
    visible: list[np.ndarray]


class _Memo:
    """A small per-process cache of decoded cut-outs and backgrounds (rendering is still a pure function)."""

    def __init__(self, size: int = 64):
        self.size, self.items = size, OrderedDict()

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


_CUTOUTS = _Memo()
_BACKGROUNDS = _Memo(16)


def _read_rgb_alpha(root: Path, obj: dict) -> Image.Image:
    """The object's source as an RGBA image (alpha from the file, a mask file or an RLE), before cropping."""
    path = resolve_media(root, obj["cutout"], "cut-out")
    try:
        with open_image(path, str(path)) as im:
            im.load()
            mode = im.mode
            source = im.convert("RGBA")
    except FileNotFoundError:
        raise InputError(f"{path}: cut-out not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read cut-out ({exc})") from None
    alpha = obj.get("alpha", "alpha")
    if alpha == "alpha":
        if mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in source.info:
            raise InputError(f"{path}: cut-out has no alpha channel (an RGBA PNG whose alpha is the object)")
        return source
    if isinstance(alpha, dict) and "mask" in alpha:
        mask_path = resolve_media(root, alpha["mask"], "cut-out mask")
        try:
            with open_image(mask_path, str(mask_path)) as m:
                mask = np.asarray(m.convert("L"))
        except FileNotFoundError:
            raise InputError(f"{mask_path}: cut-out mask not found") from None
        except OSError as exc:
            raise InputError(f"{mask_path}: cannot read cut-out mask ({exc})") from None
        if mask.shape != (source.height, source.width):
            raise InputError(f"{mask_path}: mask size {mask.shape[::-1]} differs from its image {source.size}")
        source.putalpha(Image.fromarray(np.where(mask > 127, 255, 0).astype(np.uint8), mode="L"))
        return source
    if isinstance(alpha, dict) and "rle" in alpha:
        from pycocotools import mask as coco_mask

        rle = {"size": list(alpha["rle"]["size"]), "counts": alpha["rle"]["counts"].encode("ascii")}
        mask = coco_mask.decode(rle)
        if mask.shape != (source.height, source.width):
            raise InputError(f"{path}: RLE size {mask.shape[::-1]} differs from the image {source.size}")
        source.putalpha(Image.fromarray((mask > 0).astype(np.uint8) * 255, mode="L"))
        return source
    raise InputError(f"{path}: unknown alpha source {alpha!r:.60}")


def cutout(root: Path, obj: dict) -> Image.Image:
    """The object's cut-out, cropped to ``crop`` (decoded once per process)."""
    key = (str(root), obj["cutout"], repr(obj.get("alpha", "alpha")), tuple(obj["crop"]))
    return _CUTOUTS.get(key, lambda: _read_rgb_alpha(root, obj).crop(tuple(obj["crop"])))


def layer(cut: Image.Image, obj: dict) -> Image.Image:
    """The transformed RGBA layer of one object: flip, resize to ``size``, rotate (expanding)."""
    im = cut.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if obj["flip"] else cut
    w, h = obj["size"]
    if im.size != (w, h):
        im = im.resize((int(w), int(h)), Image.Resampling.BILINEAR)
    if obj["rotation"]:
        im = im.rotate(float(obj["rotation"]), resample=Image.Resampling.BILINEAR, expand=True)
    return im


def layer_size(obj: dict) -> tuple[int, int]:
    """The (width, height) of an object's layer after rotation, as :func:`layer` makes it (Pillow's rule)."""
    w, h = (int(v) for v in obj["size"])
    if not obj["rotation"]:
        return w, h
    return Image.new("L", (w, h)).rotate(float(obj["rotation"]), expand=True).size


def amodal_masks(spec: dict, root: Path) -> list[np.ndarray]:
    """Every object's amodal mask on the canvas (alpha >= 0.5), in the order of ``spec['objects']``."""
    width, height = spec["canvas"]
    out = []
    for obj in spec["objects"]:
        alpha = np.asarray(layer(cutout(root, obj), obj).getchannel("A"))
        out.append(_place(alpha >= ALPHA_THRESHOLD, obj["position"], width, height))
    return out


def visible_masks(amodal: list[np.ndarray], z: list[int]) -> list[np.ndarray]:
    """Each object's amodal mask minus those of the objects in front of it (higher ``z``)."""
    out = []
    for i, mask in enumerate(amodal):
        front = np.zeros_like(mask)
        for j, other in enumerate(amodal):
            if z[j] > z[i]:
                front |= other
        out.append(mask & ~front)
    return out


def _place(values: np.ndarray, position, width: int, height: int) -> np.ndarray:
    """``values`` [h, w, ...] on a zero canvas at ``position`` (top-left), cut at the canvas edges."""
    x, y = (int(v) for v in position)
    canvas = np.zeros((height, width, *values.shape[2:]), dtype=values.dtype)
    h, w = values.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = values[y0 - y : y1 - y, x0 - x : x1 - x]
    return canvas


def background(spec: dict, root: Path) -> np.ndarray:
    """The canvas before any object: a background file scaled to cover the canvas and centre-cropped, or a
    procedural background drawn from its recorded seed. float32 [H, W, 3] in 0..255."""
    width, height = spec["canvas"]
    bg = spec["background"]
    if "procedural" in bg:
        return procedural_background(bg["procedural"], int(bg["seed"]), width, height)
    key = (str(root), bg["path"], width, height)
    return _BACKGROUNDS.get(key, lambda: _file_background(root, bg["path"], width, height))


def _file_background(root: Path, rel: str, width: int, height: int) -> np.ndarray:
    path = resolve_media(root, rel, "background")
    try:
        with open_image(path, str(path)) as im:
            im = im.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"{path}: background not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot read background ({exc})") from None
    return np.asarray(cover(im, width, height), dtype=np.float32)


def cover(im: Image.Image, width: int, height: int) -> Image.Image:
    """``im`` scaled (bilinear) to cover ``width`` x ``height`` and centre-cropped to it."""
    if im.size == (width, height):
        return im
    s = max(width / im.width, height / im.height)
    w, h = max(width, round(im.width * s)), max(height, round(im.height * s))
    im = im.resize((w, h), Image.Resampling.BILINEAR)
    x, y = (w - width) // 2, (h - height) // 2
    return im.crop((x, y, x + width, y + height))


def procedural_background(kind: str, seed: int, width: int, height: int) -> np.ndarray:
    """A background for banks without scenes: a two-colour gradient (``gradient``) or smooth coloured noise
    (``clouds``), from ``seed`` alone."""
    rng = np.random.Generator(np.random.PCG64(seed))
    top, bottom = rng.uniform(30, 220, size=(2, 3))
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    out = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).astype(np.float32)
    if kind == "clouds":
        noise = gaussian_filter(rng.standard_normal((height, width, 3)).astype(np.float32), (8, 8, 0))
        out = out + 40.0 * noise / max(float(np.abs(noise).max()), 1e-6)
    elif kind != "gradient":
        raise InputError(f"background: unknown procedural kind {kind!r:.40} (gradient, clouds)")
    return np.clip(out, 0, 255).astype(np.float32)


def _blend(canvas: np.ndarray, rgb: np.ndarray, mask: np.ndarray, blend: dict) -> np.ndarray:
    """``canvas`` with ``rgb`` pasted where ``mask`` holds (all [H, W, ...] float32), by blend mode."""
    mode = blend.get("mode", "hard")
    hard = mask.astype(np.float32)
    filled = np.where(mask[..., None], rgb, canvas)  # the layer, the canvas outside the object: no dark halo
    if mode == "hard":
        return filled
    if mode == "feather":
        a = gaussian_filter(hard, float(blend["sigma"]))[..., None]
        return canvas * (1 - a) + filled * a
    if mode == "multiband":
        return _multiband(canvas, filled, hard, int(blend["levels"]))
    raise InputError(f"blend: unknown mode {mode!r:.40} ({', '.join(BLEND_MODES)})")


def _multiband(a: np.ndarray, b: np.ndarray, mask: np.ndarray, levels: int) -> np.ndarray:
    """Burt-Adelson multiband blending on a Laplacian stack (octave-spaced Gaussian blurs, no decimation):
    band k of the result is band k of ``b`` where the mask blurred at that scale holds, of ``a`` elsewhere."""
    out = np.zeros_like(a)
    prev_a, prev_b, prev_m = a, b, mask
    for k in range(levels):
        sigma = 2.0**k
        ga = gaussian_filter(a, (sigma, sigma, 0))
        gb = gaussian_filter(b, (sigma, sigma, 0))
        m = prev_m[..., None]
        out += (prev_b - gb) * m + (prev_a - ga) * (1 - m)
        prev_a, prev_b, prev_m = ga, gb, gaussian_filter(mask, sigma)
    m = prev_m[..., None]
    return out + prev_b * m + prev_a * (1 - m)


def compose(spec: dict, root: Path) -> Composite:
    """Render an image spec: background, then objects by increasing ``z``; masks as the module docstring says."""
    width, height = spec["canvas"]
    canvas = background(spec, root).copy()
    objects = spec["objects"]
    amodal: list[np.ndarray] = [np.zeros((height, width), bool)] * len(objects)
    layers = []
    for i, obj in enumerate(objects):
        rgba = np.asarray(layer(cutout(root, obj), obj))
        placed = _place(rgba, obj["position"], width, height)
        amodal[i] = placed[..., 3] >= ALPHA_THRESHOLD
        layers.append(placed[..., :3].astype(np.float32))
    z = [int(o["z"]) for o in objects]
    for i in sorted(range(len(objects)), key=lambda k: z[k]):
        canvas = _blend(canvas, layers[i], amodal[i], objects[i]["blend"])
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Composite(image=image, amodal=amodal, visible=visible_masks(amodal, z))


def encode_image(image: np.ndarray, fmt: str, quality: int = 95) -> tuple[bytes, str]:
    """The composite's file bytes and suffix: PNG, or baseline JPEG at ``quality`` (no subsampling)."""
    buffer = io.BytesIO()
    im = Image.fromarray(image, mode="RGB")
    if fmt == "jpeg":
        im.save(buffer, format="JPEG", quality=int(quality), subsampling=0)
        return buffer.getvalue(), ".jpg"
    im.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), ".png"


def mask_box(mask: np.ndarray) -> list[float] | None:
    """``[xmin, ymin, xmax, ymax]`` of a mask's pixels (max exclusive, the rasteriser's rule), None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


OBJECT_KEYS = {"label": str, "role": str, "cutout": str, "crop": list, "size": list, "position": list, "z": int}


def check_spec(spec: dict, sample_id: str) -> list[tuple[str, str]]:
    """Check the shape of an image spec from a plan (a hand-edited plan may hold anything); return the files
    it names as (relative path, what) for the path checks."""

    def bad(what: str) -> InputError:
        return InputError(f"composite spec of {sample_id!r}: {what}")

    canvas = spec.get("canvas")
    if not (
        isinstance(canvas, list) and len(canvas) == 2 and all(isinstance(v, int) and 0 < v <= 8192 for v in canvas)
    ):
        raise bad("'canvas' must be [width, height], 1..8192 pixels")
    bg = spec.get("background")
    files: list[tuple[str, str]] = []
    if isinstance(bg, dict) and isinstance(bg.get("path"), str):
        files.append((bg["path"], "background"))
    elif not (isinstance(bg, dict) and isinstance(bg.get("procedural"), str) and isinstance(bg.get("seed"), int)):
        raise bad("'background' must be {path} or {procedural, seed}")
    objects = spec.get("objects")
    if not isinstance(objects, list) or not objects or len(objects) > 64:
        raise bad("'objects' must be a list of 1..64 objects")
    for n, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise bad(f"objects[{n}] must be an object")
        for key, kind in OBJECT_KEYS.items():
            if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
                raise bad(f"objects[{n}].{key} is missing or not {kind.__name__}")
        if len(obj["crop"]) != 4 or len(obj["size"]) != 2 or len(obj["position"]) != 2:
            raise bad(f"objects[{n}]: crop has 4 numbers, size and position 2")
        if not all(isinstance(v, int) and 0 < v <= 8192 for v in obj["size"]):
            raise bad(f"objects[{n}].size must be two integers in 1..8192")
        if not isinstance(obj.get("flip"), bool) or not isinstance(obj.get("rotation"), int | float):
            raise bad(f"objects[{n}]: flip must be true/false and rotation a number")
        if not isinstance(obj.get("blend"), dict) or obj["blend"].get("mode") not in BLEND_MODES:
            raise bad(f"objects[{n}].blend.mode must be one of {', '.join(BLEND_MODES)}")
        files.append((obj["cutout"], "cut-out"))
        alpha = obj.get("alpha", "alpha")
        if isinstance(alpha, dict) and isinstance(alpha.get("mask"), str):
            files.append((alpha["mask"], "cut-out mask"))
        elif alpha != "alpha" and not (isinstance(alpha, dict) and isinstance(alpha.get("rle"), dict)):
            raise bad(f"objects[{n}].alpha must be 'alpha', {{mask}} or {{rle}}")
    targets = spec.get("targets")
    if not (
        isinstance(targets, list) and targets and all(isinstance(t, int) and 0 <= t < len(objects) for t in targets)
    ):
        raise bad("'targets' must list indices of its objects")
    mix = spec.get("mix")
    if mix is not None:
        levels = mix.get("levels_db") if isinstance(mix, dict) else None
        if not (
            isinstance(levels, list)
            and len(levels) == len(targets)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in levels)
        ):
            raise bad("'mix' must be {levels_db: [one number per target]}")
        for t in targets:
            if not isinstance(objects[t].get("audio"), str):
                raise bad(f"objects[{t}] is a target of the mix but has no 'audio'")
            files.append((objects[t]["audio"], "audio"))
    return files


def spec_files(spec: dict) -> list[str]:
    """The source files an image spec reads (background, cut-outs, their masks, the clips of a mix)."""
    return [rel for rel, _ in check_spec(spec, "?")]
