"""examples/trust-all as shipped, applied to a host and served by a real named.

Issue 16's done-when: the example with MTA-STS, TLS-RPT, DANE and BIMI passes end to end.
The example is copied untouched (its mailauth.lock included); the staging root holds what
the host would: Debian's main.cf and master.cf, whose ``smtpd_tls_cert_file`` names a
real self-signed certificate for the MX at the path the example's ``dane:`` names. After
``mailauth apply``, named serves the zone on 127.0.0.1 and a high port, and dnspython reads
each record as a receiver would. Every expected value is computed here, independently of
mailauth: the MTA-STS id from the applied policy file's bytes, the TLSA digest from the
certificate's SubjectPublicKeyInfo. checkdmarc parses the TLS-RPT and BIMI strings offline
(its BIMI parser would fetch the logo: its HTTP goes to a closed local port). Then
``mailauth verify`` finds live DNS in sync and a second plan has nothing to do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from support import (
    DEBIAN_FIXTURES,
    NamedServer,
    copy_example,
    require_binary,
    require_module,
    run_mailauth,
)
from support.certs import write_self_signed

pytestmark = pytest.mark.e2e

DOMAIN = "example.org"
MX = f"mail.{DOMAIN}"
CERT = "etc/letsencrypt/live/mail.example.org/cert.pem"
KEY = "etc/letsencrypt/live/mail.example.org/privkey.pem"
POLICY = f"var/www/mta-sts/{DOMAIN}/.well-known/mta-sts.txt"
TLSRPT = "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"
BIMI = "v=BIMI1; l=https://example.org/bimi/logo.svg; a=https://example.org/bimi/vmc.pem"


def _certificate(root: Path) -> bytes:
    """A self-signed certificate for the MX at the example's DANE path under ``root``;
    returns the DER SubjectPublicKeyInfo of its key (what TLSA 3 1 1 hashes)."""
    (root / CERT).parent.mkdir(parents=True)
    write_self_signed(root / CERT, root / KEY, MX, days=90)
    loaded = x509.load_pem_x509_certificate((root / CERT).read_bytes())
    return loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _seed_postfix(root: Path) -> None:
    """Debian's main.cf and master.cf, serving the MX certificate (as DANE002 checks)."""
    etc = root / "etc/postfix"
    etc.mkdir(parents=True)
    shutil.copy(DEBIAN_FIXTURES / "master.cf", etc / "master.cf")
    text = (DEBIAN_FIXTURES / "main.cf").read_text()
    assert "smtpd_tls_" not in text, "Debian's main.cf now sets TLS; edit its lines instead"
    text += f"smtpd_tls_cert_file = /{CERT}\nsmtpd_tls_key_file = /{KEY}\n"
    (etc / "main.cf").write_text(text)


def _policy_id(policy: bytes) -> str:
    """RFC 8461's id as compiler/mta_sts.py documents it: the policy file's SHA-256,
    base32, lower case, without padding, cut to the 32 characters the RFC allows."""
    encoded = base64.b32encode(hashlib.sha256(policy).digest()).decode("ascii")
    return encoded.rstrip("=").lower()[:32]


def _txt(named: NamedServer, name: str) -> list[str]:
    answer = named.resolver().resolve(name, "TXT")
    return [b"".join(rdata.strings).decode() for rdata in answer]


def test_trust_all_example_served_by_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_binary("named")
    tlsrpt = require_module("checkdmarc.smtp_tls_reporting")
    bimi = require_module("checkdmarc.bimi")
    config = copy_example("trust-all", tmp_path / "config")
    shipped = json.loads((config.parent / "mailauth.lock").read_text())["tlsa"]
    assert [e["host"] for e in shipped] == [MX], "the example's lock names one TLSA digest"
    placeholder = shipped[0]["digest"]

    root = tmp_path / "root"
    root.mkdir()
    spki = _certificate(root)
    digest = hashlib.sha256(spki).hexdigest()
    assert digest != placeholder
    _seed_postfix(root)

    run_mailauth("lint", "-c", config, "--root", root)
    before = datetime.now(UTC).date()  # mailauth's "today" is the UTC date
    run_mailauth("apply", "-c", config, "--root", root, "--yes")
    today = {before.isoformat(), datetime.now(UTC).date().isoformat()}
    run_mailauth("plan", "-c", config, "--root", root, expect=0)

    # The certificate under the root replaced the lock's throwaway digest, which stays
    # published (marked removed today) until its TTL has passed.
    lock = json.loads((config.parent / "mailauth.lock").read_text())
    removed = {e["digest"]: e["removed"] for e in lock["tlsa"]}
    assert removed.keys() == {digest, placeholder}
    assert removed[digest] is None
    assert removed[placeholder] in today
    assert [k["selector"] for k in lock["keys"]] == ["2026a"]

    main_cf = (root / "etc/postfix/main.cf").read_text()
    assert re.search(r"(?m)^smtp_tls_security_level\s*=\s*dane$", main_cf), main_cf
    assert re.search(r"(?m)^smtp_dns_support_level\s*=\s*dnssec$", main_cf), main_cf

    policy = (root / POLICY).read_bytes()
    assert policy.startswith(b"version: STSv1\r\nmode: testing\r\n"), policy
    assert b"mx: mail.example.org\r\n" in policy, policy

    served = tmp_path / "served.zone"
    shutil.copyfile(root / f"var/named/zone.{DOMAIN}", served)
    with NamedServer([(DOMAIN, served)], workdir=tmp_path / "named") as named:
        assert _txt(named, f"_mta-sts.{DOMAIN}.") == [f"v=STSv1; id={_policy_id(policy)}"]
        assert _txt(named, f"_smtp._tls.{DOMAIN}.") == [TLSRPT]
        assert _txt(named, f"default._bimi.{DOMAIN}.") == [BIMI]
        tlsa = named.resolver().resolve(f"_25._tcp.{MX}.", "TLSA")
        published = {r.to_text() for r in tlsa}
        assert published == {f"3 1 1 {digest}", f"3 1 1 {placeholder}"}
        addresses = named.resolver().resolve(f"mta-sts.{DOMAIN}.", "A")
        assert [r.to_text() for r in addresses] == ["192.0.2.25"]

        parsed = tlsrpt.parse_smtp_tls_reporting_record(_txt(named, f"_smtp._tls.{DOMAIN}.")[0])
        assert parsed["warnings"] == []
        assert parsed["tags"]["rua"]["value"] == ["mailto:tlsrpt@example.org"]
        for name in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        record = _txt(named, f"default._bimi.{DOMAIN}.")[0]
        result = bimi.parse_bimi_record(record, domain=DOMAIN, http_timeout=2)
        assert result["tags"]["l"]["value"] == "https://example.org/bimi/logo.svg"
        assert result["tags"]["a"]["value"] == "https://example.org/bimi/vmc.pem"

        nameserver = f"127.0.0.1:{named.port}"
        verify = ("verify", "-c", config, "--root", root, "--nameserver", nameserver)
        doc = json.loads(run_mailauth(*verify, "--format", "json", expect=0).stdout)
        assert doc["in_sync"] is True
        run_mailauth(*verify, expect=0)

    run_mailauth("plan", "-c", config, "--root", root, expect=0)


def test_trust_all_example_plans_without_host_files(tmp_path: Path) -> None:
    """As shipped, on a machine without the host's files (a newcomer, a CI runner): the
    lock's digest stands in for the certificate. Postfix is left out: mailauth edits the
    host's main.cf and never invents one, so a plan with it wants a copy under --root."""
    config = copy_example("trust-all", tmp_path / "config")
    placeholder = json.loads((config.parent / "mailauth.lock").read_text())["tlsa"][0]["digest"]
    root = tmp_path / "empty-root"
    run_mailauth("validate", "-c", config, "--root", root)
    run_mailauth("lint", "-c", config, "--root", root)
    targets = ("--target", "bind", "--target", "opendkim", "--target", "mta_sts")
    plan = run_mailauth("plan", "-c", config, "--root", root, *targets, expect=2).stdout
    assert f"3 1 1 {placeholder}" in plan, plan
    assert "the TLSA digest recorded for it in mailauth.lock is published" in plan, plan
    assert not root.exists(), "plan wrote under the root"
