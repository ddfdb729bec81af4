"""Publishing an export to the Hugging Face Hub through an ``HfApi``-shaped object (huggingface_hub's ``HfApi``
by default; tests pass a recording fake). The token comes from huggingface_hub's standard locations
(``HF_TOKEN``, ``hf auth login``'s token file); negaudio never reads, prints or writes it."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from negaudio.core.errors import InputError, NegaudioError
from negaudio.export.hub import CARD, check_license, export
from negaudio.manifest.reader import Build

REPO_TYPE = "dataset"
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


class HubError(NegaudioError):
    """The Hub refused or could not be reached (exit code 1)."""


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    tag: str
    revision: str | None
    commit: str | None
    uploaded: bool  # False: the tag already held this content


def default_api():
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise InputError("publishing needs huggingface_hub: pip install 'negaudio[hf]'") from None
    return HfApi()


def _call(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NegaudioError:
        raise
    except Exception as exc:
        raise HubError(f"{what}: {type(exc).__name__}: {exc}") from None


def card_content_sha256(card: str) -> str | None:
    """``negaudio.content_sha256`` of a dataset card's YAML header (None when it has none)."""
    from ruamel.yaml import YAML

    if not card.startswith("---\n") or "\n---\n" not in card[3:]:
        return None
    header = card[4 : card.index("\n---\n", 3)]
    try:
        meta = YAML(typ="safe", pure=True).load(header)
    except Exception:
        return None
    block = meta.get("negaudio") if isinstance(meta, dict) else None
    return block.get("content_sha256") if isinstance(block, dict) else None


def _tag_names(api, repo_id: str) -> set[str]:
    try:
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    except Exception as exc:
        if type(exc).__name__ == "RepositoryNotFoundError":
            return set()
        raise HubError(f"{repo_id}: cannot list its tags: {type(exc).__name__}: {exc}") from None
    return {t.name for t in refs.tags}


def publish(
    build_dir: str | Path,
    repo_id: str,
    *,
    api=None,
    private: bool = False,
    revision: str | None = None,
    tag: str | None = None,
    license: str = "other",
) -> PublishResult:
    """Export a build (verified first) and upload it to the dataset repo ``repo_id``: the repo is created if
    needed, the export uploaded with ``upload_folder`` (to branch ``revision``, default the main branch), and
    the commit tagged ``tag`` (default ``v<dataset version>``) so consumers can pin ``revision=``. A tag that
    already exists is refused unless its card records the same ``content_sha256`` (then nothing is uploaded)."""
    if not REPO_ID.match(repo_id or ""):
        raise InputError(f"--repo-id {repo_id!r:.120}: expected ORG/NAME (letters, digits, '-', '_', '.')")
    build = Build(build_dir)
    tag = tag or f"v{build.info['dataset']['version']}"
    if not TAG.match(tag):
        raise InputError(f"--tag {tag!r:.140}: not a valid tag name")
    if revision is not None and not TAG.match(revision):
        raise InputError(f"--revision {revision!r:.140}: not a valid branch name")
    check_license(license)
    content = build.info["content_sha256"]
    api = api if api is not None else default_api()
    with tempfile.TemporaryDirectory(prefix="negaudio-publish-") as tmp:
        folder = Path(tmp) / "export"
        export(build_dir, folder, license=license)
        if tag in _tag_names(api, repo_id):
            card = _call(
                f"{repo_id}@{tag}: cannot read its {CARD}",
                api.hf_hub_download,
                repo_id=repo_id,
                filename=CARD,
                repo_type=REPO_TYPE,
                revision=tag,
            )
            published = card_content_sha256(Path(card).read_text(encoding="utf-8", errors="replace"))
            if published != content:
                raise InputError(
                    f"{repo_id}: tag {tag} already exists with content_sha256 {published} != this build's "
                    f"{content}; a published version is never overwritten: choose another --tag (bump the "
                    "recipe version)"
                )
            return PublishResult(repo_id, tag, revision, None, uploaded=False)
        _call(
            f"{repo_id}: cannot create the repo",
            api.create_repo,
            repo_id,
            repo_type=REPO_TYPE,
            private=private,
            exist_ok=True,
        )
        if revision is not None:
            _call(
                f"{repo_id}: cannot create branch {revision}",
                api.create_branch,
                repo_id,
                branch=revision,
                repo_type=REPO_TYPE,
                exist_ok=True,
            )
        ds = build.info["dataset"]
        commit = _call(
            f"{repo_id}: upload failed (run the same command again to resume)",
            api.upload_folder,
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=REPO_TYPE,
            revision=revision,
            commit_message=f"{ds['name']} {ds['version']} (content sha256 {content[:16]})",
        )
        oid = getattr(commit, "oid", None)
        _call(
            f"{repo_id}: cannot create tag {tag}",
            api.create_tag,
            repo_id,
            tag=tag,
            revision=oid or revision,
            repo_type=REPO_TYPE,
            tag_message=f"{ds['name']} {ds['version']}, content sha256 {content}",
        )
    return PublishResult(repo_id, tag, revision, oid, uploaded=True)
