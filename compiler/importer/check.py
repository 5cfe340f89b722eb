"""``mailauth import --check``: the first plan after an import, its changes sorted.

The promise of an import is that the first plan changes no DNS record. It may change only
what can be listed with a reason: the SOA serial, comment headers and formatting, the
order of records, files mailauth will own from now on. ``classify`` sorts a plan's changes
into those categories (a pure function of the plan); anything else is "other", and any
DNS record change is listed one by one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mailauth.compiler.plan import MANIFEST_NAME, FileChange, Plan
from mailauth.compiler.report import RecordChange, dns_changes

DNS = "DNS record changes"
SERIAL = "serial handling"
FORMATTING = "comment headers / formatting"
ORDER = "record order"
NEW = "files mailauth will own from now on"
OTHER = "other"
CATEGORIES = (DNS, SERIAL, FORMATTING, ORDER, NEW, OTHER)

_WHY = {
    SERIAL: "the SOA serial becomes mailauth's (it bumps it on every change)",
    FORMATTING: "the same content: only comments, spacing or (zone files: the same record "
    "sets) layout and record order differ",
    ORDER: "the same lines in another order",
    NEW: "new files (or directories) mailauth writes and owns from now on",
    OTHER: "content changes to review",
}


@dataclass
class ImportCheck:
    """The first plan's changes by category: ``entries[category]`` is a list of lines."""

    entries: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    records: list[RecordChange] = field(default_factory=list)

    @property
    def dns_changed(self) -> bool:
        return bool(self.records)

    def summary(self) -> str:
        """Printable: each category with its count and its lines."""
        lines = ["First plan after the import, by category:"]
        for category in CATEGORIES:
            items = self.entries[category]
            why = "" if category == DNS else f" ({_WHY[category]})"
            lines.append(f"  {category}: {len(items)}{why if items else ''}")
            lines += [f"    - {item}" for item in items]
        if self.dns_changed:
            lines.append("DNS would change: review the config before any apply.")
        else:
            lines.append("No DNS record changes.")
        return "\n".join(lines) + "\n"


def _record_text(change: RecordChange) -> str:
    def side(values: object) -> str:
        return "(none)" if values is None else str(values)

    old = None if change.old is None else (change.old.ttl, list(change.old.values))
    new = None if change.new is None else (change.new.ttl, list(change.new.values))
    return f"{change.operation} {change.name} {change.type}: {side(old)} -> {side(new)}"


def _serial_only(change: RecordChange) -> bool:
    """An SOA change in the serial alone (the other fields and the TTL stay)."""
    if change.type != "SOA" or change.old is None or change.new is None:
        return False
    if change.old.ttl != change.new.ttl or len(change.old.values) != len(change.new.values):
        return False
    for old, new in zip(change.old.values, change.new.values, strict=True):
        a, b = old.split(), new.split()
        if len(a) != 7 or len(b) != 7 or a[:2] + a[3:] != b[:2] + b[3:]:
            return False
    return True


def _content(data: bytes, comment: str) -> list[str]:
    """A file's lines without comments, blank lines and spacing differences."""
    lines = []
    for raw in data.decode("utf-8", "replace").splitlines():
        text = raw.split(comment, 1)[0] if comment == ";" else raw
        if comment == "#" and text.lstrip().startswith("#"):
            continue
        words = " ".join(text.split())
        if words:
            lines.append(words)
    return lines


def _file_category(change: FileChange, zone_file: bool) -> str:
    if change.op == "create" or change.old is None:
        return NEW
    if change.op == "delete" or change.new is None or change.confidential:
        return OTHER
    if zone_file:
        return FORMATTING  # its records are compared as records (dns_changes)
    old, new = _content(change.old, "#"), _content(change.new, "#")
    if old == new:
        return FORMATTING
    if Counter(old) == Counter(new):
        return ORDER
    return OTHER


def classify(plan: Plan) -> ImportCheck:
    """The plan's pending changes, sorted into CATEGORIES."""
    result = ImportCheck()
    records = dns_changes(plan)
    zone_files = {path for change in records for path in change.files}
    for record in records:
        if _serial_only(record):
            result.entries[SERIAL].append(f"{record.zone}: SOA serial " + _record_text(record))
        else:
            result.records.append(record)
            result.entries[DNS].append(_record_text(record))
    for change in plan.pending:
        zone_file = change.path in zone_files or change.artifact.zone is not None
        category = _file_category(change, zone_file)
        if zone_file and category == FORMATTING:
            same = [c for c in records if change.path in c.files]
            if any(c in result.records for c in same):
                continue  # listed record by record above
        if change.target is None and change.path.endswith("/" + MANIFEST_NAME):
            category = NEW  # mailauth's own record of the files it owns
        result.entries[category].append(f"{change.op} {change.path}")
    for directory in plan.pending_dirs:
        category = NEW if directory.op == "create" else OTHER
        result.entries[category].append(f"{directory.op} directory {directory.path}")
    return result


def check_import(config_path: Path, root: Path) -> ImportCheck:
    """Run the plan ``mailauth plan`` runs on the written config against ``root``; sort it."""
    from mailauth.compiler import driver

    job = driver.open_job(config_path, root, None)
    return classify(driver.plan(job))


def handkept_edits(config_path: Path, root: Path) -> list[str]:
    """What the hand-kept zone files of include-mode zones need before the first plan: every
    record that clashes with mailauth's fragment (file and line: remove it) and every missing
    ``$INCLUDE`` (the line to add), for every zone at once. The plan stops at the first file
    it refuses; the user should get the whole list of edits from the import."""
    from datetime import UTC, datetime

    from mailauth.backends import EditContext, EditError
    from mailauth.compiler import driver
    from mailauth.compiler.plan import host_path, render_all

    job = driver.open_job(config_path, root, None)
    model, _ = driver.prepare(job, datetime.now(UTC).date(), generate=False, lenient=True)
    today = datetime.now(UTC).date()
    edits: list[str] = []
    for _, artifact in render_all(model, job.loaded.config, job.targets):
        if artifact.format != "handkept-zone":
            continue
        path = host_path(root, artifact.path)
        try:
            current = path.read_bytes()
        except OSError:
            continue  # the plan names a missing file itself
        ctx = EditContext(today=today, changed=frozenset(), state=None, root=str(root))
        try:
            artifact.render_edited(current, ctx)
        except EditError as exc:
            edits.append(str(exc))
    return edits
