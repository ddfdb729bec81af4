"""The end of a build: shard records merged into ``manifest.jsonl``, ``failures.jsonl`` and ``build.json``."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from negaudio import SCHEMA_VERSION, __version__
from negaudio.core.files import atomic_open, write_text

MANIFEST = "manifest.jsonl"
BUILD_INFO = "build.json"
FAILURES = "failures.jsonl"
KEY_PACKAGES = ("numpy", "soundfile", "soxr", "pillow", "pyloudnorm", "pycocotools", "pydantic")


def dependency_versions() -> dict:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    import soundfile

    versions["libsndfile"] = soundfile.__libsndfile_version__
    return versions


def content_line(item_id: str, item_sha256: str) -> bytes:
    """What one item adds to a build's ``content_sha256``."""
    return f"{item_id}\t{item_sha256}\n".encode()


def merge(
    out_dir: Path,
    shard_files: list[Path],
    header: dict,
    extra_failures: list[dict],
    plan_sha256: str,
    missing: dict | None = None,
) -> dict:
    """Concatenate shard records in shard order into ``manifest.jsonl``; write failures and ``build.json``."""
    counts: Counter = Counter()
    build_hash = hashlib.sha256()
    failures = list(extra_failures)
    with atomic_open(out_dir / MANIFEST, fsync=True) as out:
        for path in shard_files:
            with path.open(encoding="utf-8") as fh:
                failures.extend(json.loads(fh.readline())["failures"])
                for line in fh:
                    record = json.loads(line)
                    counts[record["kind"]] += 1
                    build_hash.update(content_line(record["item_id"], record["item_sha256"]))
                    out.write(line)
    write_text(out_dir / FAILURES, "".join(json.dumps(r, sort_keys=True) + "\n" for r in failures), fsync=True)
    recipe = header["recipe"]
    info = {
        "schema_version": SCHEMA_VERSION,
        "dataset": {
            "name": recipe["name"],
            "version": recipe["version"],
            "description": recipe["description"],
        },
        "negaudio_version": __version__,
        "dependencies": dependency_versions(),
        "recipe_sha256": header["recipe_sha256"],
        "plan_sha256": plan_sha256,
        "seed": recipe["seed"],
        "source": header["source"],
        "limit": header.get("limit"),
        "counts": dict(sorted(counts.items())),
        "items": sum(counts.values()),
        "failures": len(failures),
        "partial": bool(failures or missing),
        "missing": missing or {},
        "content_sha256": build_hash.hexdigest(),
    }
    write_text(out_dir / BUILD_INFO, json.dumps(info, indent=2, sort_keys=True) + "\n", fsync=True)
    return info
