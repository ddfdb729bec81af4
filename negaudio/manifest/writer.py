"""The end of a build: shard records merged into ``manifest.jsonl``, ``failures.jsonl``, the checksum table
``SHA256SUMS`` and ``build.json``."""

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
CHECKSUMS = "SHA256SUMS"
PLAN = "plan.jsonl"
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


def checksum_table(files: dict[str, str]) -> str:
    """``SHA256SUMS``: ``<sha256>  <path>`` per file, sorted by path (the format of ``sha256sum -c``)."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(files.items()))


def build_sha256(info: dict) -> str:
    """The seal of ``build.json``: sha256 of its canonical JSON without the seal itself."""
    body = {k: v for k, v in info.items() if k != "build_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def record_files(record: dict) -> dict[str, str]:
    """The files one manifest record names, with their file-level sha256."""
    files = {
        record["audio"]["path"]: record["audio"]["file_sha256"],
        record["image"]["path"]: record["image"]["sha256"],
    }
    if record["mask"] is not None:
        files[record["mask"]["path"]] = record["mask"]["file_sha256"]
    return files


def merge(
    out_dir: Path,
    shard_files: list[Path],
    header: dict,
    extra_failures: list[dict],
    plan_sha256: str,
    missing: dict | None = None,
) -> dict:
    """Concatenate shard records in shard order into ``manifest.jsonl``; write failures, ``SHA256SUMS`` and
    ``build.json`` (which seals them all: ``files_sha256`` and ``build_sha256``)."""
    counts: Counter = Counter()
    build_hash, manifest_hash = hashlib.sha256(), hashlib.sha256()
    failures = list(extra_failures)
    files: dict[str, str] = {}
    with atomic_open(out_dir / MANIFEST, fsync=True) as out:
        for path in shard_files:
            with path.open(encoding="utf-8") as fh:
                failures.extend(json.loads(fh.readline())["failures"])
                for line in fh:
                    record = json.loads(line)
                    counts[record["kind"]] += 1
                    build_hash.update(content_line(record["item_id"], record["item_sha256"]))
                    files.update(record_files(record))
                    manifest_hash.update(line.encode())
                    out.write(line)
    failures_text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in failures)
    write_text(out_dir / FAILURES, failures_text, fsync=True)
    files[MANIFEST] = manifest_hash.hexdigest()
    files[FAILURES] = hashlib.sha256(failures_text.encode()).hexdigest()
    files[PLAN] = plan_sha256
    table = checksum_table(files)
    write_text(out_dir / CHECKSUMS, table, fsync=True)
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
        "files_sha256": hashlib.sha256(table.encode()).hexdigest(),
    }
    info["build_sha256"] = build_sha256(info)
    write_text(out_dir / BUILD_INFO, json.dumps(info, indent=2, sort_keys=True) + "\n", fsync=True)
    return info
