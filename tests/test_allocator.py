"""``keep_freed_memory``: large temporaries freed together are reused, not mapped and zero-filled afresh."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys
import numpy as np
from negaudio.core.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
def temporaries():
    a = [np.ones(100_000, np.float32) for _ in range(3)]  # three 400 KB buffers, freed together
    del a
for _ in range(3):
    temporaries()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    temporaries()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def faults(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}  # glibc's defaults
    run = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True, env=env)
    applied, count = run.stdout.split()
    return applied, int(count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_temporaries_are_reused_instead_of_faulted_in_again():
    applied, kept = faults("keep")
    _, default = faults("default")
    assert applied == "True"
    assert kept < 100 < default  # glibc's adaptive thresholds: about 160 fresh pages per round here
