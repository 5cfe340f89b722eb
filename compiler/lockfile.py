"""mailauth.lock: the public half of every DKIM key, committed beside mailauth.yaml.

It lets a machine without the private keys (a CI runner pushing DNS) render the DKIM
records, and lets the mail host notice a key that was swapped behind its back. It never
holds private material: only what is published in DNS anyway.

It also records where each key is in its rotation (docs/key-rotation.md): an entry may
carry ``state`` (published, active, retiring, revoked) with ``since`` and ``until``. A lock
written before rotation existed has no states, and reads as it always did. Removed keys
leave ``keys`` and are listed under ``removed`` (no public key): so that a selector the
config still lists is not made again, and so that apply archives its private key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailauth.compiler.fsio import read_checked
from mailauth.schema.errors import ConfigError, Problem

LOCK_VERSION = 1
_FIELDS = ("domain", "selector", "algorithm", "bits", "created", "fingerprint", "public_key")
#: Optional fields of a key entry (rotation, compiler/rotation/): absent in older locks.
_STATE_FIELDS = ("state", "since", "until")
#: The fields of an entry of the ``removed`` list.
_REMOVED_FIELDS = ("domain", "selector", "algorithm", "bits", "created", "fingerprint", "removed")
_REMOVED_OPTIONAL = ("purge",)
#: The states a key entry may hold; ``removed`` entries live in their own list.
STATES = ("published", "active", "retiring", "revoked")
REMOVED = "removed"


@dataclass(frozen=True)
class LockEntry:
    domain: str
    selector: str
    algorithm: str
    bits: int
    created: str
    fingerprint: str
    public_key: str
    #: Rotation state (lockfile.STATES or REMOVED); None: a lock from before rotation,
    #: the state follows the selector's ``sign:``.
    state: str | None = None
    #: When the state began and (retiring, revoked) when it may end: "YYYY-MM-DDTHH:MM:SSZ".
    since: str | None = None
    until: str | None = None
    #: removed only: apply deletes the private key instead of archiving it.
    purge: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.domain, self.selector)

    @property
    def removed(self) -> bool:
        return self.state == REMOVED


Lock = dict[tuple[str, str], LockEntry]


def _bad(path: Path, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), "(lock file)", message)])


def read_lock(path: Path) -> Lock:
    """The entries of ``path``; an absent file is an empty lock."""
    return read_lock_file(path)[0]


def read_lock_file(path: Path) -> tuple[Lock, bytes | None]:
    """The entries of ``path`` and the bytes they were read from (None: no lock file).

    Read as plan reads (fsio.read_checked): a regular file, not through a symlink, capped.
    """
    try:
        read = read_checked(path.parent, path)
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc}") from None
    if read is None:
        return {}, None
    return _parse(path, read[0]), read[0]


def _parse(path: Path, data: bytes) -> Lock:
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text; restore it from version control") from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _bad(path, f"not valid JSON ({exc}); restore it from version control") from None
    if not isinstance(doc, dict) or doc.get("version") != LOCK_VERSION:
        raise _bad(path, f"not a version {LOCK_VERSION} mailauth lock file")
    entries: Lock = {}
    keys = doc.get("keys", [])
    removed = doc.get("removed", [])
    if not isinstance(keys, list) or not isinstance(removed, list):
        raise _bad(path, "keys and removed must be lists")
    for index, item in enumerate(keys):
        if (
            not isinstance(item, dict)
            or not set(_FIELDS) <= set(item)
            or not set(item) <= set(_FIELDS + _STATE_FIELDS)
        ):
            raise _bad(
                path,
                f"keys[{index}]: expected the fields {', '.join(_FIELDS)} "
                f"(and optionally {', '.join(_STATE_FIELDS)})",
            )
        entry = _entry(path, f"keys[{index}]", item, item["public_key"])
        if entry.state is not None and entry.state not in STATES:
            raise _bad(
                path, f"keys[{index}]: state {entry.state!r} is not one of {', '.join(STATES)}"
            )
        _add(path, entries, entry, f"keys[{index}]")
    for index, item in enumerate(removed):
        if (
            not isinstance(item, dict)
            or not set(_REMOVED_FIELDS) <= set(item)
            or not set(item) <= set(_REMOVED_FIELDS + _REMOVED_OPTIONAL)
        ):
            raise _bad(path, f"removed[{index}]: expected the fields {', '.join(_REMOVED_FIELDS)}")
        fields = {**item, "state": REMOVED, "since": item["removed"]}
        entry = _entry(path, f"removed[{index}]", fields, "")
        _add(path, entries, entry, f"removed[{index}]")
    return entries


def _entry(path: Path, where: str, item: dict[str, object], public_key: object) -> LockEntry:
    def text(name: str) -> str | None:
        value = item.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(name)
        return value

    try:
        bits = int(item["bits"])  # type: ignore[call-overload]
        purge = item.get("purge", False)
        if not isinstance(purge, bool):
            raise TypeError("purge")
        for name in ("since", "until"):
            moment = text(name)
            if moment is not None:
                _stamp(path, where, name, moment)
        return LockEntry(
            domain=str(item["domain"]),
            selector=str(item["selector"]),
            algorithm=str(item["algorithm"]),
            bits=bits,
            created=str(item["created"]),
            fingerprint=str(item["fingerprint"]),
            public_key=str(public_key),
            state=text("state"),
            since=text("since"),
            until=text("until"),
            purge=purge,
        )
    except (TypeError, ValueError):
        raise _bad(path, f"{where}: a field has the wrong type") from None


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _stamp(path: Path, where: str, name: str, value: str) -> None:
    """``since``/``until``: a UTC time as rotation writes it, or the lock is refused."""
    try:
        ok = bool(_STAMP.fullmatch(value)) and bool(datetime.fromisoformat(value[:-1]))
    except ValueError:
        ok = False
    if not ok:
        shown = "removed" if where.startswith("removed") and name == "since" else name
        raise _bad(
            path,
            f"{where}: {shown} must be a UTC time like 2026-12-01T09:00:00Z; restore the "
            "lock from version control",
        )


def _add(path: Path, entries: Lock, entry: LockEntry, where: str) -> None:
    if entry.key in entries:
        raise _bad(path, f"{where}: {entry.selector}/{entry.domain} is listed twice")
    entries[entry.key] = entry


_COMMENT = "Public DKIM keys written by mailauth. Commit this file; it holds no secret."


def render_lock(entries: Lock, tlsa: str | None = None) -> bytes:
    """Stable JSON: sorted by domain then selector, so the file only changes with the keys.

    The text is ``json.dumps(doc, indent=2)`` of ``{"version", "comment", "keys": [...]}``,
    written out here: with ``indent`` the json module falls back to its pure-Python encoder,
    which costs seconds for tens of thousands of keys. ``tlsa``: the published TLSA
    digests' list as compiler/dane.py renders it, written after the keys when given.
    """
    quote = json.encoder.encode_basestring_ascii  # what json.dumps does to each string

    def item(fields: list[tuple[str, str | int | bool]]) -> str:
        lines = [f'      "{name}": ' + _value(value, quote) for name, value in fields]
        return "    {\n" + ",\n".join(lines) + "\n    }"

    items = []
    gone = []
    for k in sorted(entries):
        entry = entries[k]
        common: list[tuple[str, str | int | bool]] = [
            ("domain", entry.domain),
            ("selector", entry.selector),
            ("algorithm", entry.algorithm),
            ("bits", entry.bits),
            ("created", entry.created),
            ("fingerprint", entry.fingerprint),
        ]
        if entry.removed:
            purge: list[tuple[str, str | int | bool]] = [("purge", True)] if entry.purge else []
            gone.append(item([*common, ("removed", entry.since or ""), *purge]))
            continue
        fields = [*common, ("public_key", entry.public_key)]
        fields += [
            (name, value)
            for name, value in (
                ("state", entry.state),
                ("since", entry.since),
                ("until", entry.until),
            )
            if value is not None
        ]
        items.append(item(fields))
    keys = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    removed = ',\n  "removed": [\n' + ",\n".join(gone) + "\n  ]" if gone else ""
    tail = f',\n  "tlsa": {tlsa}' if tlsa is not None else ""
    text = (
        f'{{\n  "version": {LOCK_VERSION},\n  "comment": {quote(_COMMENT)},\n  "keys": {keys}'
        f"{removed}{tail}\n}}\n"
    )
    return text.encode()


def _value(value: str | int | bool, quote: Callable[[str], str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return quote(value)
