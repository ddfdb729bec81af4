"""What every command shares: the two consoles, printing an error, escaping what users named."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from negaudio.core.errors import NegaudioError

err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 120)


def fail(exc: NegaudioError) -> typer.Exit:
    """Print a user-facing error in one block and return the exit to raise (2: invalid input, 1: runtime)."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    return typer.Exit(code=exc.exit_code)


def note(text: str) -> None:
    err.print(f"note: {escape(text)}")
