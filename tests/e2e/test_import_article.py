"""The article's hand-made setup (shared/seed), imported with ``mailauth import --check``.

Built by hand under a test root (tests/support/article.py: zone files, OpenDKIM's config
and tables, opendkim-genkey style keys, Debian's main.cf with the article's stanza), read
by the real readers, then: the first plan changes no DNS record, the keys are adopted
unchanged (same bytes, the lock's public keys are the ones DNS publishes), and after
``apply`` a real named serves the same records (SOA serial aside), and mail signed with
the adopted key verifies through it (dkimpy, as a receiver does); ``opendkim -n`` accepts
the config and tables it now has, and mail sent through a real Postfix and OpenDKIM running
that config (its paths placed under the test root) leaves signed and verifies.
"""

from __future__ import annotations

import contextlib
import email
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest
from support import (
    NamedServer,
    free_port,
    require_binary,
    require_module,
    run_mailauth,
    safe_directory,
)
from support.article import DOMAINS, SELECTOR, build_article

from e2e.mailstack import (
    OpenDkimServer,
    PostfixServer,
    dkim_dnsfunc,
    send,
    wait_for_maildir,
    write_postfix_instance,
)
from mailauth.compiler.lockfile import read_lock

pytestmark = pytest.mark.e2e


def _records(named: NamedServer, zone: str) -> dict[tuple[str, str], tuple[int, list[str]]]:
    """The zone as named serves it (AXFR), SOA serial left out; a TXT value as its text
    whole (receivers join its strings: where a long one is split does not matter)."""
    served = named.transfer(zone)
    found = {}
    for name, node in served.nodes.items():
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype == "TXT":
                values = sorted(b"".join(r.strings).decode() for r in rdataset)
            else:
                values = sorted(r.to_text() for r in rdataset)
            if rtype == "SOA":
                values = [re.sub(r"^(\S+ \S+) \d+", r"\1 SERIAL", v) for v in values]
            found[(name.to_text(), rtype)] = (rdataset.ttl, values)
    return found


def _serve(root: Path, workdir: Path) -> NamedServer:
    zones = [(d, root / "var" / "named" / f"zone.{d}") for d in DOMAINS]
    return NamedServer(zones, workdir=workdir)


def _test_opendkim_conf(root: Path, port: int, workdir: Path) -> Path:
    """The applied opendkim.conf as it would read on the host: its paths placed under the
    test root, its socket on the test's port, its pid file in the test's directory."""
    text = (root / "etc" / "opendkim.conf").read_text()
    workdir.mkdir(parents=True, exist_ok=True)
    # The KeyTable names the keys by their host paths too.
    table = (root / "etc" / "opendkim" / "KeyTable").read_text()
    (workdir / "KeyTable").write_text(table.replace(":/etc/opendkim/", f":{root}/etc/opendkim/"))
    text = re.sub(r"(?m)^KeyTable\s.*$", f"KeyTable {workdir}/KeyTable", text)
    text = text.replace("/etc/opendkim/", f"{root}/etc/opendkim/")
    text = re.sub(r"(?m)^Socket\s.*$", f"Socket inet:{port}@127.0.0.1", text)
    text = re.sub(r"(?m)^PidFile\s.*$", f"PidFile {workdir}/opendkim.pid", text)
    conf = workdir / "opendkim.conf"
    conf.write_text(text)
    return conf


def _signed_through_postfix(root: Path, base: Path, named: NamedServer) -> None:
    """Mail from each domain, through a real Postfix and OpenDKIM running the applied
    config, arrives signed with the adopted key and verifies through named."""
    for program in ("opendkim", "postfix", "postconf"):
        require_binary(program)
    smtp_port, milter_port = free_port(), free_port()
    while milter_port == smtp_port:
        milter_port = free_port()
    instance = write_postfix_instance(base / "postfix", smtp_port)
    with instance.main_cf.open("a") as main_cf:  # the article's milter stanza, test port
        main_cf.write(
            "milter_default_action = accept\nmilter_protocol = 6\n"
            f"smtpd_milters = inet:127.0.0.1:{milter_port}\nnon_smtpd_milters = $smtpd_milters\n"
        )
    conf = _test_opendkim_conf(root, milter_port, base / "od-run")
    with contextlib.ExitStack() as servers:
        servers.enter_context(OpenDkimServer(conf, milter_port, workdir=base / "od-run"))
        servers.enter_context(PostfixServer(instance))
        for domain in DOMAINS:
            sender = f"someone@{domain}"
            body = f"From: {sender}\r\nTo: {instance.mailbox}\r\nSubject: imported {domain}\r\n"
            send(smtp_port, sender, instance.mailbox, (body + "\r\nStill signed.\r\n").encode())
        delivered = wait_for_maildir(instance.maildir, len(DOMAINS))
    dkim = require_module("dkim")
    util = require_module("dkim.util")
    dnsfunc = dkim_dnsfunc(named.resolver())
    signed = set()
    for raw in delivered:
        parsed = email.message_from_bytes(raw)
        tags = util.parse_tag_value("".join(str(parsed["DKIM-Signature"]).split()).encode())
        assert tags[b"s"] == SELECTOR.encode()
        assert dkim.verify(raw, dnsfunc=dnsfunc), raw.decode(errors="replace")
        signed.add(tags[b"d"].decode())
    assert signed == set(DOMAINS)


def test_article_import_changes_no_dns_and_still_signs() -> None:
    require_binary("named")
    dkim = require_module("dkim")
    with safe_directory("e2e-import-") as base:
        _article_import(base, dkim)


def _article_import(tmp_path: Path, dkim: Any) -> None:
    root = tmp_path / "root"
    root.mkdir()
    article = build_article(root, key_owner="opendkim")
    keys_before = {d: (root / article.key_file(d).lstrip("/")).read_bytes() for d in DOMAINS}
    with _serve(root, tmp_path / "named-before") as named:
        before = {d: _records(named, d) for d in DOMAINS}

    config = tmp_path / "mailauth.yaml"
    result = run_mailauth(
        "import",
        "--root", root,
        "--zone", "/var/named/zone.slackbox.fr",
        "--zone", "/var/named/zone.unixbox.fr",
        "--opendkim-conf", "/etc/opendkim.conf",
        "--main-cf", "/etc/postfix/main.cf",
        "--master-cf", "/etc/postfix/master.cf",
        "--platform", "rhel",
        "-c", config,
        "--check",
        cwd=tmp_path,
    )  # fmt: skip
    assert "DNS record changes: 0" in result.stdout, result.stdout
    assert "No DNS record changes." in result.stdout

    # The keys: adopted where they are, same bytes, and the lock holds what DNS publishes.
    text = config.read_text()
    for domain in DOMAINS:
        assert f"key_file: {article.key_file(domain)}" in text
    lock = read_lock(tmp_path / "mailauth.lock")
    for domain in DOMAINS:
        assert lock[(domain, SELECTOR)].public_key == article.keys[domain][1]

    run_mailauth("apply", "-c", config, "--root", root, "--yes", cwd=tmp_path)
    run_mailauth("plan", "-c", config, "--root", root, "-q", cwd=tmp_path)  # nothing left
    # OpenDKIM itself accepts the config it now has, with the adopted keys in its KeyTable.
    require_binary("opendkim")
    planned = json.loads(
        run_mailauth("plan", "-c", config, "--root", root, "--format", "json", cwd=tmp_path).stdout
    )
    checks = [c for c in planned["checks"] if "opendkim" in c]
    assert checks, planned["checks"]
    for command in checks:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    for domain in DOMAINS:
        assert (root / article.key_file(domain).lstrip("/")).read_bytes() == keys_before[domain]

    with _serve(root, tmp_path / "named-after") as named:
        after = {d: _records(named, d) for d in DOMAINS}
        assert after == before
        # Mail signed with the adopted key verifies through the records named now serves.
        message = (
            b"From: alice@slackbox.fr\r\nTo: bob@example.net\r\n"
            b"Subject: imported\r\n\r\nStill signed.\r\n"
        )
        for domain in DOMAINS:
            signature = dkim.sign(
                message,
                SELECTOR.encode(),
                domain.encode(),
                keys_before[domain],
                include_headers=[b"from", b"to", b"subject"],
            )
            assert dkim.verify(signature + message, dnsfunc=dkim_dnsfunc(named.resolver()))
        _signed_through_postfix(root, tmp_path, named)
