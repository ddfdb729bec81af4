"""negaudio as users install it: a wheel in a fresh venv outside the checkout, and an editable install seen from
the folder that holds the clone. Slow-ish (a wheel build and two installs): deselect with ``-m "not wheel"``.

The fresh venvs get negaudio only from the wheel (or the editable install); their dependencies come from this
test venv's site-packages through a ``.pth`` line, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys
import negaudio
from negaudio.builder import load_recipe
from negaudio.recipe.bundled import bundled_versions, canonical_plan, recipe_names, recipes_dir

plans = {}
for name in recipe_names():
    for version in bundled_versions(name):
        recipe, _ = load_recipe(f"{name}@{version}")
        plans[f"{name}@{version}"] = str(canonical_plan(recipe.name, recipe.version, recipe.sha256()) or "")
found = {"file": negaudio.__file__, "recipes": str(recipes_dir()), "plans": plans}
json.dump({**found, "open_build": callable(negaudio.open_build)}, sys.stdout)
"""


def run(cmd: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def copy_checkout(dest: Path) -> Path:
    """The files a clone of this checkout would have (tracked and new, not ignored), symlinks kept."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src, dst = REPO / rel, dest / rel
        if not src.is_symlink() and not src.exists():  # deleted in the work tree, not yet committed
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    return dest


def fresh_venv(where: Path) -> Path:
    """A venv without pip whose dependencies are this venv's site-packages (a .pth line); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], where).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def pip_into(python: Path, *args: str | Path) -> None:
    """Install with this venv's pip into the venv of ``python``, offline, dependencies not touched."""
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", *args], REPO)


def content_sha256(negaudio: Path | str, cwd: Path, cache: Path) -> str:
    result = run([negaudio, "build", "is3plus", "-o", "X"], cwd, NEGAUDIO_CACHE=str(cache))
    digest = json.loads((cwd / "X" / "build.json").read_text())["content_sha256"]
    assert f"content sha256 {digest}" in result.stdout
    return digest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """A wheel built from a copy of the checkout with this venv's setuptools; and the build's output."""
    source = copy_checkout(tmp_path_factory.mktemp("source") / "negaudio")
    dist = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index"]
    result = run([*cmd, "-w", dist, source], dist)
    (path,) = dist.glob("negaudio-*.whl")
    return path, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    python = fresh_venv(venv)
    pip_into(python, "--force-reinstall", wheel[0])  # this venv's own (editable) negaudio is seen through the .pth
    return venv


def test_the_wheel_builds_without_deprecation_warnings(wheel):
    output = wheel[1]
    assert "Successfully built negaudio" in output
    assert not re.search(r"deprecat", output, re.IGNORECASE), output


def test_the_wheel_ships_recipes_plans_and_scoring_dependencies(wheel):
    with zipfile.ZipFile(wheel[0]) as whl:
        names = set(whl.namelist())
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    recipes = {p.relative_to(REPO / "recipes").as_posix() for p in (REPO / "recipes").rglob("*.yaml")}
    plans = {p.relative_to(REPO / "manifests").as_posix() for p in (REPO / "manifests").rglob("plan.jsonl.gz")}
    assert recipes and plans and any(r.startswith("archive/") for r in recipes)
    assert {n.split("/", 2)[2] for n in names if n.startswith("negaudio/_recipes/") and n.endswith(".yaml")} == recipes
    assert {n.split("/", 2)[2] for n in names if n.endswith("/plan.jsonl.gz")} == plans
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.MULTILINE)
    for core in ("matplotlib", "scipy"):
        assert any(r.startswith(core) and "extra ==" not in r for r in requires), requires
    assert re.search(r"^License-Expression: Apache-2.0$", metadata, re.MULTILINE)


def test_the_wheel_runs_outside_the_checkout_like_the_editable_install(wheel_venv, tmp_path):
    python, negaudio = wheel_venv / "bin" / "python", wheel_venv / "bin" / "negaudio"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = json.loads(run([python, "-c", PROBE], elsewhere).stdout)
    venv = wheel_venv.resolve()
    assert Path(probe["file"]).resolve().is_relative_to(venv)
    assert Path(probe["recipes"]).resolve().is_relative_to(venv)
    editable = json.loads(run([sys.executable, "-c", PROBE], elsewhere).stdout)
    assert probe["plans"].keys() == editable["plans"].keys() and probe["plans"]
    for name, plan in probe["plans"].items():  # the same canonical plans are found, each inside the venv
        assert bool(plan) == bool(editable["plans"][name]), name
        assert not plan or Path(plan).resolve().is_relative_to(venv)

    listed = run([negaudio, "recipes"], elsewhere, NEGAUDIO_CACHE=str(tmp_path / "cache")).stdout.splitlines()
    assert [line.split()[0] for line in listed] == sorted(p.stem for p in (REPO / "recipes").glob("*.yaml"))
    archived = {p.stem for p in (REPO / "recipes" / "archive").glob("*.yaml")}
    assert {f"{line.split()[0]}@{v}" for line in listed for v in line.split()[1:-1]} == archived

    (elsewhere / "wheel").mkdir()
    (elsewhere / "editable").mkdir()
    ours = shutil.which("negaudio", path=str(Path(sys.executable).parent))
    assert ours is not None
    assert content_sha256(negaudio, elsewhere / "wheel", tmp_path / "cache-wheel") == content_sha256(
        ours, elsewhere / "editable", tmp_path / "cache-editable"
    )


def test_an_editable_install_is_not_shadowed_from_the_folder_holding_the_clone(tmp_path):
    clone = copy_checkout(tmp_path / "negaudio")
    python = fresh_venv(tmp_path / "venv")
    pip_into(python, "--no-build-isolation", "-e", clone)
    probe = json.loads(run([python, "-c", PROBE], tmp_path).stdout)  # cwd holds the clone folder `negaudio/`
    assert probe["file"] == str(clone / "negaudio" / "__init__.py")
    assert probe["open_build"]
    assert Path(probe["recipes"]).resolve() == (clone / "recipes").resolve()
