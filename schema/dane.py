"""DANE for SMTP (RFC 7672) on a mail host: which certificate its TLSA records pin.

A mail host that sets ``dane:`` gets ``_25._tcp.<host> TLSA 3 1 1 <digest>`` records,
the SHA-256 of the public key (SubjectPublicKeyInfo) of the certificate it serves: a
DANE-EE record (RFC 7671 section 5.1), which survives a renewal that keeps the key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailauth.schema import strings

HostPath = Annotated[str, AfterValidator(strings.host_path)]


class Dane(BaseModel):
    """DANE for SMTP: the TLSA records of this host's port 25, and Postfix's outbound DANE."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    certificate: HostPath = Field(
        description="absolute path on the mail host of the certificate Postfix serves (PEM "
        "or DER), or of its public or private key (PEM); read under --root. Its public "
        "key's SHA-256 is published as `_25._tcp.<host> TLSA 3 1 1 <digest>`"
    )
    next: HostPath | None = Field(
        default=None,
        description="the certificate or key that will replace it (rollover): published as "
        "a second TLSA record beside it, at least one TTL before the switch; null: none",
    )
    outbound: bool = Field(
        default=False,
        description="`true`: Postfix also checks DANE when it sends (main.cf "
        "`smtp_tls_security_level = dane`, `smtp_dns_support_level = dnssec`; needs a "
        "DNSSEC-validating resolver)",
    )
