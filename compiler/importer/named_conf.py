"""The zones a named.conf serves as primary, and their files: enough of BIND's
configuration language to find them (``include``, ``options { directory }``, ``zone``),
every file read under the root."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailauth.compiler.importer.found import Note
from mailauth.compiler.importer.rooted import OutsideRoot, host_path, under_root

_TOKEN = re.compile(
    r'(?P<ws>\s+)|(?P<comment>//[^\n]*|#[^\n]*|/\*.*?\*/)|"(?P<str>(?:[^"\\]|\\.)*)"'
    r"|(?P<punct>[{};])|(?P<word>[^\s{};\"]+)",
    re.S,
)
#: include nesting deeper than this is a loop
_MAX_DEPTH = 16


class NamedConfError(ValueError):
    """named.conf cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class ZoneFile:
    name: str  # the zone, without the final dot
    file: str  # host path of its zone file
    where: str  # FILE:LINE of its zone statement
    directory: str = "/"  # named's working directory: relative $INCLUDE names are under it


@dataclass
class _Tok:
    text: str
    line: int
    quoted: bool = False


@dataclass
class _Stmt:
    words: list[_Tok]
    block: list[_Stmt] | None
    line: int


def _tokens(text: str, where: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise NamedConfError(f"{where}:{line}: cannot read {text[pos : pos + 20]!r}")
        if m.group("str") is not None:
            out.append(_Tok(m.group("str"), line, True))
        elif m.group("punct") or m.group("word"):
            out.append(_Tok(m.group(0), line))
        line += m.group(0).count("\n")
        pos = m.end()
    return out


def _statements(toks: list[_Tok], i: int, where: str, nested: bool) -> tuple[list[_Stmt], int]:
    stmts: list[_Stmt] = []
    words: list[_Tok] = []
    block: list[_Stmt] | None = None
    while i < len(toks):
        tok = toks[i]
        if tok.text == "}" and not tok.quoted:
            if not nested or words:
                raise NamedConfError(f"{where}:{tok.line}: unexpected '}}'")
            return stmts, i + 1
        if tok.text == "{" and not tok.quoted:
            block, i = _statements(toks, i + 1, where, True)
            continue
        if tok.text == ";" and not tok.quoted:
            if words:
                stmts.append(_Stmt(words, block, words[0].line))
            words, block = [], None
        else:
            words.append(tok)
        i += 1
    if nested or words:
        raise NamedConfError(f"{where}: ends inside a statement (a missing ';' or '}}')")
    return stmts, i


def read_named_conf(root: Path, path: str, notes: list[Note]) -> list[ZoneFile]:
    """The primary zones of named.conf ``path`` (a host path), following its includes."""
    directory = ["/"]
    zones: list[ZoneFile] = []
    for where, stmt in _walk(root, host_path(path), 0, directory):
        head = stmt.words[0].text.lower()
        if head == "options" and stmt.block is not None:
            for opt in stmt.block:
                if opt.words[0].text.lower() == "directory" and len(opt.words) > 1:
                    directory[0] = host_path(opt.words[1].text)
        elif head == "zone" and len(stmt.words) > 1 and stmt.block is not None:
            zones.extend(_zone(stmt, f"{where}:{stmt.line}", directory[0], notes))
    return zones


def _zone(stmt: _Stmt, where: str, directory: str, notes: list[Note]) -> Iterator[ZoneFile]:
    name = stmt.words[1].text.rstrip(".").lower()
    opts = {o.words[0].text.lower(): o for o in stmt.block or [] if o.words}
    kind = (
        opts["type"].words[1].text.lower() if "type" in opts and len(opts["type"].words) > 1 else ""
    )
    if name in ("", ".") or kind in ("hint", "forward", "stub", "redirect", "static-stub"):
        return
    file = opts.get("file")
    if kind not in ("master", "primary"):
        notes.append(
            Note(
                where,
                "not-imported",
                f"zone {name} (type {kind or 'unset'})",
                "only primary zones are imported: a secondary's data is kept by its primary",
            )
        )
    elif file is None or len(file.words) < 2:
        notes.append(Note(where, "not-imported", f"zone {name}", "it names no zone file"))
    else:
        yield ZoneFile(name, host_path(file.words[1].text, directory), where, directory)


def _walk(root: Path, path: str, depth: int, directory: list[str]) -> Iterator[tuple[str, _Stmt]]:
    """The statements of ``path`` and of the files it includes, in order; a relative
    include is under named's ``directory`` as set so far (``directory[0]``)."""
    if depth > _MAX_DEPTH:
        raise NamedConfError(f"{path}: includes nest deeper than {_MAX_DEPTH} (a loop?)")
    try:
        text = under_root(root, path).read_text(encoding="utf-8")
    except OutsideRoot as exc:
        raise NamedConfError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NamedConfError(f"{path}: cannot read it: {exc}") from None
    stmts, _ = _statements(_tokens(text, path), 0, path, False)
    for stmt in stmts:
        if stmt.words[0].text.lower() == "include" and len(stmt.words) > 1:
            target = host_path(stmt.words[1].text, directory[0])
            yield from _walk(root, target, depth + 1, directory)
        else:
            yield path, stmt
