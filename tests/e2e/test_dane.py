"""End to end: DANE for SMTP (RFC 7672) as a sender checks it, with real programs only.

``mailauth apply --root /`` writes the zone (with the TLSA records computed from the
certificate the test Postfix serves) and merges the outbound DANE settings into that
Postfix's main.cf. ``named`` serves the zone on 127.0.0.1 and a high port, Postfix serves
STARTTLS on another, dnspython fetches the TLSA record from named, and ``openssl s_client
-starttls smtp -dane_tlsa_rrdata`` checks Postfix's certificate against it: the published
record verifies, a record for another key does not.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support import NamedServer, free_port, require_binary, run_mailauth, safe_directory
from support.certs import write_self_signed

from e2e.mailstack import PostfixServer, postfix_command, write_config, write_postfix_instance

pytestmark = pytest.mark.e2e

DOMAIN = "example.org"
MX = f"mail.{DOMAIN}"


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-dane-") as path:
        yield path


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the MX (DANE-EE does not care who signed it)."""
    directory.mkdir(mode=0o755)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    write_self_signed(cert_path, key_path, MX)
    return cert_path, key_path


def _s_client(port: int, rrdata: str) -> str:
    """openssl's SMTP STARTTLS client checking the server against one TLSA record."""
    result = subprocess.run(
        [
            require_binary("openssl"),
            "s_client",
            "-starttls", "smtp",
            "-connect", f"127.0.0.1:{port}",
            "-servername", MX,
            "-dane_tlsa_domain", MX,
            "-dane_tlsa_rrdata", rrdata,
            "-verify_return_error",
        ],
        input="QUIT\r\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_postfix_certificate_verifies_against_tlsa_from_named(host_dir: Path) -> None:
    for program in ("named", "postfix", "postconf", "openssl"):
        require_binary(program)
    smtp_port = free_port()
    instance = write_postfix_instance(host_dir, smtp_port, local_domain=DOMAIN)
    cert_path, key_path = _certificate(host_dir / "tls")
    with instance.main_cf.open("a") as main_cf:
        main_cf.write(
            f"smtpd_tls_cert_file = {cert_path}\n"
            f"smtpd_tls_key_file = {key_path}\n"
            "smtpd_tls_security_level = may\n"
            "smtp_tls_security_level = may\n"
        )
    zone_dir = host_dir / "named"
    config = write_config(
        host_dir,
        {
            "version": 1,
            "mail_hosts": [
                {
                    "name": MX,
                    "ipv4": ["127.0.0.1"],
                    "dane": {"certificate": str(cert_path), "outbound": True},
                }
            ],
            "zones": [
                {
                    "name": DOMAIN,
                    "ns": [f"ns1.{DOMAIN}"],
                    "dnssec": True,
                    "records": [{"name": "ns1", "type": "A", "value": "127.0.0.1"}],
                }
            ],
            "domains": [{"name": DOMAIN}],
            "targets": {
                "bind": {
                    "directory": str(zone_dir),
                    "zone_file": "zone.{zone}",
                    "named_conf": str(zone_dir / "mailauth.zones.conf"),
                },
                "postfix": {
                    "main_cf": str(instance.main_cf),
                    "queue_directory": str(instance.queue_dir),
                    "chroot": False,
                },
            },
            "state": {"directory": str(host_dir / "state")},
        },
    )
    run_mailauth("apply", "-c", config, "--root", "/", "--yes")
    run_mailauth("plan", "-c", config, "--root", "/", expect=0)

    def postconf(name: str) -> str:
        shown = subprocess.run(
            [require_binary("postconf"), "-c", str(instance.config_dir), "-h", name],
            capture_output=True,
            text=True,
            check=True,
        )
        return shown.stdout.strip()

    assert postconf("smtp_tls_security_level") == "dane"
    assert postconf("smtp_dns_support_level") == "dnssec"
    assert postconf("smtpd_tls_cert_file") == str(cert_path)
    checked = postfix_command(instance, "check")
    assert checked.returncode == 0, f"postfix check:\n{checked.stdout}{checked.stderr}"

    with contextlib.ExitStack() as servers:
        named = servers.enter_context(
            NamedServer([(DOMAIN, zone_dir / f"zone.{DOMAIN}")], workdir=host_dir / "named-run")
        )
        servers.enter_context(PostfixServer(instance))
        answer = named.resolver().resolve(f"_25._tcp.{MX}.", "TLSA")
        published = [rdata.to_text() for rdata in answer]
        assert len(published) == 1
        rrdata = published[0]
        assert rrdata.startswith("3 1 1 ")

        out = _s_client(smtp_port, rrdata)
        assert "Verification: OK" in out, out
        assert f"Verified peername: {MX}" in out, out
        assert "matched EE certificate at depth 0" in out, out

        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        digest = (
            subprocess.run(
                ["sha256sum"],
                input=other.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
                capture_output=True,
                check=True,
            )
            .stdout.split()[0]
            .decode()
        )
        wrong = _s_client(smtp_port, f"3 1 1 {digest}")
        assert "Verification: OK" not in wrong, wrong
        assert "no matching DANE TLSA records" in wrong, wrong

        # mailauth's own check of live DNS sees the TLSA record as planned.
        run_mailauth(
            "verify", "-c", config, "--root", "/", "--nameserver", f"127.0.0.1:{named.port}",
            expect=0,
        )  # fmt: skip
