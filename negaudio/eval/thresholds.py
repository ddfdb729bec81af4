"""Binarisation thresholds with provenance: fixed, per-image median, size-prior adaptive, universal.

Per-image thresholds (median, adaptive) are resolved on the *positive* map of each image and the same
θ_i is reused to binarise that image's negative maps (vssl_eval's 'ciou'/'ciouadap' protocol).
Universal thresholds are calibrated once from map maxima on a named split and can be serialised and
reused on other test sets. Comparisons are exact (as in float64). See docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from negaudio.eval.engine import select, thresholds_below
from negaudio.eval.metrics_common import check_gt, check_maps, check_same_shape, flat

PER_IMAGE_KINDS = ("median", "adaptive")
UNIVERSAL_KINDS = ("max", "max10", "maxq3", "maxq3_separate", "pos_p25")
KINDS = ("fixed", *PER_IMAGE_KINDS, *UNIVERSAL_KINDS)


@dataclass(frozen=True)
class Threshold:
    """A binarisation rule: ``kind`` in KINDS, ``value`` (None for per-image kinds) and its ``source``."""

    kind: str
    value: float | None = None
    source: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown threshold kind {self.kind!r}; expected one of {KINDS}")
        if (self.value is None) != (self.kind in PER_IMAGE_KINDS):
            raise ValueError(f"threshold kind {self.kind!r} {'needs' if self.value is None else 'takes no'} value")
        if self.value is not None and not np.isfinite(self.value):
            raise ValueError(f"threshold value must be finite, got {self.value}")

    @property
    def label(self) -> str:
        """Short unique name for report keys: the kind, or ``fixed=<value>``."""
        return f"fixed={self.value!r}" if self.kind == "fixed" else self.kind

    @property
    def size_prior(self) -> bool:
        """True for 'adaptive': it keeps the top-|GT| pixels, so it uses the GT object size."""
        return self.kind == "adaptive"

    def resolve(self, maps, gt=None) -> np.ndarray:
        """Per-image θ, shape [B] float64, for the positive ``maps`` (``gt`` needed for 'adaptive')."""
        if self.kind == "median":
            return median_threshold(maps)
        if self.kind == "adaptive":
            if gt is None:
                raise ValueError("the 'adaptive' threshold needs the ground truth")
            return adaptive_threshold(maps, gt)
        return np.full(check_maps(maps).shape[0], self.value, dtype=np.float64)


def fixed(value: float) -> Threshold:
    """A fixed θ for every image (vssl_eval default 0.5)."""
    return Threshold("fixed", float(value), "fixed")


def median() -> Threshold:
    """θ_i = sort(P_i)[⌊N/2⌋], per image (EZ-VSL/SSL-Align 'ciou')."""
    return Threshold("median", None, "per-image median of the positive map")


def adaptive() -> Threshold:
    """θ_i = sort(P_i)[N − |G_i|], per image; size prior (SSLalignment 'adap', vssl_eval 'ciouadap')."""
    return Threshold("adaptive", None, "per-image top-|GT| pixels of the positive map (size prior: uses GT)")


def median_threshold(maps) -> np.ndarray:
    """θ_i = sort(P_i)[⌊0.5·N⌋] for each image i separately; shape [B] float64."""
    p = flat(check_maps(maps))
    k = p.shape[1] // 2
    return np.array([select(row, [k])[0] for row in p], dtype=np.float64)


def adaptive_threshold(maps, gt) -> np.ndarray:
    """θ_i = sort(P_i)[N − |G_i|] with |G_i| = #{G_i > 0}, and |G_i| = N//2 when the GT is empty."""
    maps, gt = check_maps(maps), check_gt(gt)
    check_same_shape(maps, "prediction maps", gt, "ground truth")
    p = flat(maps)
    n = p.shape[1]
    size = np.count_nonzero(flat(gt), axis=1)
    size = np.where(size == 0, n // 2, size)
    return np.array([select(row, [n - s])[0] for row, s in zip(p, size, strict=True)], dtype=np.float64)


def check_theta(theta, batch: int) -> np.ndarray:
    """Return θ as float64 of shape [B]; θ may be a scalar or one value per image."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim == 0:
        theta = np.full(batch, theta)
    if theta.shape != (batch,):
        raise ValueError(f"shape mismatch: threshold {theta.shape} vs batch of {batch} maps")
    if not np.isfinite(theta).all():
        raise ValueError(f"threshold contains NaN/inf at batch index {int(np.flatnonzero(~np.isfinite(theta))[0])}")
    return theta


def exceeds(maps: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """1[P_i > θ_i] for checked maps [B, H, W] and float64 θ [B], exact as a float64 comparison.

    For float32 maps θ_i is rounded down to float32 (P > θ ⇔ P > rounddown(θ) for float32 P),
    which avoids a float64 upcast of every pixel (~3x faster).
    """
    return maps > thresholds_below(theta, maps.dtype)[:, None, None]


def binarize(maps, theta) -> np.ndarray:
    """B = 1[P > θ] (strict), θ a scalar or per-image [B]; returns a boolean [B, H, W] mask."""
    maps = check_maps(maps)
    return exceeds(maps, check_theta(theta, maps.shape[0]))


def map_maxima(maps) -> np.ndarray:
    """Per-image maximum max_hw P_i, shape [B] float64."""
    maps = check_maps(maps)
    return flat(maps).max(axis=1).astype(np.float64) if maps.size else np.zeros(maps.shape[0])


@dataclass(frozen=True)
class UniversalThresholds:
    """Universal thresholds calibrated from map maxima on the split ``split`` (see calibrate_universal)."""

    split: str
    max: float
    max10: float
    maxq3: float
    maxq3_separate: float
    pos_p25: float | None
    n_maxima: dict[str, int] = field(hash=False)
    n_positives: int = 0

    def threshold(self, kind: str) -> Threshold:
        """The calibrated value of ``kind`` (one of UNIVERSAL_KINDS) as a Threshold with provenance."""
        if kind not in UNIVERSAL_KINDS:
            raise ValueError(f"unknown universal threshold {kind!r}; expected one of {UNIVERSAL_KINDS}")
        value = getattr(self, kind)
        if value is None:
            raise ValueError(f"{kind!r} was not calibrated: no positive maxima were given")
        types = ",".join(f"{t}:{n}" for t, n in self.n_maxima.items())
        counts = f" (negative maxima {types})" if types else ""  # a paper's thresholds: counts not published
        return Threshold(kind, value, f"calibrated on split {self.split!r}{counts}")

    def to_dict(self) -> dict:
        """JSON-serialisable dict; ``from_dict`` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> UniversalThresholds:
        """Rebuild from ``to_dict`` output (e.g. read back from JSON); values must be finite numbers. A ValueError
        names every missing key, or the first bad value."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object of thresholds, got {type(data).__name__}")
        missing = [k for k in ("split", *UNIVERSAL_KINDS, "n_maxima") if k not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        for kind in UNIVERSAL_KINDS:
            value = data[kind]
            if not (value is None and kind == "pos_p25") and not (
                isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
            ):
                raise ValueError(f"{kind} must be a finite number, got {value!r}")
        return cls(**{**data, "n_maxima": dict(data["n_maxima"])})


def _maxima(values, name: str) -> np.ndarray:
    """Accept per-sample maxima [n] or maps [n, H, W]; return finite maxima [n]."""
    values = np.asarray(values)
    if values.ndim == 3:
        values = map_maxima(values)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite maxima [n] or maps [n, H, W] with n > 0, got shape {values.shape}")
    return values.astype(np.float64)


def calibrate_universal(negatives: Mapping[str, np.ndarray], split: str, positives=None) -> UniversalThresholds:
    """Calibrate universal thresholds from negative maxima m (maps or maxima per negative type).

    max = mean(m) pooled over types; max10 = 1.1·max; maxq3 = P75(m) pooled; maxq3_separate =
    max over types of P75(m_type); pos_p25 = P25 of positive maxima (None without positives).
    Percentiles use NumPy's default linear interpolation.
    """
    if not negatives:
        raise ValueError("calibrate_universal needs at least one negative type")
    maxima = {t: _maxima(v, f"negatives[{t!r}]") for t, v in negatives.items()}
    pooled = np.concatenate(list(maxima.values()))
    mean = float(pooled.mean())
    pos = None if positives is None else _maxima(positives, "positives")
    return UniversalThresholds(
        split=split,
        max=mean,
        max10=1.1 * mean,
        maxq3=float(np.percentile(pooled, 75)),
        maxq3_separate=max(float(np.percentile(m, 75)) for m in maxima.values()),
        pos_p25=None if pos is None else float(np.percentile(pos, 25)),
        n_maxima={t: int(m.size) for t, m in maxima.items()},
        n_positives=0 if pos is None else int(pos.size),
    )
