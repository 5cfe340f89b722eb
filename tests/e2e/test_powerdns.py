"""End to end: octodns-sync pushes mailauth's records to a real PowerDNS through its API.

The octodns config is what a team already has (a YamlProvider holding the zone's web
records, a PowerDNS target) plus the mailauth source. The DKIM key is a fresh RSA-2048 key
whose public half is only in mailauth.lock: the syncing side has no private key. Checked:

* ``octodns-sync --doit`` publishes SPF, DKIM and DMARC beside the other source's records,
  and PowerDNS answers them over DNS, the DKIM key intact across its 255-octet strings;
* the apex TXT set is shared (a verification token from the other source, and SPF);
* a second sync plans nothing;
* a new DMARC policy in mailauth.yaml plans exactly one update, and is then served;
* the other source's records, and the zone's own SOA and NS, are never deleted.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support import unavailable

from e2e.powerdns import PowerDnsServer
from mailauth.compiler.dkimkeys import public_key_from_private
from mailauth.compiler.lockfile import LockEntry, render_lock

ZONE = "slackbox.fr"
API_KEY_VAR = "MAILAUTH_TEST_PDNS_API_KEY"

MAILAUTH_YAML = """\
version: 1
defaults:
  ttl: 3600
  dmarc: {p: none, sp: quarantine, rua: [dmarc-reports@slackbox.fr]}
  dkim:
    selectors:
      - {name: "01", algorithm: rsa, bits: 2048}
mail_hosts:
  - {name: mail.slackbox.fr, ipv4: [192.0.2.25]}
zones:
  - {name: slackbox.fr, mode: include}
domains:
  - name: slackbox.fr
    mx: [{host: mail.slackbox.fr, priority: 10}]
"""

# The team's own records for the same zone: web hosting and a verification token.
WEB_RECORDS = """\
---
'':
- type: A
  value: 192.0.2.80
- type: TXT
  value: google-site-verification=e2e-token
shop:
  type: CNAME
  value: shops.example.net.
www:
  type: A
  values:
  - 192.0.2.80
  - 192.0.2.81
"""


def _octodns_config(pdns: PowerDnsServer, work: Path) -> str:
    doc = {
        "manager": {
            "plan_outputs": {
                "_logger": {"class": "octodns.provider.plan.PlanLogger", "level": "info"},
                "json": {
                    "class": "octodns.provider.plan.PlanJson",
                    "output_filename": str(work / "plan.json"),
                },
            }
        },
        "providers": {
            "web": {
                "class": "octodns.provider.yaml.YamlProvider",
                "directory": str(work / "web"),
                "escaped_semicolons": True,
            },
            "mailauth": {
                "class": "mailauth.compiler.octodns_source.MailauthSource",
                "config": str(work / "mailauth.yaml"),
            },
            "pdns": {
                "class": "octodns_powerdns.PowerDnsProvider",
                "host": pdns.address,
                "port": pdns.api_port,
                "api_key": f"env/{API_KEY_VAR}",
                "timeout": 10,
            },
        },
        "zones": {f"{ZONE}.": {"sources": ["web", "mailauth"], "targets": ["pdns"]}},
    }
    return json.dumps(doc, indent=2)  # JSON is YAML


@pytest.fixture
def pdns() -> Iterator[PowerDnsServer]:
    try:
        import octodns_powerdns  # noqa: F401
    except ImportError:
        unavailable("octodns-powerdns is not installed (pip install -e '.[test]')")
    server = PowerDnsServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.cleanup()


def _rsa_key() -> tuple[bytes, str]:
    """A fresh RSA-2048 private key (PEM) and its DKIM p= (base64 SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


def _write_lock(work: Path, pem: bytes) -> None:
    """mailauth.lock as the mail host committed it; the private key goes nowhere."""
    info = public_key_from_private(pem, "rsa")
    entry = LockEntry(
        ZONE, "01", info.algorithm, info.bits, "2026-01-01", info.fingerprint, info.public_key_b64
    )
    (work / "mailauth.lock").write_bytes(render_lock({entry.key: entry}))


def _sync(work: Path, pdns: PowerDnsServer, *, doit: bool) -> dict[str, Any]:
    """``octodns-sync`` (this Python's octodns); the JSON plan it made."""
    plan_file = work / "plan.json"
    plan_file.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-c",
        "import sys; from octodns.cmds.sync import main; sys.argv[0] = 'octodns-sync'; main()",
        "--config-file",
        str(work / "octodns.yaml"),
        *(["--doit"] if doit else []),
    ]
    env = {"PATH": "/usr/bin:/bin", API_KEY_VAR: pdns.api_key, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        argv, cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, (
        f"octodns-sync exited {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}\n--- pdns ---\n{pdns.log_tail(30)}"
    )
    plans: dict[str, Any] = json.loads(plan_file.read_text())
    return plans


def _changes(plans: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for zones in plans.values() for plan in zones.values() for c in plan["changes"]]


def _txt(res: dns.resolver.Resolver, name: str) -> list[list[bytes]]:
    answer = res.resolve(name, "TXT")
    return sorted(list(rdata.strings) for rdata in answer)


def _addresses(res: dns.resolver.Resolver, name: str, rtype: str = "A") -> list[str]:
    return sorted(rdata.to_text() for rdata in res.resolve(name, rtype))


def _check_web_records(pdns: PowerDnsServer) -> None:
    res = pdns.resolver()
    assert _addresses(res, f"{ZONE}.") == ["192.0.2.80"]
    assert _addresses(res, f"www.{ZONE}.") == ["192.0.2.80", "192.0.2.81"]
    cname = res.resolve(f"shop.{ZONE}.", "CNAME")
    assert [r.to_text() for r in cname] == ["shops.example.net."]
    rrsets = pdns.rrsets(ZONE)
    assert rrsets[(f"{ZONE}.", "NS")] == [f"ns1.{ZONE}.", f"ns2.{ZONE}."], "root NS was changed"
    assert (f"{ZONE}.", "SOA") in rrsets


def test_octodns_sync_publishes_to_powerdns(tmp_path: Path, pdns: PowerDnsServer) -> None:
    started = time.monotonic()
    work = tmp_path
    pem, public_b64 = _rsa_key()
    (work / "web").mkdir()
    (work / "web" / f"{ZONE}.yaml").write_text(WEB_RECORDS)
    (work / "mailauth.yaml").write_text(MAILAUTH_YAML)
    _write_lock(work, pem)
    (work / "octodns.yaml").write_text(_octodns_config(pdns, work))
    pdns.create_zone(ZONE, nameservers=[f"ns1.{ZONE}", f"ns2.{ZONE}"])

    # 1. the first sync creates everything
    first = _changes(_sync(work, pdns, doit=True))
    assert all(c["type"] == "create" for c in first), first
    created = sorted((c["name"], c["record_type"]) for c in first)
    assert created == [
        ("", "A"),
        ("", "MX"),
        ("", "TXT"),
        ("01._domainkey", "TXT"),
        ("_dmarc", "TXT"),
        ("mail", "A"),
        ("shop", "CNAME"),
        ("www", "A"),
    ]

    res = pdns.resolver()
    dkim = _txt(res, f"01._domainkey.{ZONE}.")
    assert len(dkim) == 1
    strings = dkim[0]
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert b"".join(strings).decode() == f"v=DKIM1; k=rsa; p={public_b64}"
    assert len(base64.b64decode(public_b64)) == 294  # RSA-2048 SubjectPublicKeyInfo

    assert _txt(res, f"{ZONE}.") == [
        [b"google-site-verification=e2e-token"],
        [b"v=spf1 mx ~all"],
    ]
    assert _txt(res, f"_dmarc.{ZONE}.") == [
        [b"v=DMARC1; p=none; sp=quarantine; rua=mailto:dmarc-reports@slackbox.fr"]
    ]
    assert [r.to_text() for r in res.resolve(f"{ZONE}.", "MX")] == ["10 mail.slackbox.fr."]
    assert _addresses(res, f"mail.{ZONE}.") == ["192.0.2.25"]
    _check_web_records(pdns)

    # 2. nothing changed: nothing planned
    assert _changes(_sync(work, pdns, doit=False)) == []

    # 3. a new DMARC policy is one update of one record
    config = work / "mailauth.yaml"
    config.write_text(config.read_text().replace("{p: none,", "{p: reject,"))
    planned = _changes(_sync(work, pdns, doit=False))
    assert [(c["type"], c["name"], c["record_type"]) for c in planned] == [
        ("update", "_dmarc", "TXT")
    ]
    assert planned[0]["new"]["value"].startswith("v=DMARC1\\; p=reject\\;")
    assert _txt(pdns.resolver(), f"_dmarc.{ZONE}.")[0][0].startswith(b"v=DMARC1; p=none;")

    applied = _changes(_sync(work, pdns, doit=True))
    assert [(c["type"], c["name"]) for c in applied] == [("update", "_dmarc")]
    assert _txt(pdns.resolver(), f"_dmarc.{ZONE}.") == [
        [b"v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc-reports@slackbox.fr"]
    ]
    _check_web_records(pdns)
    assert _changes(_sync(work, pdns, doit=False)) == []

    assert time.monotonic() - started < 60
