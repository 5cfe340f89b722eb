"""DANE for SMTP (RFC 7672): TLSA records that receivers would ignore, or that would fail.

DANE001: a TLSA record in a zone not marked ``dnssec: true``. Receivers use TLSA only
when DNSSEC validates it (RFC 7672 section 2.2), so the record does nothing there.
DANE002: the certificate the MTA serves (Postfix's ``smtpd_tls_cert_file``, read under
--root by compiler/inputs.py) has a key no published TLSA record matches: every
DANE-checking sender would refuse to deliver.
"""

from __future__ import annotations

from mailauth.compiler.dane import TLSA_PARAMS, spki_sha256
from mailauth.compiler.lint.engine import Context


def check(ctx: Context) -> None:
    config = ctx.config
    hosts = [(hi, h) for hi, h in enumerate(config.mail_hosts) if h.dane is not None]
    if not hosts:
        return
    signed = {z.name for z in config.zones if z.dnssec}
    published: set[str] = set()
    for zone in ctx.model.zones:
        tlsa = [r for r in zone.records if r.type == "TLSA" and r.purpose == "dane"]
        published |= {r.value.split()[-1] for r in tlsa if r.value.startswith(TLSA_PARAMS)}
        if not tlsa or zone.name in signed:
            continue
        for hi, host in hosts:
            if any(r.fqdn(zone.name) == f"_25._tcp.{host.name}." for r in tlsa):
                ctx.report(
                    "DANE001",
                    ("mail_hosts", hi, "dane"),
                    f"_25._tcp.{host.name}: TLSA records in the zone {zone.name}, which "
                    "mailauth.yaml does not mark `dnssec: true`; receivers ignore TLSA "
                    "records that DNSSEC does not validate",
                    domain=zone.name,
                )
    first = hosts[0][0]
    for served in ctx.served:
        if served.content is None:
            continue
        where = f"{served.config}:{served.line}"
        try:
            digest = spki_sha256(served.content)
        except ValueError as exc:
            ctx.report(
                "DANE002",
                ("mail_hosts", first, "dane", "certificate"),
                f"smtpd_tls_cert_file {served.path}: {exc}",
                where=where,
            )
            continue
        if digest not in published:
            names = ", ".join(f"_25._tcp.{h.name}" for _, h in hosts)
            ctx.report(
                "DANE002",
                ("mail_hosts", first, "dane", "certificate"),
                f"smtpd_tls_cert_file {served.path} has the key {TLSA_PARAMS} {digest}, "
                f"which no TLSA record of {names} matches: senders that check DANE would "
                "refuse to deliver",
                where=where,
            )
