"""End to end: dkimpy-milter's RSA and Ed25519 keys rotated together, with real named
and Postfix. Before the switch mail carries the old pair of selectors, after it the new
pair; every signature verifies against named at each step, and once the old pair is
revoked (p= empty) the old mail fails for both algorithms.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
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

from e2e.dmarcstack import (
    ED_SELECTOR,
    RSA_SELECTOR,
    DkimpyMilterServer,
    SyslogSink,
    add_submission_service,
    dual_config,
)
from e2e.mailstack import (
    SIGNED_DOMAINS,
    PostfixServer,
    dkim_dnsfunc,
    send,
    wait_for_maildir,
    write_config,
    write_postfix_instance,
)

pytestmark = pytest.mark.e2e

DOMAIN = SIGNED_DOMAINS[0]
OVERLAP = 15


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-rotate-dual-") as path:
        yield path


def _ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _message(tag: str, recipient: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"someone@{DOMAIN}"
    msg["To"] = recipient
    msg["Subject"] = f"mailauth dual rotation {tag}"
    msg["Message-ID"] = f"<{tag}@client.test>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content("This line is signed twice.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _selectors(raw: bytes) -> dict[str, str]:
    """algorithm -> selector of each DKIM-Signature."""
    parsed = email.message_from_bytes(raw)
    out = {}
    for value in parsed.get_all("DKIM-Signature", []):
        tags = dkim.util.parse_tag_value("".join(str(value).split()).encode())
        out[tags[b"a"].decode()] = tags[b"s"].decode()
    return out


def _verifies(raw: bytes, idx: int, resolver: dns.resolver.Resolver) -> bool:
    try:
        return bool(dkim.DKIM(raw).verify(idx=idx, dnsfunc=dkim_dnsfunc(resolver)))
    except dkim.ValidationError:
        return False


def _served(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    try:
        answer = resolver.resolve(name, "TXT")
    except dns.exception.DNSException:
        return []
    return [b"".join(r.strings).decode() for r in answer]


def test_rsa_and_ed25519_rotate_together(host_dir: Path) -> None:
    for program in ("named", "dkimpy-milter", "postfix", "postconf"):
        require_binary(program)
    smtp_port, submission_port, milter_port = _ports(3)
    instance = write_postfix_instance(host_dir, smtp_port)
    add_submission_service(instance, submission_port, "ORIGINATING")
    settings = dual_config(
        host_dir,
        dkimpy_port=milter_port,
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
    conf = host_dir / "dkimpy" / "dkimpy-milter.conf"
    with contextlib.ExitStack() as servers:
        named = servers.enter_context(NamedServer(zones, workdir=host_dir / "named-run"))
        sink = servers.enter_context(SyslogSink(host_dir / "dkimpy-run"))
        milter = servers.enter_context(
            DkimpyMilterServer(conf, milter_port, workdir=host_dir / "dkimpy-run", sink=sink)
        )
        servers.enter_context(PostfixServer(instance))
        resolver = named.resolver()
        ns = f"127.0.0.1:{named.port}"
        sent = 0

        def mail(tag: str) -> bytes:
            nonlocal sent
            send(
                submission_port,
                f"someone@{DOMAIN}",
                instance.mailbox,
                _message(tag, instance.mailbox),
            )
            sent += 1
            for raw in wait_for_maildir(instance.maildir, sent):
                if f"rotation {tag}".encode() in raw:
                    return raw
            raise AssertionError(f"message {tag} not delivered\n{milter.log_tail()}")

        def all_verify(raw: bytes) -> bool:
            return all(_verifies(raw, idx, resolver) for idx in range(2))

        before = mail("before")
        assert _selectors(before) == {"rsa-sha256": RSA_SELECTOR, "ed25519-sha256": ED_SELECTOR}
        assert all_verify(before)

        run_mailauth("keys", "rotate", "-c", config, "--domain", DOMAIN)
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        run_mailauth("keys", "promote", "-c", config, "--root", "/", "--nameserver", ns, expect=1)
        named.reload()
        new = {"rsa-sha256": "", "ed25519-sha256": ""}
        status = run_mailauth("keys", "status", "-c", config, "--format", "json")

        for domain in json.loads(status.stdout)["domains"]:
            if domain["domain"] == DOMAIN:
                for key in domain["keys"]:
                    if key["state"] == "published":
                        new[f"{key['algorithm']}-sha256"] = key["selector"]
        assert all(new.values()), status.stdout
        for selector in new.values():
            record = f"{selector}._domainkey.{DOMAIN}"
            assert wait_until(lambda r=record: bool(_served(resolver, r)), timeout=15)
        time.sleep(1.5)
        run_mailauth("keys", "promote", "-c", config, "--root", "/", "--nameserver", ns)
        promoted = time.monotonic()
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        milter.stop()
        # A killed dkimpy-milter leaves its pid file, and refuses to start over one.
        (host_dir / "run-dkimpy" / "dkimpy-milter.pid").unlink(missing_ok=True)
        milter = servers.enter_context(
            DkimpyMilterServer(conf, milter_port, workdir=host_dir / "dkimpy-run", sink=sink)
        )
        after = mail("after")
        assert _selectors(after) == new, milter.log_tail()
        assert all_verify(after)
        assert all_verify(before)

        time.sleep(max(0.0, promoted + OVERLAP + 1.2 - time.monotonic()))
        run_mailauth("keys", "retire", "-c", config)
        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        named.reload()
        for selector, k in ((RSA_SELECTOR, "rsa"), (ED_SELECTOR, "ed25519")):
            name = f"{selector}._domainkey.{DOMAIN}"
            revoked = [f"v=DKIM1; k={k}; p="]
            assert wait_until(lambda n=name, v=revoked: _served(resolver, n) == v, timeout=15)
        assert not any(_verifies(before, idx, resolver) for idx in range(2))
        assert all_verify(after)
