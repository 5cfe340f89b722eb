"""mailauth.lock: the public half of every DKIM key, committed beside mailauth.yaml.

It lets a machine without the private keys (a CI runner pushing DNS) render the DKIM
records, and lets the mail host notice a key that was swapped behind its back. It never
holds private material: only what is published in DNS anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mailauth.compiler.fsio import read_checked
from mailauth.schema.errors import ConfigError, Problem

LOCK_VERSION = 1
_FIELDS = ("domain", "selector", "algorithm", "bits", "created", "fingerprint", "public_key")


@dataclass(frozen=True)
class LockEntry:
    domain: str
    selector: str
    algorithm: str
    bits: int
    created: str
    fingerprint: str
    public_key: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.domain, self.selector)


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
    for index, item in enumerate(doc.get("keys", [])):
        if not isinstance(item, dict) or set(item) != set(_FIELDS):
            raise _bad(path, f"keys[{index}]: expected exactly the fields {', '.join(_FIELDS)}")
        try:
            entry = LockEntry(
                domain=str(item["domain"]),
                selector=str(item["selector"]),
                algorithm=str(item["algorithm"]),
                bits=int(item["bits"]),
                created=str(item["created"]),
                fingerprint=str(item["fingerprint"]),
                public_key=str(item["public_key"]),
            )
        except (TypeError, ValueError):
            raise _bad(path, f"keys[{index}]: a field has the wrong type") from None
        if entry.key in entries:
            raise _bad(path, f"keys[{index}]: {entry.selector}/{entry.domain} is listed twice")
        entries[entry.key] = entry
    return entries


_COMMENT = "Public DKIM keys written by mailauth. Commit this file; it holds no secret."


def render_lock(entries: Lock, tlsa: str | None = None) -> bytes:
    """Stable JSON: sorted by domain then selector, so the file only changes with the keys.

    The text is ``json.dumps(doc, indent=2)`` of ``{"version", "comment", "keys": [...]}``,
    written out here: with ``indent`` the json module falls back to its pure-Python encoder,
    which costs seconds for tens of thousands of keys. ``tlsa``: the published TLSA
    digests' list as compiler/dane.py renders it, written after the keys when given.
    """
    quote = json.encoder.encode_basestring_ascii  # what json.dumps does to each string
    items = []
    for k in sorted(entries):
        entry = entries[k]
        lines = [
            f'      "{name}": ' + (str(value) if isinstance(value, int) else quote(value))
            for name, value in (
                ("domain", entry.domain),
                ("selector", entry.selector),
                ("algorithm", entry.algorithm),
                ("bits", entry.bits),
                ("created", entry.created),
                ("fingerprint", entry.fingerprint),
                ("public_key", entry.public_key),
            )
        ]
        items.append("    {\n" + ",\n".join(lines) + "\n    }")
    keys = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    tail = f',\n  "tlsa": {tlsa}' if tlsa is not None else ""
    text = (
        f'{{\n  "version": {LOCK_VERSION},\n  "comment": {quote(_COMMENT)},\n  "keys": {keys}'
        f"{tail}\n}}\n"
    )
    return text.encode()
