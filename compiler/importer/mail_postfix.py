"""main.cf and master.cf into ``targets.postfix``: the milter settings, and which entries of
the milter lists are the imported daemons' (others stay the host's, with a Note)."""

from __future__ import annotations

import posixpath
from typing import Any

from mailauth.backends.postfix import PostfixTarget
from mailauth.backends.postfix_maincf import MainCfError, get_parameters
from mailauth.backends.postfix_mastercf import MasterCfError, parse_master
from mailauth.backends.postfix_milters import MILTER_LISTS, parse_milters
from mailauth.compiler.importer.mail_files import MailFiles, Signer, trimmed

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
    ours: dict[str, Signer] = {}
    prefix = queue.rstrip("/") + "/"
    for milter in milters:
        socket = milter.socket or ""
        if chroot and socket.startswith("local:") and not socket[6:].startswith(prefix):
            files.note(
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
            align_socket(files, owner, entry.address)
    for milter in milters:
        if milter.target not in matched:
            files.note(
                milter.where,
                "changed",
                f"{milter.target} socket {milter.socket}",
                "main.cf's milter lists do not name it; the first plan adds it to smtpd_milters",
            )
    files.found.targets["postfix"] = trimmed(PostfixTarget, values, "postfix")


def align_socket(files: MailFiles, milter: Signer, address: str) -> None:
    """A socket main.cf reaches through another spelling of the same loopback
    address (``inet:8891@localhost`` and ``inet:127.0.0.1:8891``): written as main.cf
    says it, so that main.cf's line stays as it is."""
    kind, _, rest = address.partition(":")
    if kind != "inet" or milter.socket is None or not milter.socket.endswith("@localhost"):
        return
    host, _, port = rest.rpartition(":")
    socket = f"inet:{port}@{host}"
    files.found.targets[milter.target]["socket"] = socket
    files.note(
        milter.where,
        "changed",
        f"Socket {milter.socket}",
        f"written as {socket}, "
        "the address main.cf's milter list uses, so that main.cf stays as it is "
        "(localhost is that address for the daemon too)",
    )


def smtpd_chroot(files: MailFiles, master_path: str | None) -> bool | None:
    """Whether smtpd/inet runs chrooted (master.cf's fifth column; ``-``: Postfix 3's
    default, no)."""
    if master_path is None:
        return None
    text = files.read(master_path, master_path, "master.cf")
    if text is None:
        return None
    try:
        services = parse_master(text.replace("\r\n", "\n"))
    except MasterCfError as exc:
        files.note(master_path, "not-imported", "master.cf", str(exc))
        return None
    for service in services:
        if service.name == "smtp" and service.type == "inet":
            return service.fields[4] == "y"
    return None


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
