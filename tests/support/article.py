"""The article's hand-made mail setup (shared/seed) built under a test root.

tests/fixtures/import/article holds the files as the article writes them; the keys are made
here (opendkim-genkey's format: a PEM RSA-2048 key, the record in its ``.txt`` layout), and
the zone files get the public halves, so no private key is ever committed.
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailauth.compiler.importer.found import AdoptedKey, Found, Note

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "article"
DEBIAN = Path(__file__).resolve().parents[1] / "fixtures" / "debian"
DOMAINS = ("slackbox.fr", "unixbox.fr")
SELECTOR = "01"


@dataclass(frozen=True)
class Article:
    root: Path
    #: domain -> (private key bytes, base64 public key)
    keys: dict[str, tuple[bytes, str]]

    def key_file(self, domain: str) -> str:
        return f"/etc/opendkim/keys/{domain}/{SELECTOR}.private"

    def zone_file(self, domain: str) -> Path:
        return self.root / "var" / "named" / f"zone.{domain}"


def _key() -> tuple[bytes, str]:
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


def _record(public: str, domain: str) -> str:
    """The DKIM record as opendkim-genkey's 01.txt has it, pasted into the zone."""
    head, tail = public[:200], public[200:]
    return (
        f'{SELECTOR}._domainkey  IN  TXT ( "v=DKIM1; k=rsa; "\n'
        f'  "p={head}"\n  "{tail}" ) ; ----- DKIM key {SELECTOR} for {domain}\n'
    )


def build_article(root: Path, *, key_owner: str | None = None) -> Article:
    """The article's files under ``root``: zones in /var/named, OpenDKIM's config and
    tables, a key per domain, Debian's main.cf with the article's stanza and master.cf.
    ``key_owner``: the article's ``chown -R opendkim:opendkim /etc/opendkim/keys/``."""
    keys = {domain: _key() for domain in DOMAINS}
    for source in FIXTURE.rglob("*"):
        if source.is_dir() or source.name in ("README", "main.cf.stanza"):
            continue
        dest = root / source.relative_to(FIXTURE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".in":
            domain = source.name.removeprefix("zone.").removesuffix(".in")
            text = source.read_text().replace("{dkim_record}", _record(keys[domain][1], domain))
            dest.with_suffix("").write_text(text)
        else:
            shutil.copyfile(source, dest)
    for domain, (pem, _) in keys.items():
        path = root / "etc" / "opendkim" / "keys" / domain / f"{SELECTOR}.private"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
        path.chmod(0o600)
        (path.parent / f"{SELECTOR}.txt").write_text(_record(keys[domain][1], domain))
        if key_owner is not None:
            account = pwd.getpwnam(key_owner)
            for owned in (path.parent.parent, path.parent, *path.parent.iterdir()):
                os.chown(owned, account.pw_uid, account.pw_gid)
    postfix = root / "etc" / "postfix"
    postfix.mkdir(parents=True, exist_ok=True)
    stanza = (FIXTURE / "etc" / "postfix" / "main.cf.stanza").read_text()
    (postfix / "main.cf").write_text((DEBIAN / "main.cf").read_text() + stanza)
    shutil.copyfile(DEBIAN / "master.cf", postfix / "master.cf")
    return Article(root, keys)


def _zone(name: str, records: list[dict[str, object]]) -> dict[str, object]:
    soa = {"mname": "ns.slackbox.fr", "rname": f"hostmaster@{name}", "refresh": 10800}
    soa.update({"retry": 600, "expire": 1814400, "minimum": 10800})
    ns = ["ns.slackbox.fr", "nssec.online.net"]
    return {"name": name, "mode": "zone", "ttl": 86400, "soa": soa, "ns": ns, "records": records}


def article_found(article: Article) -> Found:
    """What the readers find in the article's setup, written by hand (the readers' tests
    check that they find it; these tests check what the writer makes of it)."""
    a = "51.158.146.161"
    slackbox = [{"name": n, "type": "A", "value": a} for n in ("@", "ns", "mail")]
    slackbox += [
        {"name": n, "type": "CNAME", "value": "slackbox.fr."}
        for n in ("www", "blog", "gestion", "cloud")
    ]
    unixbox = [
        {"name": "@", "type": "A", "value": a},
        {"name": "www", "type": "CNAME", "value": "unixbox.fr."},
    ]
    domains = {
        domain: {
            "mx": [{"host": "mail.slackbox.fr", "priority": 10}],
            "spf": {"mx": True, "all": "~all"},
            "dmarc": {"p": "none", "sp": "quarantine"},
            "dkim": {"selectors": [{"name": SELECTOR, "algorithm": "rsa"}]},
        }
        for domain in DOMAINS
    }
    return Found(
        zones=[_zone("slackbox.fr", slackbox), _zone("unixbox.fr", unixbox)],
        domains=domains,
        targets={
            "bind": {
                "directory": "/var/named",
                "zone_file": "zone.{zone}",
                "named_conf": "/etc/named/mailauth.zones.conf",
            },
            "opendkim": {
                "config": "/etc/opendkim.conf",
                "directory": "/etc/opendkim",
                "socket": "inet:8891@127.0.0.1",
                "mode": "sv",
                "trusted_hosts": ["127.0.0.1", "*.slackbox.fr", "*.unixbox.fr"],
            },
            "postfix": {"mode": "edit", "main_cf": "/etc/postfix/main.cf"},
        },
        adopted=[
            AdoptedKey(
                domain,
                SELECTOR,
                article.key_file(domain),
                "rsa",
                f"/etc/opendkim/KeyTable:{index + 2}",
                article.keys[domain][1],
            )
            for index, domain in enumerate(DOMAINS)
        ],
        dns_keys={(domain, SELECTOR): article.keys[domain][1] for domain in DOMAINS},
        comments={"domains.slackbox.fr.spf": "read from /var/named/zone.slackbox.fr:16"},
        notes=[
            Note(
                "/etc/opendkim.conf:10",
                "not-imported",
                "UMask 002",
                "an OpenDKIM option mailauth does not manage",
            )
        ],
    )
