"""Plan files: a header line and one JSON line per item (``.jsonl``, or ``.jsonl.gz`` with a zero mtime so
equal plans give equal bytes)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from negaudio.core.errors import InputError
from negaudio.core.files import MAX_LINE, atomic_path, bounded_lines
from negaudio.planning.planner import PLAN_FORMAT
from negaudio.planning.rows import PlanRow
from negaudio.recipe.models import Recipe

HEADER_KEYS = {"negaudio_plan", "recipe", "recipe_sha256", "source"}
UNREADABLE = (OSError, EOFError, UnicodeDecodeError)  # a corrupt gzip stream, a truncated file, binary data


def plan_line(obj: dict | PlanRow) -> str:
    """The JSON line of a header or a row, exactly as hashed and written."""
    data = obj.to_json() if isinstance(obj, PlanRow) else obj
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def write_plan(path: Path, header: dict, rows: Iterable[PlanRow]) -> str:
    """Write a plan atomically; return the sha256 of its (uncompressed) lines."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, _open_text(tmp, "w", gz=path.suffix == ".gz") as fh:
        for obj in _chain(header, rows):
            line = plan_line(obj)
            digest.update(line.encode())
            fh.write(line)
    return digest.hexdigest()


def _chain(header: dict, rows: Iterable[PlanRow]) -> Iterator[dict | PlanRow]:
    yield header
    yield from rows


def read_plan(path: Path) -> tuple[dict, Iterator[PlanRow]]:
    """A plan file's header and a lazy iterator over its rows, each checked field by field."""
    if not path.is_file():
        raise InputError(f"{path}: plan file not found")
    fh = _open_text(path, "r", gz=path.suffix == ".gz")
    try:
        header = json.loads(fh.readline(MAX_LINE))
    except (*UNREADABLE, json.JSONDecodeError) as exc:
        fh.close()
        raise InputError(f"{path}:1: not a negaudio plan ({exc})") from None
    if not isinstance(header, dict) or header.get("negaudio_plan") != PLAN_FORMAT or HEADER_KEYS - header.keys():
        fh.close()
        raise InputError(f"{path}:1: not a negaudio plan of format {PLAN_FORMAT} (header keys {sorted(HEADER_KEYS)})")
    try:
        plan_recipe(header)
    except InputError as exc:
        fh.close()
        raise InputError(f"{path}:1: the plan's recipe is not valid: {exc}") from None

    def rows() -> Iterator[PlanRow]:
        seen: set[str] = set()
        last = 0
        with fh:
            line_no = 1
            try:
                for line_no, text in enumerate(bounded_lines(fh, str(path), start=2), start=2):
                    row = _plan_row(text, f"{path}:{line_no}")
                    if row.item_id in seen:
                        raise InputError(f"{path}:{line_no}: item_id {row.item_id!r} appears twice")
                    if row.sample_index < last:  # a shard's rows are consecutive: rendering groups them so
                        raise InputError(
                            f"{path}:{line_no}: sample_index {row.sample_index} after {last}: rows must be in "
                            "sample order"
                        )
                    seen.add(row.item_id)
                    last = row.sample_index
                    yield row
            except UNREADABLE as exc:  # raised while reading the line after line_no
                raise InputError(f"{path}:{line_no + 1}: unreadable plan ({exc})") from None

    return header, rows()


def plan_recipe(header: dict) -> Recipe:
    """The recipe a plan header records, validated (formats, channels, durations, negatives)."""
    from negaudio.recipe.io import validate_data

    return validate_data(Recipe, header["recipe"], path="plan header")


def _plan_row(text: str, where: str) -> PlanRow:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: invalid plan row ({exc.msg})") from None
    return PlanRow.from_json(data, where)


def _open_text(path: Path, mode: str, gz: bool):
    """Text over a plain or gzip file; gzip is written with no name and a zero mtime in its header."""
    if not gz:
        return path.open(mode, encoding="utf-8")
    if mode == "r":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    raw = gzip.GzipFile(filename="", mode="wb", fileobj=path.open("wb"), mtime=0)
    return _Closing(io.TextIOWrapper(raw, encoding="utf-8"), raw.fileobj)


class _Closing:
    """A text stream that also closes the file under its gzip layer (GzipFile leaves a given fileobj open)."""

    def __init__(self, text: io.TextIOWrapper, under):
        self.text, self.under = text, under

    def write(self, line: str) -> None:
        self.text.write(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.text.close()
        self.under.close()
