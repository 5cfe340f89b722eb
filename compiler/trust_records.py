"""The TLS-RPT and BIMI records of a domain: text built from ``tls_rpt:`` and ``bimi:``.

Kept out of build.py so each family is one small module: build calls :func:`add_records`
once per domain. The schema already refused any URI that could break the tag list
(schema/uris.py), so the text is only joined here, never escaped.
"""

from __future__ import annotations

from collections.abc import Callable

from mailauth.compiler.model import RecordPurpose
from mailauth.schema.bimi import Bimi
from mailauth.schema.models import Config, Domain
from mailauth.schema.tlsrpt import TlsRpt

#: ``add(owner, type, value, ttl, purpose)``: build's zone builder.
AddRecord = Callable[[str, str, str, "int | None", RecordPurpose], None]


def tlsrpt_text(policy: TlsRpt) -> str:
    """``v=TLSRPTv1; rua=a,b``: RFC 8460 section 3 (the version first, with its ``;``)."""
    return "v=TLSRPTv1; rua=" + ",".join(policy.rua)


def bimi_text(bimi: Bimi) -> str:
    """``v=BIMI1; l=<logo>`` and ``; a=<authority>`` when a certificate is given."""
    text = f"v=BIMI1; l={bimi.logo}"
    if bimi.authority is not None:
        text += f"; a={bimi.authority}"
    return text


def tls_rpt_of(config: Config, domain: Domain) -> TlsRpt | None:
    """The domain's own ``tls_rpt``, else the defaults'."""
    return domain.tls_rpt if domain.tls_rpt is not None else config.defaults.tls_rpt


def tls_rpt_path(config: Config, domain: Domain, index: int) -> tuple[str | int, ...]:
    """Where the domain's TLS-RPT settings are written in mailauth.yaml."""
    if domain.tls_rpt is not None:
        return ("domains", index, "tls_rpt")
    return ("defaults", "tls_rpt")


def add_records(config: Config, domain: Domain, ttl: int | None, add: AddRecord) -> None:
    """Add the domain's ``_smtp._tls`` and ``<selector>._bimi`` records, if it has them."""
    policy = tls_rpt_of(config, domain)
    if policy is not None:
        add(f"_smtp._tls.{domain.name}", "TXT", tlsrpt_text(policy), ttl, "tlsrpt")
    if domain.bimi is not None:
        owner = f"{domain.bimi.selector}._bimi.{domain.name}"
        add(owner, "TXT", bimi_text(domain.bimi), ttl, "bimi")
