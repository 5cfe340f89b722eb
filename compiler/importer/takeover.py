"""The hand-made files an import hands over to mailauth: recorded in the root's manifest.

Plan refuses to replace a file mailauth did not write (it could be anything). After an
import the files the written config names (the zone files, OpenDKIM's tables...) are the
very files the import read: they are recorded in the manifest as mailauth's from now on,
so that the first plan shows their diffs (and apply keeps their backups) instead of
refusing them. A file that looks like a private key is never taken over.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mailauth.compiler import driver
from mailauth.compiler.fsio import read_checked, write_atomic
from mailauth.compiler.plan import MANIFEST_NAME, host_path, looks_private, render_all
from mailauth.schema.errors import MailauthError


def _manifest(root: Path, job: driver.Job) -> tuple[Path, dict[str, object]]:
    state = job.loaded.config.state.directory.rstrip("/") + "/" + MANIFEST_NAME
    path = host_path(root, state)
    read = read_checked(root, path)
    if read is None:
        return path, {"version": 1, "targets": {}}
    try:
        loaded = json.loads(read[0])
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("targets", {}), dict):
        raise MailauthError(f"{path}: not a mailauth manifest; nothing was taken over")
    loaded.setdefault("targets", {})
    return path, loaded


def files_to_take_over(config: Path, root: Path) -> dict[str, list[str]]:
    """The existing files under ``root`` that the config's targets write whole, per target
    (not yet in the manifest)."""
    job = driver.open_job(config, root, None)
    model, _ = driver.prepare(job, datetime.now(UTC).date(), generate=False, lenient=True)
    _, manifest = _manifest(root, job)
    targets = manifest["targets"]
    assert isinstance(targets, dict)
    owned = {p for paths in targets.values() if isinstance(paths, list) for p in paths}
    found: dict[str, list[str]] = {}
    for name, artifact in render_all(model, job.loaded.config, job.targets):
        if not (artifact.owned and artifact.rooted) or artifact.path in owned:
            continue
        where = host_path(root, artifact.path)
        read = read_checked(root, where)
        if read is None or looks_private(read[0]):
            continue
        found.setdefault(name, []).append(artifact.path)
    return found


def take_over(config: Path, root: Path) -> list[str]:
    """Record the files ``files_to_take_over`` finds as mailauth's; the paths recorded."""
    job = driver.open_job(config, root, None)
    wanted = files_to_take_over(config, root)
    if not wanted:
        return []
    path, manifest = _manifest(root, job)
    targets = manifest["targets"]
    assert isinstance(targets, dict)
    for name, paths in wanted.items():
        before = targets.get(name)
        kept = [p for p in before if isinstance(p, str)] if isinstance(before, list) else []
        targets[name] = sorted({*kept, *paths})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(manifest, indent=2) + "\n").encode(), 0o644)
    return sorted(p for paths in wanted.values() for p in paths)
