"""What every command shares: the two consoles, printing an error, escaping what users named."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from negaudio.core.errors import RECEIVED, Interrupted, NegaudioError

err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)
# Without a terminal (logs, pipes) tables get room for their widest rows (names and intervals are never cut).
out = Console(soft_wrap=True, highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)


def fail(exc: NegaudioError) -> typer.Exit:
    """Print a user-facing error in one block and return the exit to raise (2: invalid input, 1: runtime)."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    return typer.Exit(code=exc.exit_code)


def os_failure(exc: OSError) -> typer.Exit:
    """A path the command cannot use (not a folder, not writable, no such place): one line, exit 2."""
    where = f"{exc.filename}: " if exc.filename else ""
    err.print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}")
    return typer.Exit(code=2)


def note(text: str) -> None:
    err.print(f"note: {escape(text)}")


@contextmanager
def interruptible(what: str | Callable[[], str]) -> Iterator[None]:
    """SIGTERM handled like Ctrl-C: the work stops promptly (workers too) and the command exits 143 (130 for
    Ctrl-C) with one line saying what was kept (``what``, or what it returns when called then)."""

    def terminate(signum, frame):
        RECEIVED.append(signum)
        raise Interrupted(signum)

    def interrupt(signum, frame):
        RECEIVED.append(signum)
        raise KeyboardInterrupt

    RECEIVED.clear()
    previous = signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C as Python handles it, noted too; a SIGINT ignored (a job started in the background) stays ignored
    previous_int = signal.getsignal(signal.SIGINT)
    noted = previous_int is signal.default_int_handler
    if noted:
        signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        err.print(f"interrupted: {escape(what() if callable(what) else what)}")
        raise typer.Exit(code=130) from None
    except Interrupted as exc:
        err.print(f"terminated: {escape(what() if callable(what) else what)}")
        raise typer.Exit(code=exc.exit_code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if noted:
            signal.signal(signal.SIGINT, previous_int)
        RECEIVED.clear()
