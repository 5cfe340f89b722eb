"""The key phase: find, check or create every DKIM key before the model is built.

Each selector's public key comes from (in order) the config, the private key on disk, or
the lock file. A new key is generated only by ``apply`` and only where a signer is among
the targets: a CI runner that pushes DNS must never mint keys it cannot deliver.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailauth.backends.base import Artifact
from mailauth.compiler.build import KnownKey, key_path
from mailauth.compiler.dane import render_tlsa, resolve_tlsa
from mailauth.compiler.dkimkeys import new_keys, public_key_from_private
from mailauth.compiler.fsio import UnsafePath, check_path
from mailauth.compiler.keysafety import unsafe_key
from mailauth.compiler.lockfile import Lock, LockEntry, render_lock
from mailauth.compiler.plan import PlanError
from mailauth.compiler.rotation.archive import archive_removed
from mailauth.compiler.rotation.keyphase import keep_rotation
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.models import Config, DkimSelector
from mailauth.schema.validate import LoadedConfig, dotted

if TYPE_CHECKING:
    from mailauth.compiler.inputs import Inputs, KeyFile

PENDING_KEY = "(new-key-generated-by-apply)"
KEYS_TARGET = "keys"


def beside_config(loaded: LoadedConfig, name: str, field: str) -> Path:
    """``name`` (relative) in the config's directory, refused when it leaves it: an
    absolute path, a '..', or a symlink on the way or at the end (fsio.check_path with the
    config's directory as the root). The schema refuses the first two; this guards the
    disk as it is when mailauth runs."""
    base = loaded.path.resolve().parent
    where = loaded.source.where((field,))
    pure = Path(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\0" in name:
        raise ConfigError([Problem(where, field, f"{name!r}: must stay in {base}")])
    path = base.joinpath(*pure.parts)
    try:
        check_path(base, path, what=name)
    except UnsafePath as exc:
        raise ConfigError([Problem(where, field, f"{exc}; it must stay in {base}")]) from None
    return path


def lock_path(loaded: LoadedConfig) -> Path:
    return beside_config(loaded, loaded.config.lock_file, "lock_file")


@dataclass
class KeyPhase:
    """What the key phase found: public keys for the build, files for the plan."""

    index: dict[tuple[str, str], KnownKey] = field(default_factory=dict)
    artifacts: list[tuple[str, Artifact]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    # Every key file read, as read (None: absent): what the result depends on, on disk.
    read: dict[Path, bytes | None] = field(default_factory=dict)
    # Private keys of keys removed by rotation, to delete once archived (rotation/archive.py).
    deletes: list[tuple[str, bytes]] = field(default_factory=list)
    # Each mail host's published TLSA digests (compiler/dane.py), for the build.
    tlsa: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ownership:
    owner: str | None
    group: str | None
    dir_mode: int


def _ownership(config: Config, root: Path, problems: list[Problem], notes: list[str]) -> _Ownership:
    """Who owns key files. Outside a real host (a staging --root) a missing user is a note."""
    owner, group = config.keys.owner, config.keys.group
    staging = root != Path("/")
    for kind, name, lookup in (("owner", owner, pwd.getpwnam), ("group", group, grp.getgrnam)):
        if name is None:
            continue
        try:
            lookup(name)
        except KeyError:
            message = f"{name!r} does not exist on this machine (install the signer first)"
            if not staging:
                problems.append(Problem("keys", f"keys.{kind}", message))
            else:
                notes.append(f"keys.{kind}: {message}; key files keep the current owner")
                owner, group = (None, group) if kind == "owner" else (owner, None)
    if (owner or group) and os.geteuid() != 0:
        notes.append("keys.owner/keys.group are applied only when mailauth runs as root")
        owner = group = None
    return _Ownership(owner, group, 0o750 if group else 0o700)


def _check_safe(key_file: KeyFile, where: str, field: str, problems: list[Problem]) -> None:
    """A key on disk that a signer would refuse (keysafety) is an error, with the fix."""
    for reason in unsafe_key(key_file.nodes):
        problems.append(
            Problem(
                where,
                field,
                f"{reason} (with RequireSafeKeys, OpenDKIM refuses an unsafe key at start)",
            )
        )


def _check_inline(
    key_file: KeyFile, path: str, algorithm: str, public: str, name: str, phase: KeyPhase
) -> None:
    """A public key written in the config must belong to the key the signer will use."""
    notes = phase.notes
    try:
        disk = key_file.content()
        if disk is None or key_file.where is None:
            raise FileNotFoundError(path)
        phase.read[key_file.where] = disk
    except (OSError, PlanError):
        notes.append(
            f"warning: {name}: public_key is given in the config but the private key {path} "
            "is missing; the signer cannot sign with it"
        )
        return
    try:
        info = public_key_from_private(disk, algorithm)
    except ValueError as exc:
        notes.append(f"warning: {name}: {path}: {exc}")
        return
    if info.public_key_b64 != "".join(public.split()):
        raise ConfigError(
            [
                Problem(
                    path,
                    name,
                    "the public_key in the config does not belong to this private key: "
                    "remove public_key to use the key on disk, or restore the matching key",
                )
            ]
        )


@dataclass(frozen=True)
class _NewKey:
    """A key resolve_keys is to make: where its artifact goes, and what it is."""

    slot: int
    ident: tuple[str, str]
    name: str
    selector: DkimSelector
    common: dict[str, Any]


def _make_keys(
    pending: list[_NewKey],
    phase: KeyPhase,
    new_lock: Lock,
    today: date,
    progress: Callable[[str], None] | None,
    count: Callable[[int], None] | None,
) -> None:
    """Make the keys of ``pending`` and put them in their slots, the lock and the index."""
    if count is not None:
        count(len(pending))
    if not pending:
        return
    if progress is not None:
        progress(pending[0].name)

    def made(index: int) -> None:
        if progress is not None and index + 1 < len(pending):
            progress(pending[index + 1].name)

    specs = [(item.selector.algorithm, item.selector.key_bits) for item in pending]
    for item, (private, info) in zip(pending, new_keys(specs, done=made), strict=True):
        sel = item.selector
        phase.artifacts[item.slot] = (KEYS_TARGET, Artifact(content=private, **item.common))
        new_lock[item.ident] = LockEntry(
            item.ident[0], sel.name, sel.algorithm, info.bits, today.isoformat(),
            info.fingerprint, info.public_key_b64,
        )  # fmt: skip
        phase.index[item.ident] = KnownKey(sel.algorithm, info.bits, info.public_key_b64)


def resolve_keys(
    inputs: Inputs,
    *,
    signer: bool,
    generate: bool,
    today: date,
    dns: bool = True,
    progress: Callable[[str], None] | None = None,
    count: Callable[[int], None] | None = None,
    lenient: bool = False,
    safe_keys: bool | None = None,
) -> KeyPhase:
    """Public keys for every selector, plus the key files and lock file the plan must write.

    ``dns`` says whether a DNS target is in play: only then is a key that cannot be found
    an error (its record would vanish); otherwise it is just left out. ``progress`` is
    called with the record name before each new key is generated (for a progress bar),
    ``count`` once with the number of keys to generate, before the first. ``safe_keys``
    (default: ``signer``) checks every key found on disk as a signer would
    (compiler/keysafety.py): group- or world-readable, or below a writable directory, is
    an error.

    It reads no file: the key files, the lock file and its presence come from ``inputs``.
    """
    loaded, root = inputs.loaded, inputs.root
    config = loaded.config
    lock_file = inputs.lock.path
    lock: Lock = inputs.lock.entries
    lock_present = inputs.lock.present
    new_lock: Lock = dict(lock)
    phase = KeyPhase()
    problems: list[Problem] = []
    ownership = _ownership(config, root, problems, phase.notes)
    check_safe = signer if safe_keys is None else safe_keys
    pending: list[_NewKey] = []

    for di, domain in enumerate(config.domains):
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        base = ("domains", di, "dkim") if domain.dkim is not None else ("defaults", "dkim")
        for si, sel in enumerate(dkim.selectors):
            field_path = (*base, "selectors", si)
            where = loaded.source.where(field_path)
            name = f"{sel.name}._domainkey.{domain.name}"
            ident = (domain.name, sel.name)
            path = key_path(config, domain.name, sel)
            # The key_file: line when the path was written there, else the selector's.
            key_field = (*field_path, "key_file") if sel.key_file is not None else field_path
            if check_safe:
                key_where = loaded.source.where(key_field)
                _check_safe(inputs.key_files[path], key_where, dotted(key_field), problems)
            if sel.public_key is not None:
                phase.index[ident] = KnownKey(sel.algorithm, sel.key_bits, sel.public_key)
                if signer:
                    key_file = inputs.key_files[path]
                    _check_inline(key_file, path, sel.algorithm, sel.public_key, name, phase)
                continue
            entry = lock.get(ident)
            if entry is not None and entry.fingerprint == PENDING_KEY:
                entry = None  # published by `keys rotate`, made here (compiler/rotation/)
            key_file = inputs.key_files[path]
            try:
                disk = key_file.content()
            except PlanError as exc:
                problems.append(Problem(where, dotted(field_path), str(exc)))
                continue
            assert key_file.where is not None  # a path host_path refused is a PlanError
            phase.read[key_file.where] = disk
            if disk is not None:
                try:
                    info = public_key_from_private(disk, sel.algorithm)
                except ValueError as exc:
                    problems.append(Problem(where, dotted(field_path), f"{path}: {exc}"))
                    continue
                if entry is not None and entry.fingerprint != info.fingerprint:
                    problems.append(
                        Problem(
                            where,
                            dotted(field_path),
                            f"the private key {path} does not match mailauth.lock for {name} "
                            f"(lock {entry.fingerprint[:23]}, key {info.fingerprint[:23]}): "
                            "restore the right key, or if it was replaced on purpose, delete "
                            "this entry from mailauth.lock and plan again (the DNS record "
                            "changes)",
                        )
                    )
                    continue
                if entry is None and not lock_present:
                    phase.notes.append(
                        f"warning: {lock_file} is missing but the key {path} exists: if the lock "
                        "was deleted by mistake, restore it from version control; otherwise "
                        "apply records this key in a new lock file"
                    )
                if entry is None:
                    new_lock[ident] = LockEntry(
                        domain.name, sel.name, info.algorithm, info.bits,
                        today.isoformat(), info.fingerprint, info.public_key_b64,
                    )  # fmt: skip
                    phase.notes.append(f"{name}: existing key {path} adopted into mailauth.lock")
                phase.index[ident] = KnownKey(info.algorithm, info.bits, info.public_key_b64)
                continue
            if sel.key_file is not None:
                problems.append(
                    Problem(
                        where,
                        dotted((*field_path, "key_file")),
                        f"{path} does not exist (key_file adopts an existing key)",
                    )
                )
                continue
            if entry is not None:
                # lenient (validate): keys that live on another machine are not the file's
                # fault; the lock's public key stands in for them.
                if signer and not lenient:
                    problems.append(
                        Problem(
                            where,
                            dotted(field_path),
                            f"mailauth.lock has a key for {name} but {path} is missing: restore "
                            "it from a backup, or delete its entry from mailauth.lock to create "
                            "a new key (the DNS record changes)",
                        )
                    )
                    continue
                phase.index[ident] = KnownKey(entry.algorithm, entry.bits, entry.public_key)
                continue
            if not signer and dns and not lock_present:
                problems.append(
                    Problem(
                        where,
                        dotted(field_path),
                        f"{lock_file} is missing, and the DKIM record of {name} needs the public "
                        "key it holds: restore it from version control (git checkout "
                        f"{shlex.quote(lock_file.name)}), or run `mailauth apply` on the mail "
                        "host, with a signer target, to create the keys and the lock",
                    )
                )
                continue
            if not signer:
                phase.notes.append(
                    f"{name}: no key yet and no signer among the targets; run apply on the "
                    "mail host first (the DKIM record is left out until then)"
                )
                continue
            phase.new_keys.append(f"{path} ({sel.algorithm}-{sel.key_bits})")
            store = config.keys.directory.rstrip("/")
            common: dict[str, Any] = {
                "path": path,
                "key_store": store if path.startswith(store + "/") else str(Path(path).parent),
                "mode": 0o600,
                "secret": True,
                "owned": False,
                "create_only": True,
                "owner": ownership.owner,
                "group": ownership.group,
                "dir_mode": ownership.dir_mode,
            }
            if generate:
                # Made below, all at once (RSA keys on every core); this slot keeps the order.
                pending.append(_NewKey(len(phase.artifacts), ident, name, sel, common))
                phase.artifacts.append((KEYS_TARGET, Artifact(path=path)))
                phase.index[ident] = KnownKey(sel.algorithm, sel.key_bits, PENDING_KEY)
                continue
            placeholder = f"new {sel.algorithm}-{sel.key_bits} private key, made by apply"
            phase.artifacts.append((KEYS_TARGET, Artifact(placeholder=placeholder, **common)))
            new_lock[ident] = LockEntry(
                domain.name, sel.name, sel.algorithm, sel.key_bits, today.isoformat(),
                PENDING_KEY, PENDING_KEY,
            )  # fmt: skip
            phase.index[ident] = KnownKey(sel.algorithm, sel.key_bits, PENDING_KEY)

    dane = resolve_tlsa(loaded, inputs.dane_files, inputs.lock.tlsa, today, lenient=lenient)
    problems += dane.problems
    if problems:
        raise ConfigError(problems)
    _make_keys(pending, phase, new_lock, today, progress, count)
    keep_rotation(lock, new_lock, phase.index)
    archive_removed(inputs, phase, ownership.owner, ownership.group)
    phase.tlsa = dane.published
    phase.notes += dane.notes
    tlsa = render_tlsa(dane.lock) if dane.lock or inputs.lock.tlsa else None
    if new_lock or lock_present or tlsa is not None:
        phase.artifacts.append(
            (
                KEYS_TARGET,
                Artifact(
                    path=str(lock_file),
                    content=render_lock(new_lock, tlsa),
                    rooted=False,
                    owned=False,
                ),
            )
        )
    return phase
