"""The one way into the pipeline: every input file read once, before anything is built.

plan, apply, validate, lint, verify and the octodns source all start from
:func:`read_inputs`: mailauth.yaml, the lock file, the SPF cache and the private key files
under ``--root``. What comes after (the key phase, build, the rules, the renderers) works
on the :class:`Inputs` it returns and reads no input file of its own, so every step of
one run sees the same bytes.

A file that cannot be read (a broken lock file, a symlinked key) is not an error here:
the error is kept and raised where the step that needs the file uses it, so a run that
does not need a file is not stopped by it, and errors show in the order they always did.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from mailauth.compiler.build import key_path
from mailauth.compiler.dane import TlsaEntry, certificate_paths, parse_tlsa_bytes
from mailauth.compiler.keysafety import Node, path_facts
from mailauth.compiler.lockfile import Lock, read_lock_file
from mailauth.compiler.mta_sts import read_applied
from mailauth.compiler.plan import PlanError, host_path, read_under
from mailauth.compiler.spf.cache import SpfCache, load_cache
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.validate import LoadedConfig, load_config


@dataclass(frozen=True)
class KeyFile:
    """One private key file as read: where it is under the root and its bytes (None if
    absent), or the PlanError that reading it gave; and, for a file that exists, the
    modes and owners on the way to it (keysafety.path_facts), for the safe-key check."""

    where: Path | None
    found: bytes | PlanError | None
    nodes: tuple[Node, ...] = ()

    def content(self) -> bytes | None:
        if isinstance(self.found, PlanError):
            raise self.found
        return self.found


@dataclass(frozen=True)
class LockInput:
    """mailauth.lock as read: its path, its entries and whether it exists, or the error."""

    found: tuple[Path, Lock, bool] | ConfigError
    sha256: str | None = None  # of the bytes read, for the plan checksum; None: no lock file
    tlsa: tuple[TlsaEntry, ...] = ()  # the published TLSA digests it records (compiler/dane.py)

    def _get(self) -> tuple[Path, Lock, bool]:
        if isinstance(self.found, ConfigError):
            raise ConfigError(self.found.problems)
        return self.found

    @property
    def path(self) -> Path:
        return self._get()[0]

    @property
    def entries(self) -> Lock:
        return self._get()[1]

    @property
    def present(self) -> bool:
        return self._get()[2]


def resolve_root(loaded: LoadedConfig, root: Path | None) -> Path:
    """--root, else ``root:`` from the file (relative to the file), else ./out."""
    if root is not None:
        return root.resolve()
    if loaded.config.root is not None:
        return (loaded.path.resolve().parent / loaded.config.root).resolve()
    return (Path.cwd() / "out").resolve()


@dataclass(frozen=True)
class Inputs:
    """What one run reads: the validated config, the output root and the files beside them."""

    loaded: LoadedConfig
    root: Path
    lock: LockInput
    spf_cache: SpfCache
    #: Every selector's private key file, by its path on the host (as mailauth.yaml says).
    key_files: Mapping[str, KeyFile] = field(default_factory=dict)
    #: mailauth.yaml as validated, before the lock's rotation states were applied.
    written: LoadedConfig | None = None
    #: Each domain's MTA-STS policy file as applied (compiler/mta_sts.read_applied), for lint.
    mta_sts_applied: Mapping[str, bytes | None] = field(default_factory=dict)
    #: The certificates and keys that mail hosts' ``dane:`` name, by their path on the host.
    dane_files: Mapping[str, KeyFile] = field(default_factory=dict)
    #: The certificate each configured MTA serves, as its own config names it (lint DANE002).
    served: tuple[ServedCertificate, ...] = ()

    def reread(self) -> Inputs:
        """The same config and root, with the other files read again (apply, under its
        lock, when a file changed since the plan was made)."""
        return read_inputs(self.written or self.loaded, self.root)


def _read_lock(loaded: LoadedConfig) -> LockInput:
    from mailauth.compiler.keys import lock_path  # keys imports the whole key phase

    try:
        path = lock_path(loaded)
        entries, data = read_lock_file(path)
    except ConfigError as exc:
        return LockInput(exc)
    if data is None:
        return LockInput((path, entries, False))
    try:
        tlsa = parse_tlsa_bytes(data)
    except ValueError as exc:
        return LockInput(ConfigError([Problem(str(path), "(lock file)", str(exc))]))
    return LockInput((path, entries, True), hashlib.sha256(data).hexdigest(), tlsa)


def _with_rotation(loaded: LoadedConfig, lock: LockInput) -> tuple[LoadedConfig, LockInput]:
    """The config with the lock's key rotation states applied (compiler/rotation/): the
    selectors made by `keys rotate`, who signs, what is removed. Unchanged without states."""
    from mailauth.compiler.rotation.effective import effective_config

    if isinstance(lock.found, ConfigError):
        return loaded, lock
    try:
        config = effective_config(loaded.config, lock.entries, str(lock.path))
    except ConfigError as exc:
        return loaded, LockInput(exc)
    return (loaded if config is loaded.config else replace(loaded, config=config)), lock


def _read_key(root: Path, path: str) -> KeyFile:
    try:
        where = host_path(root, path)
    except PlanError as exc:
        return KeyFile(None, exc)
    try:
        read = read_under(root, where, label=path)
    except PlanError as exc:
        return KeyFile(where, exc)
    if read is None:
        return KeyFile(where, None)
    return KeyFile(where, read[0], path_facts(root, where))


_MAX_LINKS = 40  # as Linux's limit on symlinks followed in one lookup


def resolve_in_root(root: Path, path: str) -> str:
    """``path`` with its symlinks resolved as the mail host resolves them, ``root`` standing
    for its ``/``: an absolute link target is looked up under ``root`` again, and ``..``
    stops at ``root``, so the result never leaves it (a chroot's rule). Certificates are
    usually links (certbot's ``live/`` into ``archive/``); the file at the end is then read
    as any other (read_under: no symlink, a regular file). Raises PlanError on a loop."""
    parts = list(PurePosixPath(path).parts[1:])
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, part)
        if not here.is_symlink():
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_LINKS:
            raise PlanError(f"{path}: too many levels of symbolic links")
        target = PurePosixPath(os.readlink(here))
        if target.is_absolute():
            done = []
            parts = [*target.parts[1:], *parts]
        else:
            parts = [*target.parts, *parts]
    return "/" + "/".join(done)


def _read_linked(root: Path, path: str) -> KeyFile:
    """A certificate or public key file, through the host's symlinks (resolve_in_root)."""
    try:
        return _read_key(root, resolve_in_root(root, path))
    except (PlanError, OSError) as exc:
        error = exc if isinstance(exc, PlanError) else PlanError(f"{path}: cannot read ({exc})")
        return KeyFile(None, error)


def _key_files(loaded: LoadedConfig, root: Path) -> dict[str, KeyFile]:
    config = loaded.config
    files: dict[str, KeyFile] = {}
    for domain in config.domains:
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        for selector in dkim.selectors:
            path = key_path(config, domain.name, selector)
            if path not in files:
                files[path] = _read_key(root, path)
    return files


def _removed_key_files(loaded: LoadedConfig, lock: LockInput, root: Path) -> dict[str, KeyFile]:
    """The private key files of keys removed by rotation: apply archives or deletes them."""
    from mailauth.compiler.rotation.archive import removed_keys

    if isinstance(lock.found, ConfigError):
        return {}
    return {
        item.path: _read_key(root, item.path) for item in removed_keys(loaded.config, lock.entries)
    }


@dataclass(frozen=True)
class ServedCertificate:
    """A certificate an MTA serves: the config file and line naming it, its path, its bytes
    (None: absent, or unreadable, which is the MTA's business rather than mailauth's)."""

    config: str
    line: int
    path: str
    content: bytes | None


def _served(loaded: LoadedConfig, root: Path) -> tuple[ServedCertificate, ...]:
    """Asked only when a mail host sets ``dane:``: the registry says which targets serve
    a certificate and where their config names it (Backend.served_certificate)."""
    if not certificate_paths(loaded):
        return ()

    def read(path: str) -> bytes | None:
        try:
            found = read_under(root, host_path(root, resolve_in_root(root, path)), label=path)
        except (PlanError, OSError):
            return None
        return found[0] if found is not None else None

    out: list[ServedCertificate] = []
    for _, backend, settings in loaded.config.targets.configured():
        named = backend.served_certificate(settings, read)
        if named is not None:
            config, line, path = named
            out.append(ServedCertificate(config, line, path, read(path)))
    return tuple(out)


def read_inputs(config: Path | LoadedConfig, root: Path | None) -> Inputs:
    """Load ``config`` (unless already loaded) and read every file the run depends on.

    Raises ConfigError only when mailauth.yaml itself does not load; see the module
    docstring for the other files.
    """
    loaded = load_config(config) if isinstance(config, Path) else config
    where = resolve_root(loaded, root)
    lock = _read_lock(loaded)
    written = loaded
    loaded, lock = _with_rotation(loaded, lock)
    return Inputs(
        written=written,
        loaded=loaded,
        root=where,
        lock=lock,
        spf_cache=load_cache(loaded),
        key_files={**_removed_key_files(loaded, lock, where), **_key_files(loaded, where)},
        mta_sts_applied=read_applied(loaded, where),
        dane_files={path: _read_linked(where, path) for path in certificate_paths(loaded)},
        served=_served(loaded, where),
    )
