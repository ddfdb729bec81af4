"""Shared fixtures: the real reference data beside the repo, a small demo source, recipe writing and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from negaudio.cli.app import app
from negaudio.sources.demo import ensure_demo

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real reference data not found at {SHARED_DATA} (the shared/ folder beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small demo source (6 two-object images = 12 samples), generated once per test session."""
    return ensure_demo(tmp_path_factory.mktemp("demo") / "demo", images=6, seed=0)


BASE_RECIPE = {
    "name": "test-set",
    "version": "1.0.0",
    "seed": 7,
    "source": {"kind": "folder"},
    "audio": {"sample_rate": 16000, "channels": 1, "duration": {"policy": "match"}, "format": "wav_pcm16"},
    "negatives": [
        {"kind": "silence"},
        {"kind": "noise", "color": "white", "level": {"sigma": 1.0}, "clip": "clip"},
        {"kind": "noise", "color": "pink", "level": {"rms_dbfs": -30}},
        {"kind": "offscreen", "pool": "same", "offset": "random"},
    ],
}


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe (BASE_RECIPE updated with the given keys) as JSON-compatible YAML; return its path."""

    def write(name: str = "recipe.yaml", **changes) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({**BASE_RECIPE, **changes}, indent=2))
        return path

    return write


@pytest.fixture
def cli():
    """Run the negaudio CLI in-process; returns the click Result (exit_code, output)."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of a build, by relative path (the resume state folder left out)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".negaudio" not in p.relative_to(root).parts
    }
