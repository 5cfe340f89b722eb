"""The plan checksum: one value that names exactly the plan a reviewer approved.

``mailauth plan`` prints it; ``mailauth apply --checksum X`` plans again and writes only if
the new plan has the same checksum, so what is written is what was reviewed.

What it covers: everything that decides the writes.

* the bytes of mailauth.yaml and of mailauth.lock (the inputs; an edit that changes no
  file, a comment say, still invalidates the review: the approval was for that file);
* the targets in play;
* for every file of the plan, in plan (= write) order: its host path (the lock file's
  path relative to the config's directory), the operation, the SHA-256 of the bytes on
  disk now and of the bytes to write, mode, owner and group, and the secret and
  write-once flags. Unchanged files are included too, so a file edited on disk since the
  review invalidates it even where the edit happens to agree with the plan.

What it leaves out, on purpose: the ``--root`` directory (the same reviewed change may be
applied to a staging copy and to ``/``; the host paths and the old bytes already pin what
is touched), the notes, and the date. The date still counts where it shows: a zone's new
SOA serial is YYYYMMDDnn, so a plan that bumps a serial reviewed on one (UTC) day is
refused on the next. That is the honest answer: the file would differ from the review.

New DKIM keys: a private key does not exist until apply makes it, and it is random, so no
checksum could name it in advance. The checksum is therefore taken over the plan made
*without* generating keys, as ``plan`` shows it: a new key file counts by its placeholder
(algorithm and size), and the lock file and zone files that will hold its public half
count with the placeholder text in place of the key. Apply recomputes that same
placeholder plan (under its lock, before any key is made) and compares. It then makes the
keys and checks that the real plan matches the reviewed one file by file — same paths,
operations, old bytes and modes, and identical new bytes for every file that does not
carry a new key — so the only thing that differs from the review is the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from pathlib import Path

from mailauth.compiler.keys import PENDING_KEY
from mailauth.compiler.plan import FileChange, Plan, PlanError
from mailauth.schema.errors import MailauthError

CHECKSUM_VERSION = 1
PREFIX = "sha256:"


class ChecksumMismatch(PlanError):
    """The plan is no longer the one that was reviewed; nothing was written."""


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _where(change: FileChange, config_dir: Path) -> str:
    if change.rooted:
        return change.path
    path = Path(change.path)
    try:
        return "config:" + str(path.resolve().relative_to(config_dir))
    except ValueError:
        return "host:" + change.path


def _new(change: FileChange) -> str | None:
    if change.placeholder is not None:
        return "placeholder:" + change.placeholder
    return _digest(change.new)


def plan_checksum(
    plan: Plan,
    *,
    config_dir: Path,
    config_sha256: str | None,
    lock_sha256: str | None,
    targets: Sequence[str],
) -> str:
    """``sha256:<hex>`` over everything that decides the writes (module docstring).

    The config and lock digests are of the bytes the plan was made from (compiler/inputs.py
    reads each once), not of the files as they are when the checksum is taken.
    """
    config_dir = config_dir.resolve()
    doc = {
        "version": CHECKSUM_VERSION,
        "config": config_sha256,
        "lock": lock_sha256,
        "targets": list(targets),
        "files": [
            {
                "path": _where(c, config_dir),
                "op": c.op,
                "old": _digest(c.old),
                "new": _new(c),
                "mode": c.mode,
                "owner": c.owner,
                "group": c.group,
                "secret": c.secret,
                "create_only": c.create_only,
            }
            for c in plan.changes
        ],
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return PREFIX + hashlib.sha256(canonical).hexdigest()


def normalise(value: str) -> str:
    """A checksum as given on a command line: prefix optional, case and blanks ignored."""
    text = value.strip().lower()
    if not text.startswith(PREFIX):
        text = PREFIX + text
    return text


_HEX = re.compile(r"[0-9a-f]*")
DIGITS = 64


class MalformedChecksum(MailauthError):
    """What was given as --checksum is not a plan checksum at all (a typo, a cut paste)."""


def parse(value: str) -> str:
    """``value`` as a checksum (see :func:`normalise`), or :class:`MalformedChecksum`.

    Kept apart from a mismatch: a checksum cut short or mistyped is not a plan that
    changed since the review, and saying so would send the reviewer after the wrong thing.
    """
    text = normalise(value)
    digits = text.removeprefix(PREFIX)
    if len(digits) == DIGITS and _HEX.fullmatch(digits):
        return text
    if not _HEX.fullmatch(digits):
        why = "it holds characters other than hexadecimal digits"
    else:
        why = f"it has {len(digits)} hexadecimal digits, not {DIGITS} (cut short?)"
    raise MalformedChecksum(
        f"--checksum {value.strip()!r} is not a plan checksum: {why}. A checksum is "
        f"{PREFIX} and {DIGITS} hexadecimal digits, as `mailauth plan` prints it on its "
        "`Plan checksum:` line; copy it whole. Nothing was written."
    )


def check(expected: str, actual: str) -> None:
    """Raise :class:`ChecksumMismatch` unless ``expected`` names the plan ``actual``."""
    if hmac.compare_digest(normalise(expected).encode(), actual.encode()):
        return
    raise ChecksumMismatch(
        "the plan changed since it was reviewed (mailauth.yaml, mailauth.lock or a file "
        f"under the root is different): reviewed checksum {normalise(expected)}, current "
        f"plan {actual}. Nothing was written. Run `mailauth plan` again, review the new "
        "plan, and apply with its checksum."
    )


def _carries_new_key(change: FileChange) -> bool:
    return change.placeholder is not None or (
        change.new is not None and PENDING_KEY.encode() in change.new
    )


def _shape(change: FileChange) -> tuple[tuple[str, object], ...]:
    """What of a file the new keys may not change, each part named for the message."""
    return (
        ("op", change.op),
        ("old", change.old),
        ("mode", change.mode),
        ("owner", change.owner),
        ("group", change.group),
        ("secret", change.secret),
        ("rooted", change.rooted),
        ("create_only", change.create_only),
    )


def check_realised(reviewed: Plan, actual: Plan) -> None:
    """The plan with real keys must be the reviewed plan with only the new keys filled in."""

    def refuse(detail: str) -> ChecksumMismatch:
        return ChecksumMismatch(
            f"the plan made with the new keys does not match the reviewed plan ({detail}); "
            "nothing was written. Run `mailauth plan` again and review it."
        )

    if [c.path for c in reviewed.changes] != [c.path for c in actual.changes]:
        raise refuse("not the same files")
    for was, now in zip(reviewed.changes, actual.changes, strict=True):
        for (name, before), (_, after) in zip(_shape(was), _shape(now), strict=True):
            if before != after:
                raise refuse(f"{was.path}: {name} differs")
        if not _carries_new_key(was) and was.new != now.new:
            raise refuse(f"{was.path}: new content differs")
