"""Postfix target: mailauth's milters merged into main.cf, the signing tag in master.cf.

Both files are the host's. mailauth owns *entries* in them, never the files:

- main.cf: its own entries in ``smtpd_milters`` / ``non_smtpd_milters`` (the host's other
  milters keep their places, postfix_milters.py), and the settings mailauth.yaml sets; the
  manifest records which (``EditContext.state``), so removing a milter removes only it and
  a setting mailauth.yaml no longer sets gets the host's value back. Parameters are edited
  where they stand, postconf-style: Postfix takes the last definition of a parameter, so an
  appended block silently loses or silently wins.
- master.cf: when the signer signs only mail tagged as submitted (dkimpy-milter), the
  submission services carry ``-o milter_macro_daemon_name=<tag>`` (postfix_mastercf.py).

A root without these files is an error (`MissingHostFile`) unless ``create: true``: a staging
root mirrors the host, and a four-line main.cf invented there would be copied over the real
one. Snippet mode writes the same changes as a ``postconf`` script that merges on the host.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from mailauth.backends.base import (
    Artifact,
    Backend,
    BuildContext,
    EditContext,
    Edited,
    EditError,
    MissingHostFile,
)
from mailauth.backends.postfix_maincf import (
    MainCfError,
    decode_main_cf,
    encode_main_cf,
    get_parameters,
    parameter_line,
    remove_parameters,
    set_parameters,
)
from mailauth.backends.postfix_mastercf import (
    MasterCfError,
    MasterOwnership,
    apply_signing_tag,
    postconf_commands,
    undo,
)
from mailauth.backends.postfix_milters import MILTER_LISTS, MilterOwnership, plan_milters
from mailauth.compiler.model import MailModel, Milter
from mailauth.schema import strings
from mailauth.schema.strings import milter_socket
from mailauth.schema.targets import AbsPath, TargetSettings

if TYPE_CHECKING:
    from mailauth.schema.errors import Problem

_CREATE_HINT = "or set targets.postfix.create: true"


_SERVICE_KEY = r"^[A-Za-z0-9_.:-]+/(inet|unix|unix-dgram|fifo|pass)$"
#: main.cf parameters mailauth shares with the host (postfix_milters): never under
#: ``parameters``, which replace a value, where these are merged or kept.
_MERGED = ("smtpd_milters", "non_smtpd_milters")
_OWN_FIELDS = ("milter_default_action", "milter_protocol")


class PostfixTarget(TargetSettings):
    """Postfix: connect the milters in main.cf (and tag the submission services in
    master.cf), or write a snippet and a postconf script for other tooling."""

    mode: Literal["edit", "snippet"] = Field(
        default="edit",
        description="`edit`: edit the host's main.cf and master.cf in place; `snippet`: leave "
        "them alone and write `snippet_file` and `script_file` instead",
    )
    main_cf: AbsPath = Field(
        default="/etc/postfix/main.cf",
        description="the host's main.cf (edit mode); its directory is Postfix's config "
        "directory (`postfix -c` when not /etc/postfix)",
    )
    master_cf: AbsPath | None = Field(
        default=None,
        description="the master.cf edited for the signing tag; default beside main_cf",
    )
    create: bool = Field(
        default=False,
        description="create main.cf/master.cf when the root has none (else an error: a "
        "staging root must hold the host's files)",
    )
    snippet_file: AbsPath = Field(
        default="/etc/postfix/mailauth-main.cf",
        description="snippet mode: the main.cf settings and milter entries, for review",
    )
    script_file: AbsPath = Field(
        default="/etc/postfix/mailauth-postconf.sh",
        description="snippet mode: a sh script (mode 0755) that makes the same changes on the "
        "host with postconf",
    )
    chroot: bool = Field(
        default=True,
        description="smtpd runs chrooted in `queue_directory` (Debian's default): a local: "
        "milter socket must then lie below it, and is written relative to it",
    )
    queue_directory: AbsPath = Field(
        default="/var/spool/postfix",
        description="Postfix's queue_directory, the chroot of smtpd (with `chroot`)",
    )
    milter_default_action: Literal["accept", "reject", "tempfail", "quarantine"] | None = Field(
        default=None,
        description="main.cf `milter_default_action`: what Postfix does when a milter fails; "
        "null keeps the host's value (plan notes what it means)",
    )
    milter_protocol: Literal[2, 3, 4, 5, 6] | None = Field(
        default=None,
        description="main.cf `milter_protocol`, the milter protocol version; null keeps the "
        "host's value",
    )
    submission_services: list[Annotated[str, Field(pattern=_SERVICE_KEY)]] = Field(
        default_factory=lambda: ["submission/inet", "submissions/inet"],
        description="master.cf services (name/type) that get the signing tag when the signer "
        "signs tagged mail only (dkimpy-milter); created from Debian's lines when absent",
    )
    sign_local_mail: bool = Field(
        default=False,
        description="also tag cleanup/unix in master.cf, so mail from local sendmail is signed",
    )
    parameters: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$"), AfterValidator(strings.postfix_name)],
        Annotated[str, AfterValidator(strings.postfix_value)],
    ] = Field(
        default_factory=dict,
        description="other main.cf parameters to set; the host's value comes back when one "
        "is removed here",
    )

    @model_validator(mode="after")
    def _no_milter_override(self) -> PostfixTarget:
        merged = sorted(set(_MERGED) & set(self.parameters))
        if merged:
            raise ValueError(
                f"{', '.join(merged)}: mailauth merges its own milters into the host's list "
                "and keeps the host's entries in place, so the list is not set here; list the "
                "host's other milters in main.cf itself"
            )
        fields = sorted(set(_OWN_FIELDS) & set(self.parameters))
        if fields:
            raise ValueError(
                f"{', '.join(fields)}: set it as targets.postfix.{fields[0]}, not under "
                "parameters (unset, the host's value is kept)"
            )
        return self


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


def milter_entries(model: MailModel, target: PostfixTarget) -> list[str]:
    """mailauth's entries for both milter lists, in the order mail passes: signer first."""
    return [postfix_address(m, target) for m in model.milters]


def milter_settings(model: MailModel, target: PostfixTarget) -> dict[str, str | None]:
    """The single-valued parameters mailauth.yaml decides (None: keep the host's value).

    Everything set here is recorded with the host's value before, which comes back when
    mailauth.yaml stops setting it.
    """
    settings: dict[str, str | None] = {}
    if model.milters:
        settings["milter_default_action"] = target.milter_default_action
        protocol = target.milter_protocol
        settings["milter_protocol"] = None if protocol is None else str(protocol)
        for milter in model.milters:
            if milter.inbound_daemon_name is not None:
                # The signer verifies, and never signs, mail under this name; only the
                # submission services override it in master.cf (see dkimpy_milter.py).
                settings["milter_macro_daemon_name"] = milter.inbound_daemon_name
    if model.dane_outbound:
        # RFC 7672 DANE on outbound SMTP: only DNSSEC-validated TLSA records count.
        settings["smtp_tls_security_level"] = "dane"
        settings["smtp_dns_support_level"] = "dnssec"
    settings.update(target.parameters)
    return settings


def signing_tag(model: MailModel) -> str | None:
    """The ``{daemon_name}`` the submission services must send for mail to be signed."""
    return next((m.submission_daemon_name for m in model.milters if m.submission_daemon_name), None)


def master_cf_path(target: PostfixTarget) -> str:
    """master.cf: as configured, else beside main.cf (Postfix's config directory)."""
    return target.master_cf or posixpath.join(posixpath.dirname(target.main_cf), "master.cf")


def edit_main_cf(
    current: bytes | None,
    state: object,
    *,
    path: str,
    entries: Sequence[str],
    settings: Mapping[str, str | None],
    create: bool,
) -> Edited:
    """main.cf with mailauth's milters merged in and its settings applied; the state to
    record is the ownership (postfix_milters.MilterOwnership)."""
    if current is None and not create:
        raise MissingHostFile(path, _CREATE_HINT)
    # main.cf is the admin's file: bytes that are not UTF-8 (a Latin-1 comment) are
    # carried through unchanged, and a line Postfix would refuse is named.
    text = decode_main_cf(current) if current is not None else ""
    try:
        previous = MilterOwnership.from_json(
            state.get("milters") if isinstance(state, dict) else None
        )
        plan = plan_milters(
            get_parameters(text),
            previous,
            smtpd=entries,
            non_smtpd=entries,
            settings=settings,
        )
        new = remove_parameters(set_parameters(text, plan.set), plan.delete)
        # A parameter defined twice makes Postfix warn on every start (and can deadlock
        # postlogd): the ones mailauth reads but keeps are left defined once, as in effect.
        host = get_parameters(text)
        kept = {
            name: host[name]
            for name in (*MILTER_LISTS, *settings)
            if name in host and name not in plan.set and name not in plan.delete
        }
        new = set_parameters(new, kept)
    except (MainCfError, ValueError) as exc:
        raise EditError(f"{path}: {exc}") from None
    content = current if current is not None and new == text else encode_main_cf(new)
    record = plan.ownership.to_json()
    owns = record["entries"] or record["settings"]
    return Edited(
        content,
        state={"milters": record} if owns else None,
        notes=tuple(f"{path}: {note}" for note in plan.notes),
    )


def edit_master_cf(
    current: bytes | None,
    state: object,
    *,
    path: str,
    tag: str | None,
    target: PostfixTarget,
    main_cf: Mapping[str, str] | None,
) -> Edited:
    """master.cf with the signing tag on the submission services (or, with no tag needed,
    what mailauth set there before undone); the state is the MasterOwnership."""
    try:
        previous = MasterOwnership.from_json(state)
    except ValueError as exc:
        raise EditError(f"{path}: {exc}") from None
    if tag is None:
        if current is None:
            return Edited(None)
        text = decode_main_cf(current)
        try:
            restored = undo(text, previous)
        except MasterCfError as exc:
            raise EditError(f"{path}: {exc}") from None
        return Edited(current if restored == text else encode_main_cf(restored))
    if current is None and not target.create:
        raise MissingHostFile(path, _CREATE_HINT)
    text = decode_main_cf(current) if current is not None else ""
    try:
        result = apply_signing_tag(
            text,
            tag,
            target.submission_services,
            cleanup=target.sign_local_mail,
            previous=previous,
            main_cf=main_cf,
        )
    except MasterCfError as exc:
        raise EditError(f"{path}: {exc}") from None
    changed = result.text != text
    notes = [
        f"{path}: {note.removeprefix('master.cf: ')}"
        for note in result.notes
        if changed or " created " not in f" {note}"
    ]
    return Edited(
        current if current is not None and not changed else encode_main_cf(result.text),
        state=result.ownership.to_json(),
        notes=tuple(notes),
    )


_MERGE_FUNCTION = r"""# merge NAME [ENTRY...]: add each ENTRY to the milter list NAME unless it is
# listed already (alone, or as the socket of a { ... } group); the host's entries stay.
merge() {
    name=$1
    shift
    current=$(pc -h "$name")
    value=$current
    for entry in "$@"; do
        found=no
        for token in $(printf '%s\n' "$value" | tr ',{}' '   '); do
            case $token in
            "$entry") found=yes ;;
            '$smtpd_milters' | '${smtpd_milters}' | '$(smtpd_milters)')
                [ "$name" = non_smtpd_milters ] && found=yes ;;
            esac
        done
        [ "$found" = yes ] || value="${value:+$value, }$entry"
    done
    [ "$value" = "$current" ] || pc -e -- "$name = $value"
}
"""


def snippet_text(entries: Sequence[str], settings: Mapping[str, str | None]) -> str:
    """A main.cf fragment for review: the entries to add to the host's lists, the values."""
    lines = [
        "# Generated by mailauth from mailauth.yaml: edit that file, not this one.",
        "# Add these milters to smtpd_milters and non_smtpd_milters, after the host's own",
        "# entries, which stay; mailauth-postconf.sh does exactly that.",
    ]
    if entries:
        lines += [f"#   {entry}" for entry in entries]
    chosen = {k: v for k, v in settings.items() if v is not None}
    if chosen:
        lines.append("# Postfix keeps the last definition of each parameter; define these once.")
        lines += [f"{name} = {value}" if value else f"{name} =" for name, value in chosen.items()]
    return "\n".join(lines) + "\n"


def postconf_script(
    entries: Sequence[str],
    settings: Mapping[str, str | None],
    *,
    config_dir: str | None,
    tag: str | None,
    target: PostfixTarget,
) -> str:
    """A POSIX sh script doing on the host what edit mode does: merge the milter entries
    into the host's lists, set what mailauth.yaml sets, tag the submission services in
    master.cf (created from Debian's standard line where absent)."""
    command = "postconf" + ("" if config_dir is None else f" -c {shlex.quote(config_dir)}")
    out = [
        "#!/bin/sh",
        "# Generated by mailauth. Merges mailauth's milters into main.cf: the host's other",
        "# milters and settings stay as they are.",
        "set -eu",
        "pc() {",
        f'    {command} "$@"',
        "}",
        'main_cf="$(pc -h config_directory)/main.cf"',
        "# postconf -e appends new parameters to an unterminated last line: end it first.",
        'if [ -s "$main_cf" ] && [ -n "$(tail -c 1 "$main_cf")" ]; then',
        "    printf '\\n' >>\"$main_cf\"",
        "fi",
        "set -f",
        _MERGE_FUNCTION.rstrip("\n"),
    ]
    if entries:
        quoted = " ".join(shlex.quote(e) for e in entries)
        out += [f"merge smtpd_milters {quoted}", f"merge non_smtpd_milters {quoted}"]
    for name, value in settings.items():
        if value is not None:
            setting = f"{name} = {value}" if value else f"{name} ="
            out.append(f"pc -e -- {shlex.quote(setting)}")
    if tag is not None:
        out.append("# The signer signs only mail tagged as submitted (master.cf).")
        for key in dict.fromkeys(
            [*target.submission_services, *(["cleanup/unix"] if target.sign_local_mail else [])]
        ):
            if key == "cleanup/unix":
                created: list[str] = []
            else:
                alone = apply_signing_tag("", tag, [key]).text
                created = [c for c in postconf_commands("", alone) if " -M " in f" {c} "]
            setting = shlex.quote(f"{key}/milter_macro_daemon_name={tag}")
            test = f'[ -n "$(pc -M {shlex.quote(key)})" ]'
            if created:
                create = created[0].replace("postconf ", "pc ", 1)
                out += [f"if {test}; then", f"    pc -P {setting}", "else"]
                out += [f"    {create}", "fi"]
            else:
                out.append(f"pc -P {setting}")
    return "\n".join(out) + "\n"


class PostfixBackend(Backend[PostfixTarget]):
    """Postfix main.cf and master.cf."""

    name: ClassVar[str] = "postfix"
    settings: ClassVar[type[BaseModel]] = PostfixTarget
    connects_milters: ClassVar[bool] = True

    def check(self, target: PostfixTarget, ctx: BuildContext) -> Iterable[Problem]:
        """What Postfix cannot do with the milters: a ``milter_macro_daemon_name`` set by
        hand where a signer needs its own; a socket it cannot reach (outside the chroot).
        Checked here, with positions, so validate refuses what plan would."""
        clash = "milter_macro_daemon_name"
        for name, _, milter in ctx.milters:
            if milter.inbound_daemon_name is not None and clash in target.parameters:
                yield ctx.problem(
                    ("targets", self.name, "parameters", clash),
                    f"set by mailauth to {milter.inbound_daemon_name!r} "
                    f"(targets.{name}.inbound_daemon_name): mail under that name is "
                    "verified and never signed; remove it here: mailauth gives the submission "
                    f"services `-o milter_macro_daemon_name={milter.submission_daemon_name}` "
                    f"in master.cf (targets.{self.name}.submission_services)",
                )
        for name, _, milter in ctx.milters:
            try:
                postfix_address(milter, target)
            except MilterAddressError as exc:
                yield ctx.problem(("targets", name, "socket"), str(exc))

    def served_certificate(
        self, target: PostfixTarget, read: Callable[[str], bytes | None]
    ) -> tuple[str, int, str] | None:
        """main.cf's ``smtpd_tls_cert_file`` (edit mode: the host's main.cf is known)."""
        if target.mode != "edit":
            return None
        data = read(target.main_cf)
        if data is None:
            return None
        text = decode_main_cf(data)
        try:
            path = get_parameters(text).get("smtpd_tls_cert_file")
            line = parameter_line(text, "smtpd_tls_cert_file")
        except ValueError:
            return None  # the plan names the bad line
        if not path or line is None or not path.startswith("/"):
            return None
        return target.main_cf, line, path

    def render(self, model: MailModel, target: PostfixTarget) -> Sequence[Artifact]:
        entries = milter_entries(model, target)
        settings = milter_settings(model, target)
        tag = signing_tag(model)
        config_dir = posixpath.dirname(target.main_cf)
        # Postfix finds a non-default config directory only when told with -c.
        dash_c = "" if config_dir == "/etc/postfix" else f" -c {shlex.quote(config_dir)}"
        reload = f"postfix{dash_c} reload"
        if target.mode == "snippet":
            script = postconf_script(
                entries,
                settings,
                config_dir=None if not dash_c else config_dir,
                tag=tag,
                target=target,
            )
            return [
                Artifact(
                    path=target.snippet_file,
                    content=snippet_text(entries, settings).encode(),
                    format="conf",
                ),
                Artifact(
                    path=target.script_file,
                    content=script.encode(),
                    mode=0o755,
                    reload=f"sh {shlex.quote(target.script_file)} && {reload}",
                    format="script",
                ),
            ]

        main_path, master_path = target.main_cf, master_cf_path(target)
        # main.cf is planned first (list order): master.cf's notes look at its result.
        seen: dict[str, Mapping[str, str]] = {}

        def main_edit(current: bytes | None, ctx: EditContext) -> Edited:
            edited = edit_main_cf(
                current,
                ctx.state,
                path=main_path,
                entries=entries,
                settings=settings,
                create=target.create,
            )
            if edited.content is not None:
                seen["main_cf"] = get_parameters(decode_main_cf(edited.content))
            return edited

        def master_edit(current: bytes | None, ctx: EditContext) -> Edited:
            return edit_master_cf(
                current,
                ctx.state,
                path=master_path,
                tag=tag,
                target=target,
                main_cf=seen.get("main_cf"),
            )

        return [
            Artifact(path=main_path, edit=main_edit, owned=False, reload=reload, format="conf"),
            Artifact(path=master_path, edit=master_edit, owned=False, reload=reload, format="conf"),
        ]
