"""An exclusive lock on a build folder: one writer at a time, a stale lock of a dead process never blocks.

The lock is ``flock`` on ``<folder>/.negaudio/lock`` (released by the kernel when its holder exits, however it
exits); the file records the holder's pid and host for the message a second writer gets.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from negaudio.core.errors import InputError


@contextmanager
def folder_lock(folder: Path, state: str = ".negaudio") -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (created with its state folder if needed) for the block."""
    path = Path(folder) / state / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{folder}: another negaudio build is writing here ({_holder(fd)}); wait for it") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {int(holder['pid'])} on {str(holder['host'])[:64]}"
    except (ValueError, KeyError, TypeError, OSError):
        return "holder unknown"
