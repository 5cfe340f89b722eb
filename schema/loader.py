"""Read mailauth.yaml into plain Python data while remembering where every node came from.

pydantic only sees dicts and lists; the error messages must still say
``mailauth.yaml:12:5``. So the YAML is composed into nodes (which carry marks), turned
into plain data by hand, and every node's position is kept in a map keyed by its path.
Doing the conversion ourselves also lets us refuse what PyYAML would accept silently:
duplicate keys (the last one would win unseen), oversized files and alias bombs.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mailauth.schema import fastpaths
from mailauth.schema.errors import ConfigError, Problem

# A real mailauth.yaml for thousands of domains stays far below this; anything bigger is a
# mistake (or an attack) and reading it whole would only waste memory.
MAX_FILE_BYTES = 8 * 1024 * 1024
# Aliases may be used, but expanding them may not build more nodes than this in total.
# The total is worked out on the composed node graph before anything is expanded, so an
# alias bomb is refused in the time it takes to parse it.
MAX_NODES = 2_000_000
# Nor may aliases multiply a document: expanded, it may hold ALIAS_RATIO times the values
# written (or ALIAS_FLOOR, if more). Each built value costs a few hundred bytes (the value,
# its path and its position), so a 4 KB file (at most ~2,000 values) costs a few MB at
# most, where the absolute limit alone would let it cost half a gigabyte.
ALIAS_RATIO = 10
ALIAS_FLOOR = 10_000
# mailauth.yaml nests about six levels deep; far deeper nesting is a mistake or an attack
# (and would exhaust Python's recursion limit while being read).
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Where each value of the loaded document sits in its file."""

    file: str
    positions: dict[PathKey, Position] = field(default_factory=dict)
    key_positions: dict[PathKey, Position] = field(default_factory=dict)
    # The text of unquoted scalars that YAML turned into something other than a string
    # (``01`` -> 1, ``off`` -> False), so messages can quote what the user actually wrote.
    raw_text: dict[PathKey, str] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> Position | None:
        """The closest known position of ``path``, walking up to its parents if needed."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while True:
            if probe in table:
                return table[probe]
            if key and probe in self.positions:
                return self.positions[probe]
            if not probe:
                return None
            probe = probe[:-1]
            key = False
            table = self.positions

    def where(self, path: PathKey, *, key: bool = False) -> str:
        """``file:line:col`` for ``path`` (just the file when nothing is known)."""
        pos = self.locate(path, key=key)
        if pos is None:
            return self.file
        return f"{self.file}:{pos.line}:{pos.column}"


@dataclass
class LoadedDocument:
    """The plain data of a YAML file and the map of where it came from."""

    data: Any
    source: SourceMap
    #: sha256 of the bytes read (the plan checksum covers exactly what was validated);
    #: None for text that came from no file.
    sha256: str | None = None


_STR_TAG = "tag:yaml.org,2002:str"


# ----------------------------------------------------------------------------- YAML 1.2 core
#
# PyYAML resolves plain scalars by YAML 1.1 rules: `0100` is octal 64, `1:00:00` is 3600,
# `yes`/`no`/`on`/`off` are booleans, `2024-01-01` is a date. mailauth.yaml is read with
# the YAML 1.2 core schema instead, where all of those but the decimal are text, and
# `0100` is a hundred. Only the resolution of plain scalars and the construction of the
# core types change; merge keys (`<<`) are kept.

_CORE_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_CORE_INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_CORE_FLOAT = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
_CORE_NULL = re.compile(r"(?:null|Null|NULL|~|)\Z")
_CORE_RESOLVERS: list[tuple[str, re.Pattern[str], list[str]]] = [
    ("tag:yaml.org,2002:bool", _CORE_BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _CORE_INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _CORE_FLOAT, list("-+0123456789.")),
    ("tag:yaml.org,2002:null", _CORE_NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"<<\Z"), ["<"]),
]


def _core_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in _CORE_RESOLVERS:
        for char in first:
            table.setdefault(char or None, []).append((tag, pattern))
    return table


def _scalar_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    # Any node: for a collection (``!!int [1]``) PyYAML raises its own ConstructorError.
    value = loader.construct_scalar(node)  # type: ignore[arg-type]  # see the line above
    assert isinstance(value, str)
    return value


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    text = _scalar_text(loader, node)
    if not _CORE_BOOL.match(text):
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not true or false")
    return text.lower() == "true"


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = _scalar_text(loader, node)
    if not _CORE_INT.match(text):
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not an integer")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = _scalar_text(loader, node)
    if not (_CORE_FLOAT.match(text) or _CORE_INT.match(text)):
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number")
    if _CORE_INT.match(text):
        return float(_construct_int(loader, node))
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


class CoreLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema for plain scalars."""

    yaml_implicit_resolvers = _core_resolvers()


CoreLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
CoreLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain data, recording positions."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._constructor = CoreLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        positions = self.source.positions
        if path not in positions:
            positions[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == _STR_TAG:
            return node.value  # what the constructor makes of it, without its overhead
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):
            self.problems.append(Problem(_at(self.source.file, node), dotted(path), _bad_tag(node)))
            return None
        if node.style is None and not isinstance(value, str):
            self.source.raw_text[path] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._flatten(node):
            if key_node.tag == _STR_TAG and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                try:
                    key = self._constructor.construct_object(key_node, deep=True)
                except (yaml.YAMLError, ValueError, TypeError):
                    self.problems.append(
                        Problem(_at(self.source.file, key_node), dotted(path), _bad_tag(key_node))
                    )
                    continue
            if not isinstance(key, str):
                # YAML 1.1 reads `yes:`/`on:`/`1:` as non-strings; our keys are all text.
                key = str(key).lower() if isinstance(key, bool) else str(key)
            child = (*path, key)
            if key in result:
                first = self.source.key_positions.get(child)
                where_first = f" (first defined at line {first.line})" if first else ""
                self.problems.append(
                    Problem(
                        f"{self.source.file}:{_mark(key_node).line}:{_mark(key_node).column}",
                        dotted(child),
                        f"duplicate key {key!r}{where_first}",
                    )
                )
                continue
            self.source.key_positions[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result

    def _flatten(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs with YAML merge keys (``<<: *base``) expanded, explicit keys last."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        # A merged mapping may merge others in turn (loops were refused
                        # by _Measure before building started).
                        merged.extend(self._flatten(src))
            else:
                own.append((key_node, value_node))
        own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        seen: set[str] = set()
        for key_node, value_node in merged:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if name in own_keys or name in seen:
                continue
            if isinstance(name, str):
                seen.add(name)
            yield key_node, value_node
        yield from own


def _at(file: str, node: yaml.Node) -> str:
    pos = _mark(node)
    return f"{file}:{pos.line}:{pos.column}"


def _bad_tag(node: yaml.Node) -> str:
    tag = node.tag
    if tag.startswith("tag:yaml.org,2002:"):
        tag = "!!" + tag[len("tag:yaml.org,2002:") :]
    if tag.startswith("!!python/") or not tag.startswith("!!"):
        return f"the YAML tag {tag} is not supported here; remove it"
    return f"{node.value!r} cannot be read as {tag}"


class _Refused(Exception):
    """The node graph is too big, too deep or loops; carries the problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _Measure:
    """Counts the values a node graph expands to, without expanding it.

    Aliases make the composed document a graph in which one node can be reached many
    times; its expanded size is computed once per node (memoised), so a billion-laughs
    document is measured in microseconds. Loops (an alias inside its own anchor) and
    absurd nesting are refused here too, before anything recurses over the data.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.sizes: dict[int, int] = {}
        self.refs: dict[int, int] = {}
        self._open: set[int] = set()

    def size(self, node: yaml.Node, path: PathKey) -> int:
        key = id(node)
        self.refs[key] = self.refs.get(key, 0) + 1
        known = self.sizes.get(key)
        if known is not None:
            return known
        if key in self._open:
            raise _Refused(
                Problem(
                    _at(self.file, node),
                    dotted(path),
                    "an alias here refers to a value that contains it (a recursive alias); "
                    "mailauth.yaml cannot hold loops",
                )
            )
        if len(path) > MAX_DEPTH:
            raise _Refused(
                Problem(
                    _at(self.file, node),
                    dotted(path[:4]) + "...",
                    f"nested more than {MAX_DEPTH} levels deep; refusing to read further",
                )
            )
        total = 1
        self._open.add(key)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                total += self.size(key_node, path) + self.size(value_node, (*path, str(name)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                total += self.size(item, (*path, index))
        self._open.discard(key)
        self.sizes[key] = total
        return total

    def limit(self) -> int:
        """The most values the document may expand to: a multiple of what it holds."""
        return min(MAX_NODES, max(ALIAS_FLOOR, ALIAS_RATIO * len(self.sizes)))

    def check(self, root: yaml.Node) -> None:
        total = self.size(root, ())
        limit = self.limit()
        if total <= limit:
            return
        if len(self.sizes) > MAX_NODES:
            raise _Refused(
                Problem(
                    _at(self.file, root),
                    "(document)",
                    f"holds {len(self.sizes)} values, over the limit of {MAX_NODES}",
                )
            )
        # Point at the outermost value that alone is too big and is not itself shared by
        # aliases: that is where the expansion starts (the top key of the bomb).
        node: yaml.Node = root
        path: PathKey = ()
        while True:
            children: list[tuple[yaml.Node, PathKey]] = []
            if isinstance(node, yaml.MappingNode):
                children = [
                    (v, (*path, str(k.value) if isinstance(k, yaml.ScalarNode) else "?"))
                    for k, v in node.value
                ]
            elif isinstance(node, yaml.SequenceNode):
                children = [(v, (*path, i)) for i, v in enumerate(node.value)]
            bigger = [
                (child, where)
                for child, where in children
                if self.sizes[id(child)] > limit and self.refs[id(child)] == 1
            ]
            if not bigger:
                break
            node, path = bigger[0]
        raise _Refused(
            Problem(
                _at(self.file, node),
                dotted(path),
                f"expands to {self.sizes[id(node)]} values through YAML aliases, over the "
                f"limit of {limit} for this file (an alias bomb?); refusing to expand it",
            )
        )


# libyaml (PyYAML's C extension) parses about ten times faster than the pure-Python
# parser. Its events carry the same marks, so nodes keep their positions. Its own composer
# is not used: it recurses in C with no limit, and a deeply nested file would crash the
# process instead of raising RecursionError. The nodes are composed here, without
# recursion, from libyaml's events; anything unusual (a syntax error, an undefined or
# repeated anchor, a second document, nesting deeper than _FAST_DEPTH) is handed to the
# pure-Python composer, so that such files get exactly the messages they always got.
# MAILAUTH_PURE=1 (schema/fastpaths.py) turns this path off; tests/test_yaml_core.py
# compares the two.
_CSafe: Any = getattr(yaml, "CSafeLoader", None)
_CLoader: Any = (
    type("CoreCLoader", (_CSafe,), {"yaml_implicit_resolvers": _core_resolvers()})
    if _CSafe is not None
    else None
)
_FAST_DEPTH = 256


class _Fallback(Exception):
    """The fast path declines this document; the pure-Python composer takes it."""


# A block scalar's header as PyYAML's scanner takes it: indicators, then a comment only
# after a blank (libyaml also takes ``|#``, which PyYAML refuses).
_BLOCK_HEADER = re.compile(r"[|>][-+0-9]{0,2}(?:[ \t]+(?:#[^\n]*)?)?(?:\n|$)")


def _compose_events(parser: Any, text: str) -> yaml.Node | None:
    """The single document of ``parser``'s event stream as a node graph (iteratively)."""
    parser.get_event()  # stream start
    if parser.check_event(yaml.StreamEndEvent):
        return None
    parser.get_event()  # document start
    anchors: dict[str, yaml.Node] = {}
    # Open collections; for a mapping, the list holds its key while the value is composed.
    stack: list[tuple[yaml.Node, list[yaml.Node]]] = []
    resolve = parser.resolve
    while True:
        event = parser.get_event()
        kind = type(event)
        node: yaml.Node
        if kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise _Fallback
            node = anchors[event.anchor]
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            node = stack.pop()[0]
            node.end_mark = event.end_mark
        else:
            tag = event.tag
            if kind is yaml.ScalarEvent:
                if tag == "!":
                    # PyYAML's parser resolves a "!" scalar as plain; libyaml says not
                    # plain when the scalar is empty (``a: !``: null, not "").
                    tag = resolve(yaml.ScalarNode, event.value, (True, False))
                elif tag is None:
                    tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                if event.style in ("|", ">") and not _BLOCK_HEADER.match(
                    text, event.start_mark.index
                ):
                    raise _Fallback
                if not event.value and event.start_mark.index >= len(text):
                    raise _Fallback  # ``?`` at the very end: libyaml puts it a line lower
                # libyaml says "" for a plain scalar where PyYAML says None.
                node = yaml.ScalarNode(
                    tag, event.value, event.start_mark, event.end_mark, style=event.style or None
                )
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                mapping = kind is yaml.MappingStartEvent
                node_class = yaml.MappingNode if mapping else yaml.SequenceNode
                if tag is None or tag == "!":
                    tag = resolve(node_class, None, event.implicit)
                node = node_class(tag, [], event.start_mark, None, flow_style=event.flow_style)
            else:
                raise _Fallback
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Fallback
                anchors[event.anchor] = node
            if kind is not yaml.ScalarEvent:
                if len(stack) >= _FAST_DEPTH:
                    raise _Fallback
                stack.append((node, []))
                continue
        if not stack:
            break
        parent, pending = stack[-1]
        if isinstance(parent, yaml.SequenceNode):
            parent.value.append(node)
        elif pending:
            parent.value.append((pending.pop(), node))
        else:
            pending.append(node)
    parser.get_event()  # document end
    if not parser.check_event(yaml.StreamEndEvent):
        raise _Fallback  # a second document
    return node


def compose_yaml(text: str, *, core: bool = True) -> yaml.Node | None:
    """``yaml.compose(text)``, through libyaml when it is installed and the fast paths are on.

    ``core`` resolves plain scalars by the YAML 1.2 core schema (mailauth.yaml); without it,
    by PyYAML's YAML 1.1 rules (for files PyYAML wrote, such as octodns zone files).
    """
    fast = (_CLoader if core else _CSafe) if fastpaths.enabled() else None
    if fast is not None:
        parser = fast(text)
        try:
            return _compose_events(parser, text)
        except (_Fallback, yaml.YAMLError, ValueError):
            pass
        finally:
            parser.dispose()
    return yaml.compose(text, Loader=CoreLoader if core else yaml.SafeLoader)


def dotted(path: PathKey) -> str:
    """``domains[0].dmarc.p`` from ``("domains", 0, "dmarc", "p")``: a field as messages name it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (restored as it was after).

    Reading a large file builds hundreds of thousands of objects that all stay alive and
    form no cycles; the collector would only walk them, again and again, as they pile up.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _too_deep_at(text: str, file: str) -> str:
    """``file:line:col`` of the first collection nested deeper than MAX_DEPTH.

    Composing recursed too far; the parser itself keeps an explicit stack, so walking its
    events finds the place without recursing.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                mark = event.start_mark
                if depth > MAX_DEPTH and mark is not None:
                    return f"{file}:{mark.line + 1}:{mark.column + 1}"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except (yaml.YAMLError, RecursionError):
        pass
    return f"{file}:1:1"


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """A YAML syntax error at its line and column, in words: what is wrong and what to do."""
    mark = exc.problem_mark or exc.context_mark
    reason = exc.problem or str(exc)
    context = exc.context_mark
    if exc.context and context is not None and context is not mark:
        reason += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    try:
        plain = _plain_syntax(exc, text.splitlines())
    except (IndexError, ValueError):  # never let an explanation hide the error itself
        plain = None
    at = (mark.line, mark.column) if mark is not None else None
    if plain is not None:
        at, reason = plain
    where = f"{file}:{at[0] + 1}:{at[1] + 1}" if at is not None else file
    return Problem(where, "(document)", f"YAML syntax error: {reason}")


def _at_text(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


# `name:example.org`: no blank after the colon, so YAML reads text, not a key and a value.
_GLUED_KEY = re.compile(r"(?:-\s+)?[A-Za-z_][\w.-]*:[^\s:]")


def _plain_syntax(
    exc: yaml.MarkedYAMLError, lines: list[str]
) -> tuple[tuple[int, int], str] | None:
    """Where to point (0-based line, column) and a plain sentence for PyYAML's common
    complaints; None for the others, which keep PyYAML's words.

    PyYAML names parser states ("expected <block end>"); a person needs to hear that a line
    is indented wrongly, that a tab is not a space or that a quote is never closed.
    """
    problem = exc.problem or ""
    if exc.problem_mark is None:
        return None
    mark = (exc.problem_mark.line, exc.problem_mark.column)
    context = exc.context_mark
    ctx_at = (context.line, context.column) if context is not None else mark
    if problem == "mapping values are not allowed here":
        line = lines[mark[0]] if mark[0] < len(lines) else ""
        before = line[: mark[1]]
        if re.search(r":\s", before):
            return mark, (
                "a second ': ' on one line; a value that holds ': ' must be quoted (key: \"a: b\")"
            )
        above = mark[0] - 1
        while above >= 0 and (not lines[above].strip() or lines[above].lstrip().startswith("#")):
            above -= 1
        if above < 0:
            return None
        previous = lines[above].strip()
        sentence = (
            f"bad indentation: this line is indented further than line {above + 1} "
            f"(`{previous[:60]}`), as if it belonged under a value that is already set there; "
            "indent it like the keys beside it"
        )
        if _GLUED_KEY.match(previous):
            sentence += (
                f" (and line {above + 1} needs a space after its colon: without one YAML "
                "reads it as text, not as a key)"
            )
        # Point at the key that is too far in, not at its colon.
        return (mark[0], len(line) - len(line.lstrip())), sentence
    if problem.startswith("found character '\\t'"):
        return mark, "a tab character; YAML indents with spaces only: replace the tab by spaces"
    found = re.fullmatch(r"found character '(.)' that cannot start any token", problem)
    if found:
        char = found.group(1)
        return mark, (
            f'a value cannot start with {char!r} in YAML; put the value in quotes ("{char}...")'
        )
    quoted = "quoted scalar" in (exc.context or "")
    if problem == "found unexpected end of stream" and context is not None and quoted:
        return ctx_at, (
            f"the quoted value that starts here ({_at_text(context)}) is never closed; "
            "add the closing quote"
        )
    flow = re.fullmatch(r"expected ',' or '([\]}])', but got '.*'", problem)
    if flow and context is not None:
        closer = flow.group(1)
        opener = "[" if closer == "]" else "{"
        what = "list" if closer == "]" else "mapping"
        return mark, (
            f"the {what} opened with '{opener}' at {_at_text(context)} is not closed here; "
            f"add its '{closer}' (or a ',' between its items)"
        )
    block = re.fullmatch(r"expected <block end>, but found '(.*)'", problem)
    if block and context is not None and exc.context == "while parsing a block mapping":
        found_token = block.group(1)
        if found_token in ("-", "<block sequence start>"):
            return mark, (
                f"bad indentation: a list item ('- ') where the mapping that starts at "
                f"{_at_text(context)} expects a key; indent the item under its key, or line "
                "it up with the items before it"
            )
        if found_token == "<block mapping start>":
            return mark, (
                "bad indentation: this line is not lined up with the keys of the mapping "
                f"that starts at {_at_text(context)}; indent it like the keys beside it"
            )
        if found_token == "<scalar>":
            return mark, (
                "text after a value on the same line (a value in quotes must end at its "
                "closing quote); put the whole value in quotes, or move the text to its own line"
            )
    if problem == "could not find expected ':'" and context is not None:
        text = lines[context.line].strip() if context.line < len(lines) else ""
        return ctx_at, (
            f"`{text[:40]}` is neither a key (no ': ' after it) nor part of the value above; "
            "write `key: value`, or indent it under the value it continues"
        )
    return None


def load_yaml_text(text: str, file: str) -> LoadedDocument:
    """Parse ``text`` (named ``file`` in messages) into data plus positions."""
    source = SourceMap(file)
    try:
        node = compose_yaml(text)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, file)]) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML forbids (NUL, other control characters): say where it is.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        shown = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(
            [
                Problem(
                    f"{file}:{line}:{column}",
                    "(document)",
                    f"a control character ({shown}) YAML does not allow; remove it",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, "(document)", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ConfigError(
            [
                Problem(
                    _too_deep_at(text, file),
                    "(document)",
                    f"nested more than {MAX_DEPTH} levels deep; refusing to read further",
                )
            ]
        ) from None
    if node is None:
        raise ConfigError(
            [Problem(f"{file}:1:1", "(document)", "the file is empty; run `mailauth init`")]
        )
    try:
        _Measure(file).check(node)
    except _Refused as refused:
        raise ConfigError([refused.problem]) from None
    builder = _Builder(source)
    data = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return LoadedDocument(data, source)


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)`` (YAML 1.1, as PyYAML wrote it), composed through libyaml."""
    node = compose_yaml(text, core=False)
    if node is None:
        return None
    return yaml.SafeLoader("").construct_document(node)


def load_yaml_file(path: Path) -> LoadedDocument:
    """Read and parse a YAML file, refusing oversized or unreadable ones with a clear error."""
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError(
            [Problem(name, "(document)", "no such file; run `mailauth init` to create one")]
        ) from None
    except OSError as exc:
        raise ConfigError([Problem(name, "(document)", f"cannot read: {exc.strerror}")]) from None
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            [
                Problem(
                    name,
                    "(document)",
                    f"file is {size} bytes, over the {MAX_FILE_BYTES} byte limit",
                )
            ]
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(name, "(document)", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                Problem(
                    f"{name}:{line}:{column}",
                    "(document)",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                )
            ]
        ) from None
    document = load_yaml_text(text, name)
    document.sha256 = hashlib.sha256(raw).hexdigest()
    return document
