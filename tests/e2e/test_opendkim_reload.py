"""End to end: the "After apply, run" hint for OpenDKIM is true. A new signing domain
changes only its tables; the plan says ``systemctl reload opendkim``, and what that does on
Debian (``ExecReload=/bin/kill -USR1 $MAINPID``) makes the running OpenDKIM sign for it,
with no restart.

The setup of tests/e2e/test_dkim_signing.py (named, ``opendkim -f -x``, a test Postfix)
starts with slackbox.fr only; unixbox.fr is added once everything runs.
"""

from __future__ import annotations

import contextlib
import email
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dkim
import dkim.util
import pytest
from support import NamedServer, free_port, require_binary, run_mailauth, safe_directory

from e2e.mailstack import (
    OpenDkimServer,
    PostfixServer,
    dkim_dnsfunc,
    mailauth_config,
    send,
    wait_for_maildir,
    write_config,
    write_postfix_instance,
)
from mailauth.backends.zonefile import find_serial, replace_serial
from mailauth.compiler import driver

pytestmark = pytest.mark.e2e

FIRST, ADDED = "slackbox.fr", "unixbox.fr"
SELECTOR = "e2e"


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-reload-") as path:
        yield path


def _message(sender: str, recipient: str, tag: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: reload {tag}\r\n"
        f"Message-ID: <{tag}@client.test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
        "Signed after a reload.\r\n"
    ).encode()


def _signing_domains(raw: bytes) -> list[bytes]:
    parsed = email.message_from_bytes(raw)
    return [
        dkim.util.parse_tag_value("".join(str(v).split()).encode())[b"d"]
        for v in parsed.get_all("DKIM-Signature", [])
    ]


def test_a_new_domain_is_signed_after_the_hinted_reload(host_dir: Path) -> None:
    for program in ("named", "opendkim", "postfix", "postconf"):
        require_binary(program)
    smtp_port, milter_port = free_port(), free_port()
    while milter_port == smtp_port:
        milter_port = free_port()
    instance = write_postfix_instance(host_dir, smtp_port)

    def config_for(*domains: str) -> Path:
        data = mailauth_config(
            host_dir,
            milter_port=milter_port,
            main_cf=instance.main_cf,
            queue_directory=instance.queue_dir,
            domains=domains,
            selector=SELECTOR,
        )
        return write_config(host_dir, data)

    config = config_for(FIRST)
    run_mailauth("apply", "-c", config, "--root", "/", "--yes")
    # Both zones are served from the start: the second one, a stand-in under serial 1,
    # is replaced by the file the second apply writes, which named re-reads on SIGHUP.
    zone_of = {FIRST: host_dir / "named" / f"zone.{FIRST}", ADDED: host_dir / "added.zone"}
    first = zone_of[FIRST].read_text()
    span = find_serial(first)
    assert span is not None
    zone_of[ADDED].write_text(replace_serial(first, span, 1).replace(FIRST, ADDED))

    with contextlib.ExitStack() as servers:
        named = servers.enter_context(
            NamedServer(list(zone_of.items()), workdir=host_dir / "named-run")
        )
        opendkim = servers.enter_context(
            OpenDkimServer(
                host_dir / "opendkim" / "opendkim.conf", milter_port, workdir=host_dir / "od-run"
            )
        )
        servers.enter_context(PostfixServer(instance))

        config = config_for(FIRST, ADDED)
        plan = driver.plan(driver.open_job(config, Path("/"), None))
        opendkim_files = {c.path for c in plan.pending if c.target == "opendkim"}
        assert str(host_dir / "opendkim/opendkim.conf") not in opendkim_files
        assert opendkim_files, "the new domain changes OpenDKIM's tables"
        assert "systemctl reload opendkim" in plan.reloads
        assert not any("restart" in r for r in plan.reloads), plan.reloads

        run_mailauth("apply", "-c", config, "--root", "/", "--yes")
        written = (host_dir / "named" / f"zone.{ADDED}").read_text()
        zone_of[ADDED].write_text(written)
        serial = find_serial(written)
        assert serial is not None
        named.reload(expect={ADDED: serial.value})
        opendkim.send_signal(signal.SIGUSR1)  # what `systemctl reload opendkim` sends
        # OpenDKIM's signal thread loads the new configuration and tables; it says so only
        # to syslog, which this test does not read: a moment is plenty for a few lines.
        time.sleep(1)
        assert opendkim.running

        sender = f"someone@{ADDED}"
        send(smtp_port, sender, instance.mailbox, _message(sender, instance.mailbox, "added"))
        (raw,) = wait_for_maildir(instance.maildir, 1)
        assert _signing_domains(raw) == [ADDED.encode()], raw.decode(errors="replace")
        assert dkim.verify(raw, dnsfunc=dkim_dnsfunc(named.resolver()))
