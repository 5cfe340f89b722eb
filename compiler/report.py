"""How a plan is shown: coloured text for people, JSON for tools, Markdown for pull requests.

Every format is built from the same :class:`Plan` and shows secrets the same way: never.
A secret file (a private key) appears only as a fingerprint of its bytes, or as the
placeholder of a key that apply will make; the record-level DNS changes are read from zone
files only, which hold public keys at most. The JSON layout is documented, and versioned,
in docs/plan-format.md.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import PurePosixPath
from typing import Any, Literal, TextIO

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.ttl
import dns.zone
import yaml

from mailauth.backends.bind import HEADER as BIND_HEADER
from mailauth.backends.octodns import HEADER as OCTODNS_HEADER
from mailauth.backends.templating import Block, Inline, render
from mailauth.compiler.hostdirs import DirChange
from mailauth.compiler.plan import FileChange, Plan, shell_safe
from mailauth.compiler.wording import count as counted
from mailauth.schema import fastpaths, rrtypes
from mailauth.schema.loader import safe_load

#: The ``format_version`` of ``plan --format json``; bumped on any incompatible change.
PLAN_FORMAT_VERSION = 1

_SIGN = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}
_COLOUR = {"create": "32", "update": "33", "delete": "31"}
#: A diff longer than this is cut in Markdown (a GitHub comment holds 65536 characters).
MARKDOWN_DIFF_LIMIT = 12_000
#: Values longer than this are shortened in the text and Markdown tables (JSON has them whole).
SHORT_VALUE = 72
CHECKSUM_MARKER = "mailauth-checksum"
#: Starts the line that names each file (or directory) of a text plan: never a diff line's
#: "+", "-", " ", "---", "+++" or "@@", so the headers stand out without colour too.
HEAD_MARK = "==>"


def _version() -> str:
    try:
        return metadata.version("mailauth")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _diff_lines(diff: str, colour: bool) -> str:
    if not colour:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(_paint(line.rstrip("\n"), "1", True) + "\n")
        elif line.startswith("+"):
            out.append(_paint(line.rstrip("\n"), "32", True) + "\n")
        elif line.startswith("-"):
            out.append(_paint(line.rstrip("\n"), "31", True) + "\n")
        elif line.startswith("@@"):
            out.append(_paint(line.rstrip("\n"), "36", True) + "\n")
        else:
            out.append(line)
    return "".join(out)


def withheld_note(plan: Plan) -> str | None:
    """Why a reload command is missing from "run:", or None when none is."""
    if not plan.withheld:
        return None
    return (
        f"warning: {counted(plan.withheld, 'reload command')} not shown: they hold unquoted shell "
        "syntax (a path or value from mailauth.yaml?); reload those services by hand"
    )


def summary(plan: Plan) -> str:
    text = (
        f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete, {plan.count('unchanged')} unchanged."
    )
    if plan.pending_dirs:
        ops = [d.op for d in plan.pending_dirs]
        text += (
            f" Directories: {ops.count('create')} to create, {ops.count('update')} to "
            f"update, {ops.count('delete')} to delete."
        )
    return text


def host_step_lines(plan: Plan) -> list[str]:
    """The required host steps, one command each with why (empty when none is left).

    On ``--root /`` they were checked and found missing; under a staging root they are
    for the host the tree goes to, and were not checked.
    """
    if not plan.host_steps:
        return []
    checked = all(step.checked for step in plan.host_steps)
    head = (
        "Required host steps (mailauth apply cannot do them; run as root):"
        if checked
        else "Required host steps on the mail host (not checked under a staging root; "
        "mailauth apply cannot do them):"
    )
    return [head, *(f"  {step.command}    # {step.why}" for step in plan.host_steps)]


def _line_counts(change: FileChange) -> tuple[int, int] | None:
    """Lines added and removed, or None where no diff is shown (secrets, placeholders)."""
    if change.confidential or change.placeholder is not None or change.op == "unchanged":
        return None
    added = removed = 0
    for line in change.diff().splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def _lines_cell(change: FileChange) -> str:
    counts = _line_counts(change)
    if counts is None:
        return "new key" if change.placeholder is not None else "secret"
    return f"+{counts[0]} -{counts[1]}"


# --- record-level DNS changes ---------------------------------------------------------------

RecordOp = Literal["create", "update", "delete"]
_RECORD_OPS: tuple[RecordOp, ...] = ("create", "update", "delete")
_Rrsets = dict[tuple[str, str], tuple[int, tuple[str, ...]]]


@dataclass(frozen=True)
class RecordSet:
    """One side of a record change: the TTL and the values, in presentation form.

    TXT values are the text itself, whole (not quoted, not split into strings).
    """

    ttl: int
    values: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"ttl": self.ttl, "values": list(self.values)}


@dataclass(frozen=True)
class RecordChange:
    """A change of one DNS record set (owner and type) that apply would publish."""

    zone: str
    name: str  # absolute, with the trailing dot
    type: str
    operation: RecordOp
    old: RecordSet | None
    new: RecordSet | None
    files: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "name": self.name,
            "type": self.type,
            "operation": self.operation,
            "old": self.old.as_json() if self.old else None,
            "new": self.new.as_json() if self.new else None,
            "files": list(self.files),
        }


_ORIGIN = re.compile(r"^\$ORIGIN\s+(\S+)", re.MULTILINE)
_INCLUDE_OF = re.compile(r"^; Include from the zone file of (\S+):", re.MULTILINE)


# Tokens of a zone file as BIND reads them: quoted strings, comments, parentheses, line
# ends, and words (any other run of characters; backslash escapes kept).
_ZONE_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|;[^\n]*|[()]|\n|[^\s;()"]+|[ \t\r]+|.')
_OWNER = re.compile(r"@|[a-z0-9_*-]+(?:\.[a-z0-9_*-]+)*\.?")
_RTYPE = re.compile(r"[A-Z][A-Z0-9]*")


class _NotSimple(Exception):
    """The text uses zone-file syntax beyond the layout mailauth writes."""


@functools.lru_cache(maxsize=16384)
def _rdata_text(rtype: str, rdata: str, origin: str) -> str:
    """A record's value as _bind_rrsets shows it (dnspython parses it, as the zone reader)."""
    parsed: Any = dns.rdata.from_text(
        "IN", rtype, rdata, origin=dns.name.from_text(origin), relativize=False
    )
    if rrtypes.is_text(rtype):
        strings: Iterable[bytes] = parsed.strings
        return b"".join(strings).decode("utf-8", "backslashreplace")
    return str(parsed.to_text())


def _relative(rtype: str, data: str) -> bool:
    """The data may hold a name relative to the origin (else it reads the same anywhere)."""
    return rrtypes.absolute(rtype, data) is not True


@functools.lru_cache(maxsize=256)
def _singleton(rtype: str) -> bool:
    return bool(dns.rdatatype.is_singleton(dns.rdatatype.from_text(rtype)))


def _ttl(word: str) -> int | None:
    """A TTL written in digits, as the zone reader takes it (None: not one it takes)."""
    if not word.isdigit() or int(word) > dns.ttl.MAX_TTL:
        return None
    return int(word)


def _simple_bind_rrsets(text: str, zone: str) -> _Rrsets:
    """_bind_rrsets for the layout mailauth writes, without dnspython's zone reader.

    Each logical line is ``$ORIGIN``/``$TTL`` or ``owner [ttl] IN TYPE data`` with the owner
    in column one; the data is parsed by dnspython (cached: most values recur across zones).
    Anything else raises _NotSimple, and the caller reads the file with dnspython instead.
    Kept for speed: dnspython's zone reader takes about 7 times as long on the zones
    mailauth writes (8 ms against 1.1 ms a zone, benchmarks/generate.py's), and a plan
    reads every zone file it changes.
    """
    origin = zone.rstrip(".") + "."
    if not _OWNER.fullmatch(origin) or origin == "@":
        raise _NotSimple
    apex = origin
    default_ttl: int | None = None
    ttls: dict[tuple[str, str], int] = {}
    values: dict[tuple[str, str], set[str]] = {}
    line: list[str] = []
    depth = 0
    starts_blank = False
    at_line_start = True
    for match in _ZONE_TOKEN.finditer(text + "\n"):
        token = match.group()
        first = token[0]
        if first in " \t\r":
            if at_line_start:
                starts_blank = True
            continue
        at_line_start = False
        if first == ";":
            continue
        if token == "(":
            depth += 1
            continue
        if token == ")":
            depth -= 1
            if depth < 0:
                raise _NotSimple
            continue
        if token != "\n":
            if token == '"' or (first != '"' and "\\" in token):
                raise _NotSimple  # an unterminated string, or an escape outside quotes
            line.append(token)
            continue
        if depth:
            continue
        at_line_start = True
        if not line:
            starts_blank = False
            continue
        if starts_blank:
            raise _NotSimple  # an owner inherited from the line before
        words, line, starts_blank = line, [], False
        if words[0] == "$ORIGIN":
            if len(words) != 2 or not words[1].endswith(".") or not _OWNER.fullmatch(words[1]):
                raise _NotSimple
            origin = words[1]
            continue
        if words[0] == "$TTL":
            if len(words) != 2:
                raise _NotSimple
            default_ttl = _ttl(words[1])
            if default_ttl is None:
                raise _NotSimple
            continue
        owner = words[0]
        if not _OWNER.fullmatch(owner):
            raise _NotSimple
        rest = words[1:]
        ttl = default_ttl
        if rest and rest[0].isdigit():
            ttl = _ttl(rest[0])
            if ttl is None:
                raise _NotSimple
            rest = rest[1:]
        if ttl is None or len(rest) < 3 or rest[0] != "IN" or not _RTYPE.fullmatch(rest[1]):
            raise _NotSimple
        rtype = rest[1]
        if owner == "@":
            name = origin
        elif owner.endswith("."):
            name = owner
        else:
            name = f"{owner}.{origin}"
        if name != apex and not name.endswith("." + apex):
            continue  # outside the zone: the zone reader skips it too
        key = (name, rtype)
        data = " ".join(rest[2:])
        value = _rdata_text(rtype, data, origin if _relative(rtype, data) else ".")
        found = values.setdefault(key, set())
        if found and value not in found and _singleton(rtype):
            raise _NotSimple  # a second CNAME or SOA replaces the first: dnspython's call
        ttls[key] = min(ttl, ttls.get(key, ttl))
        found.add(value)
    if depth or line:
        raise _NotSimple
    types: dict[str, set[str]] = {}
    for name, rtype in values:
        types.setdefault(name, set()).add(rtype)
    if any("CNAME" in kinds and len(kinds) > 1 for kinds in types.values()):
        raise _NotSimple  # dnspython refuses this; let it say so
    return {key: (ttls[key], tuple(sorted(found))) for key, found in values.items()}


def _bind_rrsets(text: str, zone: str) -> _Rrsets:
    """The record sets of a zone file: the fast reader when it can (schema/fastpaths.py),
    else dnspython's zone reader, which gives the same answer (tests/test_fastpaths.py)."""
    if fastpaths.enabled():
        try:
            return _simple_bind_rrsets(text, zone)
        except _NotSimple:
            pass
    parsed = dns.zone.from_text(text, origin=zone, relativize=False, check_origin=False)
    out: _Rrsets = {}
    for owner, node in parsed.nodes.items():
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            values: list[str] = []
            for rdata in rdataset:
                if rrtypes.is_text(rtype):
                    strings: Iterable[bytes] = rdata.strings
                    values.append(b"".join(strings).decode("utf-8", "backslashreplace"))
                else:
                    values.append(rdata.to_text())
            out[(owner.to_text(), rtype)] = (rdataset.ttl, tuple(sorted(values)))
    return out


def _octodns_value(rtype: str, value: Any) -> str:
    """A value of an octodns zone file as _bind_rrsets shows the same record's value."""
    if rtype not in rrtypes.OCTODNS_TYPES and isinstance(value, str):
        return value
    try:
        text = rrtypes.from_octodns(rtype, value)
        return text if rrtypes.is_text(rtype) else _rdata_text(rtype, text, ".")
    except (dns.exception.DNSException, ValueError):
        # Hand-edited beyond the type's layout: shown as written.
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _octodns_rrsets(text: str, zone: str) -> _Rrsets:
    doc = safe_load(text) or {}
    out: _Rrsets = {}
    if not isinstance(doc, dict):
        raise ValueError("not an octodns zone file")
    for name, records in doc.items():
        owner = f"{zone}." if not name else f"{name}.{zone}."
        for record in records if isinstance(records, list) else [records]:
            rtype = str(record["type"])
            raw = record["values"] if "values" in record else [record["value"]]
            values = tuple(sorted(_octodns_value(rtype, v) for v in raw))
            out[(owner, rtype)] = (int(record.get("ttl", 3600)), values)
    return out


def _recognised(path: str, text: str) -> tuple[str | None, str | None]:
    """The format and zone of a file no artifact describes (a stale file to delete), from
    the header mailauth wrote into it."""
    if text.startswith(BIND_HEADER):
        origin = _ORIGIN.search(text) or _INCLUDE_OF.search(text)
        return "zone", None if origin is None else origin.group(1).rstrip(".")
    if text.startswith(OCTODNS_HEADER):
        return "yaml-zone", PurePosixPath(path).name.removesuffix(".yaml")
    return None, None


def _zone_records(change: FileChange, data: bytes | None) -> tuple[str, _Rrsets] | None:
    """The zone and record sets of a DNS file mailauth writes; None for any other file.

    The artifact says what the file is (its format, and the zone it holds).
    """
    if data is None:
        return None
    text = data.decode("utf-8", "replace")
    kind, zone = change.artifact.format, change.artifact.zone
    if kind is None:
        kind, zone = _recognised(change.path, text)
    if zone is None:
        return None
    try:
        if kind == "zone":
            return zone, _bind_rrsets(text, zone)
        if kind == "yaml-zone":
            return zone, _octodns_rrsets(text, zone)
    except (dns.exception.DNSException, yaml.YAMLError, ValueError, KeyError, TypeError):
        return None  # hand-edited beyond reading: the file diff still shows the change
    return None


def _owner_key(name: str) -> tuple[str, ...]:
    return tuple(reversed(name.rstrip(".").lower().split(".")))


def dns_changes(plan: Plan) -> list[RecordChange]:
    """Record sets that the pending DNS files add, change or remove, zone by zone.

    Read from the zone files themselves (old bytes on disk, new bytes planned), so they are
    exactly what the name server or octodns will publish. A record set that two targets
    change alike (BIND and octodns) is listed once, naming both files.
    """
    found: dict[tuple[str, str, str, RecordOp, Any, Any], list[str]] = {}
    for change in plan.pending:
        if change.confidential or change.placeholder is not None:
            continue
        old = None if change.foreign else _zone_records(change, change.old)
        new = _zone_records(change, change.new)
        source = new if new is not None else old
        if source is None:
            continue
        zone = source[0]
        before = old[1] if old else {}
        after = new[1] if new else {}
        for key in sorted(set(before) | set(after)):
            was, now = before.get(key), after.get(key)
            if was == now:
                continue
            op: RecordOp = "create" if was is None else "delete" if now is None else "update"
            old_set = RecordSet(*was) if was else None
            new_set = RecordSet(*now) if now else None
            found.setdefault((zone, key[0], key[1], op, old_set, new_set), []).append(change.path)
    changes = [
        RecordChange(zone, name, rtype, op, old_set, new_set, tuple(files))
        for (zone, name, rtype, op, old_set, new_set), files in found.items()
    ]
    return sorted(changes, key=lambda c: (_owner_key(c.zone), _owner_key(c.name), c.type))


def _dns_summary(changes: list[RecordChange]) -> str:
    counts = {op: sum(1 for c in changes if c.operation == op) for op in _RECORD_OPS}
    return (
        f"DNS records: {counts['create']} to add, {counts['update']} to change, "
        f"{counts['delete']} to remove."
    )


def _short(text: str, limit: int = SHORT_VALUE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _values_text(side: RecordSet | None, rtype: str) -> str:
    if side is None:
        return "(none)"
    shown = [f'"{v}"' if rrtypes.is_text(rtype) else v for v in side.values]
    return _short(", ".join(shown))


# --- text ---------------------------------------------------------------------------------


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def as_text(
    plan: Plan,
    *,
    colour: bool = False,
    diffs: bool = True,
    checksum: str | None = None,
    quiet: bool = False,
) -> str:
    """The plan for a terminal: each change and its diff, then the summary tables.

    ``quiet`` keeps only the summary line (and the checksum): for scripts and logs.
    """
    parts: list[str] = []
    if not quiet:
        for directory in plan.pending_dirs:
            head = f"{HEAD_MARK} {directory.headline()}"
            parts.append(_paint(head, _COLOUR[directory.op], colour) + "\n")
        for change in plan.pending:
            head = f"{HEAD_MARK} {change.op} {change.path}"
            parts.append(_paint(head, _COLOUR[change.op], colour) + "\n")
            if diffs:
                parts.append(_diff_lines(change.diff(), colour))
        for note in plan.notes:
            parts.append(f"note: {note}\n")
        if not plan.has_work:
            parts.append("No changes: everything under the root is up to date.\n")
        if plan.has_work:
            parts.append("\nSummary:\n")
            rows = [["operation", "file", "lines"]]
            rows += [[d.op, d.path + "/", d.wanted] for d in plan.pending_dirs]
            rows += [[c.op, c.path, _lines_cell(c)] for c in plan.pending]
            lines = _table(rows)
            parts.append(_paint(lines[0], "1", colour) + "\n")
            ops = [d.op for d in plan.pending_dirs] + [c.op for c in plan.pending]
            for op, line in zip(ops, lines[1:], strict=True):
                parts.append(_paint(line, _COLOUR[op], colour) + "\n")
        records = dns_changes(plan)
        if records:
            parts.append("\n" + _dns_summary(records) + "\n")
            rows = [["", "name", "type", "old", "new"]]
            rows += [
                [
                    _SIGN[r.operation],
                    r.name,
                    r.type,
                    _values_text(r.old, r.type),
                    _values_text(r.new, r.type),
                ]
                for r in records
            ]
            parts += [line + "\n" for line in _table(rows)]
            parts.append("\n")
    parts.append(summary(plan) + "\n")
    if checksum is not None:
        parts.append(f"Plan checksum: {checksum}\n")
    if plan.reloads and not quiet:
        parts.append("After apply, run: " + "; ".join(plan.reloads) + "\n")
    held = withheld_note(plan)
    if held is not None and not quiet:
        parts.append(held + "\n")
    if not quiet:
        if plan.checks:
            parts.append("Check the configs with: " + "; ".join(plan.checks) + "\n")
        parts += [line + "\n" for line in host_step_lines(plan)]
    return "".join(parts)


# --- JSON ---------------------------------------------------------------------------------


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _change_json(change: FileChange) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": change.path,
        "operation": change.op,
        "secret": change.confidential,
        "mode": f"{change.mode:04o}",
        "rooted": change.rooted,
        "reload": change.reload if change.reload and shell_safe(change.reload) else None,
        "foreign": change.foreign,
    }
    if change.placeholder is not None:
        entry["placeholder"] = change.placeholder
    if change.confidential:
        entry["old_fingerprint"] = change.fingerprint(change.old)
        entry["new_fingerprint"] = (
            "(made by apply)" if change.placeholder is not None else change.fingerprint(change.new)
        )
        return entry
    entry["old_sha256"] = _sha256(change.old)
    entry["new_sha256"] = None if change.placeholder is not None else _sha256(change.new)
    if change.op != "unchanged":
        entry["diff"] = change.diff()
    return entry


def _dir_json(change: DirChange) -> dict[str, Any]:
    return {
        "path": change.path,
        "operation": change.op,
        "target": change.target,
        "owner": change.owner,
        "group": change.group,
        "mode": f"{change.mode:04o}",
        "current": change.current,
        "purpose": change.purpose,
        "recorded": change.ours,
    }


def as_json(plan: Plan, *, checksum: str | None = None) -> str:
    doc = {
        "format_version": PLAN_FORMAT_VERSION,
        "kind": "mailauth-plan",
        "mailauth_version": _version(),
        "checksum": checksum,
        "root": str(plan.root),
        "pending": plan.has_work,
        "summary": {op: plan.count(op) for op in ("create", "update", "delete", "unchanged")},
        "changes": [_change_json(c) for c in plan.changes],
        "directories": [_dir_json(d) for d in plan.directories],
        "dns": [r.as_json() for r in dns_changes(plan)],
        "host_steps": [
            {"command": h.command, "why": h.why, "target": h.target, "checked": h.checked}
            for h in plan.host_steps
        ],
        "reload": plan.reloads,
        "reload_withheld": plan.withheld,
        "checks": plan.checks,
        "notes": plan.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


# --- Markdown -----------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Plain text for a Markdown table cell: no markup, no pipes, no line breaks."""
    text = " ".join(text.split())
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~&])", r"\\\1", text)


def _code(text: str) -> str:
    """``text`` as an inline code span that survives a table cell.

    Inside a code span only two things matter: a backtick run as long as the fence would
    close it (so the fence is made longer than any run), and ``|``, which GitHub splits
    cells on before it sees the span (so it is escaped; the escape is not shown).
    """
    text = " ".join(text.split()).replace("|", "\\|")
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(body: str) -> str:
    runs = [len(m) for m in re.findall(r"`{3,}", body)]
    return "`" * max(3, max(runs, default=0) + 1)


def _md_values(side: RecordSet | None) -> str:
    if side is None:
        return "(none)"
    return "<br>".join(_code(_short(v)) for v in side.values)


def _md_diff(change: FileChange) -> dict[str, str]:
    """One file's diff for the Markdown plan, cut where a comment would grow too long."""
    diff = change.diff().rstrip("\n")
    if len(diff) > MARKDOWN_DIFF_LIMIT:
        cut = diff[:MARKDOWN_DIFF_LIMIT].rsplit("\n", 1)[0]
        diff = cut + f"\n... (diff cut at {MARKDOWN_DIFF_LIMIT} characters; see the job log)"
    return {
        "op": change.op,
        "path": Inline(html.escape(change.path)),
        "fence": _fence(diff),
        "body": Block(diff),
    }


def as_markdown(plan: Plan, *, checksum: str | None = None) -> str:
    """A pull-request comment: summary, tables, each diff folded away, the checksum.

    The layout is backends/templates/plan.md.j2; the cells are escaped here.
    """
    files: list[tuple[str, Inline, Inline]] = []
    if plan.has_work:
        files += [
            (f"{d.op} directory", Inline(_code(d.path + "/")), Inline(_cell(d.wanted)))
            for d in plan.pending_dirs
        ]
        files += [(c.op, Inline(_code(c.path)), Inline(_lines_cell(c))) for c in plan.pending]
    records = dns_changes(plan)
    steps = host_step_lines(plan)
    held = withheld_note(plan)
    return render(
        "plan.md.j2",
        summary=summary(plan),
        files=files,
        dns_summary=_dns_summary(records) if records else None,
        records=[
            (
                r.operation,
                Inline(_cell(r.zone)),
                Inline(_code(r.name)),
                Inline(_cell(r.type)),
                Inline(_md_values(r.old)),
                Inline(_md_values(r.new)),
            )
            for r in records
        ],
        diffs=[_md_diff(change) for change in plan.pending],
        notes=[Inline(_cell(note)) for note in plan.notes],
        reloads=Inline("; ".join(_code(r) for r in plan.reloads)),
        withheld=Inline(_cell(held)) if held is not None else None,
        checks=Inline("; ".join(_code(c) for c in plan.checks)),
        steps_head=Inline(_cell(steps[0])) if steps else None,
        steps=[Inline(line.strip().replace("```", "")) for line in steps[1:]],
        checksum=checksum,
        marker=CHECKSUM_MARKER,
    )


# --- progress -----------------------------------------------------------------------------


class KeyProgress:
    """A progress bar for key generation, on a terminal only, and only when there are many.

    RSA keys take a noticeable moment each (4096 bits: about a second), so an apply that
    makes a dozen of them shows how far it got instead of seeming to hang.
    """

    MIN_KEYS = 3
    WIDTH = 24

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._shown = False

    def __call__(self, done: int, total: int, name: str) -> None:
        if not self.enabled or total < self.MIN_KEYS:
            return
        filled = min(self.WIDTH, self.WIDTH * done // total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\rGenerating DKIM keys [{bar}] {done}/{total} {_short(name, 40):<40}")
        self._shown = True
        if done >= total:
            self.stream.write("\n")
            self._shown = False
        self.stream.flush()

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
