"""The signers' key and signing tables read into adopted keys (OpenDKIM and dkimpy-milter
use the same shapes); a line mailauth cannot say is a Note, never a guess."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, Literal

from mailauth.backends.dkimpy_milter import DkimpyMilterTarget
from mailauth.backends.opendkim import OpenDkimTarget
from mailauth.compiler import dkimkeys
from mailauth.compiler.importer.found import AdoptedKey
from mailauth.compiler.importer.mail_files import MailFiles
from mailauth.compiler.importer.milter_tables import (
    Dataset,
    KeyEntry,
    LineError,
    content_lines,
    parse_key_line,
    parse_signing_line,
    signing_domain,
)
from mailauth.schema import strings

__all__ = ["adopt", "key_table", "public_key", "signing_table", "table_directory"]


def key_table(
    files: MailFiles, dataset: Dataset, where: str
) -> tuple[str, list[tuple[int, KeyEntry]]]:
    """The entries of a KeyTable data set, with their lines; unreadable lines noted."""
    if dataset.kind != "file":
        files.note(
            where,
            "not-imported",
            f"KeyTable {dataset.path or dataset.kind}",
            "only a KeyTable file (a path or file:) can be imported",
        )
        return "", []
    text = files.read(dataset.path, where, f"KeyTable {dataset.path}")
    entries: list[tuple[int, KeyEntry]] = []
    for number, body in content_lines(text or ""):
        try:
            entries.append((number, parse_key_line(body)))
        except LineError as exc:
            files.note(f"{dataset.path}:{number}", "not-imported", _first_word(body), str(exc))
    return dataset.path, entries


def signing_table(
    files: MailFiles, dataset: Dataset, where: str
) -> tuple[str, list[tuple[int, str, str]]]:
    """(line, From: domain, key name) of each SigningTable line mailauth can express."""
    if dataset.kind not in ("file", "refile"):
        files.note(
            where,
            "not-imported",
            f"SigningTable {dataset.path or dataset.kind}",
            "only a SigningTable file (plain or refile:) can be imported",
        )
        return "", []
    text = files.read(dataset.path, where, f"SigningTable {dataset.path}")
    rows: list[tuple[int, str, str]] = []
    for number, body in content_lines(text or ""):
        at = f"{dataset.path}:{number}"
        try:
            entry = parse_signing_line(body)
        except LineError as exc:
            files.note(at, "not-imported", body, str(exc))
            continue
        domain = signing_domain(entry.pattern, regex=dataset.kind == "refile")
        if domain is None:
            files.note(
                at,
                "not-imported",
                body,
                "mailauth signs all mail of a domain (`*@domain`); this pattern selects other mail",
            )
            continue
        if entry.signer is not None:
            files.note(
                at,
                "not-imported",
                body,
                "a signing identity (`key:signer`, the i= tag) cannot be said in mailauth.yaml",
            )
            continue
        rows.append((number, domain, entry.key_name))
    return dataset.path, rows


def adopt(
    files: MailFiles,
    keys: list[tuple[int, KeyEntry]],
    key_path: str,
    rows: list[tuple[int, str, str]],
    sign_path: str,
    algorithm: Literal["rsa", "ed25519"],
    multiple: bool,
    *,
    report_missing: bool = True,
) -> list[AdoptedKey]:
    """AdoptedKeys for a KeyTable, ``sign`` from the SigningTable rows that use them."""
    by_name = {entry.name: entry for _, entry in keys}
    signing: set[str] = set()
    per_domain: dict[str, int] = {}
    for number, domain, name in rows:
        entry = by_name.get(name)
        at = f"{sign_path}:{number}"
        if entry is None:
            if report_missing:
                files.note(at, "not-imported", f"{domain} {name}", f"no KeyTable line names {name}")
            continue
        if entry.domain != domain:
            files.note(
                at,
                "not-imported",
                f"{domain} {name}",
                f"signs mail of {domain} "
                f"with a key of {entry.domain}; mailauth signs each domain with its "
                "own keys",
            )
            continue
        per_domain[domain] = per_domain.get(domain, 0) + 1
        if per_domain[domain] > 1 and not multiple:
            files.note(
                at,
                "changed",
                f"{domain} {name}",
                "without MultipleSignatures only "
                "the first matching line signs; imported with sign: false",
            )
            continue
        signing.add(name)
    adopted: list[AdoptedKey] = []
    for number, entry in keys:
        at = f"{key_path}:{number}"
        line = f"{entry.name} {entry.domain}:{entry.selector}:<key>"
        if not entry.key.startswith("/"):
            files.note(
                at,
                "not-imported",
                line,
                "the key is given inline (or by a relative "
                "path); mailauth adopts key files by absolute path",
            )
            continue
        try:
            strings.host_path(entry.key, "key file")
        except ValueError as exc:
            files.note(at, "not-imported", line, str(exc))
            continue
        line = f"{entry.name} {entry.domain}:{entry.selector}:{entry.key}"
        public = public_key(files, entry.key, algorithm, at, line)
        if public is None:
            continue
        adopted.append(
            AdoptedKey(
                domain=entry.domain,
                selector=entry.selector,
                key_file=entry.key,
                algorithm=algorithm,
                where=at,
                public_key=public,
                sign=entry.name in signing,
            )
        )
    return adopted


def public_key(files: MailFiles, host_path: str, algorithm: str, at: str, line: str) -> str | None:
    """The base64 public half of a key file (None, with a Note, when it is missing or
    unreadable: the message never quotes the file)."""
    path = files.local(host_path)
    if path is None:
        files.note(at, "not-imported", line, "the key file is not below the root")
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        files.note(at, "not-imported", line, f"the key file {host_path} does not exist")
        return None
    except OSError as exc:
        files.note(at, "not-imported", line, f"the key file cannot be read ({exc.strerror})")
        return None
    try:
        return dkimkeys.public_key_from_private(data, algorithm).public_key_b64
    except ValueError as exc:
        files.note(at, "not-imported", line, f"the key file is not usable: {exc}")
        return None


def table_directory(
    files: MailFiles,
    values: dict[str, Any],
    dirs: set[str],
    path: str,
    target: str,
    names: Mapping[str, str],
) -> None:
    if not dirs:
        return
    if len(dirs) > 1:
        files.note(
            path,
            "changed",
            "table directory",
            f"the tables lie in {len(dirs)} "
            f"directories ({', '.join(sorted(dirs))}); mailauth writes them all in "
            f"{min(dirs)}",
        )
    model = OpenDkimTarget if target == "opendkim" else DkimpyMilterTarget
    if not files.setting(model, values, "directory", min(dirs), path, "table directory"):
        return
    for table, name in names.items():
        if table and posixpath.basename(table) != name:
            files.note(
                path,
                "changed",
                table,
                f"mailauth names this table {posixpath.join(min(dirs), name)}",
            )


def _first_word(body: str) -> str:
    """A table line's key name only: the rest of a KeyTable line may hold key data."""
    return body.split()[0] + " ..." if body.split() else body
