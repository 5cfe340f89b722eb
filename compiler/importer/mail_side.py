"""The mail side of ``mailauth import``: the signers', OpenDMARC's and Postfix's files on a
host (under ``root``), read into the shapes of mailauth.yaml (`Found`).

Rules this reader keeps, so that the first plan after an import changes nothing by surprise:

* a value goes into ``targets:`` only as the daemon reads it; what mailauth cannot say is
  a `Note` with FILE:LINE, never dropped or bent silently;
* target settings are written only where they differ from the settings model's defaults,
  except the paths a ``platform:`` preset fills (``config``, ``directory``, ``pid_file``,
  ``public_suffix_list``): those are always written, so the file means the same whatever
  platform the writer picks;
* keys are adopted where they lie (``key_file:``); the public half is read from the key
  file under ``root`` and nothing of the private key is ever printed or noted;
* files are read below ``root`` only: a path (or symlink) leading out of it is not read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from mailauth.backends import opendkim_options, platforms
from mailauth.backends.dkimpy_milter import DkimpyMilterTarget
from mailauth.backends.opendkim import OpenDkimTarget, extra_option_name
from mailauth.backends.opendmarc import SPF_MODES, OpenDmarcTarget
from mailauth.backends.postfix import PostfixTarget
from mailauth.backends.postfix_maincf import MainCfError, get_parameters
from mailauth.backends.postfix_mastercf import MasterCfError, parse_master
from mailauth.backends.postfix_milters import MILTER_LISTS, parse_milters
from mailauth.compiler import dkimkeys
from mailauth.compiler.importer.found import AdoptedKey, Found, Note, Yaml
from mailauth.compiler.importer.milter_tables import (
    Dataset,
    KeyEntry,
    LineError,
    Option,
    content_lines,
    parse_dataset,
    parse_key_line,
    parse_options,
    parse_signing_line,
    signing_domain,
    truth,
)
from mailauth.schema import strings
from mailauth.schema.targets import KeyStore, trusted_host

__all__ = ["MailImportError", "read_mail"]

NoteKind = Literal["not-imported", "raw", "changed", "mismatch"]


class MailImportError(ValueError):
    """A file the user named explicitly cannot be read (absent, outside the root)."""


def _usual(target: str, field: str) -> list[str]:
    """The places the platform presets put a target's file, Red Hat's first."""
    seen: list[str] = []
    for name in platforms.PLATFORMS:
        value = platforms.column(name)[target].get(field)
        if value and value not in seen:
            seen.append(value)
    return seen


_MAIN_CF = str(PostfixTarget.model_fields["main_cf"].default)


@dataclass(frozen=True)
class _Signer:
    """What one signer's tables gave: for matching its socket in main.cf."""

    target: str
    socket: str | None
    where: str


class _Reader:
    """One import run: the root, and the findings and notes gathered so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.found = Found()

    # ------------------------------------------------------------------ files and notes

    def note(self, where: str, kind: NoteKind, what: str, why: str) -> None:
        self.found.notes.append(Note(where=where, kind=kind, what=what, why=why))

    def local(self, host_path: str) -> Path | None:
        """``host_path`` below the root, or None when it would lead out of it."""
        if not host_path.startswith("/"):
            return None
        parts = [p for p in host_path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        path = self.root.joinpath(*parts)
        try:
            path.resolve().relative_to(self.real_root)
        except ValueError:
            return None
        return path

    def read(self, host_path: str, where: str, what: str) -> str | None:
        """A file's text (None, with a Note, when it is absent or not below the root)."""
        path = self.local(host_path)
        if path is None:
            self.note(
                where,
                "not-imported",
                what,
                f"{host_path} is not an absolute path below the root, so it was not read",
            )
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.note(where, "not-imported", what, f"{host_path} cannot be read ({exc.strerror})")
            return None
        return data.decode("utf-8", "surrogateescape")

    def pick(self, given: str | None, usual: Iterable[str], what: str) -> str | None:
        """The host path to read: the given one (it must exist), else the first usual one
        that exists under the root, else None."""
        if given is not None:
            path = self.local(given)
            if path is None or not path.is_file():
                raise MailImportError(f"{what} {given}: no such file below {self.root}")
            return given
        for candidate in usual:
            path = self.local(candidate)
            if path is not None and path.is_file():
                return candidate
        return None

    # ------------------------------------------------------------------ settings

    def setting(
        self,
        model: type[BaseModel],
        values: dict[str, Any],
        field: str,
        value: Any,
        where: str,
        what: str,
    ) -> bool:
        """Set ``field`` if the settings model takes ``value``; else a Note (False)."""
        try:
            model.model_validate({field: value})
        except ValidationError as exc:
            reason = "; ".join(str(e["msg"]) for e in exc.errors())
            self.note(where, "not-imported", what, f"mailauth cannot take it: {reason}")
            return False
        values[field] = value
        return True

    def first(self, options: list[Option], path: str) -> dict[str, Option]:
        """Each option by its folded name: the first line, the others noted."""
        by_name: dict[str, Option] = {}
        for option in options:
            folded = option.name.casefold()
            if folded in by_name:
                kept = by_name[folded]
                self.note(
                    f"{path}:{option.line}",
                    "not-imported",
                    f"{option.name} {option.value}",
                    f"{option.name} is set again; the import took line {kept.line}: check "
                    "which one the daemon uses",
                )
                continue
            by_name[folded] = option
        return by_name

    def user_group(
        self, model: type[BaseModel], values: dict[str, Any], option: Option, path: str
    ) -> None:
        user, colon, group = option.value.partition(":")
        where = f"{path}:{option.line}"
        fields: dict[str, Any] = {"user": user}
        if colon:
            fields["group"] = group
        try:
            model.model_validate(fields)
        except ValidationError:
            self.note(
                where,
                "not-imported",
                f"UserID {option.value}",
                "not a user[:group] mailauth can write (a numeric id?)",
            )
            return
        values.update(fields)

    def syslog(self, values: dict[str, Any], by: Mapping[str, Option], path: str) -> None:
        """``Syslog`` (default yes in the three daemons' stock files, no in OpenDKIM's
        code: the file's value counts) and ``SyslogSuccess``, which mailauth ties to it."""
        syslog = by.get("syslog")
        on = truth(syslog.value) if syslog else False
        if syslog is not None and on is None:
            self.note(
                f"{path}:{syslog.line}",
                "not-imported",
                f"Syslog {syslog.value}",
                "not a yes/no value",
            )
            return
        values["syslog"] = bool(on)
        success = by.get("syslogsuccess")
        if success is not None and truth(success.value) != on:
            self.note(
                f"{path}:{success.line}",
                "changed",
                f"SyslogSuccess {success.value}",
                "mailauth sets SyslogSuccess to the value of Syslog",
            )

    # ------------------------------------------------------------------ key tables

    def key_table(self, dataset: Dataset, where: str) -> tuple[str, list[tuple[int, KeyEntry]]]:
        """The entries of a KeyTable data set, with their lines; unreadable lines noted."""
        if dataset.kind != "file":
            self.note(
                where,
                "not-imported",
                f"KeyTable {dataset.path or dataset.kind}",
                "only a KeyTable file (a path or file:) can be imported",
            )
            return "", []
        text = self.read(dataset.path, where, f"KeyTable {dataset.path}")
        entries: list[tuple[int, KeyEntry]] = []
        for number, body in content_lines(text or ""):
            try:
                entries.append((number, parse_key_line(body)))
            except LineError as exc:
                self.note(f"{dataset.path}:{number}", "not-imported", _first_word(body), str(exc))
        return dataset.path, entries

    def signing_table(self, dataset: Dataset, where: str) -> tuple[str, list[tuple[int, str, str]]]:
        """(line, From: domain, key name) of each SigningTable line mailauth can express."""
        if dataset.kind not in ("file", "refile"):
            self.note(
                where,
                "not-imported",
                f"SigningTable {dataset.path or dataset.kind}",
                "only a SigningTable file (plain or refile:) can be imported",
            )
            return "", []
        text = self.read(dataset.path, where, f"SigningTable {dataset.path}")
        rows: list[tuple[int, str, str]] = []
        for number, body in content_lines(text or ""):
            at = f"{dataset.path}:{number}"
            try:
                entry = parse_signing_line(body)
            except LineError as exc:
                self.note(at, "not-imported", body, str(exc))
                continue
            domain = signing_domain(entry.pattern, regex=dataset.kind == "refile")
            if domain is None:
                self.note(
                    at,
                    "not-imported",
                    body,
                    "mailauth signs all mail of a domain "
                    "(`*@domain`); this pattern selects other mail",
                )
                continue
            if entry.signer is not None:
                self.note(
                    at,
                    "not-imported",
                    body,
                    "a signing identity (`key:signer`, the i= tag) cannot be said in mailauth.yaml",
                )
                continue
            rows.append((number, domain, entry.key_name))
        return dataset.path, rows

    def adopt(
        self,
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
                    self.note(
                        at, "not-imported", f"{domain} {name}", f"no KeyTable line names {name}"
                    )
                continue
            if entry.domain != domain:
                self.note(
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
                self.note(
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
                self.note(
                    at,
                    "not-imported",
                    line,
                    "the key is given inline (or by a relative "
                    "path); mailauth adopts key files by absolute path",
                )
                continue
            line = f"{entry.name} {entry.domain}:{entry.selector}:{entry.key}"
            public = self.public_key(entry.key, algorithm, at, line)
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

    def public_key(self, host_path: str, algorithm: str, at: str, line: str) -> str | None:
        """The base64 public half of a key file (None, with a Note, when it is missing or
        unreadable: the message never quotes the file)."""
        path = self.local(host_path)
        if path is None:
            self.note(at, "not-imported", line, "the key file is not below the root")
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.note(at, "not-imported", line, f"the key file {host_path} does not exist")
            return None
        except OSError as exc:
            self.note(at, "not-imported", line, f"the key file cannot be read ({exc.strerror})")
            return None
        try:
            return dkimkeys.public_key_from_private(data, algorithm).public_key_b64
        except ValueError as exc:
            self.note(at, "not-imported", line, f"the key file is not usable: {exc}")
            return None

    def hosts(self, dataset: Dataset, where: str, what: str) -> list[str] | None:
        """The entries of a host list data set, each checked; None when unreadable."""
        if dataset.kind == "inline":
            lines = [(0, item) for item in dataset.items]
            path = ""
        elif dataset.kind in ("file", "refile"):
            path = dataset.path
            text = self.read(path, where, what)
            if text is None:
                return None
            lines = list(content_lines(text))
        else:
            self.note(
                where,
                "not-imported",
                what,
                "only a file or an inline list of hosts can be imported",
            )
            return None
        hosts: list[str] = []
        for number, body in lines:
            at = f"{path}:{number}" if path else where
            for item in body.split() if path else [body]:
                try:
                    if item.startswith("!"):
                        raise ValueError("an exception (`!host`)")
                    hosts.append(trusted_host(item))
                except ValueError as exc:
                    self.note(at, "not-imported", item, f"mailauth cannot list it: {exc}")
        return hosts

    # ------------------------------------------------------------------ OpenDKIM

    def opendkim(self, path: str) -> _Signer | None:
        text = self.read(path, path, "opendkim.conf")
        if text is None:
            return None
        by = self.first(parse_options(text), path)
        values: dict[str, Any] = {"config": path}
        model = OpenDkimTarget
        handled = {
            "keytable",
            "signingtable",
            "internalhosts",
            "externalignorelist",
            "syslog",
            "syslogsuccess",
            "userid",
            "multiplesignatures",
        }
        self.syslog(values, by, path)
        if "userid" in by:
            self.user_group(model, values, by["userid"], path)
        else:
            values["user"] = None  # no UserID: OpenDKIM keeps running as root
        simple = {
            "socket": "socket",
            "mode": "mode",
            "umask": "umask",
            "pidfile": "pid_file",
            "canonicalization": "canonicalization",
        }
        for folded, field in simple.items():
            option = by.get(folded)
            if option is None:
                continue
            handled.add(folded)
            value = option.value
            if folded == "mode" and value and set(value) <= {"s", "v"}:
                value = "".join(c for c in "sv" if c in value)
            if folded == "canonicalization" and "/" not in value:
                value = f"{value}/simple"  # a single word names the header's, body simple
            if folded == "socket":
                try:
                    value = strings.milter_socket(value)
                except ValueError as exc:
                    self.note(
                        f"{path}:{option.line}", "not-imported", f"Socket {option.value}", str(exc)
                    )
                    continue
            self.setting(
                model,
                values,
                field,
                value,
                f"{path}:{option.line}",
                f"{option.name} {option.value}",
            )
        for folded, name in (("socket", "Socket"), ("mode", "Mode"), ("umask", "UMask")):
            if folded not in by:
                field = simple[folded]
                self.note(
                    path,
                    "changed",
                    name,
                    f"not set in the file; mailauth writes "
                    f"{name} {_default(model, field)}, the default of "
                    f"targets.opendkim.{field}",
                )
        ns = by.get("nameservers")
        if ns is not None:
            handled.add("nameservers")
            servers = [s.strip() for s in ns.value.split(",") if s.strip()]
            self.setting(
                model,
                values,
                "nameservers",
                servers,
                f"{path}:{ns.line}",
                f"Nameservers {ns.value}",
            )
        fixed = {
            "signaturealgorithm": "rsa-sha256",
            "oversignheaders": "From",
            "requiresafekeys": "yes",
        }
        for folded, wanted in fixed.items():
            option = by.get(folded)
            handled.add(folded)
            differs = option is not None and option.value.casefold() != wanted.casefold()
            if (
                option is not None
                and differs
                and not (folded == "requiresafekeys" and truth(option.value))
            ):
                self.note(
                    f"{path}:{option.line}",
                    "changed",
                    f"{option.name} {option.value}",
                    f"mailauth always writes {option.name} {wanted}",
                )
        multiple = (
            bool(truth(by["multiplesignatures"].value)) if "multiplesignatures" in by else False
        )
        # Tables.
        key_path, keys = "", list[tuple[int, KeyEntry]]()
        if "keytable" in by:
            option = by["keytable"]
            key_path, keys = self.key_table(parse_dataset(option.value), f"{path}:{option.line}")
        sign_path, rows = "", list[tuple[int, str, str]]()
        if "signingtable" in by:
            option = by["signingtable"]
            sign_path, rows = self.signing_table(
                parse_dataset(option.value), f"{path}:{option.line}"
            )
        for folded in ("keyfile", "selector", "domain"):
            if folded in by:
                handled.add(folded)
                option = by[folded]
                self.note(
                    f"{path}:{option.line}",
                    "not-imported",
                    f"{option.name} {'<key>' if folded == 'keyfile' else option.value}",
                    "single-key signing (KeyFile, Selector, Domain) is not imported: "
                    "give the key as a KeyTable and SigningTable",
                )
        adopted = self.adopt(keys, key_path, rows, sign_path, "rsa", multiple)
        self.found.adopted.extend(adopted)
        directories = {posixpath.dirname(p) for p in (key_path, sign_path) if p}
        self.trusted(values, by, path, directories)
        self.table_directory(
            values, directories, path, "opendkim", {key_path: "KeyTable", sign_path: "SigningTable"}
        )
        for folded, option in by.items():
            if folded in handled or folded in values:
                continue
            self.extra(values, option, path)
        self.found.targets["opendkim"] = _trimmed(model, values, "opendkim")
        return _Signer(
            "opendkim", values.get("socket", _default(model, "socket")), _at(path, by, "socket")
        )

    def trusted(
        self, values: dict[str, Any], by: Mapping[str, Option], path: str, dirs: set[str]
    ) -> None:
        """InternalHosts and ExternalIgnoreList: mailauth writes one list for both."""
        found: dict[str, list[str] | None] = {}
        for folded in ("internalhosts", "externalignorelist"):
            option = by.get(folded)
            if option is None:
                continue
            dataset = parse_dataset(option.value)
            found[folded] = self.hosts(
                dataset, f"{path}:{option.line}", f"{option.name} {option.value}"
            )
            if dataset.kind == "refile":
                self.note(
                    f"{path}:{option.line}",
                    "changed",
                    f"{option.name} {option.value}",
                    "mailauth writes the hosts as a plain peer list (`*.domain` becomes "
                    "`.domain`), not as refile: patterns",
                )
            if dataset.kind in ("file", "refile"):
                dirs.add(posixpath.dirname(dataset.path))
        internal = found.get("internalhosts")
        ignore = found.get("externalignorelist")
        if "internalhosts" not in by:
            internal = ["127.0.0.1"]  # OpenDKIM's own default
            self.note(
                path,
                "changed",
                "InternalHosts",
                "not set: OpenDKIM signs for 127.0.0.1 "
                "only; mailauth writes that list as InternalHosts and ExternalIgnoreList",
            )
        if internal is None:
            return
        if "externalignorelist" in by and ignore is not None and ignore != internal:
            option = by["externalignorelist"]
            self.note(
                f"{path}:{option.line}",
                "changed",
                f"{option.name} {option.value}",
                "mailauth writes one TrustedHosts file for InternalHosts and "
                "ExternalIgnoreList: imported InternalHosts' list",
            )
        values["trusted_hosts"] = internal

    def table_directory(
        self,
        values: dict[str, Any],
        dirs: set[str],
        path: str,
        target: str,
        names: Mapping[str, str],
    ) -> None:
        if not dirs:
            return
        if len(dirs) > 1:
            self.note(
                path,
                "changed",
                "table directory",
                f"the tables lie in {len(dirs)} "
                f"directories ({', '.join(sorted(dirs))}); mailauth writes them all in "
                f"{min(dirs)}",
            )
        values["directory"] = min(dirs)
        for table, name in names.items():
            if table and posixpath.basename(table) != name:
                self.note(
                    path,
                    "changed",
                    table,
                    f"mailauth names this table {posixpath.join(min(dirs), name)}",
                )

    def extra(self, values: dict[str, Any], option: Option, path: str) -> None:
        """An OpenDKIM option mailauth does not manage: extra_options, or a Note."""
        at = f"{path}:{option.line}"
        if option.name.casefold() in {n.casefold() for n in opendkim_options.SECRET}:
            self.note(
                at,
                "not-imported",
                option.name,
                "a secret: never put in mailauth.yaml; move it to a file named by Include",
            )
            return
        try:
            name = extra_option_name(option.name)
            value = strings.milter_conf_value(option.value)
        except ValueError as exc:
            self.note(at, "not-imported", f"{option.name} {option.value}", str(exc))
            return
        values.setdefault("extra_options", {})[name] = value

    # ------------------------------------------------------------------ dkimpy-milter

    def dkimpy(self, path: str) -> _Signer | None:
        text = self.read(path, path, "dkimpy-milter.conf")
        if text is None:
            return None
        by = self.first(parse_options(text), path)
        model = DkimpyMilterTarget
        values: dict[str, Any] = {"config": path}
        self.syslog(values, by, path)
        if "syslog" not in by:
            values["syslog"] = True  # dkimpy-milter's own default
        handled = {
            "syslog",
            "syslogsuccess",
            "userid",
            "keytable",
            "keytableed25519",
            "signingtable",
            "macrolist",
            "macrolistverify",
        }
        if "userid" in by:
            self.user_group(model, values, by["userid"], path)
        simple = {
            "socket": "socket",
            "mode": "mode",
            "pidfile": "pid_file",
            "canonicalization": "canonicalization",
            "authservid": "authserv_id",
        }
        for folded, field in simple.items():
            option = by.get(folded)
            if option is None:
                continue
            handled.add(folded)
            value: Any = option.value
            if folded == "socket":
                try:
                    value = strings.milter_socket(value)
                except ValueError as exc:
                    self.note(
                        f"{path}:{option.line}", "not-imported", f"Socket {option.value}", str(exc)
                    )
                    continue
            self.setting(
                model,
                values,
                field,
                value,
                f"{path}:{option.line}",
                f"{option.name} {option.value}",
            )
        if "socket" not in by:
            self.note(
                path,
                "changed",
                "Socket",
                "not set in the file (the service passes "
                "it?); mailauth writes the socket targets.dkimpy_milter.socket says",
            )
        for folded, field in (
            ("minimumkeybits", "minimum_key_bits"),
            ("dnstimeout", "dns_timeout"),
        ):
            option = by.get(folded)
            if option is None:
                continue
            handled.add(folded)
            number = int(option.value) if option.value.isdigit() else option.value
            self.setting(
                model,
                values,
                field,
                number,
                f"{path}:{option.line}",
                f"{option.name} {option.value}",
            )
        umask = by.get("umask")
        if umask is not None:
            handled.add("umask")
            if umask.value.isdigit():  # read as a decimal number (see dkimpy_milter.py)
                self.setting(
                    model,
                    values,
                    "umask",
                    format(int(umask.value), "03o"),
                    f"{path}:{umask.line}",
                    f"UMask {umask.value}",
                )
            else:
                self.note(
                    f"{path}:{umask.line}",
                    "not-imported",
                    f"UMask {umask.value}",
                    "dkimpy-milter reads UMask as a decimal number",
                )
        hosts = by.get("internalhosts")
        if hosts is not None:
            handled.add("internalhosts")
            found = self.hosts(
                parse_dataset(hosts.value), f"{path}:{hosts.line}", f"InternalHosts {hosts.value}"
            )
            if found:
                self.setting(
                    model,
                    values,
                    "internal_hosts",
                    found,
                    f"{path}:{hosts.line}",
                    f"InternalHosts {hosts.value}",
                )
        else:
            values["internal_hosts"] = ["127.0.0.1"]  # dkimpy-milter's own default
        for folded, field in (
            ("macrolist", "submission_daemon_name"),
            ("macrolistverify", "inbound_daemon_name"),
        ):
            option = by.get(folded)
            if option is None:
                continue
            macro, bar, tag = option.value.partition("|")
            if macro.strip("{}") != "daemon_name" or not bar or "," in tag:
                self.note(
                    f"{path}:{option.line}",
                    "not-imported",
                    f"{option.name} {option.value}",
                    "mailauth tells mail to sign from mail to verify by one daemon_name|VALUE only",
                )
                continue
            self.setting(
                model, values, field, tag, f"{path}:{option.line}", f"{option.name} {option.value}"
            )
        multiple = True  # each table that holds the name signs: one key per algorithm
        sign_path, rows = "", list[tuple[int, str, str]]()
        if "signingtable" in by:
            option = by["signingtable"]
            sign_path, rows = self.signing_table(
                parse_dataset(option.value), f"{path}:{option.line}"
            )
        tables: dict[str, str] = {sign_path: "SigningTable"}
        named: set[str] = set()
        for folded, algorithm, name in (
            ("keytable", "rsa", "KeyTable"),
            ("keytableed25519", "ed25519", "KeyTableEd25519"),
        ):
            option = by.get(folded)
            if option is None:
                continue
            key_path, keys = self.key_table(parse_dataset(option.value), f"{path}:{option.line}")
            tables[key_path] = name
            named |= {entry.name for _, entry in keys}
            alg: Literal["rsa", "ed25519"] = "rsa" if algorithm == "rsa" else "ed25519"
            self.found.adopted.extend(
                self.adopt(keys, key_path, rows, sign_path, alg, multiple, report_missing=False)
            )
        for number, domain, name in rows:
            if name not in named:
                self.note(
                    f"{sign_path}:{number}",
                    "not-imported",
                    f"{domain} {name}",
                    f"no key table names {name}",
                )
        self.table_directory(
            values, {posixpath.dirname(p) for p in tables if p}, path, "dkimpy_milter", tables
        )
        for folded, option in by.items():
            if folded in handled:
                continue
            self.note(
                f"{path}:{option.line}",
                "not-imported",
                f"{option.name} {option.value}"
                if folded not in ("keyfile", "keyfileed25519")
                else option.name,
                "mailauth writes dkimpy-milter.conf whole and does not set this option: "
                "carry it over by hand if it is needed",
            )
        self.found.targets["dkimpy_milter"] = _trimmed(model, values, "dkimpy_milter")
        return _Signer(
            "dkimpy_milter",
            values.get("socket", _default(model, "socket")),
            _at(path, by, "socket"),
        )

    # ------------------------------------------------------------------ OpenDMARC

    def opendmarc(self, path: str) -> _Signer | None:
        text = self.read(path, path, "opendmarc.conf")
        if text is None:
            return None
        by = self.first(parse_options(text), path)
        model = OpenDmarcTarget
        values: dict[str, Any] = {"config": path}
        self.syslog(values, by, path)
        handled = {"syslog", "userid", "spfselfvalidate", "spfignoreresults"}
        if "userid" in by:
            self.user_group(model, values, by["userid"], path)
        else:
            values["user"] = None
        simple = {
            "socket": "socket",
            "umask": "umask",
            "pidfile": "pid_file",
            "authservid": "authserv_id",
            "historyfile": "history_file",
            "publicsuffixlist": "public_suffix_list",
        }
        for folded, field in simple.items():
            option = by.get(folded)
            if option is None:
                continue
            handled.add(folded)
            value: Any = option.value
            if folded == "socket":
                try:
                    value = strings.milter_socket(value)
                except ValueError as exc:
                    self.note(
                        f"{path}:{option.line}", "not-imported", f"Socket {option.value}", str(exc)
                    )
                    continue
            self.setting(
                model,
                values,
                field,
                value,
                f"{path}:{option.line}",
                f"{option.name} {option.value}",
            )
        values.setdefault("public_suffix_list", None)
        if "authservid" not in by:
            self.note(
                path,
                "changed",
                "AuthservID",
                "not set: OpenDMARC uses the MTA's host "
                "name; mailauth writes an explicit one (the signer's, else the first "
                "mail host)",
            )
        ids = by.get("trustedauthservids")
        if ids is not None:
            handled.add("trustedauthservids")
            listed = [i.strip() for i in ids.value.split(",") if i.strip()]
            self.setting(
                model,
                values,
                "trusted_authserv_ids",
                listed,
                f"{path}:{ids.line}",
                f"TrustedAuthservIDs {ids.value}",
            )
        # Booleans whose absence means OpenDMARC's own default (false for all three).
        for folded, field in (
            ("rejectfailures", "reject_failures"),
            ("ignoreauthenticatedclients", "ignore_authenticated_clients"),
            ("requiredheaders", "required_headers"),
        ):
            option = by.get(folded)
            handled.add(folded)
            on = False if option is None else truth(option.value)
            if on is None and option is not None:
                self.note(
                    f"{path}:{option.line}",
                    "not-imported",
                    f"{option.name} {option.value}",
                    "not a yes/no value",
                )
                continue
            values[field] = bool(on)
        spf = tuple(
            bool(truth(by[f].value)) if f in by else False
            for f in ("spfselfvalidate", "spfignoreresults")
        )
        mode = next((name for name, pair in SPF_MODES.items() if pair == spf), None)
        if mode is None:
            self.note(
                path,
                "not-imported",
                "SPFSelfValidate no, SPFIgnoreResults yes",
                "no SPF at all cannot be said in mailauth.yaml; imported as spf: "
                "headers (SPF results of trusted headers count)",
            )
            mode = "headers"
        values["spf"] = mode
        for folded, option in by.items():
            if folded in handled:
                continue
            self.note(
                f"{path}:{option.line}",
                "not-imported",
                f"{option.name} {option.value}",
                "mailauth does not set this option; it keeps it in opendmarc.conf as "
                "written (options it does not set are carried over)",
            )
        self.found.targets["opendmarc"] = _trimmed(model, values, "opendmarc")
        return _Signer(
            "opendmarc", values.get("socket", _default(model, "socket")), _at(path, by, "socket")
        )

    # ------------------------------------------------------------------ Postfix

    def postfix(self, main_path: str, master_path: str | None, milters: list[_Signer]) -> None:
        text = self.read(main_path, main_path, "main.cf")
        if text is None:
            return
        try:
            params = get_parameters(text)
        except MainCfError as exc:
            self.note(main_path, "not-imported", "main.cf", str(exc))
            return
        values: dict[str, Any] = {"main_cf": main_path}
        if master_path is not None and master_path != posixpath.join(
            posixpath.dirname(main_path), "master.cf"
        ):
            values["master_cf"] = master_path
        queue = params.get("queue_directory", "/var/spool/postfix")
        chroot = self.smtpd_chroot(master_path)
        if "queue_directory" in params:
            self.setting(
                PostfixTarget,
                values,
                "queue_directory",
                queue,
                main_path,
                f"queue_directory = {queue}",
            )
        if chroot is not None:
            values["chroot"] = chroot
        for name in ("milter_default_action", "milter_protocol"):
            if name in params:
                value: Any = params[name]
                if name == "milter_protocol" and value.isdigit():
                    value = int(value)
                self.setting(
                    PostfixTarget, values, name, value, main_path, f"{name} = {params[name]}"
                )
        ours: dict[str, _Signer] = {}
        prefix = queue.rstrip("/") + "/"
        for milter in milters:
            socket = milter.socket or ""
            if chroot and socket.startswith("local:") and not socket[6:].startswith(prefix):
                self.note(
                    milter.where,
                    "not-imported",
                    f"{milter.target} socket {socket}",
                    f"Postfix's smtpd runs chrooted in {queue}, where this socket is out "
                    "of reach; mailauth refuses it until the socket moves below "
                    f"{queue} or targets.postfix.chroot is false",
                )
        for milter in milters:
            if milter.socket is not None:
                for form in _postfix_forms(milter.socket, bool(chroot), queue):
                    ours[form] = milter
        matched: set[str] = set()
        for name in MILTER_LISTS:
            value = params.get(name)
            if not value:
                continue
            try:
                entries = parse_milters(value)
            except ValueError as exc:
                self.note(main_path, "not-imported", name, str(exc))
                continue
            for entry in entries:
                if entry.reference is not None:
                    continue  # `$smtpd_milters`: the same list again
                owner = ours.get(entry.address)
                if owner is None:
                    self.note(
                        main_path,
                        "not-imported",
                        f"{name}: {entry.text}",
                        "a milter mailauth does not manage; kept as it is in main.cf",
                    )
                    continue
                matched.add(owner.target)
                self.align_socket(owner, entry.address)
        for milter in milters:
            if milter.target not in matched:
                self.note(
                    milter.where,
                    "changed",
                    f"{milter.target} socket {milter.socket}",
                    "main.cf's milter lists do not name it; the first plan adds it to "
                    "smtpd_milters",
                )
        self.found.targets["postfix"] = _trimmed(PostfixTarget, values, "postfix")

    def align_socket(self, milter: _Signer, address: str) -> None:
        """A socket main.cf reaches through another spelling of the same loopback
        address (``inet:8891@localhost`` and ``inet:127.0.0.1:8891``): written as main.cf
        says it, so that main.cf's line stays as it is."""
        kind, _, rest = address.partition(":")
        if kind != "inet" or milter.socket is None or not milter.socket.endswith("@localhost"):
            return
        host, _, port = rest.rpartition(":")
        socket = f"inet:{port}@{host}"
        self.found.targets[milter.target]["socket"] = socket
        self.note(
            milter.where,
            "changed",
            f"Socket {milter.socket}",
            f"written as {socket}, "
            "the address main.cf's milter list uses, so that main.cf stays as it is "
            "(localhost is that address for the daemon too)",
        )

    def smtpd_chroot(self, master_path: str | None) -> bool | None:
        """Whether smtpd/inet runs chrooted (master.cf's fifth column; ``-``: Postfix 3's
        default, no)."""
        if master_path is None:
            return None
        text = self.read(master_path, master_path, "master.cf")
        if text is None:
            return None
        try:
            services = parse_master(text.replace("\r\n", "\n"))
        except MasterCfError as exc:
            self.note(master_path, "not-imported", "master.cf", str(exc))
            return None
        for service in services:
            if service.name == "smtp" and service.type == "inet":
                return service.fields[4] == "y"
        return None

    # ------------------------------------------------------------------ key store

    def key_store(self) -> None:
        """``keys.directory``: the platform key directory all adopted keys sit under, so
        keys mailauth makes later land beside them; otherwise left to the defaults."""
        files = [key.key_file for key in self.found.adopted]
        if not files:
            return
        for platform in platforms.PLATFORMS:
            directory = platforms.column(platform)[platforms.KEYS]["directory"]
            if directory and all(f.startswith(directory.rstrip("/") + "/") for f in files):
                self.found.keys = {"directory": directory}
                return


def _at(path: str, by: Mapping[str, Option], folded: str) -> str:
    """FILE:LINE of an option, or FILE when the file does not set it."""
    option = by.get(folded)
    return f"{path}:{option.line}" if option is not None else path


def _first_word(body: str) -> str:
    """A table line's key name only: the rest of a KeyTable line may hold key data."""
    return body.split()[0] + " ..." if body.split() else body


def _default(model: type[BaseModel], field: str) -> Any:
    info = model.model_fields[field]
    if info.default_factory is not None:
        factory: Callable[[], Any] = info.default_factory  # type: ignore[assignment]
        return factory()
    return info.default


def _trimmed(model: type[BaseModel], values: dict[str, Any], target: str) -> Yaml:
    """The settings that differ from the model's defaults, and always the paths a
    platform preset could fill differently."""
    preset = {f for column in platforms.PATHS.values() for f in column.get(target, {})}
    return {
        name: value
        for name, value in values.items()
        if name in preset or value != _default(model, name)
    }


def _postfix_forms(socket: str, chroot: bool, queue: str) -> set[str]:
    """The ways a milter list in main.cf can name ``socket``."""
    kind, _, rest = socket.partition(":")
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        hosts = {host, f"[{host}]"}
        if host == "localhost":
            hosts |= {"localhost", "127.0.0.1"}
        return {f"{k}:{h}:{port}" for k in ("inet", "inet6") for h in hosts}
    paths = {rest}
    prefix = queue.rstrip("/") + "/"
    if chroot and rest.startswith(prefix):
        paths.add(rest[len(prefix) - 1 :])
    return {f"{k}:{p}" for k in ("unix", "local") for p in paths}


def read_mail(
    root: Path,
    *,
    opendkim_conf: str | None,
    dkimpy_conf: str | None,
    opendmarc_conf: str | None,
    main_cf: str | None,
    master_cf: str | None,
) -> Found:
    """What the host under ``root`` runs for mail: signers, OpenDMARC, Postfix's milters.

    Each path is a host path (``/etc/opendkim.conf``) read below ``root``; None looks in
    the usual places of every platform, and a file found nowhere is simply not imported.
    A path given but absent is a `MailImportError`. Whatever cannot be imported as it is,
    is a `Note` in the result.
    """
    reader = _Reader(root)
    milters: list[_Signer] = []
    picks: list[tuple[str | None, list[str], str, Callable[[str], _Signer | None]]] = [
        (opendkim_conf, _usual("opendkim", "config"), "opendkim.conf", reader.opendkim),
        (dkimpy_conf, _usual("dkimpy_milter", "config"), "dkimpy-milter.conf", reader.dkimpy),
        (opendmarc_conf, _usual("opendmarc", "config"), "opendmarc.conf", reader.opendmarc),
    ]
    for given, usual, what, read in picks:
        path = reader.pick(given, usual, what)
        if path is not None:
            found = read(path)
            if found is not None:
                milters.append(found)
    main_path = reader.pick(main_cf, [_MAIN_CF], "main.cf")
    if main_path is not None:
        beside = posixpath.join(posixpath.dirname(main_path), "master.cf")
        master_path = reader.pick(master_cf, [beside], "master.cf")
        reader.postfix(main_path, master_path, milters)
    reader.key_store()
    KeyStore.model_validate(reader.found.keys)
    return reader.found
