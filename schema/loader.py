"""Read mailauth.yaml into plain Python data while remembering where every node came from.

pydantic only sees dicts and lists; the error messages must still say
``mailauth.yaml:12:5``. So the YAML is composed into nodes (which carry marks), turned
into plain data by hand, and every node's position is kept in a map keyed by its path.
Doing the conversion ourselves also lets us refuse what PyYAML would accept silently:
duplicate keys (the last one would win unseen), oversized files and alias bombs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mailauth.schema.errors import ConfigError, Problem

# A real mailauth.yaml for thousands of domains stays far below this; anything bigger is a
# mistake (or an attack) and reading it whole would only waste memory.
MAX_FILE_BYTES = 8 * 1024 * 1024
# Aliases may be used, but expanding them may not build more nodes than this in total.
MAX_NODES = 2_000_000

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


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain data, recording positions and checking limits."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.count = 0
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError(
                [
                    Problem(
                        self.source.where(path),
                        "(document)",
                        f"more than {MAX_NODES} values after expanding aliases "
                        "(an alias bomb?); refusing to expand further",
                    )
                ]
            )
        self.source.positions.setdefault(path, _mark(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._flatten(node):
            key = self._constructor.construct_object(key_node, deep=True)
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
                        _dotted(child),
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
                        merged.extend(src.value)
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


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(document)"


def load_yaml_text(text: str, file: str) -> LoadedDocument:
    """Parse ``text`` (named ``file`` in messages) into data plus positions."""
    source = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        reason = exc.problem or str(exc)
        raise ConfigError([Problem(where, "(document)", f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, "(document)", f"YAML error: {exc}")]) from None
    if node is None:
        raise ConfigError(
            [Problem(f"{file}:1:1", "(document)", "the file is empty; run `mailauth init`")]
        )
    builder = _Builder(source)
    data = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return LoadedDocument(data, source)


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
        raise ConfigError(
            [Problem(name, "(document)", f"not UTF-8 text (byte {exc.start})")]
        ) from None
    return load_yaml_text(text, name)
