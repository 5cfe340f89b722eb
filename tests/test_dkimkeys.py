"""Tests for mailauth.compiler.dkimkeys: key formats, safe storage, and the real consumers.

The real consumers are dkimpy (signs and verifies with our key files and DNS values),
opendkim-genkey (keys we must adopt) and opendkim itself (`opendkim -n` is the judge of
whether a key path is "secure"). Missing tools skip the test locally and fail it in CI.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from support.tools import require_binary, unavailable

from mailauth.compiler.dkimkeys import (
    PublicKeyInfo,
    check_key_path_safe,
    generate_private_key,
    parse_dkim_txt,
    public_key_from_private,
    write_private_key,
)

IS_ROOT = os.geteuid() == 0
KEY_KINDS = [("rsa", 1024), ("rsa", 2048), ("ed25519", 256)]

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: mailauth dkim round trip\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    b"Message-ID: <roundtrip@example.org>\r\n"
    b"\r\n"
    b"Hello Bob,\r\nthis body is signed.\r\n"
)


def _chain_is_safe(directory: Path) -> bool:
    """Independent of the code under test: no group/world-writable dir, owned by us or root."""
    for node in [*reversed(directory.parents), directory]:
        st_ = os.stat(node)
        if st_.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        if st_.st_uid not in (0, os.geteuid()):
            return False
    return os.access(directory, os.W_OK | os.X_OK)


@pytest.fixture
def safe_root() -> Iterator[Path]:
    """A 0755 directory whose whole ancestry OpenDKIM accepts (unlike /tmp, which is 1777)."""
    candidates = [os.environ.get("MAILAUTH_TEST_SAFE_DIR"), str(Path.home()), "/var/lib", "/srv"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and _chain_is_safe(Path(candidate).resolve()):
            root = Path(tempfile.mkdtemp(prefix="mailauth-test-", dir=candidate)).resolve()
            os.chmod(root, 0o755)
            try:
                yield root
            finally:
                shutil.rmtree(root)
            return
    unavailable("no directory with a safe ancestry; set MAILAUTH_TEST_SAFE_DIR")


def _dnsfunc(record: str, name: str = "sel._domainkey.example.org") -> Callable[..., bytes]:
    """A dkimpy dnsfunc that serves one TXT record and nothing else."""

    def lookup(qname: bytes, timeout: int = 5) -> bytes:
        if qname.decode("ascii").rstrip(".").lower() == name:
            return record.encode("ascii")
        return b""

    return lookup


def _sign(key_file: bytes, algorithm: str) -> bytes:
    sig_alg = b"rsa-sha256" if algorithm == "rsa" else b"ed25519-sha256"
    signature: bytes = dkim.sign(
        MESSAGE,
        b"sel",
        b"example.org",
        key_file,  # the file content as is: PEM for RSA, base64 seed line for Ed25519
        signature_algorithm=sig_alg,
        include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"],
    )
    return signature


def _secret_fragments(key_file: bytes) -> list[str]:
    """Base64 chunks of a key file that must never show up in messages."""
    lines = [ln.strip() for ln in key_file.decode("ascii").splitlines()]
    return [ln[:16] for ln in lines if ln and not ln.startswith("-----")]


def _weak_rsa_pem() -> bytes:
    """A 511-bit RSA key (cryptography refuses to generate one, so build it from primes)."""
    p, q, e = 2**255 - 19, 2**256 - 189, 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


# --- generation, formats, round trip through the key store ---------------------------------


@pytest.mark.parametrize(("algorithm", "bits"), KEY_KINDS)
def test_generate_write_reread_roundtrip(tmp_path: Path, algorithm: str, bits: int) -> None:
    data = generate_private_key(algorithm, bits)
    info = public_key_from_private(data, algorithm)
    assert info.algorithm == algorithm
    assert info.bits == bits

    key_path = tmp_path / "keys" / "example.org" / "sel.private"
    write_private_key(key_path, data)

    assert key_path.read_bytes() == data
    assert public_key_from_private(key_path.read_bytes(), algorithm) == info
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "example.org").stat().st_mode) == 0o700
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["sel.private"]  # no temp left


def test_rsa_file_is_pkcs1_pem() -> None:
    data = generate_private_key("rsa", 1024)
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert data.endswith(b"-----END RSA PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers().e == 65537


def test_ed25519_file_is_base64_seed_line() -> None:
    data = generate_private_key("ed25519", 256)
    assert re.fullmatch(rb"[A-Za-z0-9+/]{43}=\n", data)
    seed = base64.b64decode(data)
    assert len(seed) == 32
    info = public_key_from_private(data, "ed25519")
    expected = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert base64.b64decode(info.public_key_b64) == expected


@pytest.mark.parametrize(("algorithm", "bits"), KEY_KINDS)
def test_public_key_info_fields(algorithm: str, bits: int) -> None:
    info = public_key_from_private(generate_private_key(algorithm, bits), algorithm)
    raw = base64.b64decode(info.public_key_b64, validate=True)
    assert info.fingerprint == "sha256:" + hashlib.sha256(raw).hexdigest()
    if algorithm == "rsa":
        public = serialization.load_der_public_key(raw)  # DER SubjectPublicKeyInfo
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == bits
    else:
        assert len(raw) == 32
    assert info.dkim_txt() == f"v=DKIM1; k={algorithm}; p={info.public_key_b64}"
    assert parse_dkim_txt(info.dkim_txt()) == {
        "v": "DKIM1",
        "k": algorithm,
        "p": info.public_key_b64,
    }


def test_generate_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="at least 1024"):
        generate_private_key("rsa", 512)
    with pytest.raises(ValueError, match="256"):
        generate_private_key("ed25519", 512)
    with pytest.raises(ValueError, match="unknown DKIM key algorithm"):
        generate_private_key("dsa", 2048)
    with pytest.raises(ValueError, match="unknown DKIM key algorithm"):
        public_key_from_private(b"", "ecdsa")


# --- adopting existing keys ----------------------------------------------------------------


def test_adopt_pkcs8_forms_give_same_info() -> None:
    rsa_pkcs1 = generate_private_key("rsa", 1024)
    rsa_key = serialization.load_pem_private_key(rsa_pkcs1, password=None)
    rsa_pkcs8 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert rsa_pkcs8.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_from_private(rsa_pkcs8, "rsa") == public_key_from_private(rsa_pkcs1, "rsa")

    seed_file = generate_private_key("ed25519", 256)
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_file))
    ed_pem = ed_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    expected = public_key_from_private(seed_file, "ed25519")
    assert public_key_from_private(ed_pem, "ed25519") == expected
    # whitespace around the seed (editors add newlines) is tolerated
    assert public_key_from_private(b"  " + seed_file.strip() + b"\r\n\n", "ed25519") == expected


def test_adopt_key_from_opendkim_genkey(tmp_path: Path) -> None:
    genkey = require_binary("opendkim-genkey")
    subprocess.run(
        [genkey, "-b", "2048", "-d", "example.org", "-s", "sel", "-D", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    private = (tmp_path / "sel.private").read_bytes()
    info = public_key_from_private(private, "rsa")
    assert info.bits == 2048

    # sel.txt is a zone-file stub: the record is split into quoted character-strings
    zone_stub = (tmp_path / "sel.txt").read_text()
    record = "".join(re.findall(r'"([^"]*)"', zone_stub))
    tags = parse_dkim_txt(record)
    assert tags["k"] == "rsa"
    assert tags["p"] == info.public_key_b64

    # and dkimpy signs with the adopted file as is, verified against our DNS value
    signature = _sign(private, "rsa")
    assert dkim.verify(signature + MESSAGE, dnsfunc=_dnsfunc(info.dkim_txt()))


# --- real sign/verify with dkimpy ----------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "bits"), [("rsa", 2048), ("ed25519", 256)])
def test_dkimpy_sign_verify_roundtrip(tmp_path: Path, algorithm: str, bits: int) -> None:
    key_path = tmp_path / "sel.private"
    write_private_key(key_path, generate_private_key(algorithm, bits))
    key_file = key_path.read_bytes()
    info = public_key_from_private(key_file, algorithm)

    signature = _sign(key_file, algorithm)
    expected_a = b"a=rsa-sha256" if algorithm == "rsa" else b"a=ed25519-sha256"
    assert expected_a in signature
    dnsfunc = _dnsfunc(info.dkim_txt())
    assert dkim.verify(signature + MESSAGE, dnsfunc=dnsfunc) is True

    tampered = MESSAGE.replace(b"this body is signed", b"this body is changed")
    assert dkim.verify(signature + tampered, dnsfunc=dnsfunc) is False

    other = public_key_from_private(generate_private_key(algorithm, bits), algorithm)
    assert dkim.verify(signature + MESSAGE, dnsfunc=_dnsfunc(other.dkim_txt())) is False


# --- errors name the problem, never the key ------------------------------------------------


def _encrypted_rsa_pem() -> bytes:
    key = serialization.load_pem_private_key(generate_private_key("rsa", 1024), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


def _truncated_rsa_pem() -> bytes:
    lines = generate_private_key("rsa", 1024).splitlines(keepends=True)
    return b"".join(lines[:5] + lines[-1:])


@pytest.mark.parametrize(
    ("make", "algorithm", "expected"),
    [
        (lambda: generate_private_key("rsa", 1024), "ed25519", "holds an RSA key"),
        (lambda: generate_private_key("ed25519", 256), "rsa", "looks like a base64 Ed25519"),
        (_truncated_rsa_pem, "rsa", "no readable private key"),
        (_encrypted_rsa_pem, "rsa", "encrypted"),
        (_weak_rsa_pem, "rsa", "511 bits"),
        (lambda: base64.b64encode(os.urandom(64)) + b"\n", "ed25519", "decodes to 64 bytes"),
        (lambda: b"not a key at all!\n", "ed25519", "neither base64"),
        (lambda: b"\xff\xfe binary", "rsa", "not a PEM private key"),
    ],
)
def test_bad_key_files_raise_clear_errors(
    make: Callable[[], bytes], algorithm: str, expected: str
) -> None:
    data = make()
    with pytest.raises(ValueError, match=re.escape(expected)) as excinfo:
        public_key_from_private(data, algorithm)
    shown = str(excinfo.value) + repr(excinfo.value)
    if data.isascii():
        for fragment in _secret_fragments(data):
            assert fragment not in shown
    assert excinfo.value.__cause__ is None  # no chained library error quoting the input


def test_ed25519_pem_of_wrong_type_is_named() -> None:
    pkcs8_rsa = serialization.load_pem_private_key(
        generate_private_key("rsa", 1024), password=None
    ).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="expected an Ed25519 private key"):
        public_key_from_private(pkcs8_rsa, "ed25519")


def test_public_key_info_repr_has_no_private_material() -> None:
    data = generate_private_key("ed25519", 256)
    info = public_key_from_private(data, "ed25519")
    assert data.strip().decode() not in repr(info)
    assert isinstance(info, PublicKeyInfo)


# --- write_private_key ---------------------------------------------------------------------


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    key_path = tmp_path / "k" / "sel.private"
    first = generate_private_key("ed25519", 256)
    write_private_key(key_path, first)
    with pytest.raises(FileExistsError):
        write_private_key(key_path, generate_private_key("ed25519", 256))
    assert key_path.read_bytes() == first
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["sel.private"]


def test_write_refuses_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "sel.private"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        write_private_key(link, generate_private_key("ed25519", 256))
    assert not (tmp_path / "elsewhere").exists()


def test_write_never_loosens_existing_dirs(tmp_path: Path) -> None:
    existing = tmp_path / "store"
    existing.mkdir()
    os.chmod(existing, 0o751)
    key_path = existing / "a" / "b" / "sel.private"
    write_private_key(key_path, generate_private_key("ed25519", 256), dir_mode=0o750)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o751
    assert stat.S_IMODE((existing / "a").stat().st_mode) == 0o750
    assert stat.S_IMODE((existing / "a" / "b").stat().st_mode) == 0o750


def test_write_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        write_private_key(tmp_path / "d" / "sel.private", generate_private_key("ed25519", 256))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / "sel.private").stat().st_mode) == 0o600


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_write_chowns_key_and_created_dirs(tmp_path: Path) -> None:
    key_path = tmp_path / "new" / "sel.private"
    write_private_key(key_path, generate_private_key("ed25519", 256), uid=4321, gid=4322)
    for node in (key_path, key_path.parent):
        assert (node.stat().st_uid, node.stat().st_gid) == (4321, 4322)
    assert tmp_path.stat().st_uid == 0  # pre-existing: untouched


# --- check_key_path_safe -------------------------------------------------------------------


def _key_layout(root: Path, dir_mode: int, key_mode: int) -> Path:
    keys = root / "keys"
    keys.mkdir()
    key = keys / "sel.private"
    write_private_key(key, generate_private_key("rsa", 1024))
    os.chmod(keys, dir_mode)
    os.chmod(key, key_mode)
    return key


def test_safe_layout_passes(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o700, 0o600)
    assert check_key_path_safe(key) == []


def test_world_writable_dir_is_flagged(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o777, 0o600)
    problems = check_key_path_safe(key)
    assert problems == [f"{key.parent} is writable by other users"]


def test_world_readable_key_is_flagged(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o700, 0o644)
    assert check_key_path_safe(key) == [f"{key} can be read or written by other users"]


def test_sticky_bit_does_not_make_a_dir_safe(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o1777, 0o600)
    problems = check_key_path_safe(key)
    assert len(problems) == 1
    assert "writable by other users" in problems[0]
    assert "sticky bit" in problems[0]


def test_key_under_tmp_is_flagged() -> None:
    tmp_root = Path(tempfile.gettempdir()).resolve()
    if not stat.S_IMODE(tmp_root.stat().st_mode) & stat.S_IWOTH:
        pytest.skip(f"{tmp_root} is not world-writable here")
    with tempfile.TemporaryDirectory() as scratch:
        key = Path(scratch).resolve() / "sel.private"
        write_private_key(key, generate_private_key("ed25519", 256))
        assert any(p.startswith(f"{tmp_root} ") for p in check_key_path_safe(key))


def test_missing_and_non_regular_paths(safe_root: Path) -> None:
    assert check_key_path_safe(safe_root / "nope" / "sel.private") == [
        f"{safe_root / 'nope'} does not exist"
    ]
    assert check_key_path_safe(safe_root) == [f"{safe_root} is not a regular file"]


def test_symlink_is_judged_by_its_target(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o777, 0o600)
    link = safe_root / "link.private"
    link.symlink_to(key)
    assert check_key_path_safe(link) == [f"{key.parent} is writable by other users"]


@pytest.mark.skipif(not IS_ROOT, reason="needs root to hand files to another uid")
def test_checks_are_from_the_signers_point_of_view(safe_root: Path) -> None:
    key = _key_layout(safe_root, 0o700, 0o600)
    os.chown(key.parent, 4321, -1)
    os.chown(key, 4321, -1)
    as_root = check_key_path_safe(key, uid=0)
    assert f"{key} is owned by uid 4321, not by uid 0 or root" in as_root
    assert any("writable by its owner uid 4321" in p for p in as_root)
    assert check_key_path_safe(key, uid=4321) == []


# OpenDKIM itself is the reference: `opendkim -n` loads KeyFile and applies its safe-key rule.
OPENDKIM_CASES = [
    # dir mode, key mode, dir owner (None: us), expected verdict (None: depends on /etc/group)
    pytest.param(0o700, 0o600, None, True, id="dir700-key600"),
    pytest.param(0o755, 0o600, None, True, id="dir755-key600"),
    pytest.param(0o777, 0o600, None, False, id="dir777"),
    pytest.param(0o1777, 0o600, None, False, id="dir1777-sticky"),
    pytest.param(0o700, 0o644, None, False, id="key644"),
    pytest.param(0o700, 0o604, None, False, id="key604"),
    pytest.param(0o700, 0o640, None, None, id="key640-group"),
    pytest.param(0o770, 0o600, None, None, id="dir770-group"),
    pytest.param(0o755, 0o600, 4321, False, id="dir-owned-by-other-uid"),
]


@pytest.mark.parametrize(("dir_mode", "key_mode", "dir_owner", "expected_safe"), OPENDKIM_CASES)
def test_verdict_matches_opendkim(
    safe_root: Path,
    dir_mode: int,
    key_mode: int,
    dir_owner: int | None,
    expected_safe: bool | None,
) -> None:
    opendkim = require_binary("opendkim")
    if dir_owner is not None and not IS_ROOT:
        pytest.skip("needs root to hand a directory to another uid")
    key = _key_layout(safe_root, dir_mode, key_mode)
    if dir_owner is not None:
        os.chown(key.parent, dir_owner, -1)
    conf = safe_root / "opendkim.conf"
    conf.write_text(
        "Syslog no\n"
        "Domain example.org\n"
        "Selector sel\n"
        f"KeyFile {key}\n"
        "Socket inet:18891@127.0.0.1\n"
        "RequireSafeKeys yes\n"
    )
    result = subprocess.run(
        [opendkim, "-n", "-x", str(conf)], capture_output=True, text=True, check=False
    )
    problems = check_key_path_safe(key)
    opendkim_safe = result.returncode == 0
    assert opendkim_safe == (problems == []), (result.stderr, problems)
    if expected_safe is not None:
        assert opendkim_safe is expected_safe, result.stderr
    if not opendkim_safe:
        assert "other users" in result.stderr or "not the executing uid" in result.stderr


def test_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_binary("opendkim-genkey")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_binary("opendkim-genkey")


# --- parse_dkim_txt ------------------------------------------------------------------------


def test_parse_dkim_txt_tolerates_whitespace() -> None:
    value = "  v = DKIM1 ;k=rsa;\th=sha256 ;\r\n p = MIIB IjAN\r\n BgkqhkiG9w0BAQ== ;  "
    assert parse_dkim_txt(value) == {
        "v": "DKIM1",
        "k": "rsa",
        "h": "sha256",
        "p": "MIIBIjANBgkqhkiG9w0BAQ==",
    }
    assert parse_dkim_txt("v=DKIM1; p=") == {"v": "DKIM1", "p": ""}  # revoked key
    assert parse_dkim_txt("") == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v=DKIM1; k=rsa; k=ed25519", "more than once"),
        ("v=DKIM1; rsa", "no '='"),
        ("v=DKIM1; =x", "invalid tag name"),
        ("v=DKIM1; 1k=rsa", "invalid tag name"),
    ],
)
def test_parse_dkim_txt_rejects_malformed(value: str, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_dkim_txt(value)


_tag_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True)
_tag_values = st.from_regex(r"[!-:<-~]([!-:<-~ ]{0,20}[!-:<-~])?", fullmatch=True)
_spaces = st.sampled_from(["", " ", "  ", "\t", "\r\n "])


@given(st.dictionaries(_tag_names, _tag_values, max_size=6), _spaces, _spaces)
def test_parse_dkim_txt_roundtrip(tags: dict[str, str], pad: str, pad2: str) -> None:
    record = ";".join(f"{pad}{name}{pad2}={pad}{value}{pad2}" for name, value in tags.items())
    expected = {
        name: re.sub(r"\s+", "", value) if name == "p" else value for name, value in tags.items()
    }
    assert parse_dkim_txt(record) == expected
