"""The fast paths that stand in for a library give what the library gives, and one switch
(MAILAUTH_PURE, schema/fastpaths.py) turns them all off.

The YAML composer is compared with PyYAML's in tests/test_yaml_core.py and the forked lint
gate with the in-process one in tests/test_forked_gate.py; the octodns zone emitter is
compared with ``yaml.dump`` here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailauth.backends import octodns
from mailauth.compiler import forked, report
from mailauth.schema import fastpaths, loader


@pytest.mark.parametrize(("value", "fast"), [(None, True), ("", True), ("0", True), ("1", False)])
def test_the_switch_is_read_from_the_environment(value: str | None, fast: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != fastpaths.ENV}
    if value is not None:
        env[fastpaths.ENV] = value
    code = "from mailauth.schema import fastpaths; print(fastpaths.enabled())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(fast)


def test_off_means_the_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError("a fast path was taken with MAILAUTH_PURE set")

    monkeypatch.setattr(fastpaths, "FAST", False)
    monkeypatch.setattr(loader, "_compose_events", refuse)
    monkeypatch.setattr(octodns, "_fast_dump", refuse)
    monkeypatch.setattr(report, "_simple_bind_rrsets", refuse)
    assert loader.compose_yaml("a: [1, 2]\n") is not None
    assert loader.safe_load("a: yes\n") == {"a": True}
    assert octodns.dump_zone_yaml({"": [{"type": "A", "value": "192.0.2.1"}]}).startswith("---")
    assert not forked.can_fork()
    assert report._bind_rrsets("@ 300 IN A 192.0.2.1\n", "example.org")


# --- the octodns zone emitter against yaml.dump ---------------------------------------------


def _starting(first: str, rest: str, size: int) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(first), st.text(alphabet=rest, max_size=size)).map("".join)


_NAMES = _starting("abcdef_", "abcdef019._-", 19)
_WORD = _starting("abc", "abcxyz019=;+/._@-", 11)  # not "y", "7": YAML 1.1 reads a bool, an int
# Values the emitter writes itself: words, long runs of words (folded at column 80 as
# PyYAML does), numbers.
_PLAIN = st.one_of(
    _WORD,
    st.lists(_WORD, min_size=1, max_size=16).map(" ".join),
    st.lists(_WORD, min_size=1, max_size=16).map("  ".join),
    st.integers(min_value=-(2**40), max_value=2**40),
)
# Keys and values it hands to PyYAML (then the whole file goes through PyYAML): quoted,
# too long for a simple key, empty collections, odd or non-ASCII characters.
_ODD_KEYS = st.sampled_from(["", "@", "*", "10", "x" * 130, "a: b"])
_ODD = st.one_of(
    st.text(alphabet="abcxyz019=;:+/.-_@# '\"", max_size=12),
    st.text(max_size=20),
    st.sampled_from([True, False, None, 1.5, "yes", "null", "0100", "- x", "a: b", "...", [], {}]),
)


def _zones(keys: st.SearchStrategy[str], scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    values = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4),
            st.dictionaries(keys, inner, min_size=1, max_size=4),
        ),
        max_leaves=6,
    )
    record = st.fixed_dictionaries(
        {"type": st.sampled_from(["A", "MX", "TXT", "CNAME"]), "ttl": st.integers(0, 86400)},
        optional={"value": values, "values": st.lists(values, min_size=1, max_size=4)},
    )
    return st.dictionaries(
        keys, st.one_of(record, st.lists(record, min_size=1, max_size=3)), max_size=5
    )


_ZONES = st.one_of(
    _zones(_NAMES, _PLAIN),
    _zones(st.one_of(_NAMES, st.just("")), _PLAIN),  # the apex is written "? ''"
    _zones(st.one_of(_NAMES, _ODD_KEYS), st.one_of(_PLAIN, _ODD)),
)


def _library(data: dict[str, Any]) -> str:
    """What dump_zone_yaml writes with the fast path off: PyYAML's own emitter."""
    saved = fastpaths.FAST
    fastpaths.FAST = False
    try:
        return octodns.dump_zone_yaml(data)
    finally:
        fastpaths.FAST = saved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ZONES)
@example({"": [{"type": "TXT", "ttl": 300, "value": "v=spf1 " + "ip4:192.0.2.1 " * 12 + "-all"}]})
@example({"mail": {"type": "MX", "ttl": 60, "values": [{"exchange": "mx.", "preference": 10}]}})
def test_the_zone_emitter_writes_what_pyyaml_writes(data: dict[str, Any]) -> None:
    assert octodns.dump_zone_yaml(data) == _library(data)


def test_the_emitter_takes_the_shapes_of_real_zone_files() -> None:
    """It is a fast path only if it is taken: records of the usual kinds do not fall back."""
    data = {
        "": [
            {
                "type": "MX",
                "ttl": 3600,
                "values": [{"exchange": "mail.example.org.", "preference": 10}],
            },
            {"type": "TXT", "ttl": 3600, "value": "v=spf1 mx -all"},
        ],
        "_dmarc": {"type": "TXT", "ttl": 3600, "value": "v=DMARC1\\; p=reject"},
    }
    assert octodns._fast_dump(data) == _library(data)


# --- the zone-file reader against dnspython's -------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"
ZONE_FILES = sorted(
    path
    for path in GOLDEN.glob("*/expected/**/*")
    if path.is_file() and path.read_bytes().startswith(b"; Generated by mailauth")
)
HAND_WRITTEN = {
    "parentheses, split TXT, relative and absolute owners": (
        "example.org",
        "$ORIGIN example.org.\n$TTL 3600\n"
        "@ IN SOA ns1 hostmaster ( 2024010101 3600\n 900 604800 300 )\n"
        'sel._domainkey 300 IN TXT ( "v=DKIM1; k=rsa; " "p=ABC" )\n'
        "mail.example.org. IN A 192.0.2.25\n",
    ),
    "a comment and a blank owner": (
        "example.net",
        "$ORIGIN example.net.\n$TTL 60\n@ IN MX 10 mail ; the only one\n    IN A 192.0.2.1\n",
    ),
}


def _both(text: str, zone: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = report._bind_rrsets(text, zone)
    monkeypatch.setattr(fastpaths, "FAST", False)
    pure = report._bind_rrsets(text, zone)
    monkeypatch.setattr(fastpaths, "FAST", True)
    return fast, pure


def test_the_golden_zone_files_read_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(ZONE_FILES) >= 10, "the golden cases hold zone files to compare"
    for path in ZONE_FILES:
        text = path.read_text()
        zone = report._recognised(str(path), text)[1]
        assert zone is not None, path
        fast, pure = _both(text, zone, monkeypatch)
        assert fast == pure, path


@pytest.mark.parametrize("case", sorted(HAND_WRITTEN))
def test_hand_written_zones_read_the_same_both_ways(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, text = HAND_WRITTEN[case]
    fast, pure = _both(text, zone, monkeypatch)
    assert fast == pure
