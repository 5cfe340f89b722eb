"""End to end: a whole DKIM key rotation with real named, Postfix and OpenDKIM.

The generated setup signs with selector ``e2e``; then ``keys rotate``, ``promote``,
``retire`` (revoke) and ``retire`` (remove), each followed by ``apply`` as on a host. At
each step a receiver (dkimpy, asking that named) sees only signatures whose key named
serves: promote is refused while named does not serve the new key; mail signed before
the switch still verifies after it, mail after it carries the new selector and verifies;
once the old key is revoked (p= empty) its old mail fails with dkimpy's key error.

The policy's waits are made short for the test (TTL 1s, overlap 15s, revoke_for 2s).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import dkim.util
import dns.exception
import dns.resolver
import pytest
from support import NamedServer, free_port, require_binary, run_mailauth, safe_directory
from support.net import wait_until

from e2e.mailstack import (
    SIGNED_DOMAINS,
    OpenDkimServer,
    PostfixServer,
    dkim_dnsfunc,
    mailauth_config,
    send,
    wait_for_maildir,
    write_config,
    write_postfix_instance,
)

pytestmark = pytest.mark.e2e

DOMAIN = SIGNED_DOMAINS[0]
OVERLAP = 15  # seconds: long enough to send and check mail while the old key retires


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-rotate-") as path:
        yield path


def _message(tag: str, recipient: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"someone@{DOMAIN}"
    msg["To"] = recipient
    msg["Subject"] = f"mailauth rotation {tag}"
    msg["Message-ID"] = f"<{tag}@client.test>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content("This line is signed.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _selector(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw)
    values = parsed.get_all("DKIM-Signature", [])
    assert len(values) == 1, raw.decode(errors="replace")
    tags = dkim.util.parse_tag_value("".join(str(values[0]).split()).encode())
    return tags[b"s"].decode()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _verify(raw: bytes, resolver: dns.resolver.Resolver) -> tuple[bool, list[str]]:
    """dkimpy's verdict, and what it logged (why it failed)."""
    logger = logging.getLogger(f"e2e-rotation-{time.monotonic_ns()}")
    logger.propagate = False
    collect = _Collect()
    logger.addHandler(collect)
    ok = dkim.verify(raw, logger=logger, dnsfunc=dkim_dnsfunc(resolver))
    return bool(ok), collect.messages


def _served(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    try:
        answer = resolver.resolve(name, "TXT")
    except dns.exception.DNSException:
        return []
    return [b"".join(r.strings).decode() for r in answer]


def test_rotation_never_shows_a_signature_whose_key_dns_does_not_serve(host_dir: Path) -> None:
    for program in ("named", "opendkim", "postfix", "postconf"):
        require_binary(program)
    smtp_port, milter_port = free_port(), free_port()
    while milter_port == smtp_port:
        milter_port = free_port()
    instance = write_postfix_instance(host_dir, smtp_port)
    settings = mailauth_config(
        host_dir,
        milter_port=milter_port,
        main_cf=instance.main_cf,
        queue_directory=instance.queue_dir,
    )
    settings["defaults"]["ttl"] = 1
    settings["defaults"]["rotation"] = {"overlap": f"{OVERLAP}s", "revoke_for": "2s"}
    for zone in settings["zones"]:
        zone["ttl"] = 1
    config = write_config(host_dir, settings)
    run_mailauth("apply", "-c", config, "--root", "/", "--yes")

    zones = [(d, host_dir / "named" / f"zone.{d}") for d in SIGNED_DOMAINS]
    od_conf = host_dir / "opendkim" / "opendkim.conf"
    with contextlib.ExitStack() as servers:
        named = servers.enter_context(NamedServer(zones, workdir=host_dir / "named-run"))
        signer = servers.enter_context(
            OpenDkimServer(od_conf, milter_port, workdir=host_dir / "od-run")
        )
        servers.enter_context(PostfixServer(instance))
        resolver = named.resolver()
        ns = f"127.0.0.1:{named.port}"
        sent = 0

        def mail(tag: str) -> bytes:
            nonlocal sent
            send(smtp_port, f"someone@{DOMAIN}", instance.mailbox, _message(tag, instance.mailbox))
            sent += 1
            for raw in wait_for_maildir(instance.maildir, sent):
                if f"rotation {tag}".encode() in raw:
                    return raw
            raise AssertionError(f"message {tag} not delivered")

        def restart_signer() -> None:
            nonlocal signer
            signer.stop()
            signer = servers.enter_context(
                OpenDkimServer(od_conf, milter_port, workdir=host_dir / "od-run")
            )

        before = mail("before")
        assert _selector(before) == "e2e"
        assert _verify(before, resolver)[0]

        # rotate + apply: the new key exists and is in the zone file, named not reloaded
        rotated = run_mailauth("keys", "rotate", "-c", config, "--domain", DOMAIN)
        new = rotated.stdout.split("._domainkey.")[0].strip()
        assert new and new != "e2e", rotated.stdout
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        record = f"{new}._domainkey.{DOMAIN}"
        assert _served(resolver, record) == []
        refused = run_mailauth(
            "keys", "promote", "-c", config, "--root", "/", "--nameserver", ns, expect=1
        )
        assert "does not serve the record yet" in refused.stderr
        assert _selector(mail("waiting")) == "e2e"  # signing did not switch

        named.reload()
        assert wait_until(lambda: bool(_served(resolver, record)), timeout=15)
        time.sleep(1.5)  # the record's TTL
        run_mailauth("keys", "promote", "-c", config, "--root", "/", "--nameserver", ns)
        promoted = time.monotonic()
        early = run_mailauth("keys", "retire", "-c", config, expect=1)
        assert "may still be in transit until" in early.stderr
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        restart_signer()
        after = mail("after")
        assert _selector(after) == new
        assert _verify(after, resolver)[0], "mail signed with the new key does not verify"
        assert _verify(before, resolver)[0], "mail signed before the switch stopped verifying"

        # retire after the overlap: revoked (p= empty)
        time.sleep(max(0.0, promoted + OVERLAP + 1.2 - time.monotonic()))
        run_mailauth("keys", "retire", "-c", config)
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        named.reload()
        old = f"e2e._domainkey.{DOMAIN}"
        assert wait_until(lambda: _served(resolver, old) == ["v=DKIM1; k=rsa; p="], timeout=15)
        ok, why = _verify(before, resolver)
        assert not ok, "mail signed with a revoked key still verifies"
        assert any("public key" in m and "b''" in m for m in why), why
        assert _verify(after, resolver)[0]

        # retire again: removed from DNS and the lock; the private key archived
        time.sleep(2.2)
        run_mailauth("keys", "retire", "-c", config)
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        run_mailauth("plan", "-c", config, "--root", "/", expect=0)
        named.reload()
        assert wait_until(lambda: _served(resolver, old) == [], timeout=15)
        assert not (host_dir / "keys" / DOMAIN / "e2e.private").exists()
        assert list((host_dir / "keys" / "archive").rglob("e2e.private"))
        lock = json.loads((host_dir / "mailauth.lock").read_text())
        assert (DOMAIN, "e2e") not in {(k["domain"], k["selector"]) for k in lock["keys"]}
        linted = run_mailauth("lint", "-c", config, "--root", "/", expect=None)
        assert "DKIM009" not in linted.stdout
        assert _verify(mail("last"), resolver)[0]
