"""Pool workers: forked when the caller runs no other thread (Linux), else spawned without re-running the
parent's ``__main__`` (a user's script, or the CLI); both give the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path

if __name__ == "__mp_main__":  # what a spawned worker runs when it re-imports the parent's script
    Path({marker!r}).write_text("re-imported")

if __name__ == "__main__":
    import threading

    import negaudio
    from negaudio.builder import BuildOptions
    from negaudio.rendering.execute import start_method

    if {thread!r}:  # a caller with a thread of its own: workers are spawned
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    print(start_method())
    info = negaudio.build("is3plus", Path({out!r}), options=BuildOptions(jobs=2))
    print(info["content_sha256"])
    assert getattr(sys.modules["__main__"], "__file__", None) == __file__  # restored after the workers started
"""


@pytest.mark.parametrize("thread", [True, False], ids=["spawned", "forked-on-linux"])
def test_workers_do_not_rerun_the_callers_script_and_give_the_demo_bytes(tmp_path, thread):
    marker, out = tmp_path / "marker", tmp_path / "build"
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT.format(marker=str(marker), out=str(out), thread=thread))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    method, sha = proc.stdout.split()
    assert method == ("fork" if sys.platform.startswith("linux") and not thread else "spawn")
    assert sha == "f5b6c9aa64ba830f72395e7b77ed6a69cded9546c0a4c36676dde58d22dc93a3"
    assert not marker.exists()
