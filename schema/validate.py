"""Load mailauth.yaml into a Config, turning every complaint into ``file:line:col: field: msg``."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.loader import (
    LoadedDocument,
    PathKey,
    SourceMap,
    gc_paused,
    load_yaml_file,
)
from mailauth.schema.loader import dotted as dotted  # re-exported: build, lint, keys use it
from mailauth.schema.models import Config


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration, where it came from, and what it warned about."""

    config: Config
    source: SourceMap
    path: Path
    warnings: tuple[Problem, ...]
    sha256: str | None = None  # of the bytes validated (schema/loader.py LoadedDocument)


def _model_at(path: PathKey) -> type[BaseModel] | None:
    """The pydantic model that the mapping at ``path`` is validated against."""
    current: Any = Config
    for part in path:
        current = _unwrap(current)
        if isinstance(part, int):
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[0] if args else None
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated/unions down to the one model or list inside, if any."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            candidates = [
                a
                for a in typing.get_args(tp)
                if a is not type(None)
                and (
                    typing.get_origin(a) is list
                    or (isinstance(a, type) and issubclass(a, BaseModel))
                )
            ]
            if len(candidates) != 1:
                return tp
            tp = candidates[0]
            continue
        return tp


def _yaml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _describe(error: ErrorDetails, path: PathKey, raw: str | None = None) -> str:
    """A sentence for one pydantic error, in the words a mail admin expects.

    ``raw`` is what the user wrote when YAML turned it into a non-string (``01``, ``off``).
    """
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    shown = _shown(got, raw)
    if kind == "string_type" and raw is not None and not isinstance(got, str):
        key = path[-1] if path and isinstance(path[-1], str) else None
        fix = f'{key}: "{raw}"' if key else f'"{raw}"'
        return f"expected text, but YAML read {raw} as {_yaml_kind(got)} ({got!r}); quote it: {fix}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        options = expected.replace(" or ", ", ")
        if "," not in options:
            return f"must be {options} (got {shown})"
        return f"expected one of {options} (got {shown})"
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        model = _model_at(path[:-1])
        message = f"unknown key {key!r}"
        if model is not None:
            keys = [f.alias or n for n, f in model.model_fields.items()]
            close = suggest(key, keys)
            if close:
                message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
            else:
                message += f"; allowed here: {', '.join(keys)}"
        return message
    if kind == "missing":
        return "required field is missing"
    if kind in ("value_error", "assertion_error"):
        err = ctx.get("error")
        return str(err) if err is not None else error["msg"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{error['msg'].replace('Input should be', 'must be')} (got {shown})"
    if kind == "too_short" and isinstance(got, list) and not got:
        return "must not be empty"
    message = _TYPE_WORDS.get(kind, error["msg"])
    return f"{message} (got {shown})" if not isinstance(got, dict | list) else message


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from ``a`` to ``b``.

    The optimal string alignment distance: a transposition costs one edit, as a typist
    makes it (``rau`` is one edit from ``rua``, two from ``ruf``).
    """
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _allowed_edits(a: str, b: str) -> int:
    """How many edits still look like a typo: one for short names, more for long ones."""
    longest = max(len(a), len(b))
    if longest <= 2:
        return 0  # `p` for `t` is no typo anyone could see; only a swap (`ps`) is
    return 1 if longest <= 5 else 2 if longest <= 9 else 3


def suggest(key: str, known: Sequence[str]) -> list[str]:
    """The known names ``key`` is probably a typo of (the closest, at most two), or none.

    Counts edits rather than difflib's ratio, whose cutoff misses a swap of two letters
    in a short name (and ranks ``ruf`` above ``rua`` for ``rau``).
    """
    lowered = key.lower()
    scored: list[tuple[int, str]] = []
    for name in known:
        distance = edit_distance(lowered, name.lower())
        swap = len(name) == len(key) == 2 and sorted(lowered) == sorted(name.lower())
        if distance <= _allowed_edits(lowered, name) or (swap and distance == 1):
            scored.append((distance, name))
    if not scored:
        return []
    best = min(distance for distance, _ in scored)
    closest = [name for distance, name in scored if distance == best]
    if len(closest) > 2:
        # Too many equally near: a ratio decides, or nothing is offered.
        closest = difflib.get_close_matches(key, closest, n=2, cutoff=0.0)
    return closest


_TYPE_WORDS = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "model_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
}


def _shown(got: object, raw: str | None) -> str:
    """The offending value, as written when YAML changed it (``01`` became 1)."""
    if raw is not None and not isinstance(got, str) and raw.lower() != str(got).lower():
        return f"{raw}, which YAML reads as {got!r}"
    return repr(got)


_MEMBER_WORDS = {"bool": "true or false", "int": "a whole number", "str": "text"}


def _member_word(tag: str) -> str:
    """How to name one member of a union type in a message (``list[...]`` -> a list)."""
    if tag in _MEMBER_WORDS:
        return _MEMBER_WORDS[tag]
    if tag.startswith("list["):
        return "a list"
    if tag.startswith("dict["):
        return "a mapping"
    if tag.endswith("str]"):
        return "text"
    return "a mapping" if tag[:1].isupper() else tag


def _union_site(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str] | None:
    for index, part in enumerate(loc):
        if _is_union_tag(part):
            return loc[:index], str(part)
    return None


def _shallow(error: ErrorDetails, site: tuple[int | str, ...]) -> bool:
    """The value was not of this union member's type at all (as opposed to a bad item)."""
    kind = error["type"]
    return len(error["loc"]) == len(site) + 1 and kind.endswith(("_type", "_parsing"))


def _pick_union_errors(errors: list[ErrorDetails]) -> list[tuple[ErrorDetails, str | None]]:
    """One report per union, not one per member tried.

    ``mx: [a.org/40]`` fails as a bool and as a list; only the list's complaint about the
    item is useful. When every member fails on the type alone, say what was expected.
    Returns each error to report with an optional replacement message.
    """
    sites: dict[tuple[int | str, ...], dict[str, list[ErrorDetails]]] = {}
    for error in errors:
        found = _union_site(error["loc"])
        if found is not None:
            sites.setdefault(found[0], {}).setdefault(found[1], []).append(error)
    picked: list[tuple[ErrorDetails, str | None]] = []
    summarised: set[tuple[int | str, ...]] = set()
    for error in errors:
        found = _union_site(error["loc"])
        if found is None:
            picked.append((error, None))
            continue
        site, tag = found
        members = sites[site]
        deep = {t for t, errs in members.items() if any(not _shallow(e, site) for e in errs)}
        if deep:
            if tag in deep:
                picked.append((error, None))
            continue
        if site in summarised:
            continue
        summarised.add(site)
        words = " or ".join(dict.fromkeys(_member_word(t) for t in members))
        picked.append((error, f"expected {words}"))
    return picked


def _problems(exc: ValidationError, source: SourceMap) -> list[Problem]:
    problems: list[tuple[tuple[int, int], Problem]] = []
    for error, replacement in _pick_union_errors(exc.errors(include_url=False)):
        loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
        path: PathKey = tuple(p for p in loc if isinstance(p, str | int))
        at_key = error["type"] == "extra_forbidden"
        raw = source.raw_text.get(path)
        if replacement is not None:
            message = f"{replacement} (got {_shown(error.get('input'), raw)})"
        else:
            message = _describe(error, path, raw)
        pos = source.locate(path, key=at_key)
        order = (pos.line, pos.column) if pos is not None else (0, 0)
        problems.append((order, Problem(source.where(path, key=at_key), dotted(path), message)))
    # In the order of the file, so a user can fix them top to bottom.
    problems.sort(key=lambda item: item[0])
    return _dedupe([problem for _, problem in problems])


def _is_union_tag(part: object) -> bool:
    # pydantic inserts the union member's name (e.g. 'bool', 'list[...]', 'function-after[...]')
    # into the location; those are not keys of the document.
    return isinstance(part, str) and ("[" in part or part in ("bool", "str", "int", "list"))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """Union types report one error per member; one line per place is what a user wants."""
    seen: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.where, problem.field), problem)
    return list(seen.values())


def _duplicates(config: Config, source: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    for key, items in (
        ("domains", [d.name for d in config.domains]),
        ("zones", [z.name for z in config.zones]),
        ("mail_hosts", [h.name for h in config.mail_hosts]),
    ):
        first: dict[str, int] = {}
        for index, name in enumerate(items):
            if name in first:
                path: PathKey = (key, index, "name")
                line = source.locate((key, first[name], "name"))
                also = f" (first at line {line.line})" if line else ""
                problems.append(
                    Problem(source.where(path), dotted(path), f"{name!r} is listed twice{also}")
                )
            else:
                first[name] = index
    return problems


def _warnings(config: Config, source: SourceMap) -> list[Problem]:
    found: list[Problem] = []
    candidates: list[tuple[PathKey, Any]] = [(("defaults", "dmarc"), config.defaults.dmarc)]
    candidates += [(("domains", i, "dmarc"), d.dmarc) for i, d in enumerate(config.domains)]
    for path, dmarc in candidates:
        if dmarc is not None and dmarc.pct is not None:
            field = (*path, "pct")
            found.append(
                Problem(
                    source.where(field),
                    dotted(field),
                    "pct was removed by RFC 9989; receivers may ignore it (use t: true to test)",
                )
            )
    return found


def validate_document(document: LoadedDocument, path: Path) -> LoadedConfig:
    """Validate already-parsed data; raises ConfigError listing every problem."""
    source = document.source
    if not isinstance(document.data, dict):
        raise ConfigError(
            [Problem(source.where(()), "(document)", "expected a mapping of keys at the top")]
        )
    try:
        config = Config.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, source)) from None
    duplicates = _duplicates(config, source)
    if duplicates:
        raise ConfigError(duplicates)
    return LoadedConfig(
        config, source, path, tuple(_warnings(config, source)), sha256=document.sha256
    )


def load_config(path: Path) -> LoadedConfig:
    """Read, parse and validate ``path``."""
    with gc_paused():
        return validate_document(load_yaml_file(path), path)
