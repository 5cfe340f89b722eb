"""What the targets' settings share: the field types, the key store, and where state lives.

Each target's own settings model sits in its backend module (backends/<target>.py); the
``targets:`` model is derived from the backends' registry (schema/models.py). Paths here
are paths on the mail host; ``--root`` is put in front of them when files are
written, never inside the files, so a tree applied under a staging root can be copied
onto the host unchanged.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailauth.schema import names, strings


class TargetSettings(BaseModel):
    """The base of every target's settings: unknown keys refused, frozen, no coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


AbsPath = Annotated[str, AfterValidator(strings.host_path)]
UserName = Annotated[str, AfterValidator(strings.user_name)]
# json_schema_extra: editors still see the patterns; the checks with their messages are
# the validators (strings.py, fullmatch).
Umask = Annotated[
    str, AfterValidator(strings.umask), Field(json_schema_extra={"pattern": "^[0-7]{3,4}$"})
]
MilterSocket = Annotated[str, AfterValidator(strings.milter_socket)]


def trusted_host(value: str) -> str:
    """An address, a CIDR range, a host name or a ``*.domain`` pattern (OpenDKIM peer lists)."""
    text = strings.plain_ip(value)
    try:
        ipaddress.ip_network(text, strict=False)
        return text
    except ValueError:
        pass
    name = text[2:] if text.startswith("*.") else text
    try:
        names.domain_name(name) if "." in name else strings.single_label_host(name)
    except ValueError:
        raise ValueError(f"{value!r} is not an address, CIDR range or host name") from None
    return text


def any_ip(value: str) -> str:
    text = strings.plain_ip(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


class KeyStore(TargetSettings):
    """Where private keys live on the mail host, and who owns them."""

    directory: AbsPath = Field(
        default="/etc/opendkim/keys",
        description="where generated private keys go on the mail host (made 0700, or 0750 "
        "with `group`)",
    )
    file: Annotated[
        str,
        AfterValidator(
            lambda v: strings.path_template(
                v,
                ("domain", "selector"),
                {"domain": "example.org", "selector": "sel"},
                what="keys.file",
            )
        ),
    ] = Field(
        default="{domain}/{selector}.private",
        description="each key's file below `directory`; {domain} and {selector} are filled "
        "in, and the signer's KeyTable names the result",
    )
    owner: UserName | None = Field(
        default=None,
        description="the user that owns the key files, e.g. opendkim; applied only when "
        "mailauth runs as root; null: whoever runs apply",
    )
    group: UserName | None = Field(
        default=None,
        description="the group of the key files and their directories (then 0750), e.g. "
        "opendkim; applied only when mailauth runs as root; null: whoever runs apply",
    )


class State(TargetSettings):
    """mailauth's own files on the host: the manifest, the apply lock, backups."""

    directory: AbsPath = Field(
        default="/var/lib/mailauth",
        description="mailauth's state on the host: manifest.json (the files it owns), "
        "apply.lock and applied-checksum",
    )
    backups: AbsPath = Field(
        default="/var/backups/mailauth",
        description="where apply keeps a copy of each file it replaces, below a directory "
        "named after the time of the apply",
    )


AuthservId = Annotated[
    str,
    AfterValidator(strings.authserv_id),
    Field(
        description="a host name, or HOSTNAME for gethostname()",
        json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
    ),
]
MacroValue = Annotated[
    str,
    AfterValidator(strings.macro_value),
    Field(json_schema_extra={"pattern": "^[A-Za-z0-9_.-]+$"}),
]
Canonicalization = Literal["relaxed/relaxed", "relaxed/simple", "simple/simple", "simple/relaxed"]
