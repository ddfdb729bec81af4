"""Errors that reach the user: each names the file, line or field at fault and carries its exit code."""

from __future__ import annotations

import os
import re
import signal

ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def without_addresses(text: str) -> str:
    """``text`` without the memory addresses a library's message may hold (``<_io.BytesIO object at 0x7f..>``):
    they differ from run to run."""
    return ADDRESS.sub("", text)


def failure_reason(text: str, source_root: str | os.PathLike) -> str:
    """An error's text as failures.jsonl keeps it (and so a build's hash): without memory addresses, and naming
    the files under ``source_root`` relative to it, the same on every run and machine."""
    text = without_addresses(text)
    root = str(source_root).rstrip(os.sep)
    return text.replace(root + os.sep, "") if root else text


class NegaudioError(Exception):
    """A failure the user can act on. ``exit_code`` 2 means invalid input, 1 a runtime failure."""

    exit_code = 1


class InputError(NegaudioError):
    """Invalid input: a recipe, a source file, a path or an option. Exit code 2."""

    exit_code = 2


class SampleError(InputError):
    """One sample of a source cannot be rendered (missing, unreadable or invalid media)."""

    def __init__(self, sample_id: str, message: str):
        super().__init__(f"sample {sample_id!r}: {message}")
        self.sample_id = sample_id
        self.reason = message

    def __reduce__(self):
        return (type(self), (self.sample_id, self.reason))


class OutputError(NegaudioError):
    """Writing failed (disk full, read-only folder): what was finished is kept. Exit code 1."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT reached the command; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.exit_code = 128 + signum


RECEIVED: list[int] = []
"""Signals the command's handlers saw since its interruptible block began (the command line fills it)."""


def check_signals() -> None:
    """Raise the interruption a signal caused while a check ran. A third-party call that the signal interrupted
    may have turned it into another exception, which the check would report as a finding about the files."""
    if RECEIVED:
        signum = RECEIVED[-1]
        raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)
