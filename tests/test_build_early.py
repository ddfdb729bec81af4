"""Pool and Dask builds render their first shards while the plan is written (negaudio.rendering.early): the same
bytes, nothing in the build before the plan is committed, and a scratch folder that is never part of a build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import negaudio
from negaudio.builder import BuildOptions
from negaudio.core.errors import InputError
from negaudio.rendering import early as early_module
from negaudio.rendering.execute import local_cluster, settle, worker_environment
from negaudio.sources.demo import ensure_demo
from tests.conftest import tree_digest


@pytest.fixture(scope="module")
def four_shards(tmp_path_factory) -> Path:
    """A demo source of 100 images (200 samples: four shards of 64)."""
    return ensure_demo(tmp_path_factory.mktemp("early") / "demo", images=100, seed=5)


@pytest.fixture
def moved(monkeypatch) -> list[int]:
    """The shards moved from the scratch folder into a build, in order."""
    shards: list[int] = []
    move = early_module.EarlyShards.move

    def counting(self, shard, out_dir):
        shards.append(shard)
        return move(self, shard, out_dir)

    monkeypatch.setattr(early_module.EarlyShards, "move", counting)
    return shards


def test_early_shards_give_the_bytes_of_a_one_job_build(write_recipe, four_shards, tmp_path, moved):
    recipe = write_recipe()
    one = negaudio.build(recipe, tmp_path / "one", source=four_shards, options=BuildOptions(jobs=1))
    two = negaudio.build(recipe, tmp_path / "two", source=four_shards, options=BuildOptions(jobs=2))
    assert moved and len(set(moved)) == len(moved)  # shards rendered while planning, each moved in once
    assert one["content_sha256"] == two["content_sha256"]
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")
    assert not (tmp_path / "two" / ".negaudio" / "early").exists()


def test_a_planning_error_after_early_shards_leaves_the_folder_as_it_was(
    write_recipe, four_shards, tmp_path, monkeypatch
):
    source = tmp_path / "source"
    shutil.copytree(four_shards, source)
    last = json.loads((source / "index.jsonl").read_text().splitlines()[-1])
    (source / last["audio"]).unlink()  # found missing once the whole plan is written
    submitted: list[int] = []
    discard = early_module.EarlyShards.discard

    def noting(self):
        submitted.extend(self.futures)
        return discard(self)

    monkeypatch.setattr(early_module.EarlyShards, "discard", noting)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="missing"):
        negaudio.build(write_recipe(), out, source=source, options=BuildOptions(jobs=2))
    assert submitted  # shards were rendered before the error
    assert [p.name for p in out.iterdir()] in ([], [".negaudio"])
    assert not list(out.rglob("*.wav"))


def test_an_interrupted_runs_scratch_is_cleared(write_recipe, four_shards, tmp_path):
    recipe = write_recipe()
    out = tmp_path / "out"
    stale = out / ".negaudio" / "early" / "audio" / "00000"
    stale.mkdir(parents=True)
    (stale / "left-over.wav").write_bytes(b"RIFF")
    negaudio.build(recipe, out, source=four_shards, options=BuildOptions(jobs=2))
    assert not (out / ".negaudio" / "early").exists()
    assert not list(out.rglob("left-over.wav"))


@pytest.mark.parametrize(("folder", "executor"), [("early", "process"), ("dask", "dask")])
def test_a_linked_state_folder_is_refused(write_recipe, four_shards, tmp_path, folder, executor):
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked"
    (linked / ".negaudio").mkdir(parents=True)
    (linked / ".negaudio" / folder).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        negaudio.build(write_recipe(), linked, source=four_shards, options=BuildOptions(jobs=2, executor=executor))
    assert list(elsewhere.iterdir()) == []


def test_a_linked_scratch_in_an_overwrites_staging_folder_is_refused(write_recipe, four_shards, tmp_path):
    out = tmp_path / "out"
    negaudio.build(write_recipe(), out, source=four_shards, options=BuildOptions(jobs=2))
    before = tree_digest(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / ".negaudio" / "next" / ".negaudio").mkdir(parents=True)
    (out / ".negaudio" / "next" / ".negaudio" / "early").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        negaudio.build(write_recipe(), out, source=four_shards, seed=9, options=BuildOptions(jobs=2, overwrite=True))
    assert list(elsewhere.iterdir()) == []
    assert tree_digest(out) == before


def test_dask_builds_render_early_and_keep_their_files_in_the_build(write_recipe, four_shards, tmp_path, moved):
    dask = pytest.importorskip("dask")
    recipe = write_recipe()
    one = negaudio.build(recipe, tmp_path / "one", source=four_shards, options=BuildOptions(jobs=1))
    system_temp = tmp_path / "system-temp"  # where Dask puts a LocalCluster's files unless told otherwise
    environment = dict(os.environ)
    with dask.config.set({"temporary-directory": str(system_temp)}):
        two = negaudio.build(
            recipe, tmp_path / "dask", source=four_shards, options=BuildOptions(jobs=2, executor="dask")
        )
        assert dict(os.environ) == environment  # Dask's nanny leaves MALLOC_TRIM_THRESHOLD_ and more in it
        assert moved and one["content_sha256"] == two["content_sha256"]
        assert not (tmp_path / "dask" / ".negaudio" / "dask").exists()
        assert not system_temp.exists() or not list(system_temp.iterdir())

        source = tmp_path / "source"  # a planning error once early shards run: awaited, then removed
        shutil.copytree(four_shards, source)
        last = json.loads((source / "index.jsonl").read_text().splitlines()[-1])
        (source / last["audio"]).unlink()
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(InputError, match="missing"):
            negaudio.build(recipe, out, source=source, options=BuildOptions(jobs=2, executor="dask"))
        assert [p.name for p in out.iterdir()] in ([], [".negaudio"])
        assert not list(out.rglob("*.wav"))


def test_settle_awaits_a_running_dask_task_and_workers_keep_glibcs_allocator(tmp_path):
    Client = pytest.importorskip("dask.distributed").Client
    done = tmp_path / "done"
    with local_cluster(1, tmp_path / "cluster") as cluster, Client(cluster) as client:
        assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
        executor = client.get_executor(pure=False)
        future = executor.submit(subprocess.run, ["sh", "-c", f"sleep 1 && touch '{done}'"], check=True)
        settle(executor, [future])  # Dask would report it cancelled while the worker went on
        assert done.exists()


def test_worker_environment_undoes_only_what_was_set_for_workers(monkeypatch):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NEGAUDIO_TEST_OTHER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    with worker_environment():
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
        assert os.environ["OPENBLAS_NUM_THREADS"] == "3"  # the caller's choice stands
        os.environ["NEGAUDIO_TEST_OTHER"] = "set meanwhile"  # by another thread, say
        os.environ["MKL_NUM_THREADS"] = "4"
    assert "OMP_NUM_THREADS" not in os.environ
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"
    assert os.environ["NEGAUDIO_TEST_OTHER"] == "set meanwhile" and os.environ["MKL_NUM_THREADS"] == "4"
