"""The progress every long command (build, eval) reports on stderr, phase by phase.

On a terminal: a transient rich bar per phase. Elsewhere (SLURM logs, CI): plain lines such as
``rendering: 1200/4000 (30%)``, at most one every ``NEGAUDIO_PROGRESS_INTERVAL`` seconds (default 30; 0 prints
every update), plus one line when a phase completes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from negaudio.cli.common import note
from negaudio.core.errors import InputError

INTERVAL_ENV = "NEGAUDIO_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0


def progress_interval() -> float:
    """Seconds between two plain progress lines: ``$NEGAUDIO_PROGRESS_INTERVAL``, else 30."""
    value = os.environ.get(INTERVAL_ENV, "").strip()
    if not value:
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise InputError(f"{INTERVAL_ENV}={value!r}: expected a number of seconds >= 0")
    return seconds


def count_text(done: int, total: int | None) -> str:
    """``1200/4000 (30%)``, or ``1200`` while the total is unknown."""
    if total is None:
        return f"{done}"
    percent = 100 if total <= 0 else min(done, total) * 100 // total
    return f"{done}/{total} ({percent}%)"


def duration_text(seconds: float) -> str:
    """``4.2s``, ``3m07s``, ``1h02m03s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class CountColumn(ProgressColumn):
    """done/total, or the bare count while the total is unknown (never ``0/?``)."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        return Text(f"{done}" if task.total is None else f"{done}/{int(task.total)}", style="progress.download")


@dataclass
class _Phase:
    started: float
    updated: float
    done: int = 0
    total: int | None = None
    finished: bool = False


class ProgressReporter:
    """``update(phase, done, total)``: where a command stands, phase by phase; use it as a context manager.

    ``total`` may be None while unknown. A phase is timed from the previous update (of any phase) or the start of
    the ``with`` block, as its first report may come late. It completes when ``done`` reaches ``total``; one whose
    total is unknown completes when another phase starts or the ``with`` block ends. A phase that starts again after
    completing (same name, count below its total) is a new run of it. Without a terminal, phases still open when
    the ``with`` block ends normally get their completion line then; nothing is printed after an error.
    ``interval``, ``clock`` and ``interactive`` default to the environment, ``time.monotonic`` and whether the
    console is a terminal. ``bar`` is the rich Progress while a terminal shows it, else None.
    """

    def __init__(
        self,
        console: Console,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool | None = None,
    ):
        self.console = console
        self.interactive = console.is_terminal if interactive is None else interactive
        self.interval = progress_interval() if interval is None else interval
        self.clock = clock
        self._phases: dict[str, _Phase] = {}
        self._last_line = self._last_update = clock()
        self.bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressReporter:
        if self.interactive:
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                CountColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
        self._last_line = self._last_update = self.clock()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        elif exc_type is None:
            for name, phase in self._phases.items():
                if not phase.finished:
                    self._finish(name, phase, self.clock())

    def update(self, phase: str, done: int, total: int | None) -> None:
        """``done`` of ``total`` units of ``phase`` are finished (``total`` None: not known yet)."""
        now = self.clock()
        complete = total is not None and done >= total
        state = self._phases.get(phase)
        restarted = state is not None and state.finished and not complete
        if state is None or restarted:
            self.settle(but=phase)
            state = self._phases[phase] = _Phase(started=self._last_update, updated=now)
        state.done, state.total, state.updated = done, total, now
        self._last_update = now
        if self.bar is not None:
            self._update_bar(phase, done, total, restarted)
            state.finished = complete
        elif complete:
            if not state.finished:
                self._finish(phase, state, now)
        elif now - self._last_line >= self.interval:
            self._line(f"{phase}: {count_text(done, total)}")

    def settle(self, but: str | None = None) -> None:
        """The command moved on (another phase starts, a note follows): a count without a total is final."""
        for name, other in self._phases.items():
            if name != but and not other.finished and other.total is None:
                self._finish(name, other, other.updated)

    def note(self, text: str) -> None:
        """Print a note after the completion lines of the phases it follows."""
        self.settle()
        note(text)

    def _update_bar(self, phase: str, done: int, total: int | None, restarted: bool) -> None:
        task = self._tasks.get(phase)
        if task is None:
            self._tasks[phase] = self.bar.add_task(phase, total=total, completed=done)
        elif restarted:
            self.bar.reset(task, total=total, completed=done)
        else:
            self.bar.update(task, total=total, completed=done)

    def _finish(self, name: str, phase: _Phase, ended: float) -> None:
        phase.finished = True
        if self.bar is None:
            elapsed = duration_text(ended - phase.started)
            self._line(f"{name}: {count_text(phase.done, phase.total)} done in {elapsed}")

    def _line(self, text: str) -> None:
        print(text, file=self.console.file, flush=True)
        self._last_line = self.clock()
