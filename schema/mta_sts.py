"""MTA-STS (RFC 8461) in mailauth.yaml: a domain's policy, as ``mta_sts:``.

A sending server that knows the policy delivers to the domain only over TLS with a valid
certificate, and only to MX hosts the policy names (``enforce``); ``testing`` asks it to
report failures (TLS-RPT) but deliver anyway; ``none`` withdraws a policy. The policy is
served over HTTPS at ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` (the ``mta_sts``
target writes the file), and announced by ``_mta-sts.<domain> TXT "v=STSv1; id=..."``.

There is no ``id`` field on purpose: the id is derived from the policy's bytes
(compiler/mta_sts.py), so it changes exactly when the policy does. A hand-set id could
stay the same across a change, and receivers would keep the old policy until max_age.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from mailauth.schema import names

#: RFC 8461 section 3.2: max_age is at most 31557600 seconds (about one year).
MAX_AGE_LIMIT = 31_557_600


def mx_pattern(value: str) -> str:
    """An RFC 8461 section 3.2 mx pattern: a host name, or ``*.`` and a domain name (the
    wildcard stands for exactly one leftmost label). Lower-cased, as receivers compare."""
    if not isinstance(value, str):
        raise ValueError("an mx pattern must be text")
    text = value.strip().lower()
    text = text[:-1] if text.endswith(".") else text
    wildcard = text.startswith("*.")
    rest = text[2:] if wildcard else text
    if "*" in rest:
        raise ValueError(
            f"{value!r} is not an MTA-STS mx pattern: a wildcard may only be the whole "
            "leftmost label, as in *.mail.example.org (RFC 8461 section 3.2)"
        )
    try:
        checked = names.domain_name(rest)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an MTA-STS mx pattern: {exc}") from None
    return ("*." if wildcard else "") + checked


MxPattern = Annotated[str, AfterValidator(mx_pattern)]
Ip4Addr = Annotated[str, AfterValidator(lambda v: names.ip_address(v, 4))]
Ip6Addr = Annotated[str, AfterValidator(lambda v: names.ip_address(v, 6))]
HostName = Annotated[str, AfterValidator(names.domain_name)]


class MtaSts(BaseModel):
    """MTA-STS (RFC 8461): ask senders for TLS to the listed MX hosts. A domain's
    `mta_sts` overrides `defaults.mta_sts` field by field; `false` turns it off."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mode: Literal["testing", "enforce", "none"] = Field(
        default="testing",
        description="the policy's `mode:`: `testing` (senders report failures but deliver), "
        "`enforce` (senders deliver only over valid TLS to a listed MX), `none` (withdraw "
        "a policy); lint warns on `enforce` without a `testing` policy applied first",
    )
    max_age: int = Field(
        default=86400,
        ge=0,
        le=MAX_AGE_LIMIT,
        description="the policy's `max_age:`, seconds senders cache it (0-31557600, RFC 8461 "
        "section 3.2); lint warns when it is lowered below the applied policy's",
    )
    mx: list[MxPattern] | None = Field(
        default=None,
        min_length=1,
        description="the policy's `mx:` patterns, each a host name or `*.` and a domain "
        "(one leftmost label); null: the domain's MX hosts",
    )
    host: HostName | None = Field(
        default=None,
        description="a web host that serves the policy: `mta-sts.<domain>` becomes a CNAME to "
        "it; null: A/AAAA records (`ipv4`/`ipv6`, else the first mail host's addresses)",
    )
    ipv4: list[Ip4Addr] = Field(
        default_factory=list,
        description="IPv4 addresses of the web server for `mta-sts.<domain>` (A records); "
        "default none: the first mail host's",
    )
    ipv6: list[Ip6Addr] = Field(
        default_factory=list,
        description="IPv6 addresses of the web server for `mta-sts.<domain>` (AAAA records); "
        "default none: the first mail host's",
    )

    @model_validator(mode="after")
    def _cname_alone(self) -> MtaSts:
        if self.host is not None and (self.ipv4 or self.ipv6):
            raise ValueError(
                "set `host` (a CNAME) or `ipv4`/`ipv6` (address records), not both: a CNAME "
                "cannot sit beside other records (RFC 1034 section 3.6.2)"
            )
        return self
