"""Load YAML/TOML recipe files and validate them with pydantic, reporting errors as ``file:line:col``.

``validate_file(Model, path)`` loads a document, validates it and turns every pydantic error into a
:class:`Problem` that names the document path (``negatives.1.level.snr_db``) and the 1-based line and
column of the offending value (or of the unknown key, or of the mapping missing a field).
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from negaudio.core.errors import InputError
from negaudio.core.limits import MAX_RECIPE_DEPTH, MAX_RECIPE_NODES
from negaudio.core.suggest import did_you_mean

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
Pos = tuple[int, int | None]

YAML_SUFFIXES = (".yaml", ".yml")
TOML_SUFFIXES = (".toml",)
_GOT_MAX = 60


@dataclass(frozen=True)
class Problem:
    """One error: document path, 1-based line and column (None when unknown), message, offending input."""

    loc: Loc
    line: int | None
    column: int | None
    message: str
    got: str | None = None

    def format(self, path: Path | str | None = None) -> str:
        """``path:line:col: dotted.loc: message (got ...)``, leaving out the parts that are unknown."""
        where = ":".join(str(p) for p in (path, self.line, self.column if self.line else None) if p is not None)
        text = ".".join(str(p) for p in self.loc)
        text = f"{text}: {self.message}" if text else self.message
        if self.got is not None:
            text += f" (got {self.got})"
        return f"{where}: {text}" if where else text


class RecipeError(InputError):
    """An invalid recipe file; ``str()`` gives one ``file:line:col: ...`` line per problem. Exit code 2."""

    def __init__(self, path: Path | str | None, problems: list[Problem]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.format(path) for p in problems))

    def __reduce__(self):  # picklable across processes (dask workers)
        return type(self), (self.path, self.problems)


@dataclass(frozen=True)
class Locator:
    """Maps a document path (str keys, int indices) to the 1-based (line, column) of its value or key."""

    values: dict[Loc, Pos] = field(default_factory=dict)
    keys: dict[Loc, Pos] = field(default_factory=dict)

    def locate(self, loc: Sequence[str | int], *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of the value at ``loc`` (of its key if ``key``), else of the nearest known ancestor."""
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.values:
                return self.values[loc[:n]]
        return None, None


def _fail(path: Path, message: str, line: int | None = None, column: int | None = None) -> RecipeError:
    return RecipeError(path, [Problem((), line, column, message)])


def load_document(path: Path) -> tuple[dict, Locator]:
    """Read a ``.yaml``/``.yml``/``.toml`` recipe into plain dicts/lists/scalars plus a :class:`Locator`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES + TOML_SUFFIXES:
        raise _fail(path, f"unknown recipe format {path.suffix!r}: expected .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _fail(path, "recipe file not found") from None
    except UnicodeDecodeError as e:
        raise _fail(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise _fail(path, f"cannot read recipe file: {e.strerror or e}") from None
    return _load_yaml(path, text) if suffix in YAML_SUFFIXES else _load_toml(path, text)


# --- YAML -------------------------------------------------------------------------------------------


def _load_yaml(path: Path, text: str) -> tuple[dict, Locator]:
    try:
        doc = YAML(typ="rt", pure=True).load(text)
    except RecursionError:
        raise _fail(path, f"nested too deeply (more than {MAX_RECIPE_DEPTH} levels)") from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = e.problem or e.context or "invalid YAML"
        if e.problem and e.context:
            message += f" ({e.context})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise _fail(path, f"YAML syntax error: {message}", line, col) from None
    except YAMLError as e:
        raise _fail(path, f"YAML syntax error: {e}") from None
    if not isinstance(doc, Mapping):
        lc = getattr(doc, "lc", None)
        line, col = (lc.line + 1, lc.col + 1) if lc else (1, 1)
        what = "the file is empty" if doc is None else f"got {type(_plain_yaml(doc, (), Locator())).__name__}"
        raise _fail(path, f"top level must be a mapping ({what})", line, col)
    locator = Locator(values={(): (doc.lc.line + 1, doc.lc.col + 1)})
    budget = _Budget(path)
    return _plain_yaml(doc, (), locator, budget), locator


class _Budget:
    """Bounds the plain values a YAML document expands to: aliases may not multiply it past a recipe's size
    (a "billion laughs" document is refused after a bounded amount of work), nor nest it too deeply."""

    def __init__(self, path: Path):
        self.path, self.left = path, MAX_RECIPE_NODES

    def spend(self, depth: int) -> None:
        self.left -= 1
        if self.left < 0:
            raise _fail(self.path, f"more than {MAX_RECIPE_NODES} values once YAML aliases are expanded")
        if depth > MAX_RECIPE_DEPTH:
            raise _fail(self.path, f"nested too deeply (more than {MAX_RECIPE_DEPTH} levels)")


def _plain_yaml(node: Any, loc: Loc, locator: Locator, budget: _Budget | None = None) -> Any:
    """Convert ruamel round-trip nodes to plain Python values, recording positions into ``locator``."""
    budget = budget or _Budget(Path("recipe"))
    budget.spend(len(loc))
    if isinstance(node, Mapping):
        out = {}
        for k, v in node.items():
            key = _plain_yaml(k, (), Locator())
            with suppress(AttributeError, KeyError, TypeError):  # merged (<<: *anchor) keys have none
                locator.keys[(*loc, key)] = _one_based(node.lc.key(k))
                locator.values[(*loc, key)] = _one_based(node.lc.value(k))
            out[key] = _plain_yaml(v, (*loc, key), locator, budget)
        return out
    if isinstance(node, list):
        for i in range(len(node)):
            with suppress(AttributeError, KeyError, TypeError):
                locator.values[(*loc, i)] = _one_based(node.lc.item(i))
        return [_plain_yaml(v, (*loc, i), locator, budget) for i, v in enumerate(node)]
    if isinstance(node, TaggedScalar):
        return node.value
    if isinstance(node, ScalarBoolean):  # an anchored boolean: an int subclass
        return bool(node)
    for kind in (bool, int, float, str):  # ScalarFloat, ScalarInt, ScalarString... -> builtins
        if isinstance(node, kind):
            return kind(node)
    return node


def _one_based(pos: Sequence[int]) -> Pos:
    return pos[0] + 1, pos[1] + 1


# --- TOML -------------------------------------------------------------------------------------------

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_EOF = " (at end of document)"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _load_toml(path: Path, text: str) -> tuple[dict, Locator]:
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _fail(path, "nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        m = _TOML_POS.search(message)
        line, col = (int(m[1]), int(m[2])) if m else (None, None)
        if message.endswith(_TOML_EOF):
            message = message.removesuffix(_TOML_EOF)
            line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
        message = _TOML_POS.sub("", message)
        raise _fail(path, f"TOML syntax error: {message}", line, col) from None
    _walk_size(data, _Budget(path), 0)
    return data, _TomlScanner(text).locator


def _walk_size(value: Any, budget: _Budget, depth: int) -> None:
    """Spend ``budget`` on every value of plain data (TOML tables can nest deeply through dotted keys)."""
    budget.spend(depth)
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _walk_size(child, budget, depth + 1)


class _TomlScanner:
    """Best-effort positions for a TOML text that tomllib already accepted (tomllib keeps none).

    Knows table headers, arrays of tables (counted per parent to get indices), plain and dotted keys,
    arrays and inline tables (any layout); string contents and comments are skipped. On anything
    unexpected it stops and keeps what it found, so lookups fall back to the nearest ancestor.
    """

    def __init__(self, text: str):
        self.text, self.i = text, 0
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.locator = Locator()
        self.aot_counts: dict[Loc, int] = {}
        with suppress(IndexError, ValueError, AttributeError, tomllib.TOMLDecodeError):
            self._document()

    def _pos(self, i: int | None = None) -> Pos:
        i = self.i if i is None else i
        line = bisect_right(self.line_starts, i)
        return line, i - self.line_starts[line - 1] + 1

    def _mark(self, loc: Loc, key: Pos, value: Pos, *, first: bool = False) -> None:
        if first and loc in self.locator.values:
            return
        self.locator.keys[loc], self.locator.values[loc] = key, value

    def _skip(self, newlines: bool) -> None:
        t = self.text
        while self.i < len(t):
            c = t[self.i]
            if c == "#":
                end = t.find("\n", self.i)
                self.i = len(t) if end < 0 else end
            elif c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            else:
                return

    def _document(self) -> None:
        self._skip(newlines=True)
        self.locator.values[()] = self._pos() if self.i < len(self.text) else (1, 1)
        table: Loc = ()
        while True:
            self._skip(newlines=True)
            if self.i >= len(self.text):
                return
            if self.text[self.i] == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _header(self) -> Loc:
        """``[a.b]`` or ``[[a.b]]``: the resolved table path, with array-of-tables indices filled in."""
        pos, t = self._pos(), self.text
        array = t.startswith("[[", self.i)
        self.i += 2 if array else 1
        keys = self._key()
        self.i += 2 if array else 1
        loc: Loc = ()
        for n, k in enumerate(keys):
            loc = (*loc, k)
            if array and n == len(keys) - 1:
                index = self.aot_counts.get(loc, 0)
                self.aot_counts[loc] = index + 1
                self._mark(loc, pos, pos, first=True)
                loc = (*loc, index)
                self._mark(loc, pos, pos)
            elif loc in self.aot_counts:
                loc = (*loc, self.aot_counts[loc] - 1)
            else:  # a parent named on the way keeps its first position, the table itself gets this one
                self._mark(loc, pos, pos, first=n < len(keys) - 1)
        return loc

    def _keyval(self, table: Loc) -> None:
        key_pos = self._pos()
        keys = self._key()
        self.i += 1  # '='
        self._skip(newlines=False)
        loc = table
        for k in keys[:-1]:
            loc = (*loc, k)
            self._mark(loc, key_pos, key_pos, first=True)
        loc = (*loc, keys[-1])
        self._mark(loc, key_pos, self._pos())
        self._value(loc)

    def _key(self) -> list[str]:
        """A possibly dotted, possibly quoted key, decoded; leaves ``i`` on the character after it."""
        keys, t = [], self.text
        while True:
            self._skip(newlines=False)
            start = self.i
            if t[start] == '"':
                keys.append(tomllib.loads(f"k = {t[start : self._string()]}")["k"])
            elif t[start] == "'":
                keys.append(t[start + 1 : self._string() - 1])
            else:
                m = _BARE_KEY.match(t, start)
                if not m:
                    raise ValueError(f"no key at offset {start}")
                keys.append(m.group())
                self.i = m.end()
            self._skip(newlines=False)
            if t[self.i] != ".":
                return keys
            self.i += 1

    def _string(self) -> int:
        """Skip a basic/literal, single/multi-line string starting at ``i``; return its end offset."""
        t, q = self.text, self.text[self.i]
        delim = q * 3 if t.startswith(q * 3, self.i) else q
        j = self.i + len(delim)
        while not t.startswith(delim, j):
            j += 2 if q == '"' and t[j] == "\\" else 1
        j += len(delim)
        for _ in range(2 if len(delim) == 3 else 0):  # """a""""" ends with up to two quotes of content
            j += t[j : j + 1] == q
        self.i = j
        return j

    def _value(self, loc: Loc) -> None:
        t = self.text
        c = t[self.i]
        if c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if t[self.i] == "]":
                    self.i += 1
                    return
                item = (*loc, index)
                self._mark(item, self._pos(), self._pos())
                self._value(item)
                self._skip(newlines=True)
                if t[self.i] == ",":
                    self.i += 1
                index += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip(newlines=True)
                if t[self.i] == "}":
                    self.i += 1
                    return
                self._keyval(loc)
                self._skip(newlines=True)
                if t[self.i] == ",":
                    self.i += 1
        elif c in "\"'":
            self._string()
        else:
            start = self.i
            while self.i < len(t) and t[self.i] not in ",]}#\r\n":
                self.i += 1
            if self.i == start:
                raise ValueError(f"no value at offset {start}")


# --- validation -------------------------------------------------------------------------------------


def validate_file(model: type[M], path: Path) -> M:
    """Load ``path`` and validate it as ``model``; raise :class:`RecipeError` listing every problem."""
    data, locator = load_document(path)
    return validate_data(model, data, path=path, locator=locator)


def validate_data(model: type[M], data: Any, path: Path | str | None = None, locator: Locator | None = None) -> M:
    """Validate in-memory ``data`` (e.g. a loaded recipe with CLI overrides) as ``model``.

    Errors are reported against ``path`` and the positions ``locator`` knows (none if it is None),
    in file order (unpositioned ones last), duplicates dropped.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = _closest_union_members(e.errors(include_url=False), data, model)
        problems = dict.fromkeys(_problem(err, data, locator or Locator(), model) for err in errors)
        raise RecipeError(path, sorted(problems, key=_file_order)) from None


def _file_order(problem: Problem) -> tuple[bool, int, int]:
    return problem.line is None, problem.line or 0, problem.column or 0


def document_loc(data: Any, loc: Sequence[str | int]) -> tuple[Loc, Any]:
    """Keep the entries of a pydantic ``loc`` that are real keys/indices of ``data``; return it and its node.

    Pydantic inserts union member tags (``('negatives', 1, 'noise', 'level')``, ``('x', 'int')``) and
    validator names into ``loc``; they are not keys of the document at that point, so they are dropped.
    """
    kept, node = _walk(data, loc)
    return tuple(loc[i] for i in kept), node


def _walk(data: Any, loc: Sequence[str | int]) -> tuple[list[int], Any]:
    """Indices of the ``loc`` entries that are keys/indices of ``data``, and the node they lead to."""
    kept, node = [], data
    for i, part in enumerate(loc):
        is_key = isinstance(node, Mapping) and part in node
        is_index = (
            isinstance(node, Sequence) and not isinstance(node, str) and type(part) is int and 0 <= part < len(node)
        )
        if is_key or is_index:
            kept.append(i)
            node = node[part]
    return kept, node


def _closest_union_members(errors: list[dict[str, Any]], data: Any, model: Any = None) -> list[dict[str, Any]]:
    """Where a plain (smart-mode) union failed, keep only the errors of the members that failed least.

    ``level: {snr_db: ten}`` against ``RmsLevel | SnrLevel`` then reports the bad number, not also
    ``rms_dbfs`` missing and ``snr_db`` unknown for ``RmsLevel``. Among members that failed equally, one whose
    unknown key is a misspelling of its own field wins (``{sigmaa: 1}``: the sigma level, "did you mean"); other
    ties (``int | str``) keep every member.
    """
    counts: dict[tuple, Counter] = defaultdict(Counter)
    branches = []
    for err in errors:
        raw = tuple(err["loc"])
        body = raw[:-1] if err["type"] == "missing" else raw  # a missing field is no member tag
        kept = set(_walk(data, body)[0])
        branch = [(raw[:i], raw[i]) for i in range(len(body)) if i not in kept]
        branches.append(branch)
        misspelt = err["type"] == "extra_forbidden" and did_you_mean(raw[-1], _field_names(model, raw[:-1]))
        for site, tag in branch:
            counts[site][tag] += 1 - (0.5 if misspelt else 0)
    return [
        err
        for err, branch in zip(errors, branches, strict=True)
        if all(counts[site][tag] == min(counts[site].values()) for site, tag in branch)
    ]


def _problem(err: Mapping[str, Any], data: Any, locator: Locator, model: type[BaseModel] | None = None) -> Problem:
    """One pydantic error as a :class:`Problem` at the document's own path and position; an unknown key names
    the closest field of its mapping (``did you mean 'color'?``)."""
    kind, raw_loc = err["type"], tuple(err["loc"])
    discriminator = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
    if kind == "missing" and raw_loc:  # point at the mapping that lacks the field
        loc, node = document_loc(data, raw_loc[:-1])
        return Problem(loc, *locator.locate(loc), f"Field required: {raw_loc[-1]!r}")
    loc, node = document_loc(data, raw_loc)
    message, got, key = err["msg"], _short(err.get("input")), False
    if kind == "extra_forbidden":  # point at the unknown key itself
        key, got = True, None
        message += did_you_mean(str(raw_loc[-1]), _field_names(model, raw_loc[:-1]))
    elif kind == "union_tag_invalid":  # point at the bad tag value
        if isinstance(node, Mapping) and discriminator in node:
            loc = (*loc, discriminator)
        message, got = f"Input should be one of {err['ctx']['expected_tags']}", _short(err["ctx"]["tag"])
        message += did_you_mean(err["ctx"]["tag"], re.findall(r"'([^']*)'", err["ctx"]["expected_tags"]))
    elif kind in ("literal_error", "enum") and isinstance(err.get("input"), str):
        message += did_you_mean(err["input"], re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected"))))
    elif kind == "union_tag_not_found" and isinstance(node, Mapping):
        message, got = f"Field required: {discriminator!r}", None
    return Problem(loc, *locator.locate(loc, key=key), message, got)


def _field_names(model: Any, loc: Sequence[str | int]) -> list[str]:
    """The field names (aliases included) of the model that pydantic's ``loc`` leads to from ``model``: keys
    enter fields, indices list items, and union member tags (a discriminator value, a class name) a member."""
    node = model
    for part in loc:
        node = _step(node, part)
        if node is None:
            return []
    return list(_fields(_unwrap(node)))


def _fields(node: Any) -> dict[str, Any]:
    """A model's fields by name and by alias, with their annotations (none for anything but a model)."""
    if not (isinstance(node, type) and issubclass(node, BaseModel)):
        return {}
    return {name: f.annotation for n, f in node.model_fields.items() for name in (n, f.alias) if name}


def _unwrap(node: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` and of ``X | None`` (pydantic names no member for an optional field)."""
    while True:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
        elif (
            get_origin(node) in (Union, UnionType)
            and len(kept := [a for a in get_args(node) if a is not type(None)]) == 1
        ):
            node = kept[0]
        else:
            return node


def _step(node: Any, part: str | int) -> Any:
    """One ``loc`` entry down a type annotation (None when it does not apply)."""
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return _fields(node).get(part)
    origin, args = get_origin(node), get_args(node)
    if origin in (list, tuple, Sequence) and type(part) is int and args:
        return args[0]
    if origin in (Union, UnionType):
        for member in map(_unwrap, args):
            if getattr(member, "__name__", None) == part or part in _tags(member):
                return member
    return None


def _tags(member: Any) -> set:
    """The discriminator values a union member accepts (its Literal-typed fields)."""
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return set()
    return {
        v for f in member.model_fields.values() if get_origin(f.annotation) is Literal for v in get_args(f.annotation)
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _GOT_MAX else text[: _GOT_MAX - 3] + "..."
