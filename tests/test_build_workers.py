"""Pool workers start without re-running the parent's ``__main__`` (a user's script, or the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path

if __name__ == "__mp_main__":  # what a spawned worker runs when it re-imports the parent's script
    Path({marker!r}).write_text("re-imported")

if __name__ == "__main__":
    import negaudio
    from negaudio.builder import BuildOptions

    info = negaudio.build("is3plus", Path({out!r}), options=BuildOptions(jobs=2))
    print(info["content_sha256"])
    assert getattr(sys.modules["__main__"], "__file__", None) == __file__  # restored after the workers started
"""


def test_workers_do_not_rerun_the_callers_script(tmp_path):
    marker, out = tmp_path / "marker", tmp_path / "build"
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT.format(marker=str(marker), out=str(out)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "f5b6c9aa64ba830f72395e7b77ed6a69cded9546c0a4c36676dde58d22dc93a3"
    assert not marker.exists()
