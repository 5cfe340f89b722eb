"""`mailauth verify` and the TLS-RPT and BIMI records, without a name server.

In an include-mode zone the hand-kept file holds records mailauth does not know, so only
mail-authentication records beside mailauth's count as extra. A second TLS-RPT or BIMI
record is one of them: with two, senders send no TLS report (RFC 8460 section 3) and
receivers show no logo (BIMI discovery stops on more than one record).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dns.name
import dns.zone
import pytest

from mailauth.compiler import driver
from mailauth.compiler.verify import Answer, Lookup, VerifyReport, expected_state, verify

MOMENT = datetime(2026, 1, 18, 9, 0, tzinfo=UTC)

CONFIG = """\
version: 1
defaults:
  dmarc: {p: reject}
  tls_rpt: {rua: [tlsrpt@example.net]}
mail_hosts:
  - {name: mail.example.net, ipv4: [192.0.2.25]}
zones:
  - name: example.net
    mode: include
domains:
  - name: example.net
    bimi: {logo: https://example.net/logo.svg}
targets:
  bind: {directory: /var/named, named_conf: null}
"""

HAND_ZONE = """\
$ORIGIN example.net.
$TTL 3600
@ IN SOA ns1.example.net. hostmaster.example.net. 2026011801 7200 900 1209600 300
@ IN NS ns1.example.net.
ns1 IN A 192.0.2.54
mail IN A 192.0.2.25
_smtp._tls IN TXT "a note that is not a TLS-RPT record"
"""


def _lookup(zone: dns.zone.Zone) -> Lookup:
    def lookup(name: str, rdtype: str) -> Answer:
        rdataset = zone.get_rdataset(dns.name.from_text(name), rdtype)
        if rdataset is None:
            return Answer(authoritative=True)
        return Answer(tuple(rdataset), rdataset.ttl, True)

    return lookup


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> tuple[driver.Job, str]:
    base: Path = tmp_path_factory.mktemp("verify-trust")
    config = base / "mailauth.yaml"
    config.write_text(CONFIG)
    job = driver.open_job(config, base / "root", None)
    assert driver.apply(job, lambda _plan: True, now=MOMENT) is not None
    fragment = (base / "root/var/named/mailauth.example.net.inc").read_text()
    return driver.open_job(config, base / "root", None), HAND_ZONE + fragment


def _report(applied: tuple[driver.Job, str], add: str = "") -> VerifyReport:
    job, text = applied
    zone = dns.zone.from_text(text + add, origin="example.net", relativize=False)
    model, lock = expected_state(job)
    return verify(model, lock, _lookup(zone), "test")


def test_in_sync_with_foreign_txt_beside_them(applied: tuple[driver.Job, str]) -> None:
    report = _report(applied)
    assert report.in_sync, [f.message for f in report.findings]


@pytest.mark.parametrize(
    ("line", "owner", "words"),
    [
        (
            '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:other@example.com"\n',
            "_smtp._tls.example.net.",
            "more than one TLS-RPT record",
        ),
        (
            'default._bimi IN TXT "v=BIMI1; l=https://example.com/x.svg"\n',
            "default._bimi.example.net.",
            "more than one BIMI record",
        ),
    ],
)
def test_a_second_record_is_extra(
    applied: tuple[driver.Job, str], line: str, owner: str, words: str
) -> None:
    report = _report(applied, line)
    assert [(f.kind, f.name) for f in report.findings] == [("extra", owner)]
    assert words in report.findings[0].message
