"""dkimpy-milter.conf and its key tables into ``targets.dkimpy_milter`` and adopted keys
(RSA and Ed25519)."""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from mailauth.backends.dkimpy_milter import DkimpyMilterTarget
from mailauth.compiler.importer.mail_files import (
    MailFiles,
    Signer,
    default_of,
    option_at,
    shown,
    trimmed,
)
from mailauth.compiler.importer.milter_tables import (
    parse_dataset,
    parse_options,
)
from mailauth.compiler.importer.signer_tables import (
    adopt,
    key_table,
    signing_table,
    table_directory,
)

__all__ = ["read_dkimpy"]


def read_dkimpy(files: MailFiles, path: str) -> Signer | None:
    text = files.read(path, path, "dkimpy-milter.conf")
    if text is None:
        return None
    by = files.first(parse_options(text), path)
    model = DkimpyMilterTarget
    values: dict[str, Any] = {"config": path}
    files.syslog(values, by, path)
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
        files.user_group(model, values, by["userid"], path)
    simple = {
        "socket": "socket",
        "mode": "mode",
        "pidfile": "pid_file",
        "canonicalization": "canonicalization",
        "authservid": "authserv_id",
    }
    files.simple_settings(model, values, by, simple, handled, path)
    if "socket" not in by:
        files.note(
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
        files.setting(
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
            files.setting(
                model,
                values,
                "umask",
                format(int(umask.value), "03o"),
                f"{path}:{umask.line}",
                f"UMask {umask.value}",
            )
        else:
            files.note(
                f"{path}:{umask.line}",
                "not-imported",
                f"UMask {umask.value}",
                "dkimpy-milter reads UMask as a decimal number",
            )
    hosts = by.get("internalhosts")
    if hosts is not None:
        handled.add("internalhosts")
        found = files.hosts(
            parse_dataset(hosts.value), f"{path}:{hosts.line}", f"InternalHosts {hosts.value}"
        )
        if found:
            files.setting(
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
            files.note(
                f"{path}:{option.line}",
                "not-imported",
                f"{option.name} {option.value}",
                "mailauth tells mail to sign from mail to verify by one daemon_name|VALUE only",
            )
            continue
        files.setting(
            model, values, field, tag, f"{path}:{option.line}", f"{option.name} {option.value}"
        )
    multiple = True  # each table that holds the name signs: one key per algorithm
    sign_path, rows = "", list[tuple[int, str, str]]()
    if "signingtable" in by:
        option = by["signingtable"]
        sign_path, rows = signing_table(files, parse_dataset(option.value), f"{path}:{option.line}")
    tables: dict[str, str] = {sign_path: "SigningTable"}
    named: set[str] = set()
    for folded, algorithm, name in (
        ("keytable", "rsa", "KeyTable"),
        ("keytableed25519", "ed25519", "KeyTableEd25519"),
    ):
        option = by.get(folded)
        if option is None:
            continue
        key_path, keys = key_table(files, parse_dataset(option.value), f"{path}:{option.line}")
        tables[key_path] = name
        named |= {entry.name for _, entry in keys}
        alg: Literal["rsa", "ed25519"] = "rsa" if algorithm == "rsa" else "ed25519"
        files.found.adopted.extend(
            adopt(files, keys, key_path, rows, sign_path, alg, multiple, report_missing=False)
        )
    for number, domain, name in rows:
        if name not in named:
            files.note(
                f"{sign_path}:{number}",
                "not-imported",
                f"{domain} {name}",
                f"no key table names {name}",
            )
    table_directory(
        files, values, {posixpath.dirname(p) for p in tables if p}, path, "dkimpy_milter", tables
    )
    for folded, option in by.items():
        if folded in handled:
            continue
        files.note(
            f"{path}:{option.line}",
            "not-imported",
            shown(option),
            "mailauth writes dkimpy-milter.conf whole and does not set this option: "
            "carry it over by hand if it is needed",
        )
    files.found.targets["dkimpy_milter"] = trimmed(model, values, "dkimpy_milter")
    return Signer(
        "dkimpy_milter",
        values.get("socket", default_of(model, "socket")),
        option_at(path, by, "socket"),
    )
