"""DANE for SMTP (issue 16 item 3): TLSA digests, their lifetime in mailauth.lock, Postfix's
outbound settings and the DANE lint rules, through the real pipeline."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import require_binary

from mailauth.compiler import driver
from mailauth.compiler.dane import TlsaEntry, parse_tlsa, spki_sha256
from mailauth.compiler.lint.command import lint_file
from mailauth.schema.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden" / "dane"
TODAY = date(2026, 1, 18)
CURRENT = "173c434a8f7a6da35a449815557eb6e29255002e7de60f0787b3065cc664fec3"
NEXT = "c5158780f31b3801159f8955fd17ca79c5d0348cda2ca2df646e5eec1cc14141"


def make_cert(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def openssl_digest(pem: bytes) -> str:
    """The TLSA 3 1 1 data as RFC 7671's own recipe computes it, with openssl alone."""
    require_binary("openssl")
    pubkey = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pubkey,
        capture_output=True,
        check=True,
    ).stdout
    out = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout
    return out.split()[0].decode()


KEYS = st.one_of(
    st.sampled_from([1024, 2048]).map(
        lambda bits: rsa.generate_private_key(public_exponent=65537, key_size=bits)
    ),
    st.sampled_from([ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()]).map(
        lambda curve: ec.generate_private_key(curve)
    ),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, name=st.sampled_from(["mail.example.org", "mx1.example.net"]))
def test_digest_equals_openssl(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str
) -> None:
    """Property: the TLSA data is `openssl x509 -pubkey | openssl pkey -pubin -outform DER |
    sha256sum` of the certificate, for RSA and EC keys; the same from its public key, its
    private key and its DER form."""
    pem = make_cert(key, name)
    digest = spki_sha256(pem)
    assert digest == openssl_digest(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert spki_sha256(public) == spki_sha256(private) == spki_sha256(der) == digest


def test_golden_certificate_digest_matches_openssl() -> None:
    pem = (GOLDEN / "before/etc/ssl/mail/mail.example.org.pem").read_bytes()
    assert spki_sha256(pem) == openssl_digest(pem) == CURRENT


def test_unreadable_input_never_echoes_a_private_key() -> None:
    secret = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETBYTES\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError) as info:
        spki_sha256(secret)
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(ValueError, match="neither a PEM"):
        spki_sha256(b"garbage")


# ----------------------------------------------------------------------------- pipeline


def stage(
    tmp_path: Path, *, lock: bool = True, yaml_edit: tuple[str, str] | None = None
) -> tuple[Path, Path]:
    """The golden case in ``tmp_path``: its config (and lock) beside, its before/ as root."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    text = (GOLDEN / "mailauth.yaml").read_text()
    if yaml_edit is not None:
        assert yaml_edit[0] in text
        text = text.replace(*yaml_edit)
    (config_dir / "mailauth.yaml").write_text(text)
    if lock:
        shutil.copyfile(GOLDEN / "mailauth.lock", config_dir / "mailauth.lock")
    root = tmp_path / "root"
    shutil.copytree(GOLDEN / "before", root)
    return config_dir / "mailauth.yaml", root


def planned(config: Path, root: Path, today: date = TODAY) -> dict[str, bytes]:
    plan = driver.plan(driver.open_job(config, root, None), today=today)
    return {c.path: c.new for c in plan.changes if c.new is not None}


def tlsa_lines(files: dict[str, bytes]) -> list[str]:
    zone = files["/var/named/zone.example.org"].decode()
    return [line.split()[-1] for line in zone.splitlines() if " IN TLSA " in line]


def lock_of(files: dict[str, bytes], config: Path) -> dict[str, object]:
    doc = json.loads(files[str(config.parent.resolve() / "mailauth.lock")])
    assert isinstance(doc, dict)
    return doc


def test_removed_digest_stays_until_its_ttl_has_passed(tmp_path: Path) -> None:
    """A digest removed on 2026-01-17 with a TTL of 3600 s is published through 01-18 (the
    day of removal counts whole, then one TTL) and leaves on 01-19; one removed on 01-01
    has left already; the lock keeps the removal date, and drops the entry once it left."""
    config, root = stage(tmp_path)
    lingering = "2" * 64
    today = planned(config, root, TODAY)
    assert tlsa_lines(today) == [CURRENT, lingering, NEXT]
    entries = parse_tlsa(lock_of(today, config))
    assert [(e.digest, e.removed) for e in entries if e.digest == lingering] == [
        (lingering, "2026-01-17")
    ]
    assert "1" * 64 not in today[str(config.parent.resolve() / "mailauth.lock")].decode()
    later = planned(config, root, TODAY + timedelta(days=1))
    assert tlsa_lines(later) == [CURRENT, NEXT]
    assert lingering not in later[str(config.parent.resolve() / "mailauth.lock")].decode()


def test_dropping_next_records_its_removal_and_keeps_it_published(tmp_path: Path) -> None:
    """`next:` taken out of mailauth.yaml: its digest is still published (with today as
    its removal day in the lock) until its TTL has passed."""
    config, root = stage(tmp_path)
    files = planned(config, root)
    lock = config.parent / "mailauth.lock"
    lock.write_bytes(files[str(config.parent.resolve() / "mailauth.lock")])
    text = config.read_text().replace("      next: /etc/ssl/mail/next.pub.pem\n", "")
    config.write_text(text)
    files = planned(config, root, TODAY + timedelta(days=5))
    assert NEXT in tlsa_lines(files)
    entry = next(e for e in parse_tlsa(lock_of(files, config)) if e.digest == NEXT)
    assert entry.removed == (TODAY + timedelta(days=5)).isoformat()
    assert entry.published == TODAY.isoformat()
    lock.write_bytes(files[str(config.parent.resolve() / "mailauth.lock")])
    files = planned(config, root, TODAY + timedelta(days=7))
    assert tlsa_lines(files) == [CURRENT]


def test_leave_day_follows_the_ttl() -> None:
    day = TlsaEntry("h", "0" * 64, "/f", "2026-01-01", "2026-01-10", 86400 * 3 + 1)
    assert day.leaves() == date(2026, 1, 15)
    assert TlsaEntry("h", "0" * 64, "/f", "2026-01-01", None, 60).leaves() is None


def test_missing_certificate_uses_the_lock(tmp_path: Path) -> None:
    """A CI runner without the host's certificates publishes the lock's digests."""
    config, root = stage(tmp_path)
    files = planned(config, root)
    (config.parent / "mailauth.lock").write_bytes(
        files[str(config.parent.resolve() / "mailauth.lock")]
    )
    shutil.rmtree(root / "etc/ssl")
    assert tlsa_lines(planned(config, root)) == [CURRENT, "2" * 64, NEXT]


def test_missing_certificate_without_lock_is_a_positioned_error(tmp_path: Path) -> None:
    config, root = stage(tmp_path, lock=False)
    shutil.rmtree(root / "etc/ssl")
    with pytest.raises(ConfigError) as info:
        planned(config, root)
    text = str(info.value)
    assert "mailauth.yaml:13:20: mail_hosts[0].dane.certificate:" in text
    assert "does not exist under the root" in text


def test_bad_certificate_is_a_positioned_error(tmp_path: Path) -> None:
    config, root = stage(tmp_path)
    (root / "etc/ssl/mail/next.pub.pem").write_text("-----BEGIN PUBLIC KEY-----\nxx\n")
    with pytest.raises(ConfigError, match=r"mail_hosts\[0\]\.dane\.next: .*not a readable PEM"):
        planned(config, root)


def test_bad_lock_entry_is_refused(tmp_path: Path) -> None:
    config, root = stage(tmp_path)
    lock = config.parent / "mailauth.lock"
    lock.write_text(lock.read_text().replace('"ttl": 3600', '"ttl": "3600"', 1))
    with pytest.raises(ConfigError, match=r"tlsa\[0\]: a field has the wrong type"):
        planned(config, root)


def test_outbound_dane_settings_come_and_go(tmp_path: Path) -> None:
    """outbound: true sets Postfix's DANE settings where main.cf has them, keeping the rest;
    without it, the host's own value comes back after apply."""
    config, root = stage(tmp_path)
    main = planned(config, root)["/etc/postfix/main.cf"].decode()
    assert "smtp_tls_security_level = dane\n" in main
    assert "smtp_dns_support_level = dnssec\n" in main
    assert "smtpd_tls_cert_file = /etc/ssl/mail/mail.example.org.pem\n" in main
    assert "smtp_tls_security_level = may" not in main
    noon = datetime(2026, 1, 18, 12, tzinfo=UTC)
    assert driver.apply(driver.open_job(config, root, None), lambda _: True, noon) is not None
    assert (root / "etc/postfix/main.cf").read_text() == main
    config.write_text(config.read_text().replace("      outbound: true\n", ""))
    after = planned(config, root)["/etc/postfix/main.cf"].decode()
    assert "smtp_tls_security_level = may\n" in after
    assert "smtp_dns_support_level" not in after
    assert "smtpd_tls_cert_file = /etc/ssl/mail/mail.example.org.pem\n" in after


# ----------------------------------------------------------------------------- lint


def findings(config: Path, root: Path) -> list[tuple[str, str, str, str]]:
    report, problems = lint_file(config, root=root)
    assert problems == []
    return [(f.rule, f.severity, f.where, f.message) for f in report.active()]


def test_clean_case_has_no_dane_findings(tmp_path: Path) -> None:
    config, root = stage(tmp_path)
    assert [f for f in findings(config, root) if f[0].startswith("DANE")] == []


def test_unsigned_zone_is_a_warning(tmp_path: Path) -> None:
    config, root = stage(tmp_path, yaml_edit=("    dnssec: true\n", ""))
    dane = [f for f in findings(config, root) if f[0] == "DANE001"]
    assert len(dane) == 1
    assert dane[0][1] == "warning"
    assert dane[0][2].endswith("mailauth.yaml:13:7")
    assert "_25._tcp.mail.example.org" in dane[0][3]


def test_served_certificate_not_matching_is_an_error_at_main_cf_line(tmp_path: Path) -> None:
    config, root = stage(tmp_path)
    other = make_cert(ec.generate_private_key(ec.SECP256R1()), "mail.example.org")
    (root / "etc/ssl/mail/other.pem").write_bytes(other)
    main = root / "etc/postfix/main.cf"
    main.write_text(main.read_text().replace("mail.example.org.pem", "other.pem"))
    dane = [f for f in findings(config, root) if f[0] == "DANE002"]
    assert len(dane) == 1
    rule, severity, where, message = dane[0]
    assert (rule, severity, where) == ("DANE002", "error", "/etc/postfix/main.cf:7")
    assert spki_sha256(other) in message
    with pytest.raises(ConfigError, match="DANE002"):
        planned(config, root)


# ----------------------------------------------------------------------------- the root


def test_certificate_links_resolve_inside_the_root(tmp_path: Path) -> None:
    """certbot's layout: an absolute link to live/, a relative one into archive/; both are
    followed as on the host, with the root as /, and main.cf's path the same way."""
    config, root = stage(tmp_path)
    archive = root / "etc/letsencrypt/archive/mail"
    archive.mkdir(parents=True)
    shutil.move(root / "etc/ssl/mail/mail.example.org.pem", archive / "cert1.pem")
    live = root / "etc/letsencrypt/live/mail"
    live.mkdir(parents=True)
    (live / "cert.pem").symlink_to("../../archive/mail/cert1.pem")
    (root / "etc/ssl/mail/mail.example.org.pem").symlink_to("/etc/letsencrypt/live/mail/cert.pem")
    assert tlsa_lines(planned(config, root))[0] == CURRENT
    assert [f for f in findings(config, root) if f[0].startswith("DANE")] == []


def test_a_link_never_leads_out_of_the_root(tmp_path: Path) -> None:
    """`..` stops at the root and an absolute target is looked up under it: a link aimed
    at this machine's own files finds nothing there."""
    config, root = stage(tmp_path, lock=False)
    cert = root / "etc/ssl/mail/mail.example.org.pem"
    cert.unlink()
    outside = tmp_path / "outside.pem"
    shutil.copyfile(GOLDEN / "before/etc/ssl/mail/mail.example.org.pem", outside)
    cert.symlink_to("../../../../../../../../.." + str(outside))
    with pytest.raises(ConfigError, match="does not exist under the root"):
        planned(config, root)
    cert.unlink()
    cert.symlink_to(str(outside))
    with pytest.raises(ConfigError, match="does not exist under the root"):
        planned(config, root)


def test_a_link_loop_is_a_positioned_error(tmp_path: Path) -> None:
    config, root = stage(tmp_path)
    cert = root / "etc/ssl/mail/mail.example.org.pem"
    cert.unlink()
    cert.symlink_to("mail.example.org.pem")
    with pytest.raises(ConfigError, match=r"dane\.certificate: .*too many levels"):
        planned(config, root)


def test_octodns_source_publishes_the_tlsa_from_the_lock(tmp_path: Path) -> None:
    """The octodns source on a machine without the certificates (a CI runner): the TLSA
    records come from mailauth.lock, in octodns's TLSA layout."""
    from octodns.zone import Zone

    from mailauth.compiler.octodns_source import MailauthSource

    config, root = stage(tmp_path)
    files = planned(config, root)
    lock = config.parent / "mailauth.lock"
    lock.write_bytes(files[str(config.parent.resolve() / "mailauth.lock")])
    source = MailauthSource("mailauth", str(config), root=str(tmp_path / "elsewhere"))
    zone = Zone("example.org.", [])
    source.populate(zone)
    (tlsa,) = [r for r in zone.records if r._type == "TLSA"]
    assert tlsa.name == "_25._tcp.mail"
    values = {
        (v.certificate_usage, v.selector, v.matching_type, v.certificate_association_data)
        for v in tlsa.values
    }
    # The digest removed on 2026-01-17 has left by the time this runs (the real today).
    assert values == {(3, 1, 1, CURRENT), (3, 1, 1, NEXT)}
    assert not (tmp_path / "elsewhere").exists()


def test_validate_does_not_need_the_certificates(tmp_path: Path) -> None:
    """validate judges the file: a certificate missing on this machine is not its fault."""
    config, root = stage(tmp_path, lock=False)
    shutil.rmtree(root / "etc/ssl")
    driver.model_for(driver.open_job(config, root, None), TODAY, lenient=True)
    with pytest.raises(ConfigError, match="does not exist under the root"):
        driver.model_for(driver.open_job(config, root, None), TODAY)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "mail.example.org.\n@ IN NS evil.example.", "not a valid domain name"),
        ("file", "../../etc/shadow", "absolute path"),
        ("ttl", 2**40, "ttl must be"),
        ("digest", "G" * 64, "wrong type"),
        ("removed", "yesterday", "YYYY-MM-DD"),
    ],
)
def test_hostile_lock_entries_are_refused(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    """mailauth.lock is input too: its TLSA host becomes an owner name in the zone."""
    config, root = stage(tmp_path)
    lock = config.parent / "mailauth.lock"
    doc = json.loads(lock.read_text())
    doc["tlsa"][1][field] = value
    lock.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=rf"tlsa\[1\]: .*{message}"):
        planned(config, root)
    assert "evil" not in "".join(p.read_text() for p in root.rglob("zone.*"))
