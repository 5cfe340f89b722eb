"""``tls_rpt:`` (SMTP TLS Reporting, RFC 8460): where senders report failed TLS to the MX.

mailauth publishes ``_smtp._tls.<domain> TXT "v=TLSRPTv1; rua=<uri>,<uri>"``
(compiler/trust_records.py). Each URI is a ``mailto:`` address or an ``https:`` endpoint
(RFC 8460 section 3); commas and exclamation marks must be percent-encoded, and nothing
that would end the tag (``;``) or the record may pass (schema/uris.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailauth.schema.uris import https_url, mailto_uri


def report_uri(value: str) -> str:
    """A TLS-RPT ``rua`` URI: ``https://...`` or ``mailto:user@domain`` (bare address too)."""
    text = value.strip()
    if text.lower().startswith("https:"):
        return https_url(text, "a TLS-RPT report URL")
    scheme = text.split(":", 1)[0].lower() if ":" in text.split("@", 1)[0] else "mailto"
    if scheme != "mailto":
        raise ValueError(
            f"{value!r}: a TLS-RPT report URI is mailto:user@domain or https://... "
            "(RFC 8460 section 3)"
        )
    return mailto_uri(text, "a TLS-RPT report address")


TlsRptUri = Annotated[str, AfterValidator(report_uri)]


class TlsRpt(BaseModel):
    """SMTP TLS Reporting (RFC 8460): the ``_smtp._tls`` TXT record of a domain."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    rua: list[TlsRptUri] = Field(
        min_length=1,
        description="where sending servers send their daily TLS reports, the record's `rua=`: "
        "`mailto:` addresses (`mailto:` is added to a bare address) and `https://` endpoints, "
        "at least one; commas and `!` in them must be percent-encoded",
    )
