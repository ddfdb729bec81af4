"""Verification of a build against its hashes: every file, every item hash, the build's content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from negaudio.manifest.reader import Build
from negaudio.manifest.schema import item_sha256
from negaudio.manifest.writer import BUILD_INFO, MANIFEST, content_line
from negaudio.media.audio import pcm_sha256_of_file
from negaudio.media.masks import mask_file_sha256


def verify(root: Path) -> list[str]:
    """Recompute every hash of a build; return one problem per missing or altered file (empty: all good)."""
    build = Build(root)
    problems: list[str] = []
    seen: set[str] = set()
    build_hash = hashlib.sha256()
    for record in build:
        build_hash.update(content_line(record.item_id, record.item_sha256))
        if item_sha256(record.audio.pcm_sha256, record.image.sha256, record.mask and record.mask.sha256) != (
            record.item_sha256
        ):
            problems.append(f"altered: {MANIFEST} (item {record.item_id}: its hashes do not give its item_sha256)")
        checks = [
            (record.audio.path, record.audio.pcm_sha256, lambda p, r=record: pcm_sha256_of_file(p, r.audio.format)),
            (record.image.path, record.image.sha256, lambda p: hashlib.sha256(p.read_bytes()).hexdigest()),
        ]
        if record.mask is not None:
            checks.append((record.mask.path, record.mask.sha256, mask_file_sha256))
        for rel, expected, compute in checks:
            if rel in seen:
                continue
            seen.add(rel)
            path = build.path(rel)
            if not path.is_file():
                problems.append(f"missing: {rel} (item {record.item_id})")
                continue
            try:
                actual = compute(path)
            except Exception as exc:  # an unreadable file is an altered file
                problems.append(f"unreadable: {rel} ({exc})")
                continue
            if actual != expected:
                problems.append(f"altered: {rel} (item {record.item_id})")
    if build_hash.hexdigest() != build.info.get("content_sha256"):
        problems.append(f"altered: {MANIFEST} (its items do not match content_sha256 of {BUILD_INFO})")
    return problems
