"""``mailauth import``: read, check the keys, write the config and the lock, take over.

Kept out of compiler/cli.py so that the command line only declares the options. The
readers are imported when the command runs: ``mailauth --help`` does not load dnspython,
and each reader can be built and shipped on its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailauth.compiler.importer.found import Found, Note
from mailauth.compiler.importer.mail_files import MailImportError
from mailauth.compiler.importer.named_conf import NamedConfError
from mailauth.compiler.importer.zone_reader import ZoneReadError
from mailauth.compiler.wording import count
from mailauth.schema.errors import ConfigError, MailauthError

#: The lock beside the written config (Config.lock_file's default: the file sets none).
LOCK_NAME = "mailauth.lock"


@dataclass(frozen=True)
class Options:
    """The command line of ``mailauth import``, as given."""

    root: Path
    zones: tuple[Path, ...] = ()
    named_conf: Path | None = None
    opendkim_conf: Path | None = None
    dkimpy_conf: Path | None = None
    opendmarc_conf: Path | None = None
    main_cf: Path | None = None
    master_cf: Path | None = None
    include_mode: bool = False
    platform: str | None = None
    from_dns: tuple[str, ...] = ()
    nameserver: str | None = None
    timeout: float = 3.0
    config: Path = Path("mailauth.yaml")
    force: bool = False
    check: bool = False

    @property
    def lock(self) -> Path:
        return self.config.parent / LOCK_NAME


def _server(text: str | None) -> tuple[str | None, int]:
    """``--nameserver IP[:PORT]`` (an IPv6 address in brackets when it has a port)."""
    if text is None:
        return None, 53
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(text, rest)
    return host, port


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MailauthError(f"--nameserver {text}: the port must be a number 1-65535")
    return int(port)


def read_found(options: Options) -> Found:
    """Both sides' findings: DNS (zone files or live DNS) and the mail host."""
    # By module name, so that tests can stand a reader in (sys.modules) for the other side.
    dns_side = importlib.import_module("mailauth.compiler.importer.dns_side")
    mail_side = importlib.import_module("mailauth.compiler.importer.mail_side")

    dns: Found
    try:
        if options.from_dns:
            host, port = _server(options.nameserver)
            if host is None:
                raise MailauthError("--from-dns needs --nameserver IP[:PORT], the server to ask")
            dns = dns_side.read_live_dns(list(options.from_dns), host, port, options.timeout)
        else:
            named_conf = None if options.named_conf is None else str(options.named_conf)
            zones = [str(zone) for zone in options.zones]
            dns = dns_side.read_dns(options.root, zones, named_conf, options.include_mode)
        mail: Found = mail_side.read_mail(
            options.root,
            opendkim_conf=options.opendkim_conf,
            dkimpy_conf=options.dkimpy_conf,
            opendmarc_conf=options.opendmarc_conf,
            main_cf=options.main_cf,
            master_cf=options.master_cf,
        )
    except (ZoneReadError, NamedConfError, MailImportError) as exc:
        # The readers name the file and line; the CLI boundary shows it as an error.
        raise MailauthError(str(exc)) from None
    return dns.merge(mail)


def _sources(options: Options) -> list[str]:
    given = [
        *(str(z) for z in options.zones),
        *(
            str(p)
            for p in (
                options.named_conf,
                options.opendkim_conf,
                options.dkimpy_conf,
                options.opendmarc_conf,
                options.main_cf,
                options.master_cf,
            )
            if p is not None
        ),
    ]
    if options.from_dns:
        given.append(f"live DNS of {', '.join(options.from_dns)} via {options.nameserver}")
    return [*given, f"the usual places below {options.root}"]


def note_line(note: Note) -> str:
    """One note as the command prints it: where, kind, what, why."""
    return f"{note.where}: {note.kind}: {note.what}: {note.why}"


def validated(text: str, path: Path) -> None:
    """The written text must load as mailauth.yaml (else it is a bug of the import)."""
    from mailauth.schema.loader import load_yaml_text
    from mailauth.schema.validate import validate_document

    try:
        validate_document(load_yaml_text(text, str(path)), path)
    except ConfigError as exc:
        raise MailauthError(
            "the imported configuration does not validate (a mailauth import bug: please "
            "report it)",
            exc.problems,
        ) from None


def _refuse_overwrite(options: Options) -> None:
    for path in (options.config, options.lock):
        if path.exists() and not options.force:
            raise MailauthError(f"{path} exists; use --force to overwrite it (nothing written)")


def write_import(options: Options, found: Found, echo: Callable[[str], None]) -> None:
    """Check the keys, write mailauth.yaml and mailauth.lock, take the files over."""
    from mailauth.compiler.importer.takeover import take_over
    from mailauth.compiler.importer.writer import (
        lock_entries,
        mismatches,
        render_config,
        render_lock,
    )

    _refuse_overwrite(options)
    refused = mismatches(found)
    if refused:
        for note in refused:
            echo(note_line(note))
        raise MailauthError(
            f"{count(len(refused), 'adopted key')} do not match the public key DNS publishes; "
            "a mismatch is never taken: fix the key or the record and import again"
        )
    text = render_config(found, platform=options.platform, sources=_sources(options))
    validated(text, options.config)
    options.config.write_text(text, encoding="utf-8")
    echo(f"wrote {options.config}")
    if lock_entries(found, options.root):
        options.lock.write_bytes(render_lock(found, options.root))
        echo(f"wrote {options.lock} ({count(len(found.adopted), 'adopted key')})")
    taken = take_over(options.config, options.root.resolve())
    for path in taken:
        echo(f"mailauth owns {path} from now on (the first plan shows its diff)")
    for note in [*found.notes, *_key_notes(found)]:
        echo(note_line(note))


def _key_notes(found: Found) -> list[Note]:
    from mailauth.compiler.importer.writer import check_keys

    return [
        Note(
            item.key.where,
            "changed",
            f"DKIM key {item.key.selector}._domainkey.{item.key.domain}",
            "DNS has no record for this selector: the first plan publishes one",
        )
        for item in check_keys(found)
        if not item.published
    ]


def run_import(options: Options, echo: Callable[[str], None]) -> int:
    """The whole command; the exit status (1: --check found DNS record changes)."""
    _refuse_overwrite(options)
    found = read_found(options)
    write_import(options, found, echo)
    if not options.check:
        echo(f"Review {options.config}, then run `mailauth plan -c {options.config}`.")
        return 0
    from mailauth.compiler.importer.check import check_import, handkept_edits

    edits = handkept_edits(options.config, options.root.resolve())
    if edits:
        echo(
            "The hand-kept zone files must $INCLUDE mailauth's fragment instead of holding "
            "the mail records; before the first plan, edit them:"
        )
        for edit in edits:
            echo("\n".join(f"  {line}" for line in edit.splitlines()))
        echo("Then run `mailauth plan`: named will serve the same records.")
        return 1
    result = check_import(options.config, options.root.resolve())
    echo(result.summary().rstrip("\n"))
    return 1 if result.dns_changed else 0
