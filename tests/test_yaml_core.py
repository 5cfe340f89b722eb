"""mailauth.yaml is read with YAML 1.2 core scalars, and aliases cannot multiply memory.

YAML 1.1 (PyYAML's default) reads ``ttl: 0100`` as 64, ``1:00:00`` as 3600 and ``yes`` as
true, all silently. The loader has two composers (libyaml's events, and PyYAML's own as
the fallback); both must read every file the same way.
"""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailauth.schema import fastpaths, loader
from mailauth.schema.errors import ConfigError
from mailauth.schema.loader import load_yaml_text

SCALARS: list[tuple[str, Any]] = [
    ("0100", 100),
    ("0o17", 15),
    ("0x1F", 31),
    ("-12", -12),
    ("+7", 7),
    ("1:00:00", "1:00:00"),
    ("1_000", "1_000"),
    ("0b101", "0b101"),
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("n", "n"),
    ("Yes", "Yes"),
    ("true", True),
    ("True", True),
    ("TRUE", True),
    ("false", False),
    ("False", False),
    ("FALSE", False),
    ("tRUE", "tRUE"),
    ("null", None),
    ("Null", None),
    ("NULL", None),
    ("~", None),
    ("", None),
    ("nULL", "nULL"),
    ("1.5", 1.5),
    (".5", 0.5),
    ("1e3", 1000.0),
    ("-.inf", -math.inf),
    (".Inf", math.inf),
    ("2024-01-01", "2024-01-01"),
    ("=", "="),
    ('"0100"', "0100"),
    ("!!int 0100", 100),
]


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """What the libyaml path and the pure-Python path each make of ``text``."""
    fast = load_yaml_text(text, "t.yaml")
    with monkeypatch.context() as patch:
        patch.setattr(loader, "_CLoader", None)
        slow = load_yaml_text(text, "t.yaml")
    assert fast.source.raw_text == slow.source.raw_text
    assert fast.source.positions == slow.source.positions
    return fast.data, slow.data


@pytest.mark.parametrize(("written", "value"), SCALARS)
def test_scalars_read_as_yaml_1_2_core(
    written: str, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = _both(f"v: {written}\n", monkeypatch)
    for data in (fast, slow):
        assert data["v"] == value
        assert type(data["v"]) is type(value)


def test_nan_is_a_float(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both("v: .NaN\n", monkeypatch)
    assert math.isnan(fast["v"]) and math.isnan(slow["v"])


def test_keys_keep_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both("yes: 1\non: 2\n0100: 3\n", monkeypatch)
    assert fast == slow == {"yes": 1, "on": 2, "100": 3}


def test_what_yaml_changed_is_remembered_for_messages() -> None:
    doc = load_yaml_text("name: 01\nttl: 0o10\n", "t.yaml")
    assert doc.data == {"name": 1, "ttl": 8}
    assert doc.source.raw_text[("name",)] == "01"


def test_bad_explicit_tags_are_positioned_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml_text("a: !!bool yes\nb: !!int 1:00\n", "t.yaml")
    assert [p.where for p in caught.value.problems] == ["t.yaml:1:4", "t.yaml:2:4"]


PLAIN = st.text(alphabet="0123456789abcdefxoOXtrueTRUEFALSnul.:+-_~eE ", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(value=PLAIN)
def test_both_composers_read_any_plain_scalar_alike(value: str) -> None:
    text = f"v: {value}\n"
    try:
        fast = load_yaml_text(text, "t.yaml")
    except ConfigError as exc:
        fast_error: str | None = str(exc)
    else:
        fast_error = None
    saved = loader._CLoader
    loader._CLoader = None
    try:
        try:
            slow = load_yaml_text(text, "t.yaml")
        except ConfigError:
            assert fast_error is not None
            return
    finally:
        loader._CLoader = saved
    assert fast_error is None
    a, b = fast.data, slow.data
    same = a == b or (
        isinstance(a["v"], float) and isinstance(b["v"], float) and math.isnan(a["v"])
    )
    assert same and type(a["v"]) is type(b["v"])
    assert fast.source.raw_text == slow.source.raw_text


# ----------------------------------------------------------------------------- aliases


def _fan(levels: int, width: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_a_4_kb_alias_file_is_refused_before_it_costs_memory() -> None:
    text = _fan(6, 60)  # about 60**6 = 47 billion values once expanded
    assert len(text.encode()) <= 4096
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_yaml_text(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "alias bomb" in str(caught.value)
    assert peak < 8 * 1024 * 1024, f"{peak} bytes to refuse a 4 KB file"


def test_the_largest_4_kb_alias_file_accepted_costs_a_few_mb() -> None:
    """Just under the limit: the most a small file can make the loader build."""
    for width in range(200, 1, -1):
        text = _fan(2, width) + "l2: [" + ", ".join(["*l1"] * 30) + "]\n"
        try:
            loader._Measure("t").check(loader.compose_yaml(text))  # type: ignore[arg-type]
        except loader._Refused:
            continue
        break
    assert len(text.encode()) <= 4096
    tracemalloc.start()
    try:
        doc = load_yaml_text(text, "t.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(doc.data["l2"]) == 30
    assert peak < 16 * 1024 * 1024, f"{peak} bytes for a 4 KB file"


def test_the_limit_grows_with_the_file() -> None:
    """A big, honest file (shared defaults merged into many domains) still loads."""
    domains = "\n".join(f"  - {{<<: *d, name: d{i}.example.org}}" for i in range(3000))
    text = "base: &d {ttl: 300, spf: {mx: true}, dmarc: {p: none}}\ndomains:\n" + domains + "\n"
    doc = load_yaml_text(text, "t.yaml")
    assert len(doc.data["domains"]) == 3000


# ------------------------------------------- the libyaml composer against PyYAML's, node by node


def _graph(node: Any, seen: dict[int, int] | None = None, *, ends: bool = True) -> Any:
    """A node graph as plain data: kind, tag, value, marks, style; a node met again (an
    alias) as a back reference, so shared and recursive nodes compare too. ``ends=False``
    leaves out the end marks (mailauth reads only the start marks: the positions)."""
    seen = {} if seen is None else seen
    if node is None:
        return None
    if id(node) in seen:
        return ("alias", seen[id(node)])
    seen[id(node)] = len(seen)
    kept = (node.start_mark, node.end_mark) if ends else (node.start_mark,)
    marks = tuple((m.line, m.column, m.index) for m in kept if m is not None)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.SequenceNode):
        children: Any = [_graph(n, seen, ends=ends) for n in node.value]
    else:
        children = [(_graph(k, seen, ends=ends), _graph(v, seen, ends=ends)) for k, v in node.value]
    # An indentless block sequence (``key:\n- item``) has flow_style False from libyaml and
    # None from PyYAML's parser; both mean block style, and nothing in mailauth reads it.
    return (type(node).__name__, node.tag, bool(node.flow_style), marks, children)


def _composed(text: str, core: bool, *, ends: bool = True) -> tuple[str, Any]:
    try:
        return "ok", _graph(loader.compose_yaml(text, core=core), ends=ends)
    except yaml.YAMLError as exc:
        return "error", str(exc)


_ATOMS = st.one_of(
    st.sampled_from(["a", "01", "0x1F", "yes", "~", "null", ".inf", "1.5", "- x", "a: b"]),
    st.text(alphabet="abc01:#-&*!'\" ", max_size=6),
    st.integers(),
)
_DATA = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text("abc01", max_size=3), inner, max_size=3),
    ),
    max_leaves=8,
)
# Text that is mostly YAML (dumped data in block or flow style, sometimes shared values,
# which PyYAML writes as anchors and aliases) and sometimes broken YAML, tags and anchors.
_DOCUMENTS = st.one_of(
    st.builds(
        lambda data, flow: yaml.safe_dump(data, default_flow_style=flow),
        _DATA,
        st.sampled_from([False, True, None]),
    ),
    _DATA.map(lambda data: yaml.safe_dump({"a": data, "b": data, "c": [data]})),
    st.text(alphabet="ab01:-[]{},&*!? \n'\"#|>", max_size=30),
)


@settings(max_examples=150, deadline=None)
@given(_DOCUMENTS, st.booleans())
@example("a: !\n", True)  # "!" and nothing: PyYAML reads null, libyaml's events said ""
@example("a: |#\n  x\n", True)  # libyaml takes "|#", PyYAML refuses it
@example("?", False)  # libyaml put the empty value a line lower
def test_the_fast_composer_builds_the_nodes_pyyaml_builds(text: str, core: bool) -> None:
    """compose_yaml with the fast path (libyaml's events) and without (MAILAUTH_PURE=1).

    Node for node, marks included; without a final line break libyaml ends the last
    collections a line lower, so there only the start marks (the positions) must agree.
    """
    ends = text.endswith("\n")
    fast = _composed(text, core, ends=ends)
    saved = fastpaths.FAST
    fastpaths.FAST = False
    try:
        slow = _composed(text, core, ends=ends)
    finally:
        fastpaths.FAST = saved
    assert fast == slow
