"""Private keys of removed selectors: archived (0700, dated) or purged, never left behind.

When `keys retire` removes a key, its lock entry moves to ``removed``. The next plan on
the mail host then holds, for each such key still on disk: the archive copy
``<keys.directory>/archive/<date removed>/<keys.file>`` (a new 0600 key file, in 0700
directories, made like any key), and the deletion of the original. With ``--purge`` only
the deletion. apply writes keys before it deletes anything, so a run killed in between
leaves both copies, and the next plan deletes the original. A deleted key is not copied
to the backups: the archive is its copy (or it was purged on purpose).

A key adopted with ``key_file:`` outside the key directory is not mailauth's: it is left
where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailauth.backends.base import Artifact
from mailauth.compiler.lockfile import Lock
from mailauth.compiler.plan import PlanError
from mailauth.schema.models import Config

if TYPE_CHECKING:
    from mailauth.compiler.inputs import Inputs
    from mailauth.compiler.keys import KeyPhase

ARCHIVE_DIR = "archive"


@dataclass(frozen=True)
class RemovedKey:
    domain: str
    selector: str
    path: str  # the private key's path on the host
    archive: str | None  # where it goes; None: purge


def removed_keys(config: Config, lock: Lock) -> list[RemovedKey]:
    """The removed keys of the lock whose domain is still configured, with their paths."""
    store = config.keys.directory.rstrip("/")
    domains = {d.name for d in config.domains}
    out: list[RemovedKey] = []
    for (domain, selector), entry in sorted(lock.items()):
        if not entry.removed or domain not in domains:
            continue
        relative = config.keys.file.format(domain=domain, selector=selector)
        day = (entry.since or entry.created)[:10]
        archive = None if entry.purge else f"{store}/{ARCHIVE_DIR}/{day}/{relative}"
        out.append(RemovedKey(domain, selector, f"{store}/{relative}", archive))
    return out


def archive_removed(inputs: Inputs, phase: KeyPhase, owner: str | None, group: str | None) -> None:
    """Plan the archive copy and the deletion of every removed key still on disk."""
    config = inputs.loaded.config
    store = config.keys.directory.rstrip("/")
    for item in removed_keys(config, inputs.lock.entries):
        key_file = inputs.key_files.get(item.path)
        if key_file is None or key_file.where is None:
            continue
        try:
            content = key_file.content()
        except PlanError:  # a path plan may not read (a symlink...): the admin's to see
            phase.notes.append(f"{item.path}: removed key left in place (cannot read it)")
            continue
        phase.read[key_file.where] = content
        if content is None:
            continue
        name = f"{item.selector}._domainkey.{item.domain}"
        if item.archive is not None:
            phase.artifacts.append(
                (
                    "keys",
                    Artifact(
                        path=item.archive, content=content, mode=0o600, secret=True,
                        owned=False, create_only=True, owner=owner, group=group,
                        dir_mode=0o700, key_store=f"{store}/{ARCHIVE_DIR}",
                    ),
                )
            )  # fmt: skip
            phase.notes.append(f"{name} was removed: its private key moves to {item.archive}")
        else:
            phase.notes.append(f"{name} was removed with --purge: its private key is deleted")
        phase.deletes.append((item.path, content))
