"""What scoring knows of a build's samples: the one-pass index (item names, kinds, sample count, groups) and the
samples streamed in order (grouped by :mod:`negaudio.manifest.samples`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from negaudio.core.errors import InputError
from negaudio.kinds import NEGATIVE, NOISY_POSITIVE, POSITIVE, role_of
from negaudio.manifest import Build
from negaudio.manifest.reader import parse_record
from negaudio.manifest.samples import Sample, group_samples
from negaudio.manifest.schema import ManifestRecord

__all__ = [
    "NEGATIVE",
    "NOISY_POSITIVE",
    "POSITIVE",
    "BuildIndex",
    "Sample",
    "index_build",
    "iter_samples",
    "samples_of_lines",
]


@dataclass
class BuildIndex:
    """What scoring needs to know before streaming: items (id -> name), types (name -> kind), sample count,
    whether groups are shared, and each sample's item ids."""

    items: dict[str, str]
    types: dict[str, str]
    n_samples: int
    shared_groups: bool
    members: list[tuple[str, dict[str, str]]]
    """Per sample, in stream order: its positive's item id and its other items' ids by name."""
    frames: list[tuple[int, int]]
    """Per sample, in stream order: its frame (height, width)."""
    with_gt: int = 0
    """Samples whose positive has a ground-truth mask (the others score against an empty one)."""

    def negatives(self) -> list[str]:
        return [n for n, k in self.types.items() if role_of(k) == NEGATIVE]

    def noisy(self) -> list[str]:
        return [n for n, k in self.types.items() if role_of(k) == NOISY_POSITIVE]

    def kinds(self, kind: str) -> list[str]:
        return [n for n, k in self.types.items() if k == kind]


def iter_samples(build: Build) -> Iterator[Sample]:
    """Samples in manifest order (the grouping rule of :mod:`negaudio.manifest.samples`)."""
    return build.samples()


def index_build(build: Build) -> BuildIndex:
    """One pass over the manifest: item names by id, item types in order of first appearance, samples, groups."""
    items: dict[str, str] = {}
    types: dict[str, str] = {}
    groups: dict[str, int] = {}
    members: list[tuple[str, dict[str, str]]] = []
    frames: list[tuple[int, int]] = []
    n = with_gt = 0
    for sample in iter_samples(build):
        n += 1
        with_gt += sample.positive.mask is not None
        members.append((sample.positive.item_id, {name: r.item_id for name, r in sample.others.items()}))
        frames.append(sample.frame)
        for r in sample.records():
            items[r.item_id] = r.name
            if types.setdefault(r.name, r.kind) != r.kind:
                raise InputError(f"item name {r.name!r} has two kinds: {types[r.name]} and {r.kind}")
        key = sample.positive.group or sample.sample_id
        groups[key] = groups.get(key, 0) + 1
    if n == 0:
        raise InputError(f"{build.root}: the build has no items")
    return BuildIndex(items, types, n, any(c > 1 for c in groups.values()), members, frames, with_gt)


def samples_of_lines(build: Build, lines: Iterable[str], members: list, frames: list) -> list[Sample]:
    """The samples of consecutive whole-sample manifest lines of ``build`` (as ``Build.lines`` gives them), which
    the index pass saw with these ``members`` and ``frames`` (:class:`BuildIndex`); a manifest changed since is an
    InputError."""
    changed = f"{build.manifest}: changed while it was scored; score it again"

    def records() -> Iterator[ManifestRecord]:
        for line in lines:
            try:
                yield parse_record(line)
            except ValueError:
                raise InputError(changed) from None

    samples = list(group_samples(records(), build.manifest))
    seen = [(s.positive.item_id, {n: r.item_id for n, r in s.others.items()}) for s in samples]
    if seen != members or [s.frame for s in samples] != frames:
        raise InputError(changed)
    return samples
