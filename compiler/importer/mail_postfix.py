"""main.cf and master.cf into ``targets.postfix``: the milter settings, and which entries of
the milter lists are the imported daemons' (others stay the host's, with a Note)."""

from __future__ import annotations

import posixpath
from typing import Any

from mailauth.backends.dkimpy_milter import DkimpyMilterTarget
from mailauth.backends.postfix import PostfixTarget
from mailauth.backends.postfix_maincf import MainCfError, get_parameters
from mailauth.backends.postfix_mastercf import MasterCfError, Service, parse_master
from mailauth.backends.postfix_milters import MILTER_LISTS, parse_milters
from mailauth.compiler.importer.mail_files import MailFiles, Signer, default_of, trimmed

__all__ = ["read_postfix"]


def read_postfix(
    files: MailFiles, main_path: str, master_path: str | None, milters: list[Signer]
) -> None:
    text = files.read(main_path, main_path, "main.cf")
    if text is None:
        return
    try:
        params = get_parameters(text)
    except MainCfError as exc:
        files.note(main_path, "not-imported", "main.cf", str(exc))
        return
    values: dict[str, Any] = {"main_cf": main_path}
    if master_path is not None and master_path != posixpath.join(
        posixpath.dirname(main_path), "master.cf"
    ):
        values["master_cf"] = master_path
    queue = params.get("queue_directory", "/var/spool/postfix")
    chroot = smtpd_chroot(files, master_path)
    if "queue_directory" in params:
        files.setting(
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
            files.setting(PostfixTarget, values, name, value, main_path, f"{name} = {params[name]}")
    # mailauth's own default when master.cf does not say (see PostfixTarget.chroot)
    jailed = chroot if chroot is not None else bool(_default_chroot())
    prefix = queue.rstrip("/") + "/"
    for milter in milters:
        socket = milter.socket or ""
        if jailed and socket.startswith("local:") and not socket[6:].startswith(prefix):
            files.note(
                milter.where,
                "not-imported",
                f"{milter.target} socket {socket}",
                f"Postfix's smtpd runs chrooted in {queue}, where this socket is out "
                "of reach; mailauth refuses it until the socket moves below "
                f"{queue} or targets.postfix.chroot is false",
            )
    ours: dict[str, Signer] = {}
    for milter in milters:
        if milter.socket is not None:
            for form in _postfix_forms(milter.socket, jailed, queue):
                ours[form] = milter
    matched: set[str] = set()
    for name in MILTER_LISTS:
        value = params.get(name)
        if not value:
            continue
        try:
            entries = parse_milters(value)
        except ValueError as exc:
            files.note(main_path, "not-imported", name, str(exc))
            continue
        for entry in entries:
            if entry.reference is not None:
                continue  # `$smtpd_milters`: the same list again
            owner = ours.get(entry.address)
            if owner is None:
                files.note(
                    main_path,
                    "not-imported",
                    f"{name}: {entry.text}",
                    "a milter mailauth does not manage; kept as it is in main.cf",
                )
                continue
            matched.add(owner.target)
            socket = align_socket(files, owner, entry.address)
            written = _canonical(socket, jailed, queue)
            if written != entry.address:
                files.note(
                    main_path,
                    "changed",
                    f"{name}: {entry.text}",
                    f"mailauth names this milter {written} and would list it beside this "
                    f"entry: write it as {written} in main.cf before the first apply",
                )
    for milter in milters:
        if milter.target not in matched:
            files.note(
                milter.where,
                "changed",
                f"{milter.target} socket {milter.socket}",
                "main.cf's milter lists do not name it; the first plan adds it to smtpd_milters",
            )
    if "dkimpy_milter" in files.found.targets:
        _signing_tag(files, params, main_path, master_path, values)
    files.found.targets["postfix"] = trimmed(PostfixTarget, values, "postfix")


def align_socket(files: MailFiles, milter: Signer, address: str) -> str:
    """The socket, written the way main.cf names it when main.cf reaches it through
    another spelling of the loopback address (``inet:8891@localhost`` and
    ``inet:127.0.0.1:8891``), so that main.cf's line stays as it is."""
    socket = milter.socket or ""
    kind, _, rest = address.partition(":")
    host, _, port = rest.rpartition(":")
    mine = socket.partition("@")[2]
    if kind != "inet" or not socket.startswith("inet:") or host == mine:
        return socket
    if {host, mine} != _LOOPBACK:
        return socket
    aligned = f"inet:{port}@{host}"
    files.found.targets[milter.target]["socket"] = aligned
    files.note(
        milter.where,
        "changed",
        f"Socket {socket}",
        f"written as {aligned}, the address main.cf's milter list uses, so that main.cf "
        "stays as it is (localhost is 127.0.0.1 for the daemon too)",
    )
    return aligned


def _signing_tag(
    files: MailFiles,
    params: dict[str, str],
    main_path: str,
    master_path: str | None,
    values: dict[str, Any],
) -> None:
    """dkimpy-milter signs mail tagged by ``milter_macro_daemon_name``: the services that
    carry the submission tag become ``submission_services``; a different inbound tag in
    main.cf, or no tagged service, is a change the first plan makes, so it is noted."""
    dkimpy = files.found.targets["dkimpy_milter"]
    inbound = dkimpy.get(
        "inbound_daemon_name", default_of(DkimpyMilterTarget, "inbound_daemon_name")
    )
    submission = dkimpy.get(
        "submission_daemon_name", default_of(DkimpyMilterTarget, "submission_daemon_name")
    )
    host = params.get("milter_macro_daemon_name")
    if host != inbound:
        files.note(
            main_path,
            "changed",
            f"milter_macro_daemon_name = {host}" if host else "milter_macro_daemon_name",
            f"mailauth sets it to {inbound} (dkimpy-milter's MacroListVerify): mail under "
            "that name is verified, never signed",
        )
    services = _services(files, master_path)
    if services is None:
        return
    tagged = [s.key for s in services if s.option("milter_macro_daemon_name") == submission]
    local = "cleanup/unix" in tagged
    tagged = [key for key in tagged if key != "cleanup/unix"]
    if local:
        values["sign_local_mail"] = True
    if tagged:
        files.setting(
            PostfixTarget,
            values,
            "submission_services",
            tagged,
            master_path or "",
            f"services tagged {submission}",
        )
    else:
        files.note(
            master_path or main_path,
            "changed",
            "submission services",
            f"no master.cf service carries -o milter_macro_daemon_name={submission}: the "
            "first plan tags submission/inet and submissions/inet (made from Debian's lines "
            "when absent), or set targets.postfix.submission_services",
        )


def _services(files: MailFiles, master_path: str | None) -> list[Service] | None:
    if master_path is None:
        return None
    text = files.read(master_path, master_path, "master.cf")
    if text is None:
        return None
    try:
        return parse_master(text.replace("\r\n", "\n"))
    except MasterCfError as exc:
        files.note(master_path, "not-imported", "master.cf", str(exc))
        return None


def smtpd_chroot(files: MailFiles, master_path: str | None) -> bool | None:
    """Whether smtpd/inet runs chrooted (master.cf's fifth column; ``-``: Postfix 3's
    default, no); None when master.cf does not say."""
    services = _services(files, master_path)
    for service in services or []:
        if service.name == "smtp" and service.type == "inet":
            return service.fields[4] == "y"
    return None


def _default_chroot() -> bool:
    return bool(default_of(PostfixTarget, "chroot"))


_LOOPBACK = {"localhost", "127.0.0.1"}


def _canonical(socket: str, chroot: bool, queue: str) -> str:
    """How mailauth writes ``socket`` in a milter list (backends/postfix.py)."""
    kind, _, rest = socket.partition(":")
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        if ":" in host:
            host = f"[{host}]"
        return f"inet:{host}:{port}"
    prefix = queue.rstrip("/") + "/"
    if chroot and rest.startswith(prefix):
        return "unix:" + rest[len(prefix) - 1 :]
    return "unix:" + rest


def _postfix_forms(socket: str, chroot: bool, queue: str) -> set[str]:
    """The ways a milter list in main.cf can name ``socket``."""
    kind, _, rest = socket.partition(":")
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        hosts = {host, f"[{host}]"}
        if host in _LOOPBACK:
            hosts |= _LOOPBACK
        return {f"{k}:{h}:{port}" for k in ("inet", "inet6") for h in hosts}
    paths = {rest}
    prefix = queue.rstrip("/") + "/"
    if chroot and rest.startswith(prefix):
        paths.add(rest[len(prefix) - 1 :])
    return {f"{k}:{p}" for k in ("unix", "local") for p in paths}
