"""Shards rendered while the plan is still being written, so the workers (a pool or Dask) need not wait for the
whole plan.

Only shards a free worker can take at once are rendered early (at most ``limit`` in flight; the planner never
waits for them), into a scratch folder inside the build's state folder. Once the plan is committed (state and
plan file written), the builder awaits their futures with the other shards' and moves each finished one into
the build (:meth:`EarlyShards.move`): media folders first, record last, so a kill in between leaves a shard
without a record, which is rendered again. Until then nothing of theirs is in the build: a planning error or a
kill loses only the shards rendered while planning.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import replace
from itertools import groupby
from pathlib import Path

from negaudio.core.errors import OutputError
from negaudio.planning.rows import PlanRow
from negaudio.rendering.execute import settle
from negaudio.rendering.render import RenderContext, render_shard, shard_of, shard_record_path

MEDIA = ("audio", "images", "masks")


class EarlyShards:
    """Render complete shards of a row stream into ``scratch`` while the stream is consumed."""

    def __init__(self, executor: Executor, ctx: RenderContext, scratch: Path, limit: int):
        self.executor, self.scratch, self.limit = executor, Path(scratch), limit
        self.ctx = replace(ctx, out_dir=str(self.scratch.resolve()))
        self.futures: dict[int, Future] = {}
        self.moved: set[int] = set()

    def rows(self, rows: Iterable[PlanRow]) -> Iterator[PlanRow]:
        """``rows`` unchanged; each complete shard is submitted when fewer than ``limit`` are in flight."""
        for shard, shard_rows in groupby(rows, key=shard_of):
            shard_rows = list(shard_rows)
            yield from shard_rows
            if sum(not f.done() for f in self.futures.values()) < self.limit:
                self.futures[shard] = self.executor.submit(render_shard, self.ctx, shard, shard_rows)

    def discard(self) -> None:
        """Wait for the early shards and remove the scratch folder (a planning error: none is kept)."""
        settle(self.executor, self.futures.values())
        shutil.rmtree(self.scratch, ignore_errors=True)

    def finish(self, out_dir: Path) -> None:
        """Move in every early shard that finished and is not in yet (rendering stopped by an error: what was
        finished is kept for ``--resume``), then remove the scratch folder."""
        for shard, future in sorted(self.futures.items()):
            if shard not in self.moved and future.done() and not future.cancelled() and future.exception() is None:
                self.move(shard, out_dir)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def move(self, shard: int, out_dir: Path) -> None:
        """Move a finished early shard into ``out_dir``: its media folders, then its record."""
        name = f"{shard:05d}"
        targets = [out_dir / kind / name for kind in MEDIA if (self.scratch / kind / name).is_dir()]
        for target in targets:
            if target.exists() or target.is_symlink():  # a fresh build's shard folder: nothing else writes it
                raise OutputError(f"{target}: appeared while the build ran; run the same command again")
        for target in targets:
            target.parent.mkdir(exist_ok=True)
            (self.scratch / target.parent.name / name).rename(target)
        record = shard_record_path(out_dir, shard)
        record.parent.mkdir(parents=True, exist_ok=True)
        shard_record_path(self.scratch, shard).rename(record)
        self.moved.add(shard)
