"""BIND really loads and serves what mailauth writes.

For the example and for hand-made configs: `mailauth apply` into a root, then
``named-checkzone`` (strict) on every zone, ``named-checkconf`` on the generated zone
statements, and a real ``named`` on 127.0.0.1 whose answers are compared with the model,
record by record (queries) and as a whole (AXFR: nothing more, nothing less).
"""

from __future__ import annotations

import base64
import re
import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support import NamedServer, require_binary, run_mailauth
from support.named import rrsets

from mailauth.backends.zonefile import find_serial, next_serial
from mailauth.compiler import driver
from mailauth.compiler.model import MailModel, Record, ZoneModel

pytestmark = pytest.mark.e2e

# Everything named-checkzone can be strict about, as errors; on top of that, checkzone()
# fails on any warning at all. Integrity checks stay local: "full" looks out-of-zone MX/NS
# targets up in the real DNS, which a test must not depend on.
CHECKZONE_STRICT = [
    "-k", "fail",  # check-names: owner and target names must be valid host names
    "-n", "fail",  # NS targets must be names, not addresses
    "-m", "fail",  # MX targets must be names, not addresses
    "-M", "fail",  # MX targets must not be CNAMEs
    "-S", "fail",  # SRV targets must not be CNAMEs
    "-r", "fail",  # no records that DNSSEC would see as different but are the same
    "-W", "warn",  # non-terminal wildcards (warn is the strictest it has: see checkzone)
    "-i", "local",  # in-zone NS/MX targets have addresses, no glue missing
]  # fmt: skip

ZONE_STATEMENT = re.compile(r'zone\s+"([^"]+)"\s*\{[^}]*?file\s+"([^"]+)"', re.S)

Key = tuple[str, str]  # (absolute owner, type)


# -- helpers ---------------------------------------------------------------------------------


def today() -> date:
    return datetime.now(UTC).date()


def host(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def checkzone(zone: str, path: Path) -> None:
    binary = require_binary("named-checkzone")
    done = subprocess.run(
        [binary, *CHECKZONE_STRICT, zone, str(path)], capture_output=True, text=True, check=False
    )
    said = f"named-checkzone {zone} {path}:\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, said
    lines = (done.stdout + done.stderr).splitlines()
    # Clean output is exactly "zone Z/IN: loaded serial N" and "OK"; anything else warns.
    assert len(lines) == 2 and "loaded serial" in lines[0] and lines[1] == "OK", said


def generated_zones(root: Path, named_conf: str) -> list[tuple[str, Path]]:
    """``(zone, file under root)`` from the zone statements mailauth wrote."""
    text = host(root, named_conf).read_text()
    pairs = [(zone, host(root, file)) for zone, file in ZONE_STATEMENT.findall(text)]
    assert pairs, f"no zone statements in {named_conf}:\n{text}"
    return pairs


def open_model(config: Path, root: Path, targets: list[str] | None = None) -> MailModel:
    return driver.model_for(driver.open_job(config, root, targets))


def expected(zone: ZoneModel) -> dict[Key, list[Record]]:
    grouped: dict[Key, list[Record]] = defaultdict(list)
    for record in zone.records:
        grouped[(record.fqdn(zone.name), record.type)].append(record)
    return dict(grouped)


def presentation(zone: ZoneModel, record: Record) -> str:
    """The model's value as named would print it (absolute names)."""
    rdata = dns.rdata.from_text(
        dns.rdataclass.IN,
        dns.rdatatype.from_text(record.type),
        record.value,
        origin=dns.name.from_text(zone.name),
        relativize=False,
    )
    return rdata.to_text()


def txt_values(rrset: dns.rrset.RRset) -> list[str]:
    """Each TXT answer's character-strings joined, as the record's one text."""
    return sorted(b"".join(rdata.strings).decode("utf-8") for rdata in rrset)


def assert_rrset_is(
    zone: ZoneModel, key: Key, records: list[Record], rrset: dns.rrset.RRset
) -> None:
    owner, rtype = key
    if rtype == "TXT":
        got, want = txt_values(rrset), sorted(r.value for r in records)
    else:
        got = sorted(rdata.to_text() for rdata in rrset)
        want = sorted(presentation(zone, r) for r in records)
    assert got == want, f"{owner} {rtype}: named serves {got}, the model says {want}"
    ttls = {r.ttl for r in records}
    assert rrset.ttl in ttls, f"{owner} {rtype}: TTL {rrset.ttl}, the model says {ttls}"


def assert_served(named: NamedServer, zone: ZoneModel, zone_file: Path) -> None:
    """Each model record answers exactly; the AXFR holds nothing else; the SOA is right."""
    want = expected(zone)
    res = named.resolver()
    for key, records in want.items():
        owner, rtype = key
        answer = res.resolve(owner, rtype, raise_on_no_answer=True)
        assert answer.rrset is not None
        assert_rrset_is(zone, key, records, answer.rrset)

    served = rrsets(named.transfer(zone.name))
    soa_key = (f"{zone.name}.", "SOA")
    soa = served.pop(soa_key)
    extra = sorted(set(served) - set(want))
    missing = sorted(set(want) - set(served))
    assert not extra and not missing, f"{zone.name}: extra {extra}, missing {missing}"
    for key, rrset in served.items():
        assert_rrset_is(zone, key, want[key], rrset)

    serial = find_serial(zone_file.read_text())
    assert serial is not None
    assert soa[0].serial == serial.value
    if zone.soa is not None:
        assert soa[0].mname == dns.name.from_text(zone.soa.mname)
        assert soa[0].rname == dns.name.from_text(zone.soa.rname)
        assert (soa[0].refresh, soa[0].retry, soa[0].expire, soa[0].minimum) == (
            zone.soa.refresh,
            zone.soa.retry,
            zone.soa.expire,
            zone.soa.minimum,
        )


def write_config(directory: Path, doc: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mailauth.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# -- the example -----------------------------------------------------------------------------


def test_example_zones_pass_checkzone_and_named_serves_the_model(
    slackbox_config: Path, safe_root: Path
) -> None:
    run_mailauth("apply", "-c", slackbox_config, "--root", safe_root, "--yes")
    run_mailauth("plan", "-c", slackbox_config, "--root", safe_root, expect=0)

    job = driver.open_job(slackbox_config, safe_root, None)
    model = driver.model_for(job)
    bind = job.loaded.config.targets.bind
    assert bind is not None and bind.named_conf is not None
    pairs = generated_zones(safe_root, bind.named_conf)
    owned = {z.name for z in model.zones if z.mode == "zone"}
    assert {zone for zone, _ in pairs} == owned

    for zone, path in pairs:
        checkzone(zone, path)

    # The generated zone statements, read as a named chrooted to the root would read them.
    conf = host(safe_root, "/etc/named/test-named.conf")
    conf.write_text(f'options {{ directory "/"; }};\ninclude "{bind.named_conf}";\n')
    checkconf = require_binary("named-checkconf")
    done = subprocess.run(
        [checkconf, "-t", str(safe_root), "-z", "/etc/named/test-named.conf"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # Every record the example should publish is there: SPF, DMARC, DKIM (from the lock
    # file or the key apply made), MX, the mail host.
    slackbox = model.zone("slackbox.fr")
    purposes = {r.purpose for r in slackbox.records}
    assert {"ns", "mx", "host", "spf", "dmarc"} <= purposes

    with NamedServer(pairs) as named:
        for zone, path in pairs:
            assert_served(named, model.zone(zone), path)
        # A name that does not exist gets an authoritative NXDOMAIN, not a referral.
        with pytest.raises(dns.resolver.NXDOMAIN):
            named.resolver().resolve("nosuchname.slackbox.fr.", "A")


# -- a 2048-bit DKIM key, inline --------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa2048_public_b64() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def test_dkim_2048_key_round_trips_through_named(
    tmp_path: Path, safe_root: Path, rsa2048_public_b64: str
) -> None:
    config = write_config(
        tmp_path,
        {
            "version": 1,
            "mail_hosts": [{"name": "mail.example.test", "ipv4": ["192.0.2.10"]}],
            "zones": [
                {
                    "name": "example.test",
                    "mode": "zone",
                    "ns": ["ns1.example.test"],
                    "records": [{"name": "ns1", "type": "A", "value": "192.0.2.53"}],
                }
            ],
            "domains": [
                {
                    "name": "example.test",
                    "dkim": {
                        "selectors": [
                            {
                                "name": "big",
                                "algorithm": "rsa",
                                "bits": 2048,
                                "public_key": rsa2048_public_b64,
                            }
                        ]
                    },
                }
            ],
            "targets": {"bind": {"directory": "/var/named"}},
        },
    )
    run_mailauth("apply", "-c", config, "--root", safe_root, "--yes")
    model = open_model(config, safe_root)
    zone = model.zone("example.test")
    wanted = f"v=DKIM1; k=rsa; p={rsa2048_public_b64}"
    (dkim,) = zone.find("big._domainkey", "TXT")
    assert dkim.value == wanted
    assert len(wanted) > 255  # the point: it must be split into several strings

    zone_file = host(safe_root, "/var/named/zone.example.test")
    checkzone("example.test", zone_file)
    with NamedServer([("example.test", zone_file)]) as named:
        answer = named.resolver().resolve("big._domainkey.example.test.", "TXT")
        (rdata,) = list(answer)
        assert len(rdata.strings) >= 2, "a >255-octet TXT comes back as several strings"
        assert all(len(s) <= 255 for s in rdata.strings)
        assert b"".join(rdata.strings).decode() == wanted
        # Over TCP as well (the UDP answer might have been the one to lose something).
        response = named.query("big._domainkey.example.test.", "TXT", tcp=True)
        (rrset,) = response.answer
        assert txt_values(rrset) == [wanted]
        assert_served(named, zone, zone_file)


# -- include mode: a hand-kept zone with $INCLUDE and a serial bump ---------------------------

HAND_SERIAL = 2020010101


def hand_zone(fragment: Path) -> str:
    return (
        "; kept by hand; mailauth only bumps the serial\n"
        "$ORIGIN handkept.test.\n"
        "$TTL 3600\n"
        "@   IN SOA ns1.handkept.test. hostmaster.handkept.test. (\n"
        f"        {HAND_SERIAL} ; serial\n"
        "        3600 600 86400 300 )\n"
        "@   IN NS ns1\n"
        "ns1 IN A 192.0.2.53\n"
        "www IN A 192.0.2.80\n"
        f"$INCLUDE {fragment}\n"
    )


def include_config(directory: Path, policy: str) -> Path:
    return write_config(
        directory,
        {
            "version": 1,
            "defaults": {"ttl": 600, "dmarc": {"p": policy, "rua": ["dmarc@handkept.test"]}},
            "mail_hosts": [{"name": "mail.handkept.test", "ipv4": ["192.0.2.25"]}],
            "zones": [
                {
                    "name": "handkept.test",
                    "mode": "include",
                    "serial_file": "/var/named/handkept.test.zone",
                }
            ],
            "domains": [{"name": "handkept.test"}],
            "targets": {"bind": {"directory": "/var/named", "named_conf": None}},
        },
    )


def test_include_mode_fragment_and_serial_bump_served_by_named(
    tmp_path: Path, safe_root: Path
) -> None:
    fragment = host(safe_root, "/var/named/mailauth.handkept.test.inc")
    hand = host(safe_root, "/var/named/handkept.test.zone")
    hand.parent.mkdir(parents=True)
    hand.write_text(hand_zone(fragment))

    config = include_config(tmp_path / "v1", "none")
    run_mailauth("apply", "-c", config, "--root", safe_root, "--yes")
    assert fragment.is_file()
    first = next_serial(HAND_SERIAL, today())
    # Only the serial moved; the hand-kept file is otherwise byte for byte as it was.
    assert hand.read_text() == hand_zone(fragment).replace(str(HAND_SERIAL), str(first), 1)
    checkzone("handkept.test", hand)

    model = open_model(config, safe_root)
    zone = model.zone("handkept.test")
    assert zone.mode == "include"
    hand_records = {
        ("handkept.test.", "NS"),
        ("ns1.handkept.test.", "A"),
        ("www.handkept.test.", "A"),
    }

    with NamedServer([("handkept.test", hand)]) as named:
        assert named.soa_serial("handkept.test") == first
        served = rrsets(named.transfer("handkept.test"))
        served.pop(("handkept.test.", "SOA"))
        want = expected(zone)
        assert set(served) == set(want) | hand_records
        for key, records in want.items():
            assert_rrset_is(zone, key, records, served[key])
        dmarc = named.resolver().resolve("_dmarc.handkept.test.", "TXT").rrset
        assert dmarc is not None
        assert txt_values(dmarc) == ["v=DMARC1; p=none; rua=mailto:dmarc@handkept.test"]

        # Change the policy: the fragment changes, the serial moves again, named follows.
        config = include_config(tmp_path / "v2", "reject")
        run_mailauth("plan", "-c", config, "--root", safe_root, expect=2)
        run_mailauth("apply", "-c", config, "--root", safe_root, "--yes")
        run_mailauth("plan", "-c", config, "--root", safe_root, expect=0)
        second = next_serial(first, today())
        assert second > first
        checkzone("handkept.test", hand)
        named.reload(expect={"handkept.test": second})
        dmarc = named.resolver().resolve("_dmarc.handkept.test.", "TXT").rrset
        assert dmarc is not None
        assert txt_values(dmarc) == ["v=DMARC1; p=reject; rua=mailto:dmarc@handkept.test"]
        # The hand-kept records are still there and untouched.
        www = named.resolver().resolve("www.handkept.test.", "A")
        assert [r.to_text() for r in www] == ["192.0.2.80"]
