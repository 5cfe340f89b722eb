"""The OpenDKIM and Postfix targets, checked by the programs that read their output.

Every test writes a mailauth.yaml whose host paths all lie in the test's own directory
(under a root-owned 0755 base, so OpenDKIM's safe-key rules hold) and runs the real
``mailauth`` command line with ``--root /``: the files name each other by their real
paths, and ``opendkim -n`` and ``postconf -c DIR`` read them as they would on a host.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e.mailstack import mailauth_config, write_config
from support import require_binary, run_mailauth, safe_directory, seed_postfix

from mailauth.backends.postfix_maincf import get_parameters
from mailauth.compiler.dkimkeys import check_key_path_safe, public_key_from_private

DOMAINS = ("slackbox.fr", "unixbox.fr")
SELECTOR = "s1"
RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, "
    "reject_rhsbl_helo dbl.spamhaus.org, reject_rhsbl_reverse_client dbl.spamhaus.org, "
    "reject_rhsbl_sender dbl.spamhaus.org, reject_rbl_client zen.spamhaus.org, "
    "reject_unauth_destination"
)
MILTER_PORT = 18891

# An admin's main.cf: comments, an old milter defined twice, a milter parameter defined
# twice with different values (postconf warns "overriding earlier entry"), and parameters
# that mailauth must leave alone.
OLD_MAIN_CF = """\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no

# an old milter, from an earlier attempt
smtpd_milters = inet:127.0.0.1:9999
non_smtpd_milters = $smtpd_milters
milter_default_action = tempfail

# TLS parameters
smtpd_tls_security_level = may
# pasted again further down, years later
smtpd_milters = inet:127.0.0.1:9999
milter_default_action = reject
myhostname = mail.slackbox.fr
"""


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def host() -> Iterator[Path]:
    """A fresh OpenDKIM-safe directory standing for the mail host's file system."""
    with safe_directory("odpf-") as path:
        seed_postfix(path)
        yield path


def _config(base: Path, **changes: Any) -> dict[str, Any]:
    """The shared test config, with the article's restrictions and a fixed milter port."""
    config = mailauth_config(base, milter_port=MILTER_PORT, domains=DOMAINS, selector=SELECTOR)
    config["targets"]["postfix"]["parameters"] = {"smtpd_recipient_restrictions": RESTRICTIONS}
    for dotted, value in changes.items():
        node = config
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return config


def _apply(config_path: Path) -> subprocess.CompletedProcess[str]:
    return run_mailauth("apply", "-c", config_path, "--root", "/", "--yes")


def _plan(
    config_path: Path, *extra: str, expect: int | None = None
) -> subprocess.CompletedProcess[str]:
    return run_mailauth("plan", "-c", config_path, "--root", "/", *extra, expect=expect)


def _key(base: Path, domain: str = "slackbox.fr", selector: str = SELECTOR) -> Path:
    return base / "keys" / domain / f"{selector}.private"


def _postconf(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("postconf"), "-c", str(config_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _postconf_n(config_dir: Path) -> dict[str, str]:
    """``postconf -c DIR -n`` as a dict; asserts it ran clean (no warning at all)."""
    result = _postconf(config_dir, "-n")
    assert result.returncode == 0, result.stderr
    assert "overriding earlier entry" not in result.stderr
    assert result.stderr == "", result.stderr
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" = ")
        values[name] = value
    return values


def _expected_postfix() -> dict[str, str]:
    """What main.cf must say after apply on OLD_MAIN_CF: the host's old milter keeps its
    place and ours follows, the host's milter settings stay (the last definition, the one
    Postfix used), and ``non_smtpd_milters = $smtpd_milters`` holds ours already."""
    return {
        "smtpd_milters": f"inet:127.0.0.1:9999, inet:127.0.0.1:{MILTER_PORT}",
        "non_smtpd_milters": "$smtpd_milters",
        "milter_default_action": "reject",
        "smtpd_recipient_restrictions": RESTRICTIONS,
    }


def _squash(value: str) -> str:
    """Whitespace runs as one space: how Postfix reads a folded value back."""
    return " ".join(value.split())


def _write_main_cf(base: Path, text: str = OLD_MAIN_CF) -> Path:
    main_cf = base / "etc" / "postfix" / "main.cf"
    main_cf.parent.mkdir(parents=True, exist_ok=True)
    main_cf.write_text(text)
    (main_cf.parent / "master.cf").touch()  # postconf warns when there is none
    return main_cf


def _encodings(secret: bytes) -> list[str]:
    """How ``secret`` would show up in text: hex, and base64 at each of the 3 alignments.

    Whatever encloses it (a PEM body, a DER blob in base64), one of the three base64 runs
    appears inside, less at most a few characters at its ends.
    """
    out = [secret.hex(), secret.hex().upper()]
    for shift in range(3):
        encoded = base64.b64encode(secret[shift:]).decode()
        out.append(encoded[4:-4])
    return out


def _secret_fragments(key_file: Path) -> list[str]:
    """Text that reveals a private key file's secret part, however it is encoded.

    Only the secret numbers count: an RSA private key file also holds the modulus, which
    the public key in DNS and the lock file holds too.
    """
    data = key_file.read_bytes()
    if b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        numbers = key.private_numbers()
        secrets = [numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp]
        body = "".join(line for line in data.decode().splitlines() if not line.startswith("---"))
        fragments = [body]
        for value in secrets:
            fragments += _encodings(value.to_bytes((value.bit_length() + 7) // 8, "big"))
        return fragments
    seed = base64.b64decode(data)  # Ed25519: the base64 of the raw 32-byte seed
    return [data.decode().strip(), *_encodings(seed)]


# -- OpenDKIM ------------------------------------------------------------------------------


def test_opendkim_conf_passes_opendkim_n_and_keys_are_safe(host: Path) -> None:
    opendkim = require_binary("opendkim")
    config = write_config(host, _config(host))
    _apply(config)

    conf = host / "opendkim" / "opendkim.conf"
    checked = subprocess.run(
        [opendkim, "-n", "-x", str(conf)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, f"opendkim -n:\n{checked.stdout}{checked.stderr}"
    assert checked.stdout == checked.stderr == ""

    settings = dict(
        line.split(None, 1) for line in conf.read_text().splitlines() if line and line[0] != "#"
    )
    assert settings["Socket"] == f"inet:{MILTER_PORT}@127.0.0.1"
    assert settings["KeyTable"] == str(host / "opendkim" / "KeyTable")
    assert settings["SigningTable"] == "refile:" + str(host / "opendkim" / "SigningTable")
    assert settings["InternalHosts"] == settings["ExternalIgnoreList"]
    assert settings["UserID"] == "opendkim"
    assert settings["OversignHeaders"] == "From"
    assert settings["RequireSafeKeys"] == "yes"

    # Each KeyTable line points at an existing key for its domain and selector, and the
    # SigningTable sends each domain's mail to that key.
    table = [
        line.split()
        for line in (host / "opendkim" / "KeyTable").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    signing = [
        line.split()
        for line in (host / "opendkim" / "SigningTable").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert sorted(signing) == sorted(
        [f"*@{domain}", f"{SELECTOR}._domainkey.{domain}"] for domain in DOMAINS
    )
    assert sorted(name for name, _ in table) == sorted(
        f"{SELECTOR}._domainkey.{d}" for d in DOMAINS
    )
    opendkim_uid = pwd.getpwnam("opendkim").pw_uid
    for name, spec in table:
        domain, selector, path = spec.split(":", 2)
        assert name == f"{selector}._domainkey.{domain}"
        assert Path(path) == _key(host, domain, selector)
        # What OpenDKIM checks before it signs, as the user it runs as.
        assert check_key_path_safe(Path(path), uid=opendkim_uid) == []


def test_key_files_0600_and_key_dirs_0750_with_group(host: Path) -> None:
    config = write_config(host, _config(host))
    _apply(config)
    opendkim = pwd.getpwnam("opendkim")
    for domain in DOMAINS:
        key = _key(host, domain)
        info = key.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert (info.st_uid, info.st_gid) == (opendkim.pw_uid, opendkim.pw_gid)
        for directory in (key.parent, key.parent.parent):
            dir_info = directory.stat()
            assert stat.S_IMODE(dir_info.st_mode) == 0o750, directory
            assert dir_info.st_uid == opendkim.pw_uid


def test_key_dirs_0700_without_group(host: Path) -> None:
    config = write_config(host, _config(host, **{"keys.owner": None, "keys.group": None}))
    _apply(config)
    for domain in DOMAINS:
        key = _key(host, domain)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(key.parent.parent.stat().st_mode) == 0o700


def test_ed25519_selector_with_opendkim_is_an_error_naming_dkimpy_milter(host: Path) -> None:
    config = _config(host)
    config["defaults"]["dkim"]["selectors"].append({"name": "ed", "algorithm": "ed25519"})
    path = write_config(host, config)
    for command in ("validate", "plan"):
        args = ["-c", path] if command == "validate" else ["-c", path, "--root", "/"]
        result = run_mailauth(command, *args, expect=1)
        assert "dkimpy-milter" in result.stderr, result.stderr
        assert "ed25519" in result.stderr.lower()
        assert "selectors[1]" in result.stderr
    assert not (host / "keys").exists()
    assert not (host / "mailauth.lock").exists()


# -- Postfix: main.cf edited in place --------------------------------------------------------


def test_main_cf_edited_in_place_postconf_agrees(host: Path) -> None:
    main_cf = _write_main_cf(host)
    before = _postconf(main_cf.parent, "-n")
    assert "overriding earlier entry: milter_default_action" in before.stderr  # the trap is set
    config = write_config(host, _config(host))
    _apply(config)

    text = main_cf.read_text()
    for line in OLD_MAIN_CF.splitlines():
        if line.startswith("#") or line.startswith(("smtpd_banner", "biff", "smtpd_tls", "myh")):
            assert line in text.splitlines(), f"lost line {line!r}"
    defined = [line.split("=")[0].strip() for line in text.splitlines() if re.match(r"\w", line)]
    assert len(defined) == len(set(defined)), f"a parameter is defined twice:\n{text}"

    values = _postconf_n(main_cf.parent)
    for name, value in _expected_postfix().items():
        assert _squash(values[name]) == value, name
    assert values["myhostname"] == "mail.slackbox.fr"
    assert values["smtpd_tls_security_level"] == "may"

    # Edited once: a second plan finds nothing to do.
    _plan(config, expect=0)


def test_snippet_mode_script_gives_what_edit_mode_gives(host: Path) -> None:
    edit_dir = host / "edit"
    edit_dir.mkdir()
    main_cf = _write_main_cf(edit_dir)
    _apply(write_config(edit_dir, _config(edit_dir)))
    edited = _postconf(main_cf.parent, "-n")

    snip_dir = host / "snippet"
    snip_dir.mkdir()
    snippet_cf = _write_main_cf(snip_dir)
    etc = snippet_cf.parent
    config = _config(
        snip_dir,
        **{
            "targets.postfix.mode": "snippet",
            "targets.postfix.snippet_file": str(etc / "mailauth-main.cf"),
            "targets.postfix.script_file": str(etc / "mailauth-postconf.sh"),
        },
    )
    _apply(write_config(snip_dir, config))
    assert snippet_cf.read_text() == OLD_MAIN_CF, "snippet mode must not touch main.cf"
    snippet_text = (etc / "mailauth-main.cf").read_text()
    assert f"#   inet:127.0.0.1:{MILTER_PORT}\n" in snippet_text  # entries to add, not a list
    snippet = get_parameters(snippet_text)
    assert {k: _squash(v) for k, v in snippet.items()} == {
        "smtpd_recipient_restrictions": RESTRICTIONS
    }
    script = etc / "mailauth-postconf.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755

    # The script runs `postconf` from PATH against the default config directory; a shim
    # pins it to the copy, so the host's /etc/postfix is never touched.
    shim = host / "bin"
    shim.mkdir()
    (shim / "postconf").write_text(f'#!/bin/sh\nexec {require_binary("postconf")} -c {etc} "$@"\n')
    (shim / "postconf").chmod(0o755)
    system_main_cf = Path("/etc/postfix/main.cf")
    before = system_main_cf.read_bytes() if system_main_cf.exists() else None
    env = {**os.environ, "PATH": f"{shim}:{os.environ.get('PATH', '')}", "MAIL_CONFIG": str(etc)}
    ran = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, env=env, check=False, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    after = system_main_cf.read_bytes() if system_main_cf.exists() else None
    assert before == after, "the snippet script edited the system's main.cf"

    scripted = _postconf(etc, "-n")
    assert scripted.returncode == edited.returncode == 0

    def effective(output: str) -> dict[str, str]:
        values = dict(line.split(" = ", 1) for line in output.splitlines())
        del values["config_directory"]  # the one line that differs by construction
        return values

    values = effective(scripted.stdout)
    assert values == effective(edited.stdout)
    assert {k: _squash(values[k]) for k in _expected_postfix()} == _expected_postfix()


def test_unix_socket_under_chroot_is_relative_to_the_queue_directory(host: Path) -> None:
    main_cf = _write_main_cf(host, "myhostname = mail.slackbox.fr\n")
    config = _config(
        host,
        **{
            "targets.opendkim.socket": "local:/var/spool/postfix/opendkim/opendkim.sock",
            "targets.postfix.chroot": True,
            "targets.postfix.queue_directory": "/var/spool/postfix",
        },
    )
    _apply(write_config(host, config))
    conf = (host / "opendkim" / "opendkim.conf").read_text()
    assert re.search(r"^Socket\s+local:/var/spool/postfix/opendkim/opendkim.sock$", conf, re.M)
    values = _postconf_n(main_cf.parent)
    assert values["smtpd_milters"] == "unix:/opendkim/opendkim.sock"
    assert values["non_smtpd_milters"] == "unix:/opendkim/opendkim.sock"


def test_unix_socket_outside_the_chroot_is_a_clear_error(host: Path) -> None:
    main_cf = _write_main_cf(host, "myhostname = mail.slackbox.fr\n")
    config = _config(
        host,
        **{
            "targets.opendkim.socket": "local:/run/opendkim/opendkim.sock",
            "targets.postfix.chroot": True,
            "targets.postfix.queue_directory": "/var/spool/postfix",
        },
    )
    path = write_config(host, config)
    for command in ("plan", "apply"):
        args = ["--yes"] if command == "apply" else []
        result = run_mailauth(command, "-c", path, "--root", "/", *args, expect=1)
        assert "/run/opendkim/opendkim.sock" in result.stderr
        assert "chroot" in result.stderr
        assert "/var/spool/postfix/" in result.stderr  # where to put it instead
    assert main_cf.read_text() == "myhostname = mail.slackbox.fr\n"
    assert not (host / "keys").exists()


def test_unix_socket_without_chroot_is_used_as_is(host: Path) -> None:
    main_cf = _write_main_cf(host, "myhostname = mail.slackbox.fr\n")
    config = _config(
        host,
        **{
            "targets.opendkim.socket": "local:/run/opendkim/opendkim.sock",
            "targets.postfix.chroot": False,
        },
    )
    _apply(write_config(host, config))
    assert _postconf_n(main_cf.parent)["smtpd_milters"] == "unix:/run/opendkim/opendkim.sock"


# -- Keys and the lock file -------------------------------------------------------------------


def test_no_output_ever_contains_private_key_material(host: Path) -> None:
    _write_main_cf(host)
    config = _config(host)
    # An Ed25519 key that is only published (OpenDKIM cannot sign with it): its seed is
    # secret too.
    config["defaults"]["dkim"]["selectors"].append(
        {"name": "ed", "algorithm": "ed25519", "sign": False}
    )
    path = write_config(host, config)
    outputs = [
        _plan(path, expect=2),
        _plan(path, "--format", "json", expect=2),
        _plan(path, "--format", "markdown", expect=2),
        _apply(path),
    ]
    keys = [_key(host, d, s) for d in DOMAINS for s in (SELECTOR, "ed")]
    assert all(key.exists() for key in keys)
    # With the keys on disk, make every file pending again, so the plan shows diffs.
    for generated in (host / "opendkim").iterdir():
        generated.write_text("changed by the test\n")
    (host / "etc" / "postfix" / "main.cf").write_text(OLD_MAIN_CF)
    outputs += [
        _plan(path, expect=2),
        _plan(path, "--format", "json", expect=2),
        _plan(path, "--format", "markdown", expect=2),
        _plan(path, "--target", "bind", expect=None),
        run_mailauth("keys", "generate", "-c", path, "--root", "/", "--yes"),
        _apply(path),
        _plan(path, expect=0),
    ]
    json.loads(outputs[5].stdout)  # the JSON plan is JSON
    fragments = [piece for key in keys for piece in _secret_fragments(key)]
    assert all(len(piece) >= 24 for piece in fragments)  # long enough never to occur by chance
    for result in outputs:
        for stream in (result.stdout, result.stderr):
            assert "PRIVATE KEY" not in stream
            squashed = re.sub(r"\s+", "", stream)
            for piece in fragments:
                assert piece not in stream and piece not in squashed, "key material in output"
    lock = (host / "mailauth.lock").read_text()
    assert "PRIVATE" not in lock
    assert not any(piece in lock for piece in fragments)


def test_existing_key_is_never_overwritten(host: Path) -> None:
    path = write_config(host, _config(host))
    _apply(path)
    before = {d: (_key(host, d).read_bytes(), _key(host, d).stat().st_ino) for d in DOMAINS}
    # Change something else, apply again: the keys stay exactly as they were.
    config = _config(host)
    config["targets"]["opendkim"]["trusted_hosts"] = ["127.0.0.1", "192.0.2.0/24"]
    write_config(host, config)
    _apply(path)
    run_mailauth("keys", "generate", "-c", path, "--root", "/", "--yes")
    after = {d: (_key(host, d).read_bytes(), _key(host, d).stat().st_ino) for d in DOMAINS}
    assert after == before


def test_key_present_before_first_apply_is_adopted_not_replaced(host: Path) -> None:
    key = _key(host)
    key.parent.mkdir(parents=True, mode=0o700)
    key.parent.parent.chmod(0o700)
    pem = _rsa_pem()
    key.write_bytes(pem)
    key.chmod(0o600)
    path = write_config(host, _config(host))
    planned = _plan(path, expect=2)
    assert f"{key}" in planned.stdout and "adopted" in planned.stdout
    _apply(path)
    assert key.read_bytes() == pem
    entry = _lock_entry(host, "slackbox.fr", SELECTOR)
    assert entry["public_key"] == public_key_from_private(pem, "rsa").public_key_b64


def test_deleted_lock_is_reported_by_plan(host: Path) -> None:
    path = write_config(host, _config(host))
    _apply(path)
    lock = host / "mailauth.lock"
    saved = lock.read_bytes()
    lock.unlink()

    # On the mail host (keys present): a warning that says what to do, and the lock is
    # what apply would write back.
    for extra in ((), ("--target", "bind")):
        result = _plan(path, *extra, expect=2)
        assert "mailauth.lock is missing" in result.stdout + result.stderr
        assert "restore it from version control" in result.stdout + result.stderr
        assert f"create {lock}" in result.stdout

    # On a runner without the private keys, `--target bind` alone cannot make the DKIM
    # records: an error, nothing written.
    with safe_directory("ci-") as empty_root:
        result = run_mailauth(
            "plan", "-c", path, "--root", empty_root, "--target", "bind", expect=1
        )
        assert "mailauth.lock is missing" in result.stderr
        assert "git checkout mailauth.lock" in result.stderr
        assert "mailauth apply" in result.stderr

    lock.write_bytes(saved)
    _plan(path, expect=0)


def test_swapped_key_is_an_error_that_says_what_to_do(host: Path) -> None:
    path = write_config(host, _config(host))
    _apply(path)
    key = _key(host)
    original = key.read_bytes()
    key.write_bytes(_rsa_pem())
    for command in ("plan", "apply"):
        args = ["--yes"] if command == "apply" else []
        result = run_mailauth(command, "-c", path, "--root", "/", *args, expect=1)
        assert "does not match mailauth.lock" in result.stderr
        assert str(key) in result.stderr
        assert "restore the right key" in result.stderr
        assert "delete this entry from mailauth.lock" in result.stderr
    key.write_bytes(original)
    _plan(path, expect=0)


def test_key_removed_while_lock_has_it_is_an_error(host: Path) -> None:
    path = write_config(host, _config(host))
    _apply(path)
    _key(host).unlink()
    result = _plan(path, expect=1)
    assert "is missing" in result.stderr and "restore it from a backup" in result.stderr
    assert not _key(host).exists(), "plan must not mint a replacement key"


def test_opendkim_genkey_key_adopted_by_key_file(host: Path) -> None:
    genkey = require_binary("opendkim-genkey")
    store = host / "legacy"
    store.mkdir(mode=0o700)
    made = subprocess.run(
        [genkey, "-b", "2048", "-D", str(store), "-d", "slackbox.fr", "-s", "legacy"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = store / "legacy.private"
    original = key.read_bytes()
    published = re.sub(r'[\s"()]', "", (store / "legacy.txt").read_text().split("TXT", 1)[1])
    public = published.split("p=", 1)[1].split(";", 1)[0]

    config = _config(host)
    config["domains"][0]["dkim"] = {"selectors": [{"name": "legacy", "key_file": str(key)}]}
    path = write_config(host, config)
    _apply(path)

    assert key.read_bytes() == original
    assert not _key(host, "slackbox.fr", "legacy").exists()
    assert _lock_entry(host, "slackbox.fr", "legacy")["public_key"] == public
    key_table = (host / "opendkim" / "KeyTable").read_text()
    assert f"legacy._domainkey.slackbox.fr slackbox.fr:legacy:{key}" in key_table
    zone = (host / "named" / "zone.slackbox.fr").read_text()
    assert public[:60] in re.sub(r'"\s+"', "", zone)
    # unixbox.fr still gets a key of its own from the defaults.
    assert _key(host, "unixbox.fr").exists()
    _plan(path, expect=0)


def test_key_file_that_does_not_exist_is_an_error(host: Path) -> None:
    config = _config(host)
    missing = host / "nowhere" / "legacy.private"
    config["domains"][0]["dkim"] = {"selectors": [{"name": "legacy", "key_file": str(missing)}]}
    result = _plan(write_config(host, config), expect=1)
    assert str(missing) in result.stderr and "key_file" in result.stderr


# -- small helpers ------------------------------------------------------------------------


def _rsa_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _lock_entry(base: Path, domain: str, selector: str) -> dict[str, Any]:
    lock = json.loads((base / "mailauth.lock").read_text())
    for entry in lock["keys"]:
        if (entry["domain"], entry["selector"]) == (domain, selector):
            return dict(entry)
    raise AssertionError(f"no lock entry for {selector}._domainkey.{domain}")
