"""``mailauth import``, mail side (compiler/importer/mail_side.py): host trees under
tests/fixtures/import/mail/ read into targets, adopted keys and notes.

Every case checks the whole outcome: what was imported, exactly, and what was listed as a
Note; nothing may change silently. Keys are made in the test (opendkim-genkey, as the
article does, or cryptography), never stored in the repository.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from support.tools import require_binary

from mailauth.backends.dkimpy_milter import DkimpyMilterTarget
from mailauth.backends.opendkim import OpenDkimTarget
from mailauth.backends.opendmarc import OpenDmarcTarget
from mailauth.backends.postfix import PostfixTarget
from mailauth.compiler.importer.found import AdoptedKey, Found, Note
from mailauth.compiler.importer.mail_side import MailImportError, read_mail
from mailauth.compiler.importer.milter_tables import (
    KeyEntry,
    LineError,
    content_lines,
    parse_dataset,
    parse_key_line,
    parse_options,
    parse_signing_line,
    signing_domain,
)
from mailauth.schema.targets import KeyStore

FIXTURES = Path(__file__).parent / "fixtures" / "import" / "mail"
DEBIAN = Path(__file__).parent / "fixtures" / "debian"
NONE: dict[str, str | None] = {
    "opendkim_conf": None,
    "dkimpy_conf": None,
    "opendmarc_conf": None,
    "main_cf": None,
    "master_cf": None,
}


def _tree(name: str, tmp_path: Path, *, crlf: bool = False) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    if crlf:
        for path in root.rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return root


def _rsa_file(path: Path, bits: int = 2048) -> str:
    """A PKCS#1 PEM key file like opendkim-genkey's; returns its public half (base64)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _ed25519_file(path: Path) -> str:
    """A dkimpy-style Ed25519 key file (base64 of the 32-byte seed); returns ``p=``."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64encode(seed) + b"\n")
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def _validates(found: Found) -> None:
    """What the reader put under targets and keys is what the settings models take."""
    models = {
        "opendkim": OpenDkimTarget,
        "dkimpy_milter": DkimpyMilterTarget,
        "opendmarc": OpenDmarcTarget,
        "postfix": PostfixTarget,
    }
    for name, values in found.targets.items():
        models[name].model_validate(values)
    KeyStore.model_validate(found.keys)


def _notes(found: Found) -> set[tuple[str, str, str]]:
    return {(n.where, n.kind, n.what) for n in found.notes}


# ---------------------------------------------------------------------------- the article


def test_article_setup(tmp_path: Path) -> None:
    genkey = require_binary("opendkim-genkey")
    root = _tree("article", tmp_path)
    public: dict[str, str] = {}
    for domain in ("slackbox.fr", "unixbox.fr"):
        keydir = root / "etc/opendkim/keys" / domain
        keydir.mkdir(parents=True)
        subprocess.run(
            [genkey, "-b", "2048", "-d", domain, "-D", str(keydir), "-s", "01"],
            check=True,
            capture_output=True,
        )
        stub = (keydir / "01.txt").read_text()
        record = "".join(re.findall(r'"([^"]*)"', stub))
        public[domain] = re.search(r"p=([A-Za-z0-9+/=]+)", record).group(1)  # type: ignore[union-attr]
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    found = read_mail(root, **NONE)

    assert found.targets["opendkim"] == {
        "config": "/etc/opendkim.conf",
        "directory": "/etc/opendkim",
        "pid_file": "/run/opendkim/opendkim.pid",
        # main.cf reaches the daemon as inet:127.0.0.1:8891: written that way (a Note says so)
        "socket": "inet:8891@127.0.0.1",
        "group": "opendkim",
        "umask": "002",
        "trusted_hosts": ["127.0.0.1", "*.slackbox.fr", "*.unixbox.fr"],
    }
    assert found.targets["postfix"] == {"milter_default_action": "accept", "milter_protocol": 6}
    assert found.adopted == [
        AdoptedKey(
            domain=domain,
            selector="01",
            key_file=f"/etc/opendkim/keys/{domain}/01.private",
            algorithm="rsa",
            where=f"/etc/opendkim/KeyTable:{line}",
            public_key=public[domain],
            sign=True,
        )
        for line, domain in ((2, "slackbox.fr"), (3, "unixbox.fr"))
    ]
    # the article's key directory is the Red Hat preset's
    assert found.keys == {"directory": "/etc/opendkim/keys"}
    assert _notes(found) == {
        ("/etc/opendkim.conf:17", "changed", "Socket inet:8891@localhost"),
        (
            "/etc/opendkim.conf:36",
            "changed",
            "ExternalIgnoreList refile:/etc/opendkim/TrustedHosts",
        ),
        ("/etc/opendkim.conf:39", "changed", "InternalHosts refile:/etc/opendkim/TrustedHosts"),
    }
    assert found.domains == {} and found.zones == [] and found.dns_keys == {}
    _validates(found)
    # reading changes nothing on the host
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_private_key_material_never_in_findings(tmp_path: Path) -> None:
    root = _tree("article", tmp_path)
    secrets = []
    for domain in ("slackbox.fr", "unixbox.fr"):
        path = root / "etc/opendkim/keys" / domain / "01.private"
        _rsa_file(path)
        secrets.append(path.read_text().splitlines()[1])
    text = repr(read_mail(root, **NONE))
    assert all(line[:40] not in text for line in secrets)


# ---------------------------------------------------------------------------- Debian stock


def test_debian_stock_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    shutil.copy(DEBIAN / "opendkim.conf", root / "etc/opendkim.conf")
    shutil.copy(DEBIAN / "opendmarc.conf", root / "etc/opendmarc.conf")

    found = read_mail(root, **NONE)

    assert found.targets == {
        "opendkim": {
            "config": "/etc/opendkim.conf",
            "pid_file": "/run/opendkim/opendkim.pid",
            "socket": "local:/run/opendkim/opendkim.sock",
            "trusted_hosts": ["127.0.0.1"],
            # not an option mailauth sets, and allowed there: carried over by name
            "extra_options": {"TrustAnchorFile": "/usr/share/dns/root.key"},
        },
        "opendmarc": {
            "config": "/etc/opendmarc.conf",
            "pid_file": "/run/opendmarc/opendmarc.pid",
            "socket": "local:/run/opendmarc/opendmarc.sock",
            "umask": "0002",
            "public_suffix_list": "/usr/share/publicsuffix/public_suffix_list.dat",
            # OpenDMARC's own defaults where the file says nothing, not mailauth's
            "ignore_authenticated_clients": False,
            "spf": "headers",
        },
    }
    assert {(n.where, n.what) for n in found.notes} == {
        ("/etc/opendkim.conf", "Mode"),
        ("/etc/opendkim.conf", "InternalHosts"),
        ("/etc/opendmarc.conf", "AuthservID"),
    }
    assert all(n.kind == "changed" for n in found.notes)
    assert found.adopted == [] and found.keys == {}
    _validates(found)


# ---------------------------------------------------------------------------- dkimpy + DMARC


def test_dkimpy_and_opendmarc(tmp_path: Path) -> None:
    root = _tree("dkimpy", tmp_path)
    keys = root / "etc/dkimkeys"
    org_rsa = _rsa_file(keys / "example.org/rsa2024.private")
    org_ed = _ed25519_file(keys / "example.org/ed2024.private")
    net_rsa = _rsa_file(keys / "example.net/mail.private")

    found = read_mail(root, **NONE)

    assert found.targets["dkimpy_milter"] == {
        "config": "/etc/dkimpy-milter/dkimpy-milter.conf",
        "directory": "/etc/dkimpy-milter",
        "pid_file": "/run/dkimpy-milter/dkimpy-milter.pid",
        "authserv_id": "mail.example.org",
        "canonicalization": "relaxed/relaxed",
        "minimum_key_bits": 2048,
        "internal_hosts": ["127.0.0.1", "192.0.2.0/24", "mail.example.org"],
    }
    assert found.targets["opendmarc"] == {
        "config": "/etc/opendmarc.conf",
        "pid_file": "/run/opendmarc/opendmarc.pid",
        "public_suffix_list": "/usr/share/publicsuffix/public_suffix_list.dat",
        "authserv_id": "mail.example.org",
        "trusted_authserv_ids": ["mail.example.org", "relay.example.org"],
        "umask": "0002",
        "reject_failures": True,
        "history_file": "/var/lib/opendmarc/history.dat",
    }
    # master.cf tags submission, submissions (mailauth's default list) and cleanup: local
    # mail is signed too
    assert found.targets["postfix"] == {
        "milter_default_action": "tempfail",
        "sign_local_mail": True,
    }
    table = "/etc/dkimpy-milter/"
    assert found.adopted == [
        AdoptedKey("example.org", "rsa2024", "/etc/dkimkeys/example.org/rsa2024.private", "rsa",
                   table + "KeyTable:1", org_rsa),
        AdoptedKey("example.net", "mail", "/etc/dkimkeys/example.net/mail.private", "rsa",
                   table + "KeyTable:2", net_rsa),
        AdoptedKey("example.org", "ed2024", "/etc/dkimkeys/example.org/ed2024.private",
                   "ed25519", table + "KeyTableEd25519:1", org_ed),
    ]  # fmt: skip
    assert found.keys == {"directory": "/etc/dkimkeys"}  # the Debian preset's key directory
    assert found.notes == []
    _validates(found)


def test_explicit_paths_and_missing_ones(tmp_path: Path) -> None:
    root = _tree("dkimpy", tmp_path)
    moved = root / "srv/conf/dmarc.conf"
    moved.parent.mkdir(parents=True)
    (root / "etc/opendmarc.conf").rename(moved)
    found = read_mail(root, **{**NONE, "opendmarc_conf": "/srv/conf/dmarc.conf"})
    assert found.targets["opendmarc"]["config"] == "/srv/conf/dmarc.conf"
    # the command passes Paths; a relative one starts at the host's /
    paths: dict[str, Path | None] = {name: None for name in NONE}
    paths["opendmarc_conf"] = Path("srv/conf/dmarc.conf")
    again = read_mail(root, **paths)
    assert again == found
    with pytest.raises(MailImportError, match=r"/etc/nothing\.conf"):
        read_mail(root, **{**NONE, "opendkim_conf": "/etc/nothing.conf"})
    with pytest.raises(MailImportError):
        read_mail(root, **{**NONE, "main_cf": "/../../etc/passwd"})
    # an empty root: nothing found, nothing noted
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_mail(empty, **NONE) == Found()


def test_key_file_outside_root_is_not_read(tmp_path: Path) -> None:
    root = _tree("article", tmp_path)
    outside = tmp_path / "outside.private"
    _rsa_file(outside)
    link = root / "etc/opendkim/keys/slackbox.fr/01.private"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    found = read_mail(root, **NONE)
    assert [k.domain for k in found.adopted] == []
    assert ("/etc/opendkim/KeyTable:2", "not-imported") in {(n.where, n.kind) for n in found.notes}


# ---------------------------------------------------------------------------- odd inputs


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_odd_setup(tmp_path: Path, crlf: bool) -> None:
    root = _tree("odd", tmp_path, crlf=crlf)
    keys = root / "etc/opendkim/keys/example.org"
    sel1 = _rsa_file(keys / "sel1.private")
    sel2 = _rsa_file(keys / "sel2.private")
    old = _rsa_file(keys / "old.private")

    found = read_mail(root, **NONE)

    assert found.targets["opendkim"] == {
        "config": "/etc/opendkim.conf",
        "directory": "/etc/opendkim",
        "pid_file": "/run/opendkim/opendkim.pid",
        "socket": "local:/var/spool/postfix/opendkim/opendkim.sock",
        "canonicalization": "relaxed/relaxed",
        "nameservers": ["192.0.2.53", "2001:db8::53"],
        "trusted_hosts": ["127.0.0.1", "::1", "192.0.2.0/24", "mail.example.org"],
        "extra_options": {"SoftwareHeader": "yes"},
    }
    # milter_default_action = sideways is not a value mailauth knows: a Note, not a guess
    # queue_directory and the chroot are read (the socket matched through them) and are
    # the model's defaults, so not written
    assert found.targets["postfix"] == {"milter_protocol": 6}
    kt = "/etc/opendkim/KeyTable:"
    assert found.adopted == [
        AdoptedKey("example.org", "sel1", "/etc/opendkim/keys/example.org/sel1.private", "rsa",
                   kt + "2", sel1),
        AdoptedKey("example.org", "sel2", "/etc/opendkim/keys/example.org/sel2.private", "rsa",
                   kt + "3", sel2),
        AdoptedKey("example.org", "old", "/etc/opendkim/keys/example.org/old.private", "rsa",
                   kt + "5", old, sign=False),
    ]  # fmt: skip
    st_ = "/etc/opendkim/SigningTable:"
    conf = "/etc/opendkim.conf:"
    assert _notes(found) == {
        (conf + "20", "not-imported", "Mode s"),  # set twice: the first one was taken
        (conf + "18", "not-imported", "FrobnicateHeaders yes"),  # not an OpenDKIM option
        (conf + "19", "not-imported", "TestPublicKeys /etc/opendkim/test.keys"),  # refused
        (kt + "4", "not-imported", "gone._domainkey.example.org example.org:gone:"
         "/etc/opendkim/keys/example.org/gone.private"),
        (kt + "7", "not-imported", "this ..."),
        (st_ + "4", "not-imported", "*@*.example.org       sel1._domainkey.example.org"),
        (st_ + "5", "not-imported", "ceo@example.org       sel1._domainkey.example.org"),
        (st_ + "6", "not-imported", "example.com nokey._domainkey.example.com"),
        (st_ + "7", "not-imported", "example.net gone._domainkey.example.org"),
        ("/etc/opendkim/TrustedHosts:6", "not-imported", "!203.0.113.9"),
        ("/etc/postfix/main.cf", "not-imported",
         "smtpd_milters: { inet:127.0.0.1:3310, default_action=accept }"),
        ("/etc/postfix/main.cf", "not-imported", "milter_default_action = sideways"),
        ("/etc/opendkim.conf", "changed", "OversignHeaders"),  # OpenDKIM's default: none
    }  # fmt: skip
    missing = next(n for n in found.notes if n.where == kt + "4")
    assert "does not exist" in missing.why
    third_party = next(n for n in found.notes if "3310" in n.what)
    assert third_party.why == "a milter mailauth does not manage; kept as it is in main.cf"
    _validates(found)


def test_lf_and_crlf_read_the_same(tmp_path: Path) -> None:
    lf = _tree("odd", tmp_path / "a")
    crlf = _tree("odd", tmp_path / "b", crlf=True)
    for root in (lf, crlf):
        _rsa_file(root / "etc/opendkim/keys/example.org/sel1.private")
    a, b = read_mail(lf, **NONE), read_mail(crlf, **NONE)
    assert a.targets == b.targets
    assert a.notes == b.notes


def test_opendkim_single_key_and_inline_key_are_notes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/opendkim").mkdir(parents=True)
    (root / "etc/opendkim.conf").write_text(
        "Mode sv\nSocket inet:8891@127.0.0.1\nKeyFile /etc/opendkim/default.private\n"
        "Selector default\nDomain example.org\nKeyTable /etc/opendkim/keys.tbl\n"
        "LDAPBindPassword hunter2\nLDAPBindPassword hunter3\n"
    )
    (root / "etc/opendkim/keys.tbl").write_text("k example.org:s:MIIEsecretkeydata\n")
    found = read_mail(root, **NONE)
    text = repr(found)
    assert "MIIEsecretkeydata" not in text and "hunter" not in text
    assert found.adopted == []
    kinds = {(n.where, n.kind) for n in found.notes}
    assert ("/etc/opendkim/keys.tbl:1", "not-imported") in kinds
    assert ("/etc/opendkim.conf:3", "not-imported") in kinds
    assert ("/etc/opendkim.conf:7", "not-imported") in kinds
    assert ("/etc/opendkim.conf:8", "not-imported") in kinds  # set twice, still unshown
    # the table's own name differs from what mailauth writes: said so
    assert ("/etc/opendkim.conf", "changed") in kinds


# ---------------------------------------------------------------------------- line parsers

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_domain = st.lists(_label, min_size=2, max_size=4).map(".".join)
_selector = st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)
_path = st.lists(st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True), min_size=1).map(
    lambda parts: "/" + "/".join(parts)
)
_blank = st.sampled_from([" ", "\t", "  ", " \t"])


@given(_label, _domain, _selector, _path, _blank, st.sampled_from(["", "\r"]))
def test_key_line_round_trip(
    name: str, domain: str, selector: str, path: str, gap: str, cr: str
) -> None:
    line = f"{name}{gap}{domain}:{selector}:{path}  # a comment{cr}"
    [(_, body)] = content_lines(line + "\n")
    assert parse_key_line(body) == KeyEntry(name, domain, selector, path)


@given(st.text(max_size=40))
def test_key_line_never_crashes(body: str) -> None:
    try:
        entry = parse_key_line(body)
    except LineError:
        return
    assert entry.domain and entry.selector and entry.key


@given(_domain, _label, _blank)
def test_signing_line_domains(domain: str, key: str, gap: str) -> None:
    entry = parse_signing_line(f"*@{domain}{gap}{key}")
    assert (entry.key_name, entry.signer) == (key, None)
    assert signing_domain(entry.pattern, regex=True) == domain
    assert signing_domain(domain, regex=False) == domain
    # what mailauth cannot express is None, never a nearby domain
    assert signing_domain(f"*@*.{domain}", regex=True) is None
    assert signing_domain(f"user@{domain}", regex=True) is None
    assert signing_domain(f"user@{domain}", regex=False) is None
    assert signing_domain(f"*@{domain}", regex=False) is None
    assert signing_domain("*", regex=True) is None


@given(
    st.lists(
        st.tuples(st.from_regex(r"[A-Za-z][A-Za-z-]{0,15}", fullmatch=True),
                  st.from_regex(r"[^#\s]([^#\n\r]*[^#\s])?", fullmatch=True)),
        max_size=5,
    ),
    st.sampled_from(["\n", "\r\n"]),
)  # fmt: skip
def test_options_round_trip(pairs: list[tuple[str, str]], end: str) -> None:
    text = "# header\n" + "".join(f"{n}\t{v}   # note{end}{end}" for n, v in pairs)
    options = parse_options(text)
    assert [(o.name, o.value) for o in options] == pairs
    assert [o.line for o in options] == [2 + 2 * i for i in range(len(pairs))]


@given(st.text(max_size=60))
def test_signing_line_and_dataset_never_crash(body: str) -> None:
    try:
        entry = parse_signing_line(body)
    except LineError:
        pass
    else:
        for regex in (True, False):
            domain = signing_domain(entry.pattern, regex=regex)
            assert domain is None or domain in entry.pattern.casefold()
    dataset = parse_dataset(body)
    assert dataset.kind in ("file", "refile", "inline", "other")
    assert all(item.strip() == item and item for item in dataset.items)


def test_datasets() -> None:
    assert parse_dataset("refile:/etc/opendkim/SigningTable").kind == "refile"
    assert parse_dataset("file:/etc/x").path == "/etc/x"
    assert parse_dataset("/etc/x").kind == "file"
    assert parse_dataset("127.0.0.1, ::1,10.0.0.0/8").items == ("127.0.0.1", "::1", "10.0.0.0/8")
    assert parse_dataset("csl:a.example,b.example").items == ("a.example", "b.example")
    assert parse_dataset("db:/etc/x.db").kind == "other"
    assert parse_dataset("ldap://ldap.example/dc=x").kind == "other"


def test_notes_are_notes() -> None:
    # the interface is found.py's: every finding is a Note with where/kind/what/why
    note = Note("f:1", "not-imported", "x", "y")
    assert note.kind == "not-imported"


# ---------------------------------------------------------------------------- Postfix


#: An opendkim.conf that leaves nothing to defaults: only the socket line varies.
_OPENDKIM = (
    "Socket {socket}\nMode sv\nUMask 007\nPidFile /run/opendkim/opendkim.pid\n"
    "OversignHeaders From\nInternalHosts 127.0.0.1\nExternalIgnoreList 127.0.0.1\n"
)


def _host(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "root"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_loopback_spelling_follows_main_cf(tmp_path: Path) -> None:
    root = _host(
        tmp_path,
        {
            "etc/opendkim.conf": _OPENDKIM.format(socket="inet:8891@127.0.0.1"),
            "etc/postfix/main.cf": "smtpd_milters = inet:localhost:8891\n",
        },
    )
    found = read_mail(root, **NONE)
    assert found.targets["opendkim"]["socket"] == "inet:8891@localhost"
    # no Canonicalization line: OpenDKIM's default, not mailauth's relaxed/simple
    assert found.targets["opendkim"]["canonicalization"] == "simple/simple"
    assert [(n.where, n.kind, n.what) for n in found.notes] == [
        ("/etc/opendkim.conf:1", "changed", "Socket inet:8891@127.0.0.1")
    ]


def test_milter_spelt_otherwise_is_noted(tmp_path: Path) -> None:
    root = _host(
        tmp_path,
        {
            "etc/opendkim.conf": _OPENDKIM.format(socket="local:/run/opendkim/opendkim.sock"),
            "etc/postfix/main.cf": "smtpd_milters = local:/run/opendkim/opendkim.sock\n",
            "etc/postfix/master.cf": "smtp inet n - n - - smtpd\n",
        },
    )
    found = read_mail(root, **NONE)
    assert found.targets["postfix"] == {"chroot": False}
    [note] = found.notes
    assert (note.kind, note.what) == ("changed", "smtpd_milters: local:/run/opendkim/opendkim.sock")
    assert "unix:/run/opendkim/opendkim.sock" in note.why


def test_dkimpy_signing_tag_in_master_cf(tmp_path: Path) -> None:
    conf = (
        "Socket inet:8892@127.0.0.1\nMacroList daemon_name|ORIGINATING\n"
        "MacroListVerify daemon_name|VERIFYING\nInternalHosts 127.0.0.1\n"
    )
    main = "smtpd_milters = inet:127.0.0.1:8892\nmilter_macro_daemon_name = VERIFYING\n"
    tagged = (
        "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n"
        "  -o milter_macro_daemon_name=ORIGINATING\n"
    )
    root = _host(
        tmp_path,
        {
            "etc/dkimpy-milter/dkimpy-milter.conf": conf,
            "etc/postfix/main.cf": main,
            "etc/postfix/master.cf": tagged,
        },
    )
    found = read_mail(root, **NONE)
    # mailauth would tag submissions/inet too: the host tags submission/inet only
    assert found.targets["postfix"] == {"submission_services": ["submission/inet"]}
    assert found.notes == []

    untagged = _host(
        tmp_path / "b",
        {
            "etc/dkimpy-milter/dkimpy-milter.conf": conf,
            "etc/postfix/main.cf": "smtpd_milters = inet:127.0.0.1:8892\n",
            "etc/postfix/master.cf": "smtp inet n - y - - smtpd\n",
        },
    )
    found = read_mail(untagged, **NONE)
    assert {(n.where, n.kind, n.what) for n in found.notes} == {
        ("/etc/postfix/main.cf", "changed", "milter_macro_daemon_name"),
        ("/etc/postfix/master.cf", "changed", "submission services"),
    }


def test_syslog_success_follows_syslog(tmp_path: Path) -> None:
    conf = _OPENDKIM.format(socket="inet:8891@127.0.0.1") + "Syslog yes\n"
    found = read_mail(_host(tmp_path, {"etc/opendkim.conf": conf}), **NONE)
    assert found.targets["opendkim"].get("syslog", True) is True
    assert [(n.where, n.kind, n.what) for n in found.notes] == [
        ("/etc/opendkim.conf", "changed", "SyslogSuccess")
    ]
