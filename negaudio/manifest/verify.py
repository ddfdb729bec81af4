"""Verification of a build: every file against ``SHA256SUMS``, the table and ``build.json`` against their seals,
the decoded audio and masks against the manifest, and ``build.json``'s counts against what the files hold."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from negaudio.core.errors import InputError, check_signals
from negaudio.core.files import file_sha256
from negaudio.core.paths import check_relative
from negaudio.manifest.reader import Build, DamagedBuildInfo, ManifestRowError
from negaudio.manifest.schema import item_sha256
from negaudio.manifest.writer import BUILD_INFO, CHECKSUMS, FAILURES, MANIFEST, PLAN, build_sha256, content_line
from negaudio.media.audio import pcm_sha256_of_file
from negaudio.media.masks import mask_file_sha256

STATE = ".negaudio"


@dataclass(frozen=True)
class Problem:
    """One finding: ``kind`` is missing, altered, unreadable, extra or inconsistent."""

    kind: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")

    def to_json(self) -> dict:
        return asdict(self)


def verify(root: Path) -> list[Problem]:
    """Check everything a reader or ``negaudio eval`` trusts; return the problems (empty: all good). A folder
    that is no build raises InputError; a build whose build.json no longer reads is one problem."""
    try:
        build = Build(root)
    except DamagedBuildInfo as exc:
        return [Problem("altered", BUILD_INFO, exc.detail)]
    except InputError:
        if (Path(root) / BUILD_INFO).is_file() and not (Path(root) / MANIFEST).is_file():
            return [Problem("missing", MANIFEST)]
        raise
    problems: list[Problem] = []
    info = build.info
    if "build_sha256" in info and build_sha256(info) != info["build_sha256"]:
        problems.append(Problem("altered", BUILD_INFO, "its content does not match its build_sha256"))
    try:
        hashed = _check_files(build, problems)
        counts = _check_decoded(build, problems, hashed or {})
    except ManifestRowError as exc:  # the records cannot be read on: what was found so far, and this
        return [*problems, Problem("altered", MANIFEST, exc.detail)]
    _check_info(build, problems, counts)
    if hashed is not None:
        problems.extend(_extra_files(build.root, set(hashed)))
    check_signals()  # an interrupted read is the interruption, not a damaged file
    return problems


def _check_files(build: Build, problems: list[Problem]) -> dict[str, str | None] | None:
    """Every file of ``SHA256SUMS`` against its sha256; the table against ``files_sha256``. Returns each listed
    path with its sha256 when the file matches it (None when a problem with the file was reported), or None
    without a table (a build of schema 1.0, checked by its decoded hashes only)."""
    table_path = build.root / CHECKSUMS
    if "files_sha256" not in build.info:
        problems.append(Problem("missing", CHECKSUMS, "a build of schema 1.0: files checked by decoded hashes only"))
        return None
    if not table_path.is_file():
        problems.append(Problem("missing", CHECKSUMS))
        return {}
    table = table_path.read_bytes()
    if hashlib.sha256(table).hexdigest() != build.info["files_sha256"]:
        problems.append(Problem("altered", CHECKSUMS, f"does not match files_sha256 of {BUILD_INFO}"))
    listed: dict[str, str | None] = {}
    for line_no, line in enumerate(table.decode("utf-8", "replace").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(Problem("altered", CHECKSUMS, f"line {line_no} is not '<sha256>  <path>'"))
            continue
        listed[rel] = None
        try:
            path = build.path(rel)
        except InputError as exc:  # a valid relative path: its file is a link out of the build; else the table
            try:
                check_relative(rel, "manifest path")
                problems.append(Problem("altered", rel, str(exc)))
            except InputError:
                problems.append(Problem("altered", CHECKSUMS, str(exc)))
            continue
        if not path.is_file():
            problems.append(Problem("missing", rel))
            continue
        if file_sha256(path) != digest:
            problems.append(Problem("altered", rel))
            continue
        listed[rel] = digest
    return listed


def _check_decoded(build: Build, problems: list[Problem], hashed: dict[str, str | None]) -> Counter:
    """Decoded audio and masks against the manifest's hashes; item hashes; ``content_sha256``. Images already
    hashed for ``SHA256SUMS`` are not read again, and a file it found missing, altered or linked out is not
    reported twice. Returns the items per kind."""
    seen: set[str] = set()
    content = hashlib.sha256()
    counts: Counter = Counter()
    for record in build:
        counts[record.kind] += 1
        content.update(content_line(record.item_id, record.item_sha256))
        if item_sha256(record.audio.pcm_sha256, record.image.sha256, record.mask and record.mask.sha256) != (
            record.item_sha256
        ):
            problems.append(Problem("altered", MANIFEST, f"item {record.item_id}: its hashes do not give item_sha256"))
        checks = [
            (record.audio.path, record.audio.pcm_sha256, lambda p, r=record: pcm_sha256_of_file(p, r.audio.format))
        ]
        checks.append(
            (record.image.path, record.image.sha256, lambda p, rel=record.image.path: hashed.get(rel) or file_sha256(p))
        )
        if record.composite is not None and record.kind == "positive":
            _check_composite(record, problems)
        if record.mask is not None:
            checks.append((record.mask.path, record.mask.sha256, mask_file_sha256))
        for rel, expected, compute in checks:
            if rel in seen or (rel in hashed and hashed[rel] is None):
                continue
            seen.add(rel)
            try:
                path = build.path(rel)
            except InputError as exc:
                problems.append(Problem("altered", MANIFEST, f"item {record.item_id}: {exc}"))
                continue
            if not path.is_file():
                problems.append(Problem("missing", rel, f"item {record.item_id}"))
                continue
            try:
                actual = compute(path)
            except Exception as exc:  # an unreadable file is an altered file, unless a signal broke the read
                check_signals()
                problems.append(Problem("unreadable", rel, str(exc)))
                continue
            if actual != expected:
                problems.append(Problem("altered", rel, f"item {record.item_id}"))
    if content.hexdigest() != build.info.get("content_sha256"):
        problems.append(Problem("altered", MANIFEST, f"its items do not match content_sha256 of {BUILD_INFO}"))
    return counts


def _check_composite(record, problems: list[Problem]) -> None:
    """A composite sample's mask is the union of its targets' recorded visible masks; the recorded areas and
    occluded fractions are those of the recorded masks."""
    import numpy as np
    from pycocotools import mask as coco_mask

    from negaudio.media.masks import mask_sha256, to_uint8

    def decode(rle) -> np.ndarray:
        return coco_mask.decode({"size": list(rle.size), "counts": rle.counts.encode("ascii")}).astype(bool)

    where = f"item {record.item_id}"
    try:
        objects = record.composite.objects
        union = None
        for k, obj in enumerate(objects):
            visible, amodal = decode(obj.visible), decode(obj.amodal)
            if (
                int(visible.sum()) != obj.visible_area
                or int(amodal.sum()) != obj.amodal_area
                or (visible & ~amodal).any()
            ):
                problems.append(
                    Problem("inconsistent", MANIFEST, f"{where}: object {k}'s masks do not match its areas")
                )
            if k in record.composite.targets:
                union = visible if union is None else union | visible
    except (ValueError, TypeError, IndexError) as exc:
        check_signals()
        problems.append(Problem("inconsistent", MANIFEST, f"{where}: unreadable composite masks ({exc})"))
        return
    if union is not None and (
        record.mask is None or mask_sha256(to_uint8(union.astype(np.float32))[0]) != record.mask.sha256
    ):
        problems.append(Problem("inconsistent", MANIFEST, f"{where}: its mask is not its target's visible mask"))


def _check_info(build: Build, problems: list[Problem], counts: Counter) -> None:
    """``build.json``'s counts and identity against the manifest (``counts``), the failures and the plan."""
    info = build.info
    found = {"counts": dict(sorted(counts.items())), "items": sum(counts.values())}
    failures = build.root / FAILURES
    if failures.is_file():
        found["failures"] = sum(1 for line in failures.read_text(encoding="utf-8").splitlines() if line.strip())
    plan = build.root / PLAN
    if plan.is_file():
        with plan.open(encoding="utf-8") as fh:
            try:
                header = json.loads(fh.readline(1 << 24))
                recipe = header["recipe"]
                found |= {
                    "recipe_sha256": header["recipe_sha256"],
                    "seed": recipe["seed"],
                    "dataset": {**info["dataset"], "name": recipe["name"], "version": recipe["version"]},
                }
            except (ValueError, KeyError, TypeError):
                problems.append(Problem("altered", PLAN, "its header is not a negaudio plan header"))
    found["partial"] = bool(found.get("failures", info.get("failures")) or info.get("missing"))
    for key, value in found.items():
        if info.get(key) != value:
            problems.append(
                Problem("inconsistent", BUILD_INFO, f"{key} is {info.get(key)!r:.80}, the files give {value!r:.80}")
            )


def _extra_files(root: Path, listed: set[str]) -> list[Problem]:
    """Files in the build folder that no table lists (the state folder and the two top files aside)."""
    extra = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] == STATE or rel in (BUILD_INFO, CHECKSUMS) or path.is_dir():
            continue
        if rel not in listed:
            extra.append(Problem("extra", rel, "not listed in SHA256SUMS"))
    return extra
