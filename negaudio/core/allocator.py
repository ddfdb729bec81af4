"""This process's heap keeps the large temporaries it frees (glibc), for commands that allocate the same ones over
and over."""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_BELOW = 32 << 20
"""Allocations below this size come from the heap (glibc's default starts at 128 KiB and adapts)."""
KEEP_FREED = 64 << 20
"""Freed heap memory this large is kept rather than handed back to the system."""


def keep_freed_memory() -> bool:
    """Serve allocations below 32 MiB from the heap and keep up to 64 MiB of freed heap (glibc's ``mallopt``).

    The metric engine allocates temporaries of 100–400 KB per map; with glibc's adaptive thresholds the heap was
    trimmed and grown back so often that a 20,000-map ``negaudio eval`` touched about 150,000 fresh pages
    (0.3 s of system time in the scoring pass). Process-wide, so only processes of ours call it: the ``eval``
    command's own, and the scoring workers on their first task. True when applied (Linux with glibc), else
    nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BELOW)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREED))
