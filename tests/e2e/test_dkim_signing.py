"""End to end: mail sent through the generated Postfix + OpenDKIM setup verifies in DNS.

``mailauth apply --root /`` writes a whole test host below one OpenDKIM-safe directory:
zones, keys (owned by opendkim, 0600), opendkim.conf and its tables, and the milter stanza
edited into a test Postfix's main.cf. Then real programs run on 127.0.0.1 and high ports:
``named`` serves the generated zones, ``opendkim -f -x`` the generated config, and Postfix
from the test's own config directory delivers to a Maildir. dkimpy verifies what arrived
against that named, and nothing else.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import pwd
import smtplib
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import dkim.util
import pytest
from support import NamedServer, free_port, require_binary, run_mailauth, safe_directory

from e2e.mailstack import (
    SIGNED_DOMAINS,
    OpenDkimServer,
    PostfixServer,
    dkim_dnsfunc,
    mailauth_config,
    postfix_command,
    send,
    wait_for_maildir,
    write_config,
    write_postfix_instance,
)
from mailauth.compiler.dkimkeys import check_key_path_safe

pytestmark = pytest.mark.e2e

SELECTOR = "e2e"
UNSIGNED_DOMAIN = "other.example"  # in no SigningTable: its mail must leave unsigned


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-dkim-") as path:
        yield path


def _message(sender: str, recipient: str, tag: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = f"mailauth e2e {tag}"
    msg["Message-ID"] = f"<{tag}@client.test>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content(f"Hello from {sender}.\nThis line is signed.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _by_tag(delivered: list[bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for raw in delivered:
        parsed = email.message_from_bytes(raw)
        subject = str(parsed["Subject"])
        out[subject.rsplit(" ", 1)[-1]] = raw
    return out


def _signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    parsed = email.message_from_bytes(raw)
    return [
        dkim.util.parse_tag_value("".join(str(value).split()).encode())
        for value in parsed.get_all("DKIM-Signature", [])
    ]


def _signer_hint(host_dir: Path) -> str:
    """What OpenDKIM would complain about (it logs only to syslog, which tests do not see)."""
    uid = pwd.getpwnam("opendkim").pw_uid
    lines = []
    for domain in SIGNED_DOMAINS:
        key = host_dir / "keys" / domain / f"{SELECTOR}.private"
        lines.append(f"safe-key check of {key}: {check_key_path_safe(key, uid=uid) or 'passes'}")
    return "\n".join(lines)


def test_mail_signed_by_generated_setup_verifies(host_dir: Path) -> None:
    for program in ("named", "opendkim", "postfix", "postconf"):
        require_binary(program)
    smtp_port, milter_port = free_port(), free_port()
    while milter_port == smtp_port:
        milter_port = free_port()

    instance = write_postfix_instance(host_dir, smtp_port)
    config = write_config(
        host_dir,
        mailauth_config(
            host_dir,
            milter_port=milter_port,
            main_cf=instance.main_cf,
            queue_directory=instance.queue_dir,
            selector=SELECTOR,
        ),
    )
    run_mailauth("apply", "-c", config, "--root", "/", "--yes")
    # apply then plan is empty: the second look at the same host changes nothing.
    run_mailauth("plan", "-c", config, "--root", "/", expect=0)

    shown = subprocess.run(
        [require_binary("postconf"), "-c", str(instance.config_dir), "-h", "smtpd_milters"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == f"inet:127.0.0.1:{milter_port}"
    checked = postfix_command(instance, "check")
    assert checked.returncode == 0, f"postfix check:\n{checked.stdout}{checked.stderr}"

    zones = [(d, host_dir / "named" / f"zone.{d}") for d in SIGNED_DOMAINS]
    with contextlib.ExitStack() as servers:
        named = servers.enter_context(NamedServer(zones, workdir=host_dir / "named-run"))
        servers.enter_context(
            OpenDkimServer(
                host_dir / "opendkim" / "opendkim.conf", milter_port, workdir=host_dir / "od-run"
            )
        )
        servers.enter_context(PostfixServer(instance))

        senders = {domain: f"someone@{domain}" for domain in (*SIGNED_DOMAINS, UNSIGNED_DOMAIN)}
        for domain, sender in senders.items():
            try:
                send(
                    smtp_port, sender, instance.mailbox, _message(sender, instance.mailbox, domain)
                )
            except smtplib.SMTPException as exc:
                # A 4xx after DATA is OpenDKIM refusing to sign (say, an unsafe key).
                pytest.fail(f"sending From: {sender}: {exc!r}\n{_signer_hint(host_dir)}")
        delivered = _by_tag(wait_for_maildir(instance.maildir, len(senders)))
        assert sorted(delivered) == sorted(senders)

        dnsfunc = dkim_dnsfunc(named.resolver())
        for domain in SIGNED_DOMAINS:
            raw = delivered[domain]
            signatures = _signatures(raw)
            assert len(signatures) == 1, (
                f"{domain}: expected one DKIM-Signature\n{_signer_hint(host_dir)}\n"
                f"--- delivered message ---\n{raw.decode(errors='replace')}"
            )
            assert signatures[0][b"d"] == domain.encode()
            assert signatures[0][b"s"] == SELECTOR.encode()
            assert dkim.verify(raw, dnsfunc=dnsfunc), f"{domain}: signature does not verify"

            head, sep, body = raw.partition(b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n")
            altered = head + sep + body.replace(b"is signed", b"is forged")
            assert altered != raw
            assert not dkim.verify(altered, dnsfunc=dnsfunc), f"{domain}: altered body verifies"

        unsigned = delivered[UNSIGNED_DOMAIN]
        assert _signatures(unsigned) == [], f"{UNSIGNED_DOMAIN} was signed:\n{unsigned.decode()}"
