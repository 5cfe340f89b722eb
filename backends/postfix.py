"""Postfix target: the milter stanza in main.cf, edited in place, or a snippet and script.

Appending a block to main.cf is the classic mistake: Postfix takes the last definition of
a parameter, so an older ``smtpd_milters`` further down silently wins (or ours silently
overrides theirs). Parameters are therefore set where they stand, postconf-style.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from typing import ClassVar

from mailauth.backends.base import Artifact, EditContext, EditError
from mailauth.backends.postfix_maincf import (
    MainCfError,
    decode_main_cf,
    encode_main_cf,
    postconf_script,
    set_parameters,
    snippet,
)
from mailauth.compiler.model import MailModel, Milter
from mailauth.schema.strings import milter_socket
from mailauth.schema.targets import PostfixTarget


class MilterAddressError(ValueError):
    """A milter socket Postfix could not reach as configured."""


def postfix_address(milter: Milter, target: PostfixTarget) -> str:
    """A milter's socket in Postfix notation (MILTER_README: inet:host:port, unix:path).

    A chrooted smtpd/cleanup sees only its queue directory, and Postfix reads an
    absolute ``unix:`` path relative to it; so the socket must live below it.
    """
    # Only a parsed socket reaches smtpd_milters: one socket, no separators.
    socket = milter_socket(milter.socket)
    kind, _, rest = socket.partition(":")
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"inet:{host}:{port}"
    path = rest
    if not target.chroot:
        return f"unix:{path}"
    queue = target.queue_directory.rstrip("/")
    if not path.startswith(queue + "/"):
        raise MilterAddressError(
            f"{milter.name} socket {path} is outside Postfix's chroot ({queue}); put it "
            f"under {queue}/, e.g. local:{queue}/{milter.name}/{milter.name}.sock, or set "
            "postfix.chroot: false"
        )
    return f"unix:{path[len(queue) :]}"


def milter_parameters(model: MailModel, target: PostfixTarget) -> dict[str, str]:
    """Every main.cf parameter mailauth sets, milters first, in a fixed order."""
    params: dict[str, str] = {}
    if model.milters:
        params["smtpd_milters"] = ", ".join(postfix_address(m, target) for m in model.milters)
        params["non_smtpd_milters"] = "$smtpd_milters"
        params["milter_default_action"] = target.milter_default_action
        params["milter_protocol"] = str(target.milter_protocol)
        for milter in model.milters:
            if milter.inbound_daemon_name is not None:
                # The signer verifies, and never signs, mail under this name; only the
                # submission service overrides it in master.cf (see dkimpy_milter.py).
                params["milter_macro_daemon_name"] = milter.inbound_daemon_name
    params.update(target.parameters)
    return params


class PostfixBackend:
    """Postfix main.cf."""

    name: ClassVar[str] = "postfix"

    def render(self, model: MailModel, target: PostfixTarget) -> Sequence[Artifact]:
        params = milter_parameters(model, target)
        config_dir = posixpath.dirname(target.main_cf)
        # Postfix finds a non-default config directory only when told with -c.
        dash_c = "" if config_dir == "/etc/postfix" else f" -c {shlex.quote(config_dir)}"
        reload = f"postfix{dash_c} reload"
        if target.mode == "snippet":
            return [
                Artifact(path=target.snippet_file, content=snippet(params).encode()),
                Artifact(
                    path=target.script_file,
                    content=postconf_script(
                        params, config_dir=None if not dash_c else config_dir
                    ).encode(),
                    mode=0o755,
                    reload=f"sh {shlex.quote(target.script_file)} && {reload}",
                ),
            ]

        path = target.main_cf

        def edit(current: bytes | None, ctx: EditContext) -> bytes:
            # main.cf is the admin's file: bytes that are not UTF-8 (a Latin-1 comment)
            # are carried through unchanged, and a line Postfix would refuse is named.
            text = decode_main_cf(current) if current is not None else ""
            try:
                return encode_main_cf(set_parameters(text, params))
            except MainCfError as exc:
                raise EditError(f"{path}: {exc}") from None

        return [Artifact(path=target.main_cf, edit=edit, owned=False, reload=reload)]
