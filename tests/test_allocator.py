"""``keep_freed_memory``: large temporaries freed together are reused, not mapped and zero-filled afresh."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
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


def test_the_eval_command_and_its_scoring_workers_keep_freed_memory(cli, monkeypatch, tmp_path):
    """The eval command's own process applies it, and each scoring worker on its first task (a spawned worker
    does not inherit it)."""
    import negaudio.core.allocator as allocator
    from negaudio.eval import pipeline

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("command"))
    monkeypatch.setattr(pipeline, "keep_freed_memory", lambda: calls.append("worker"))
    monkeypatch.setattr(pipeline, "_OPENED", {})
    result = cli("eval", tmp_path / "no-build", "--model", "random", "-o", tmp_path / "out")
    assert result.exit_code == 2 and calls == ["command"]
    np.savez(tmp_path / "maps.npz", a=np.zeros((2, 2), np.float32))
    files = (str(tmp_path / "maps.npz"),)
    pipeline._opened(None, files)
    pipeline._opened(None, files)  # opened once: applied once
    assert calls == ["command", "worker"]
    pipeline._OPENED["predictions"].close()
