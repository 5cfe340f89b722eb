"""A BIND zone file parsed by dnspython, every ``$INCLUDE`` opened under the root.

dnspython opens ``$INCLUDE`` files itself, by the name as written; a hand-kept zone names
host paths (``/var/named/...``), which must be read under ``--root`` and never outside it.
Its reader looks ``open`` up in its own module, so for the time of one parse that name is
bound to a function that resolves the path under the root (a lock keeps parses apart).
Along the way each file's text is scanned for what the parsed zone no longer shows: the
first ``$TTL`` (the zone's default TTL) and ``$GENERATE`` lines.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.ttl
import dns.zone
import dns.zonefile

from mailauth.compiler.importer.rooted import OutsideRoot, as_host, under_root

_LOCK = threading.Lock()
_TTL = re.compile(r"^\$TTL[ \t]+(\S+)", re.I | re.M)
_INCLUDE_LINE = re.compile(r"^(.*?):([0-9]+): (?=\$INCLUDE )")
_INCLUDE = re.compile(r"^\$INCLUDE[ \t]", re.I | re.M)
_GENERATE = re.compile(r"^\$GENERATE[ \t]+([^\n;]*)", re.I | re.M)


class ZoneReadError(ValueError):
    """A zone file that cannot be read: the message names the file (and line)."""


@dataclass
class ReadZone:
    zone: dns.zone.Zone
    file: str  # host path
    default_ttl: int | None  # the main file's first $TTL
    generated: list[tuple[str, str]] = field(default_factory=list)  # (FILE:LINE, the line)
    included: list[str] = field(default_factory=list)  # host paths of $INCLUDEd files
    directives: int = 0  # $INCLUDE lines seen in the texts read


class _Refused(dns.exception.SyntaxError):
    """Raised inside dnspython's reader, which adds the file and line to the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)  # type: ignore[no-untyped-call]  # untyped in dnspython


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").replace("\r\n", "\n")


def _scan(host: str, text: str, out: ReadZone) -> None:
    out.directives += len(_INCLUDE.findall(text))
    for m in _GENERATE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.generated.append((f"{host}:{line}", "$GENERATE " + m.group(1).strip()))


@contextmanager
def _rooted_open(root: Path, base: str, out: ReadZone) -> Iterator[None]:
    def opener(name: str, *_args: Any, **_kwargs: Any) -> io.StringIO:
        try:
            path = under_root(root, name, base)
        except OutsideRoot as exc:
            raise _Refused(f"$INCLUDE refused: {exc}") from None
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise _Refused(f"$INCLUDE {name!r}: cannot read it: {why}") from None
        host = as_host(root, path)
        out.included.append(host)
        _scan(host, text, out)
        return io.StringIO(text)

    with _LOCK:
        dns.zonefile.open = opener  # type: ignore[attr-defined]
        try:
            yield
        finally:
            del dns.zonefile.open  # type: ignore[attr-defined]


def read_zone(root: Path, name: str, file: str, base: str | None = None) -> ReadZone:
    """Zone ``name`` from host file ``file``; relative ``$INCLUDE`` names are under ``base``
    (named's ``directory``; default the zone file's own directory)."""
    try:
        path = under_root(root, file)
        text = _read(path)
    except OutsideRoot as exc:
        raise ZoneReadError(f"zone {name}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneReadError(f"{file}: cannot read it: {exc}") from None
    host = as_host(root, path)
    ttl_match = _TTL.search(text)
    try:
        default_ttl = dns.ttl.from_text(ttl_match.group(1)) if ttl_match else None
    except dns.exception.DNSException:
        default_ttl = None
    out = ReadZone(dns.zone.Zone(dns.name.root), host, default_ttl)
    _scan(host, text, out)
    try:
        with _rooted_open(root, base or host.rsplit("/", 1)[0] or "/", out):
            out.zone = dns.zone.from_text(
                text,
                origin=name + ".",
                relativize=False,
                filename=host,
                allow_include=True,
                check_origin=True,
            )
    except dns.exception.DNSException as exc:
        # dnspython names the line after an $INCLUDE whose file fails (it has read the
        # directive's end of line by then): name the directive's own.
        detail = _INCLUDE_LINE.sub(lambda m: f"{m[1]}:{int(m[2]) - 1}: ", str(exc), count=1)
        where = "" if detail.startswith("/") else f"{host}: "
        raise ZoneReadError(f"{where}{detail}") from None
    if out.directives != len(out.included):
        # The hook above did not see every $INCLUDE: dnspython opened one itself, maybe
        # outside the root. Refuse the zone rather than trust what it read.
        raise ZoneReadError(
            f"{host}: {out.directives} $INCLUDE lines but {len(out.included)} files read "
            "under the root: this dnspython opens included files in a way mailauth cannot "
            "keep under --root"
        )
    return out
