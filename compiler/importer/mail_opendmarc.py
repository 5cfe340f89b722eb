"""opendmarc.conf into ``targets.opendmarc``, with OpenDMARC's own defaults where the file
says nothing (they differ from mailauth's)."""

from __future__ import annotations

from typing import Any

from mailauth.backends.opendmarc import SPF_MODES, OpenDmarcTarget
from mailauth.compiler.importer.mail_files import MailFiles, Signer, default_of, option_at, trimmed
from mailauth.compiler.importer.milter_tables import (
    parse_options,
    truth,
)

__all__ = ["read_opendmarc"]


def read_opendmarc(files: MailFiles, path: str) -> Signer | None:
    text = files.read(path, path, "opendmarc.conf")
    if text is None:
        return None
    by = files.first(parse_options(text), path)
    model = OpenDmarcTarget
    values: dict[str, Any] = {"config": path}
    files.syslog(values, by, path, success_too=False)
    handled = {"syslog", "userid", "spfselfvalidate", "spfignoreresults"}
    if "userid" in by:
        files.user_group(model, values, by["userid"], path)
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
    files.simple_settings(model, values, by, simple, handled, path)
    values.setdefault("public_suffix_list", None)
    for folded, name in (("socket", "Socket"), ("umask", "UMask"), ("pidfile", "PidFile")):
        if folded not in by:
            field = simple[folded]
            files.note(
                path,
                "changed",
                name,
                f"not set in the file; mailauth writes {name} {default_of(model, field)}, "
                f"the default of targets.opendmarc.{field}",
            )
    if "authservid" not in by:
        files.note(
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
        files.setting(
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
            files.note(
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
        files.note(
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
        files.note(
            f"{path}:{option.line}",
            "not-imported",
            f"{option.name} {option.value}",
            "mailauth does not set this option; it keeps it in opendmarc.conf as "
            "written (options it does not set are carried over)",
        )
    files.found.targets["opendmarc"] = trimmed(model, values, "opendmarc")
    return Signer(
        "opendmarc",
        values.get("socket", default_of(model, "socket")),
        option_at(path, by, "socket"),
    )
