"""`negaudio publish` through an HfApi-shaped recording fake; one opt-in test against the real Hub."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import negaudio
from negaudio.core.errors import InputError
from negaudio.export.publish import card_content_sha256, publish


class RepositoryNotFoundError(Exception):
    pass


class FakeHub:
    """Records every call; holds tags and the card uploaded under each."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.repos: dict[str, dict] = {}
        self.uploads: list[dict] = []

    def list_repo_refs(self, repo_id, *, repo_type=None):
        self.calls.append(("list_repo_refs", {"repo_id": repo_id, "repo_type": repo_type}))
        if repo_id not in self.repos:
            raise RepositoryNotFoundError(repo_id)
        return SimpleNamespace(tags=[SimpleNamespace(name=t) for t in self.repos[repo_id]["tags"]])

    def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False):
        self.calls.append(("create_repo", {"repo_id": repo_id, "repo_type": repo_type, "private": private}))
        self.repos.setdefault(repo_id, {"tags": {}, "commits": {}})

    def create_branch(self, repo_id, *, branch, repo_type=None, exist_ok=False):
        self.calls.append(("create_branch", {"repo_id": repo_id, "branch": branch, "repo_type": repo_type}))

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, revision=None, commit_message=None):
        root = Path(folder_path)
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        oid = f"{len(self.uploads):040x}"
        self.uploads.append({"repo_id": repo_id, "repo_type": repo_type, "revision": revision, "files": files})
        self.repos[repo_id]["commits"][oid] = files
        self.calls.append(("upload_folder", {"repo_id": repo_id, "repo_type": repo_type, "message": commit_message}))
        return SimpleNamespace(oid=oid)

    def create_tag(self, repo_id, *, tag, revision=None, repo_type=None, tag_message=None):
        self.calls.append(
            ("create_tag", {"repo_id": repo_id, "tag": tag, "revision": revision, "repo_type": repo_type})
        )
        assert tag not in self.repos[repo_id]["tags"]
        self.repos[repo_id]["tags"][tag] = revision

    def hf_hub_download(self, repo_id, filename, *, repo_type=None, revision=None):
        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, "revision": revision}))
        oid = self.repos[repo_id]["tags"][revision]
        path = Path(os.environ["FAKE_HUB_DIR"]) / f"{oid}-{filename}"
        path.write_bytes(self.repos[repo_id]["commits"][oid][filename])
        return str(path)


@pytest.fixture
def small_build(cli, write_recipe, demo_root, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FAKE_HUB_DIR", str(tmp_path))
    assert cli("build", write_recipe(), "--source", demo_root, "-o", tmp_path / "b", "--limit", "2").exit_code == 0
    return tmp_path / "b"


def test_publish_creates_a_dataset_repo_uploads_the_export_and_tags_it(small_build):
    hub = FakeHub()
    info = negaudio.open_build(small_build).info
    result = publish(small_build, "lab/test-set", api=hub, private=True)
    assert result.uploaded and result.tag == "v1.0.0"
    names = [name for name, _ in hub.calls]
    assert names == ["list_repo_refs", "create_repo", "upload_folder", "create_tag"]
    assert all(kwargs.get("repo_type", "dataset") == "dataset" for _, kwargs in hub.calls)
    assert hub.calls[1][1]["private"] is True
    upload = hub.uploads[0]
    assert "README.md" in upload["files"] and upload["revision"] is None
    assert {p.split("/")[0] for p in upload["files"]} == {"README.md", "data"}
    assert all(p.endswith(".parquet") for p in upload["files"] if p.startswith("data/"))
    assert {p.split("/")[1] for p in upload["files"] if p.startswith("data/")} == {
        r.name for r in negaudio.open_build(small_build)
    }
    card = upload["files"]["README.md"].decode()
    assert card_content_sha256(card) == info["content_sha256"] and "config_name: all" in card
    assert hub.repos["lab/test-set"]["tags"] == {"v1.0.0": result.commit}

    # the same build again: the tag holds this content, nothing is uploaded
    again = publish(small_build, "lab/test-set", api=hub)
    assert not again.uploaded and len(hub.uploads) == 1

    # another build under the same tag is refused; under a new tag on a branch it is published
    hub.repos["lab/test-set"]["commits"][result.commit]["README.md"] = card.replace(
        info["content_sha256"], "f" * 64
    ).encode()
    with pytest.raises(InputError, match="already exists with content_sha256 ffff"):
        publish(small_build, "lab/test-set", api=hub)
    assert len(hub.uploads) == 1
    publish(small_build, "lab/test-set", api=hub, tag="v1.0.1", revision="rerender")
    assert (
        hub.uploads[-1]["revision"] == "rerender"
        and ("create_branch", {"repo_id": "lab/test-set", "branch": "rerender", "repo_type": "dataset"}) in hub.calls
    )
    assert set(hub.repos["lab/test-set"]["tags"]) == {"v1.0.0", "v1.0.1"}


def test_publish_refuses_bad_input_before_any_call(small_build, cli, tmp_path, monkeypatch):
    hub = FakeHub()
    for repo in ("no-slash", "a/b/c", "../x", ""):
        with pytest.raises(InputError, match="ORG/NAME"):
            publish(small_build, repo, api=hub)
    with pytest.raises(InputError, match="not a valid tag"):
        publish(small_build, "lab/x", api=hub, tag="v1 0")
    with pytest.raises(InputError, match="not found"):
        publish(tmp_path / "nowhere", "lab/x", api=hub)
    assert hub.calls == []
    monkeypatch.setattr("negaudio.export.publish.default_api", lambda: pytest.fail("asked the Hub first"))
    result = cli("publish", small_build, "--repo-id", "lab/x", "--license", "CC BY")
    assert result.exit_code == 2 and "--license 'CC BY'" in result.output
    result = cli("publish", small_build, "--repo-id", "bad")
    assert result.exit_code == 2 and "ORG/NAME" in result.output


def test_publish_help_explains_token_and_tags(cli):
    text = " ".join(cli("publish", "--help").output.split())
    assert "HF_TOKEN" in text and "never prints" in text and "revision=TAG" in text
    assert "negaudio[hf]" in text  # rich markup once swallowed "[hf]"


def test_publish_to_the_real_hub(small_build):
    """Opt-in: NEGAUDIO_HUB_TEST_REPO=ORG/NAME and a token in huggingface_hub's standard locations."""
    repo = os.environ.get("NEGAUDIO_HUB_TEST_REPO")
    if not repo:
        pytest.skip("opt-in: set NEGAUDIO_HUB_TEST_REPO=ORG/NAME (a scratch dataset repo) and a Hub token")
    huggingface_hub = pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    if not huggingface_hub.get_token():
        pytest.skip("no Hub token in huggingface_hub's standard locations (HF_TOKEN or hf auth login)")
    import time

    result = publish(small_build, repo, private=True, tag=f"test-{int(time.time())}")
    assert result.uploaded
    card = huggingface_hub.hf_hub_download(repo, "README.md", repo_type="dataset", revision=result.tag)
    assert card_content_sha256(Path(card).read_text()) == negaudio.open_build(small_build).info["content_sha256"]
