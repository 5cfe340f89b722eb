"""opendkim.conf and its tables into ``targets.opendkim`` and adopted RSA keys."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from mailauth.backends import opendkim_options
from mailauth.backends.opendkim import OpenDkimTarget, extra_option_name
from mailauth.compiler.importer.mail_files import MailFiles, Signer, default_of, option_at, trimmed
from mailauth.compiler.importer.milter_tables import (
    KeyEntry,
    Option,
    parse_dataset,
    parse_options,
    truth,
)
from mailauth.compiler.importer.signer_tables import (
    adopt,
    key_table,
    signing_table,
    table_directory,
)
from mailauth.schema import strings

__all__ = ["read_opendkim"]


def read_opendkim(files: MailFiles, path: str) -> Signer | None:
    text = files.read(path, path, "opendkim.conf")
    if text is None:
        return None
    by = files.first(parse_options(text), path)
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
    files.syslog(values, by, path)
    if "userid" in by:
        files.user_group(model, values, by["userid"], path)
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
                files.note(
                    f"{path}:{option.line}", "not-imported", f"Socket {option.value}", str(exc)
                )
                continue
        files.setting(
            model,
            values,
            field,
            value,
            f"{path}:{option.line}",
            f"{option.name} {option.value}",
        )
    if "canonicalization" not in by:
        values["canonicalization"] = "simple/simple"  # OpenDKIM's own default
    absent = (("socket", "Socket"), ("mode", "Mode"), ("umask", "UMask"), ("pidfile", "PidFile"))
    for folded, name in absent:
        if folded not in by:
            field = simple[folded]
            files.note(
                path,
                "changed",
                name,
                f"not set in the file; mailauth writes "
                f"{name} {default_of(model, field)}, the default of "
                f"targets.opendkim.{field}",
            )
    ns = by.get("nameservers")
    if ns is not None:
        handled.add("nameservers")
        servers = [s.strip() for s in ns.value.split(",") if s.strip()]
        files.setting(
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
    if "oversignheaders" not in by:
        files.note(
            path, "changed", "OversignHeaders", "not set; mailauth writes OversignHeaders From"
        )
    for folded, wanted in fixed.items():
        option = by.get(folded)
        handled.add(folded)
        differs = option is not None and option.value.casefold() != wanted.casefold()
        if (
            option is not None
            and differs
            and not (folded == "requiresafekeys" and truth(option.value))
        ):
            files.note(
                f"{path}:{option.line}",
                "changed",
                f"{option.name} {option.value}",
                f"mailauth always writes {option.name} {wanted}",
            )
    multiple = bool(truth(by["multiplesignatures"].value)) if "multiplesignatures" in by else False
    # Tables.
    key_path, keys = "", list[tuple[int, KeyEntry]]()
    if "keytable" in by:
        option = by["keytable"]
        key_path, keys = key_table(files, parse_dataset(option.value), f"{path}:{option.line}")
    sign_path, rows = "", list[tuple[int, str, str]]()
    if "signingtable" in by:
        option = by["signingtable"]
        sign_path, rows = signing_table(files, parse_dataset(option.value), f"{path}:{option.line}")
    for folded in ("keyfile", "selector", "domain"):
        if folded in by:
            handled.add(folded)
            option = by[folded]
            files.note(
                f"{path}:{option.line}",
                "not-imported",
                f"{option.name} {'<key>' if folded == 'keyfile' else option.value}",
                "single-key signing (KeyFile, Selector, Domain) is not imported: "
                "give the key as a KeyTable and SigningTable",
            )
    adopted = adopt(files, keys, key_path, rows, sign_path, "rsa", multiple)
    files.found.adopted.extend(adopted)
    directories = {posixpath.dirname(p) for p in (key_path, sign_path) if p}
    trusted(files, values, by, path, directories)
    table_directory(
        files,
        values,
        directories,
        path,
        "opendkim",
        {key_path: "KeyTable", sign_path: "SigningTable"},
    )
    for folded, option in by.items():
        if folded in handled or folded in values:
            continue
        extra(files, values, option, path)
    files.found.targets["opendkim"] = trimmed(model, values, "opendkim")
    return Signer(
        "opendkim", values.get("socket", default_of(model, "socket")), option_at(path, by, "socket")
    )


def trusted(
    files: MailFiles, values: dict[str, Any], by: Mapping[str, Option], path: str, dirs: set[str]
) -> None:
    """InternalHosts and ExternalIgnoreList: mailauth writes one list for both."""
    found: dict[str, list[str] | None] = {}
    for folded in ("internalhosts", "externalignorelist"):
        option = by.get(folded)
        if option is None:
            continue
        dataset = parse_dataset(option.value)
        found[folded] = files.hosts(
            dataset, f"{path}:{option.line}", f"{option.name} {option.value}"
        )
        if dataset.kind == "refile":
            files.note(
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
    if "internalhosts" in by and "externalignorelist" not in by:
        files.note(
            path,
            "changed",
            "ExternalIgnoreList",
            "not set; mailauth writes the InternalHosts list as ExternalIgnoreList too (it "
            "only stops OpenDKIM logging those hosts' unsigned mail)",
        )
    if "internalhosts" not in by:
        internal = ["127.0.0.1"]  # OpenDKIM's own default
        files.note(
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
        files.note(
            f"{path}:{option.line}",
            "changed",
            f"{option.name} {option.value}",
            "mailauth writes one TrustedHosts file for InternalHosts and "
            "ExternalIgnoreList: imported InternalHosts' list",
        )
    values["trusted_hosts"] = internal


def extra(files: MailFiles, values: dict[str, Any], option: Option, path: str) -> None:
    """An OpenDKIM option mailauth does not manage: extra_options, or a Note."""
    at = f"{path}:{option.line}"
    if option.name.casefold() in {n.casefold() for n in opendkim_options.SECRET}:
        files.note(
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
        files.note(at, "not-imported", f"{option.name} {option.value}", str(exc))
        return
    values.setdefault("extra_options", {})[name] = value
