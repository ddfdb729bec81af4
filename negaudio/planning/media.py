"""Checks that the media a plan names exist, before anything is rendered, and says what a partial copy loses.

A sample whose image, audio or mask is missing loses all its items; an item whose own clip is missing is
dropped alone, never re-drawn, so partial builds of one plan agree on the items they share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from negaudio.core.errors import InputError, failure_reason
from negaudio.kinds import kind_class
from negaudio.kinds.clips import locate
from negaudio.planning.rows import PlanRow

SHOWN = 20
Key = tuple[str | None, str]  # a file a plan reads: (pool or recordings folder, or None: the source root; path)


class MediaCheck:
    """Filters plan rows down to those whose media are present, counting per item name what it dropped."""

    def __init__(self, root: Path, folders: set[str] = frozenset()):
        self.root = root
        self.folders = set(folders)  # the pool and recordings folders the plan's recipe names
        self.missing: dict[Key, str] = {}  # (folder or None for the source root, path) -> first item needing it
        self.failures: list[dict] = []
        self.planned: Counter = Counter()  # item name -> rows in the plan
        self.dropped: Counter = Counter()  # item name -> rows dropped
        self.sample_drops: Counter = Counter()  # item name -> rows dropped with their whole sample
        self.samples_dropped = 0
        self._exists: dict[Key, bool] = {}

    def _present(self, key: Key) -> bool:
        if key not in self._exists:
            self._exists[key] = self._path(key).is_file()
        return self._exists[key]

    def _path(self, key: Key) -> Path:
        return locate(self.root, *key)

    def first_missing(self, count: int) -> list[Path]:
        """The first ``count`` missing source files."""
        return [self._path(key) for key in list(self.missing)[:count]]

    def _absent(self, paths: list[Key], item_id: str, sample_id: str) -> bool:
        gone = [p for p in paths if not self._present(p)]
        for p in gone:
            self.missing.setdefault(p, item_id)
        if gone:
            error = failure_reason("missing source file(s): " + ", ".join(str(self._path(p)) for p in gone), self.root)
            self.failures.append({"sample_id": sample_id, "item_id": item_id, "stage": "media", "error": error})
        return bool(gone)

    def filter(self, rows: Iterable[PlanRow]) -> Iterator[PlanRow]:
        for sample_id, group in groupby(rows, key=lambda r: r.sample_id):
            group = list(group)
            self.planned.update(r.name for r in group)
            first = group[0]
            if first.composite is not None:
                from negaudio.media.compose import spec_files

                needed = [(None, first.audio), *((None, rel) for rel in spec_files(first.composite))]
            else:
                needed = [
                    (None, rel)
                    for rel in (first.image, first.audio, *(r["mask"] for r in first.regions if r.get("mask")))
                ]
            if self._absent(needed, sample_id, sample_id):
                self.samples_dropped += 1
                self.dropped.update(r.name for r in group)
                self.sample_drops.update(r.name for r in group)
                continue
            for row in group:
                if self._absent(self._reads(row), row.item_id, sample_id):
                    self.dropped[row.name] += 1
                    continue
                yield row

    def _reads(self, row: PlanRow) -> list[Key]:
        """The keys of the extra files an item reads, each checked to lie under a root the plan may read."""
        keys = []
        for folder, rel in kind_class(row.kind).reads(row.params):
            if folder is not None and folder not in self.folders:
                raise InputError(
                    f"item {row.item_id}: reads from {folder!r}, a folder the plan's recipe does not name as a pool "
                    "or recordings folder"
                )
            locate(self.root, folder, rel)  # refuses absolute paths and '..'
            keys.append((folder, rel))
        return keys

    def raise_unless(self, allow_missing: bool) -> None:
        if self.missing and not allow_missing:
            shown = list(self.missing.items())[:SHOWN]
            listed = "\n".join(f"  {self._path(p)} (needed by {item})" for p, item in shown)
            more = len(self.missing) - SHOWN
            raise InputError(
                f"{len(self.missing)} source file(s) missing under {self.root}:\n{listed}"
                + (f"\n  ... and {more} more" if more > 0 else "")
                + "\npass --allow-missing to build the items whose media are present (a partial build)"
            )

    def summary(self) -> dict:
        """What ``build.json`` records under ``missing`` (empty when nothing was missing)."""
        if not self.missing:
            return {}
        return {
            "files": len(self.missing),
            "samples_dropped": self.samples_dropped,
            "items_dropped": sum(self.dropped.values()),
            "by_name": {
                name: {
                    "planned": self.planned[name],
                    "rendered": self.planned[name] - self.dropped[name],
                    "sample_absent": self.sample_drops[name],
                    "clip_absent": self.dropped[name] - self.sample_drops[name],
                }
                for name in self.planned
                if self.dropped[name]
            },
            "paths": sorted(rel if folder is None else f"{folder}/{rel}" for folder, rel in self.missing),
        }


def dropped_lines(missing: dict, canonical: bool) -> list[str]:
    """One line per item name that lost items, e.g. ``offscreen: 0 of 13 rendered (...)``."""
    lines = []
    for name, counts in missing.get("by_name", {}).items():
        why = []
        if counts["sample_absent"]:
            why.append(f"{counts['sample_absent']} with their sample's image, audio or mask absent")
        if counts["clip_absent"]:
            clips = f"{counts['clip_absent']} whose drawn clips are absent from your copy"
            why.append(clips + ("; --no-canonical draws from what you have" if canonical else ""))
        none = f": the build holds no {name} item" if not counts["rendered"] and counts["planned"] else ""
        lines.append(f"{name}: {counts['rendered']} of {counts['planned']} rendered ({'; '.join(why)}){none}")
    return lines
