"""TLS-RPT and BIMI through a real named: what `mailauth apply` writes is served, read by
dnspython as receivers read it, accepted by checkdmarc's parsers, and checked by
`mailauth verify` (in sync, then a changed BIMI record is drift).

named runs on 127.0.0.1 and a high port (tests/support/named.py); checkdmarc parses the
TXT strings named returns, offline (its BIMI parser would fetch the logo: its HTTP is
pointed at a closed local port, and the fetch failure is only reported, not raised).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import NamedServer, require_module, run_mailauth

from mailauth.backends.zonefile import find_serial, replace_serial

pytestmark = pytest.mark.e2e

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
defaults:
  dmarc: {p: reject, rua: [dmarc@example.org]}
  tls_rpt: {rua: [tlsrpt@example.org, "https://tlsrpt.example.org/v1/report"]}
domains:
  - name: example.org
    silence: [{rule: DMARC010, reason: the test domain signs nothing}]
    bimi:
      logo: https://brand.example.org/bimi/logo.svg
      authority: https://brand.example.org/bimi/vmc.pem
targets:
  bind: {directory: /var/named}
"""

TLSRPT = "v=TLSRPTv1; rua=mailto:tlsrpt@example.org,https://tlsrpt.example.org/v1/report"
BIMI = (
    "v=BIMI1; l=https://brand.example.org/bimi/logo.svg; a=https://brand.example.org/bimi/vmc.pem"
)


def _txt(named: NamedServer, name: str) -> list[str]:
    answer = named.resolver().resolve(name, "TXT")
    return [b"".join(rdata.strings).decode() for rdata in answer]


def test_named_serves_records_that_receivers_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tlsrpt = require_module("checkdmarc.smtp_tls_reporting")
    bimi = require_module("checkdmarc.bimi")
    config = tmp_path / "config" / "mailauth.yaml"
    config.parent.mkdir()
    config.write_text(CONFIG)
    root = tmp_path / "root"
    run_mailauth("apply", "-c", config, "--root", root, "--yes")
    zone_file = root / "var/named/zone.example.org"
    served = tmp_path / "served.zone"
    shutil.copyfile(zone_file, served)

    with NamedServer([("example.org", served)], workdir=tmp_path / "named") as named:
        assert _txt(named, "_smtp._tls.example.org.") == [TLSRPT]
        assert _txt(named, "default._bimi.example.org.") == [BIMI]

        parsed = tlsrpt.parse_smtp_tls_reporting_record(_txt(named, "_smtp._tls.example.org.")[0])
        assert parsed["warnings"] == []
        assert parsed["tags"]["rua"]["value"] == [
            "mailto:tlsrpt@example.org",
            "https://tlsrpt.example.org/v1/report",
        ]
        for name in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        record = _txt(named, "default._bimi.example.org.")[0]
        result = bimi.parse_bimi_record(record, domain="example.org", http_timeout=2)
        assert result["tags"]["l"]["value"] == "https://brand.example.org/bimi/logo.svg"
        assert result["tags"]["a"]["value"] == "https://brand.example.org/bimi/vmc.pem"

        nameserver = f"127.0.0.1:{named.port}"
        verify = ("verify", "-c", config, "--root", root, "--nameserver", nameserver)
        doc = json.loads(run_mailauth(*verify, "--format", "json", expect=0).stdout)
        assert doc["in_sync"] is True

        # The logo moved on the name server but not in mailauth.yaml: drift, exit 2.
        text = zone_file.read_text().replace("bimi/logo.svg", "bimi/other.svg")
        span = find_serial(text)
        assert span is not None
        served.write_text(replace_serial(text, span, span.value + 1))
        named.reload(expect={"example.org": span.value + 1})
        assert _txt(named, "default._bimi.example.org.") == [BIMI.replace("logo", "other")]
        out = json.loads(run_mailauth(*verify, "--format", "json", expect=2).stdout)
        drift = [(f["kind"], f["name"]) for d in out["domains"] for f in d["findings"]]
        assert ("different", "default._bimi.example.org.") in drift, drift
