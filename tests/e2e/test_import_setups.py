"""Two more hand-made setups imported with ``mailauth import --check`` (issue 17).

- dkimpy-milter (an RSA and an Ed25519 key, its KeyTable, KeyTableEd25519 and SigningTable,
  dkimpy-milter.conf in Debian's layout) with OpenDMARC, a zone publishing both keys, SPF and
  DMARC, and Debian's main.cf/master.cf with the milter lines;
- a hand-kept zone (mail records and others) imported with ``--include-mode``.

Each is built by hand under a test root, read by the real readers, and then: the first plan
changes no DNS record, the keys are adopted unchanged (same bytes), the written config
validates, ``apply`` leaves nothing for a second plan, and what named serves (AXFR from a real
named) is the set of records it served before, serial aside.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from support import NamedServer, require_binary, run_mailauth, safe_directory
from support.article import DOMAINS, build_article
from test_dkimpy_opendmarc import _dkimpy_view

from e2e.test_import_article import _records
from mailauth.compiler.lockfile import read_lock

pytestmark = pytest.mark.e2e

DEBIAN = Path(__file__).resolve().parents[1] / "fixtures" / "debian"
DOMAIN = "example.org"

SOA = """$TTL 3600
@       IN  SOA  ns1.example.org. hostmaster.example.org. (
                 2024010101 ; serial
                 7200 900 1209600 3600 )
        IN  NS   ns1.example.org.
        IN  NS   ns2.example.net.
"""


def _rsa() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode("ascii")


def _ed25519() -> tuple[bytes, str]:
    """dkimpy's format: the base64 of the 32-byte seed, and of the raw public key in DNS."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(seed) + b"\n", base64.b64encode(public).decode("ascii")


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _postfix(root: Path, milters: str) -> None:
    main = (DEBIAN / "main.cf").read_text() + (
        "\n# DKIM and DMARC\nmilter_default_action = accept\nmilter_protocol = 6\n"
        f"smtpd_milters = {milters}\nnon_smtpd_milters = $smtpd_milters\n"
    )
    _write(root / "etc/postfix/main.cf", main)
    shutil.copyfile(DEBIAN / "master.cf", root / "etc/postfix/master.cf")


def _served(root: Path, zone_file: str, workdir: Path) -> dict[tuple[str, str], object]:
    with NamedServer([(DOMAIN, root / zone_file.lstrip("/"))], workdir=workdir) as named:
        return dict(_records(named, DOMAIN))


def _import(root: Path, base: Path, *args: str | Path) -> str:
    config = base / "mailauth.yaml"
    result = run_mailauth("import", "--root", root, *args, "-c", config, "--check", cwd=base)
    assert "DNS record changes: 0" in result.stdout, result.stdout
    assert "No DNS record changes." in result.stdout
    run_mailauth("validate", "-c", config, "--root", root, cwd=base)
    return result.stdout


def _apply_then_nothing_left(root: Path, base: Path) -> dict[str, object]:
    config = base / "mailauth.yaml"
    run_mailauth("apply", "-c", config, "--root", root, "--yes", cwd=base)
    run_mailauth("plan", "-c", config, "--root", root, "-q", cwd=base)  # exit 0: nothing left
    planned = json.loads(
        run_mailauth("plan", "-c", config, "--root", root, "--format", "json", cwd=base).stdout
    )
    assert isinstance(planned, dict)
    return planned


# -- dkimpy-milter + OpenDMARC -------------------------------------------------------------


def _build_dkimpy(root: Path) -> dict[str, bytes]:
    """Debian's layout: /etc/dkimpy-milter/ for the config and tables, /etc/dkimkeys/ keys,
    the zone in /etc/bind/db.example.org."""
    rsa_pem, rsa_pub = _rsa()
    ed_seed, ed_pub = _ed25519()
    keys = {
        "/etc/dkimkeys/example.org/rsa2024.private": rsa_pem,
        "/etc/dkimkeys/example.org/ed2024.private": ed_seed,
    }
    for path, data in keys.items():
        _write(root / path.lstrip("/"), data).chmod(0o600)
    etc = root / "etc/dkimpy-milter"
    _write(
        etc / "KeyTable",
        "example.org example.org:rsa2024:/etc/dkimkeys/example.org/rsa2024.private\n",
    )
    _write(
        etc / "KeyTableEd25519",
        "example.org example.org:ed2024:/etc/dkimkeys/example.org/ed2024.private\n",
    )
    _write(etc / "SigningTable", "*@example.org example.org\n")
    _write(
        etc / "dkimpy-milter.conf",
        "# dkimpy-milter for example.org, RSA and Ed25519\n"
        "Syslog\t\t\tyes\nUMask\t\t\t007\nUserID\t\t\tdkimpy-milter\n"
        "PidFile\t\t\t/run/dkimpy-milter/dkimpy-milter.pid\n"
        "Socket\t\t\tinet:8892@127.0.0.1\nMode\t\t\tsv\nAuthservID\t\tmail.example.org\n"
        "Canonicalization\trelaxed/simple\nInternalHosts\t\t127.0.0.1\n"
        "KeyTable\t\t/etc/dkimpy-milter/KeyTable\n"
        "KeyTableEd25519\t\t/etc/dkimpy-milter/KeyTableEd25519\n"
        "SigningTable\t\trefile:/etc/dkimpy-milter/SigningTable\n",
    )
    _write(
        root / "etc/opendmarc.conf",
        "AuthservID mail.example.org\nTrustedAuthservIDs mail.example.org\n"
        "PidFile /run/opendmarc/opendmarc.pid\n"
        "PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat\n"
        "Socket inet:8893@127.0.0.1\nSyslog true\nUMask 0002\nUserID opendmarc\n"
        "RejectFailures false\nIgnoreAuthenticatedClients true\n",
    )
    head, tail = rsa_pub[:200], rsa_pub[200:]
    _write(
        root / "etc/bind/db.example.org",
        SOA + "        IN  MX   10 mail.example.org.\n"
        "@       IN  A    192.0.2.10\nmail    IN  A    192.0.2.25\nns1     IN  A    192.0.2.53\n"
        'www     IN  CNAME  example.org.\n@       IN  TXT  "v=spf1 mx -all"\n'
        '_dmarc  IN  TXT  "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"\n'
        f'rsa2024._domainkey IN TXT ( "v=DKIM1; k=rsa; "\n    "p={head}"\n    "{tail}" )\n'
        f'ed2024._domainkey  IN TXT "v=DKIM1; k=ed25519; p={ed_pub}"\n',
    )
    _postfix(root, "inet:127.0.0.1:8892, inet:127.0.0.1:8893")
    return keys


def test_dkimpy_opendmarc_import_changes_no_dns() -> None:
    require_binary("named")
    with safe_directory("e2e-import-dkimpy-") as base:
        root = base / "root"
        keys = _build_dkimpy(root)
        zone = "/etc/bind/db.example.org"
        before = _served(root, zone, base / "named-before")
        out = _import(
            root,
            base,
            "--zone", zone,
            "--dkimpy-conf", "/etc/dkimpy-milter/dkimpy-milter.conf",
            "--opendmarc-conf", "/etc/opendmarc.conf",
            "--main-cf", "/etc/postfix/main.cf",
            "--master-cf", "/etc/postfix/master.cf",
            "--platform", "debian",
        )  # fmt: skip
        # mailauth writes the zone from now on: the zero above compares its zone with this one.
        assert f"mailauth owns {zone} from now on" in out, out
        assert "- example.org: SOA serial update" in out, out
        text = (base / "mailauth.yaml").read_text()
        for path in keys:
            assert f"key_file: {path}" in text, text
        lock = read_lock(base / "mailauth.lock")
        assert {(DOMAIN, "rsa2024"), (DOMAIN, "ed2024")} <= set(lock)

        planned = _apply_then_nothing_left(root, base)
        for path, data in keys.items():
            assert (root / path.lstrip("/")).read_bytes() == data
        assert _served(root, zone, base / "named-after") == before

        # The daemons accept what they now have: opendmarc -n (the plan's check), and
        # dkimpy-milter's own parser, which signs example.org with both adopted keys.
        require_binary("opendmarc")
        checks = [c for c in planned["checks"] if "opendmarc" in c]
        assert checks, planned["checks"]
        for command in checks:
            done = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        got = _dkimpy_view(_rooted_dkimpy(root, base / "dkimpy-run"), f"someone@{DOMAIN}")
        assert got["logged"] == [], got["logged"]
        assert got["view"]["Mode"] == "sv"
        assert got["signing"][f"someone@{DOMAIN}"] == {
            "d": DOMAIN,
            "signs": True,
            "rsa": ["rsa2024", True],
            "ed25519": ["ed2024", True],
        }


def _rooted_dkimpy(root: Path, workdir: Path) -> Path:
    """The applied dkimpy-milter.conf and tables as the host would read them, their /etc
    paths placed under the test root."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("dkimpy-milter.conf", "KeyTable", "KeyTableEd25519", "SigningTable"):
        text = (root / "etc/dkimpy-milter" / name).read_text()
        text = text.replace("/etc/dkimkeys/", f"{root}/etc/dkimkeys/")
        (workdir / name).write_text(text.replace("/etc/dkimpy-milter/", f"{workdir}/"))
    return workdir / "dkimpy-milter.conf"


# -- include mode ---------------------------------------------------------------------------

_CLASH = re.compile(r"^\s*(?P<file>/\S+):(?P<line>\d+): \S+ \S+ is already defined here", re.M)
_ADD = re.compile(r"add the line `\$INCLUDE (?P<path>/\S+)`")


def _edit_as_told(root: Path, message: str, zone_file: str, domain: str) -> None:
    """What the user does with the import's message: remove each record it names (a
    parenthesised one up to its closing parenthesis) and add the ``$INCLUDE`` line it gives
    (here under the test root, where the test's named reads the files)."""
    path = root / zone_file.lstrip("/")
    lines = path.read_text().splitlines(keepends=True)
    starts = {int(m["line"]) for m in _CLASH.finditer(message) if m["file"] == zone_file}
    assert starts, message
    drop: set[int] = set()
    for start in starts:
        end = start
        if "(" in lines[start - 1] and ")" not in lines[start - 1]:
            while ")" not in lines[end - 1]:
                end += 1
        drop.update(range(start, end + 1))
    added = [m["path"] for m in _ADD.finditer(message) if m["path"].endswith(f".{domain}.inc")]
    assert len(added) == 1, message
    kept = [line for number, line in enumerate(lines, 1) if number not in drop]
    kept.append(f"$INCLUDE {root}{added[0]}\n")
    path.write_text("".join(kept))


def test_include_mode_import_keeps_what_named_serves() -> None:
    require_binary("named")
    with safe_directory("e2e-import-include-") as base:
        root = base / "root"
        root.mkdir()
        article = build_article(root)
        keys = {d: (root / article.key_file(d).lstrip("/")).read_bytes() for d in DOMAINS}
        zones = [f"/var/named/zone.{d}" for d in DOMAINS]
        before = {d: _served_zone(root, d, base / "named-before") for d in DOMAINS}
        config = base / "mailauth.yaml"
        result = run_mailauth(
            "import",
            "--root", root,
            *(a for z in zones for a in ("--zone", z)),
            "--opendkim-conf", "/etc/opendkim.conf",
            "--main-cf", "/etc/postfix/main.cf",
            "--master-cf", "/etc/postfix/master.cf",
            "--platform", "rhel",
            "--include-mode",
            "-c", config,
            "--check",
            expect=None,
            cwd=base,
        )  # fmt: skip
        out = result.stdout + result.stderr
        # Not zero-change as it stands: the hand-kept files still hold the mail records and
        # do not $INCLUDE the fragment. The output says which lines, file by file.
        for domain, zone in zip(DOMAINS, zones, strict=True):
            assert f"add the line `$INCLUDE /var/named/mailauth.{domain}.inc`" in out, out
            assert f"{zone}:12: {domain}. MX is already defined here" in out, out
        run_mailauth("validate", "-c", config, "--root", root, cwd=base)
        text = config.read_text()
        for domain in DOMAINS:
            assert f"key_file: {article.key_file(domain)}" in text
            assert f"serial_file: /var/named/zone.{domain}" in text

        for domain, zone in zip(DOMAINS, zones, strict=True):
            _edit_as_told(root, out, zone, domain)
        check = run_mailauth("plan", "-c", config, "--root", root, expect=None, cwd=base)
        assert check.returncode in (0, 2), check.stdout + check.stderr  # changes, no error
        _apply_then_nothing_left(root, base)
        for domain in DOMAINS:
            assert (root / article.key_file(domain).lstrip("/")).read_bytes() == keys[domain]
            assert _served_zone(root, domain, base / f"named-after-{domain}") == before[domain]


def _served_zone(root: Path, domain: str, workdir: Path) -> dict[tuple[str, str], object]:
    path = root / "var/named" / f"zone.{domain}"
    with NamedServer([(domain, path)], workdir=workdir) as named:
        return dict(_records(named, domain))
