"""What the readers found, written as a commented mailauth.yaml and a mailauth.lock.

The file is for a person to review before the first plan, so every note is a comment at
the place it concerns and all of them are listed at the top: nothing the readers could not
represent is dropped silently. Adopted keys are checked against the DKIM records DNS
publishes; a key whose public half differs is never taken: its selector is written
commented out, and ``mismatches`` lets the command refuse the import.

A small block emitter writes the YAML (not ``yaml.safe_dump`` of the whole document) so
that comments can sit on their keys, and so that every string that YAML could read as
something else (a selector ``01``, ``yes``, ``1e3``) is quoted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailauth.compiler.dkimkeys import public_key_from_private
from mailauth.compiler.importer.found import AdoptedKey, Found, Note, Yaml
from mailauth.compiler.lockfile import Lock, LockEntry
from mailauth.compiler.lockfile import render_lock as render_lock_entries
from mailauth.schema.errors import MailauthError
from mailauth.schema.loader import load_yaml_text, safe_load

#: Where the JSON Schema of mailauth.yaml is, for the editor modeline: the installed copy.
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "mailauth.schema.json"

_TOP_ORDER = ("version", "platform", "defaults", "mail_hosts", "zones", "domains", "keys")
_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+:~-]*")


@dataclass(frozen=True)
class Checked:
    """An adopted key after the DNS check: ``mismatch`` when DNS publishes another key."""

    key: AdoptedKey
    mismatch: bool
    published: bool  # DNS has a record for this selector


def _key_bytes(b64: str) -> bytes | None:
    try:
        return base64.b64decode(re.sub(r"\s+", "", b64), validate=True)
    except (binascii.Error, ValueError):
        return None


def _same_key(a: str, b: str) -> bool:
    """Two base64 public keys are the same key (byte for byte, or the same RSA numbers in
    another DER form)."""
    raw_a, raw_b = _key_bytes(a), _key_bytes(b)
    if raw_a is None or raw_b is None:
        return False
    if raw_a == raw_b:
        return True
    try:
        key_a = serialization.load_der_public_key(raw_a)
        key_b = serialization.load_der_public_key(raw_b)
    except (ValueError, TypeError):
        return False
    if isinstance(key_a, rsa.RSAPublicKey) and isinstance(key_b, rsa.RSAPublicKey):
        return key_a.public_numbers() == key_b.public_numbers()
    return False


def check_keys(found: Found) -> list[Checked]:
    """Each adopted key against DNS: the public half read from its file must be the one
    published at ``<selector>._domainkey.<domain>``."""
    checked = []
    for key in found.adopted:
        published = found.dns_keys.get((key.domain, key.selector))
        mismatch = (
            published is not None
            and key.public_key is not None
            and not _same_key(key.public_key, published)
        )
        checked.append(Checked(key, mismatch, published is not None))
    return checked


def mismatches(found: Found) -> list[Note]:
    """A note for each adopted key whose public half DNS does not publish: refused."""
    notes = []
    for item in check_keys(found):
        if item.mismatch:
            key = item.key
            published = found.dns_keys[(key.domain, key.selector)]
            state = "a revoked (empty p=) record" if not published else "another public key"
            notes.append(
                Note(
                    key.where,
                    "mismatch",
                    f"DKIM key {key.selector}._domainkey.{key.domain} ({key.key_file})",
                    f"DNS publishes {state} for this selector than the private key holds: "
                    "signatures with it fail; fix the key or the record, then import again",
                )
            )
    return notes


def _adopt(found: Found) -> tuple[dict[str, Yaml], list[Note], set[tuple[str, str]]]:
    """The domains with each adopted key as ``key_file:`` on its selector; the notes this
    adds; the selectors refused (written commented out)."""
    domains: dict[str, Yaml] = {name: dict(entry) for name, entry in found.domains.items()}
    notes: list[Note] = []
    refused: set[tuple[str, str]] = set()
    for item in check_keys(found):
        key = item.key
        if key.domain not in domains:
            notes.append(
                Note(
                    key.where,
                    "changed",
                    f"domain {key.domain}",
                    "only the signer's tables name it (no zone or DNS record was read for it): "
                    "mailauth gives it the default SPF and DMARC records; check them",
                )
            )
        entry = domains.setdefault(key.domain, {})
        dkim = dict(entry.get("dkim") or {})
        selectors = [dict(s) for s in dkim.get("selectors") or []]
        sel = next((s for s in selectors if str(s.get("name")) == key.selector), None)
        if sel is None:
            sel = {"name": key.selector}
            selectors.append(sel)
        sel["algorithm"] = key.algorithm
        sel["key_file"] = key.key_file
        sel.pop("public_key", None)  # the lock holds it, read from the key itself
        if not key.sign:
            sel["sign"] = False
        else:
            sel.pop("sign", None)
        if item.mismatch:
            refused.add((key.domain, key.selector))
        elif not item.published:
            notes.append(
                Note(
                    key.where,
                    "changed",
                    f"DKIM key {key.selector}._domainkey.{key.domain} ({key.key_file})",
                    "DNS has no record for this selector: the first plan publishes one "
                    "(a DNS change to review)",
                )
            )
        dkim["selectors"] = selectors
        entry["dkim"] = dkim
    return domains, notes, refused


#: A line written in flow style (``- {name: www, type: CNAME, ...}``) at most this long.
_FLOW_WIDTH = 100


def _scalar(value: Any, *, quote: bool = False, flow: bool = False) -> str:
    """A YAML scalar that mailauth's loader reads back as ``value`` itself; in a flow
    collection (``flow``) a ``:`` is quoted too."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = _PLAIN.fullmatch(text) and not (flow and ":" in text)
    if not quote and plain and text[-1] != ":" and _reads_as_itself(text):
        return text
    return _quoted(text)


def _reads_as_itself(text: str) -> bool:
    """Plain ``text`` is read back as this string by YAML 1.1 and by mailauth's loader
    (YAML 1.2 core: ``0o17`` and ``0E0`` are numbers there)."""
    if safe_load(text) != text:
        return False
    try:
        return bool(load_yaml_text(f"x: {text}\n", "(import)").data == {"x": text})
    except MailauthError:
        return False


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _printable(char: str) -> bool:
    """A character YAML takes as it is on a line: not a control, DEL, C1, line or
    paragraph separator, BOM or surrogate."""
    code = ord(char)
    return (
        0x20 <= code < 0x7F
        or (0xA0 <= code < 0xD800 and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or code >= 0x10000
    )


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: any other character written as an escape."""
    out = [_ESCAPES.get(c, c if _printable(c) else f"\\u{ord(c):04x}") for c in text]
    return '"' + "".join(out) + '"'


def _comment_safe(text: str) -> str:
    """Text for a comment line: what YAML would refuse there shown as an escape."""
    return "".join(c if _printable(c) or c == "\t" else f"\\u{ord(c):04x}" for c in text)


def _comment_lines(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in _safe_lines(text)]


def _safe_lines(text: str) -> list[str]:
    return [_comment_safe(line) for line in text.splitlines() or [""]]


class _Emitter:
    """Block-style YAML with comments placed by dotted path (``domains.example.org.spf``):
    an item of a list of mappings with a ``name`` is addressed by that name."""

    def __init__(self, comments: dict[str, list[str]], refused: set[tuple[str, str]]) -> None:
        self.comments = comments
        self.refused = refused
        self.used: set[str] = set()
        self.lines: list[str] = []

    def _before(self, path: str, indent: str) -> None:
        for text in self.comments.get(path, []):
            self.lines += _comment_lines(text, indent)
        if path in self.comments:
            self.used.add(path)

    def mapping(self, data: Yaml, indent: str, path: str, first: str | None = None) -> None:
        for index, (key, value) in enumerate(data.items()):
            here = f"{path}.{key}" if path else str(key)
            lead = first if (first is not None and index == 0) else indent
            if not (first is not None and index == 0):
                self._before(here, indent)
            self._entry(lead, str(key), value, indent, here)

    def _entry(self, lead: str, key: str, value: Any, indent: str, path: str) -> None:
        quote = key == "name" and ".selectors." in f".{path}"
        if isinstance(value, dict) and value:
            self.lines.append(f"{lead}{_scalar(key)}:")
            self.mapping(value, indent + "  ", path)
        elif isinstance(value, list) and value:
            flow = _flow(value)
            if flow is not None and len(lead) + len(key) + len(flow) + 2 <= _FLOW_WIDTH:
                self.lines.append(f"{lead}{_scalar(key)}: {flow}")
                return
            self.lines.append(f"{lead}{_scalar(key)}:")
            self.sequence(value, indent + "  ", path)
        elif isinstance(value, dict):
            self.lines.append(f"{lead}{_scalar(key)}: {{}}")
        elif isinstance(value, list):
            self.lines.append(f"{lead}{_scalar(key)}: []")
        else:
            self.lines.append(f"{lead}{_scalar(key)}: {_scalar(value, quote=quote)}")

    def sequence(self, items: list[Any], indent: str, path: str) -> None:
        for item in items:
            if isinstance(item, dict) and item:
                name = item.get("name")
                here = f"{path}.{name}" if name is not None else path
                self._before(here, indent)
                if path.endswith(".dkim.selectors") and self._refused(path, str(name)):
                    self._commented(item, indent, here)
                    continue
                flow = None if path.endswith(".selectors") else _flow(item)
                if flow is not None and len(indent) + len(flow) + 2 <= _FLOW_WIDTH:
                    self.lines.append(f"{indent}- {flow}")
                    continue
                self.mapping(item, indent + "  ", here, first=f"{indent}- ")
            elif isinstance(item, list):
                self.lines.append(f"{indent}- {json.dumps(item, ensure_ascii=False)}")
            else:
                self.lines.append(f"{indent}- {_scalar(item)}")

    def _refused(self, path: str, selector: str) -> bool:
        parts = path.split(".")
        domain = ".".join(parts[1:-2]) if parts[0] == "domains" else ""
        return (domain, selector) in self.refused

    def _commented(self, item: Yaml, indent: str, path: str) -> None:
        inner = _Emitter({}, set())
        inner.mapping(item, indent + "  ", path, first=f"{indent}- ")
        self.lines.append(f"{indent}# REFUSED: its private key does not match DNS (see the top)")
        self.lines += [f"{indent}# {line.removeprefix(indent)}" for line in inner.lines]


def _flow(value: list[Any] | Yaml) -> str | None:
    """A list or mapping of scalars as one flow collection; None if it holds collections."""
    if isinstance(value, dict):
        if any(isinstance(v, dict | list) for v in value.values()):
            return None
        pairs = [f"{_scalar(k, flow=True)}: {_scalar(v, flow=True)}" for k, v in value.items()]
        return "{" + ", ".join(pairs) + "}"
    if any(isinstance(v, dict | list) for v in value):
        return None
    return "[" + ", ".join(_scalar(v, flow=True) for v in value) + "]"


def _note_text(note: Note) -> str:
    return f"{note.kind}: {note.what} ({note.where}): {note.why}"


def _under(name: str, parent: str) -> bool:
    return bool(parent) and (name == parent or name.endswith("." + parent))


def _note_place(note: Note, found: Found, domains: dict[str, Yaml]) -> str | None:
    """The dotted path a note concerns: a mail domain for its own names (the apex,
    ``_dmarc``, ``_domainkey``), else the zone that holds the name or whose file it is,
    else the target whose setting names the file; None when nothing fits."""
    file = note.where.rsplit(":", 1)[0] if note.where[-1:].isdigit() else note.where
    name = file.rstrip(".").lower()
    zones = sorted((str(z.get("name", "")).lower() for z in found.zones), key=len, reverse=True)
    for domain in sorted(domains, key=len, reverse=True):
        if name in (domain, f"_dmarc.{domain}") or name.endswith(f"._domainkey.{domain}"):
            return f"domains.{domain}"
    for zone in zones:
        if _under(name, zone):
            return f"zones.{zone}"
    for target, settings in found.targets.items():
        if file in {str(v) for v in settings.values() if isinstance(v, str)}:
            return f"targets.{target}"
    if "/" in file:
        base = file.rsplit("/", 1)[-1].lower()
        for zone in zones:
            if zone in base:
                return f"zones.{zone}"
    for domain in sorted(domains, key=len, reverse=True):
        if _under(name, domain):
            return f"domains.{domain}"
    return None


def _wants_list(comments: dict[str, list[str]], path: str, text: str) -> None:
    comments.setdefault(path, []).append(text)


def render_config(
    found: Found,
    *,
    platform: str | None,
    sources: Sequence[str] = (),
    when: datetime | None = None,
) -> str:
    """The commented mailauth.yaml for ``found``. Refused keys (``mismatches``) are written
    commented out; the caller decides whether to write the file at all."""
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    domains, key_notes, refused = _adopt(found)
    notes = [*found.notes, *mismatches(found), *key_notes]
    comments: dict[str, list[str]] = {}
    for path, text in found.comments.items():
        _wants_list(comments, path, text)
    for note in notes:
        place = _note_place(note, found, domains)
        if place is not None:
            _wants_list(comments, place, _note_text(note))

    doc: Yaml = {"version": 1}
    if platform is not None:
        doc["platform"] = platform
    if found.mail_hosts:
        doc["mail_hosts"] = found.mail_hosts
    if found.zones:
        doc["zones"] = found.zones
    doc["domains"] = [{"name": name, **entry} for name, entry in sorted(domains.items())]
    if found.keys:
        doc["keys"] = found.keys
    if found.targets:
        doc["targets"] = found.targets

    emitter = _Emitter(comments, refused)
    body: list[str] = []
    for key in [*_TOP_ORDER, *(k for k in doc if k not in _TOP_ORDER)]:
        if key not in doc:
            continue
        emitter.lines = []
        emitter._before(key, "")
        emitter._entry("", key, doc[key], "", key)
        body += ["", *emitter.lines]
    left = [text for path, texts in comments.items() if path not in emitter.used for text in texts]

    head = [
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        f"# mailauth.yaml imported by `mailauth import` on {moment}",
    ]
    if sources:
        head += [f"# {line}" for line in _safe_lines("from: " + ", ".join(sources))]
    head += [
        "# Review it before anything else: every comment below marks something the import",
        "# read differently, kept raw, or could not carry over. Then run `mailauth plan`:",
        "# the first plan must change no DNS record (`mailauth import --check` shows it).",
    ]
    if notes:
        head += ["#", "# Not imported as it was (carry these over by hand where needed):"]
        head += [f"#   - {line}" for note in notes for line in _safe_lines(_note_text(note))]
    if left:
        head += ["#", "# Remarks:"]
        head += [f"#   - {line}" for text in left for line in _safe_lines(text)]
    return "\n".join(head + body) + "\n"


def _entry_for(key: AdoptedKey, root: Path | None, today: date) -> LockEntry | None:
    """The lock entry apply would make for an adopted key (compiler/keys.py: the public
    facts of the private key, dkimkeys.public_key_from_private), or from its public half."""
    info = None
    if root is not None:
        path = root / key.key_file.lstrip("/")
        try:
            info = public_key_from_private(path.read_bytes(), key.algorithm)
        except (OSError, ValueError):
            info = None
    if info is not None:
        return LockEntry(
            key.domain, key.selector, info.algorithm, info.bits,
            today.isoformat(), info.fingerprint, info.public_key_b64,
        )  # fmt: skip
    raw = _key_bytes(key.public_key or "")
    if raw is None:
        return None
    if key.algorithm == "ed25519":
        bits = 256
    else:
        try:
            public = serialization.load_der_public_key(raw)
        except (ValueError, TypeError):
            return None
        if isinstance(public, ed25519.Ed25519PublicKey) or not isinstance(public, rsa.RSAPublicKey):
            return None
        bits = public.key_size
    return LockEntry(
        key.domain,
        key.selector,
        key.algorithm,
        bits,
        today.isoformat(),
        "sha256:" + hashlib.sha256(raw).hexdigest(),
        base64.b64encode(raw).decode("ascii"),
    )


def lock_entries(found: Found, root: Path | None = None, today: date | None = None) -> Lock:
    """The lock entries of the adopted keys that match DNS (refused ones are left out)."""
    day = today or datetime.now(UTC).date()
    entries: Lock = {}
    for item in check_keys(found):
        if item.mismatch:
            continue
        entry = _entry_for(item.key, root, day)
        if entry is not None:
            entries[entry.key] = entry
    return entries


def render_lock(found: Found, root: Path | None = None, today: date | None = None) -> bytes:
    """mailauth.lock for the adopted keys, as apply would write it (lockfile.render_lock)."""
    return render_lock_entries(lock_entries(found, root, today))
