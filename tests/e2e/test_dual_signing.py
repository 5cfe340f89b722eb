"""End to end, outbound: dkimpy-milter signs submitted mail with RSA and Ed25519 at once.

``mailauth apply --root /`` writes a test host below one directory: the zones (with a
``k=rsa`` and a ``k=ed25519`` record per domain), the keys (PEM and base64 raw seed),
dkimpy-milter.conf with its KeyTable, KeyTableEd25519 and SigningTable, and the milter
stanza edited into a test Postfix's main.cf (``milter_macro_daemon_name = VERIFYING``).
The test's master.cf adds a submission service tagged ORIGINATING and tags the cleanup
service the same way, as the README tells admins to. Then the real programs run on
127.0.0.1: named serves the generated zones, dkimpy-milter (Debian's, unchanged) the
generated config, Postfix delivers to a Maildir.

Proven: mail submitted From: each domain, and mail a local program hands to sendmail,
arrives with two DKIM-Signature headers, rsa-sha256 and ed25519-sha256, that dkimpy
verifies (idx 0 and 1) against that named, and that fail once the body changes; mail
claiming the same From: on the inbound port is not signed (the single-instance pitfall);
mail of a domain mailauth does not manage is not signed; dkimpy-milter logs no unknown
option or configuration error.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import smtplib
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import dkim.util
import pytest
from support import NamedServer, free_port, require_binary, run_mailauth, safe_directory

from e2e.dmarcstack import (
    ED_SELECTOR,
    RSA_SELECTOR,
    DkimpyMilterServer,
    SyslogSink,
    add_submission_service,
    dual_config,
    tag_cleanup_service,
)
from e2e.mailstack import (
    SIGNED_DOMAINS,
    PostfixServer,
    dkim_dnsfunc,
    postfix_command,
    send,
    wait_for_maildir,
    write_config,
    write_postfix_instance,
)

pytestmark = pytest.mark.e2e

UNMANAGED = "other.example"
# What dkimpy-milter writes to syslog when it meets a line it does not understand.
CONFIG_TROUBLE = ("Unknown name", "does not provide a value", "Could not make", "ERROR")


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-dual-") as path:
        yield path


def _ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _message(sender: str, recipient: str, tag: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = f"mailauth dual {tag}"
    msg["Message-ID"] = f"<{tag}@client.test>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content(f"Hello from {sender}.\nThis line is signed twice.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _by_tag(delivered: list[bytes]) -> dict[str, bytes]:
    return {
        str(email.message_from_bytes(raw)["Subject"]).rsplit(" ", 1)[-1]: raw for raw in delivered
    }


def _signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    parsed = email.message_from_bytes(raw)
    return [
        dkim.util.parse_tag_value("".join(str(value).split()).encode())
        for value in parsed.get_all("DKIM-Signature", [])
    ]


def _altered(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n")
    changed = head + sep + body.replace(b"signed twice", b"forged twice")
    assert changed != raw
    return changed


def _verifies(raw: bytes, idx: int, dnsfunc: object) -> bool:
    """dkimpy's verdict on signature ``idx``; a body hash mismatch raises, which is a no."""
    try:
        return bool(dkim.DKIM(raw).verify(idx=idx, dnsfunc=dnsfunc))
    except dkim.ValidationError:
        return False


def test_submitted_mail_leaves_with_rsa_and_ed25519_signatures(host_dir: Path) -> None:
    for program in ("named", "dkimpy-milter", "postfix", "postconf", "sendmail", "unshare"):
        require_binary(program)
    smtp_port, submission_port, milter_port = _ports(3)

    instance = write_postfix_instance(host_dir, smtp_port)
    add_submission_service(instance, submission_port, "ORIGINATING")
    tag_cleanup_service(instance, "ORIGINATING")  # local mail (sendmail) is signed too
    config = write_config(
        host_dir,
        dual_config(
            host_dir,
            dkimpy_port=milter_port,
            main_cf=instance.main_cf,
            queue_directory=instance.queue_dir,
        ),
    )
    run_mailauth("apply", "-c", config, "--root", "/", "--yes")
    run_mailauth("plan", "-c", config, "--root", "/", expect=0)

    names = ["smtpd_milters", "milter_macro_daemon_name"]
    shown = subprocess.run(
        [require_binary("postconf"), "-c", str(instance.config_dir), "-h", *names],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split("\n")[:2] == [f"inet:127.0.0.1:{milter_port}", "VERIFYING"]
    checked = postfix_command(instance, "check")
    assert checked.returncode == 0, f"postfix check:\n{checked.stdout}{checked.stderr}"

    zones = [(d, host_dir / "named" / f"zone.{d}") for d in SIGNED_DOMAINS]
    with contextlib.ExitStack() as servers:
        named = servers.enter_context(NamedServer(zones, workdir=host_dir / "named-run"))
        sink = servers.enter_context(SyslogSink(host_dir / "dkimpy-run"))
        milter = servers.enter_context(
            DkimpyMilterServer(
                host_dir / "dkimpy" / "dkimpy-milter.conf",
                milter_port,
                workdir=host_dir / "dkimpy-run",
                sink=sink,
            )
        )
        servers.enter_context(PostfixServer(instance))

        rcpt = instance.mailbox
        submitted = {d: f"someone@{d}" for d in (*SIGNED_DOMAINS, UNMANAGED)}
        for tag, sender in submitted.items():
            try:
                send(submission_port, sender, rcpt, _message(sender, rcpt, tag))
            except smtplib.SMTPException as exc:
                pytest.fail(f"submitting From: {sender}: {exc!r}\n{milter.log_tail()}")
        # The same From: arriving on the inbound port: a spoof dkimpy-milter must not sign.
        spoof = "someone@slackbox.fr"
        send(smtp_port, spoof, rcpt, _message(spoof, rcpt, "inbound"))
        # A local program's mail: sendmail -> pickup -> cleanup (non_smtpd_milters).
        local = subprocess.run(
            [require_binary("sendmail"), "-C", str(instance.config_dir), "-f", spoof, rcpt],
            input=_message(spoof, rcpt, "local"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert local.returncode == 0, local.stderr

        delivered = _by_tag(wait_for_maildir(instance.maildir, len(submitted) + 2))
        assert sorted(delivered) == sorted([*submitted, "inbound", "local"])

        dnsfunc = dkim_dnsfunc(named.resolver())
        for tag, domain in (*((d, d) for d in SIGNED_DOMAINS), ("local", "slackbox.fr")):
            raw = delivered[tag]
            signatures = _signatures(raw)
            shown_raw = raw.decode(errors="replace")
            assert sorted(s[b"a"] for s in signatures) == [b"ed25519-sha256", b"rsa-sha256"], (
                f"{tag}: expected an RSA and an Ed25519 signature\n{shown_raw}\n{milter.log_tail()}"
            )
            by_alg = {s[b"a"]: s for s in signatures}
            assert by_alg[b"rsa-sha256"][b"s"] == RSA_SELECTOR.encode()
            assert by_alg[b"ed25519-sha256"][b"s"] == ED_SELECTOR.encode()
            assert {s[b"d"] for s in signatures} == {domain.encode()}
            for idx in range(2):
                assert _verifies(raw, idx, dnsfunc), (
                    f"{tag}: signature {idx} ({signatures[idx][b'a'].decode()}) "
                    f"does not verify\n{shown_raw}"
                )
                assert not _verifies(_altered(raw), idx, dnsfunc), (
                    f"{tag}: signature {idx} still verifies on an altered body"
                )

        assert _signatures(delivered["inbound"]) == [], (
            "mail From: slackbox.fr that came in on the inbound port was signed:\n"
            + delivered["inbound"].decode(errors="replace")
        )
        assert _signatures(delivered[UNMANAGED]) == []

        log = milter.syslog()
        trouble = [line for line in log if any(word in line for word in CONFIG_TROUBLE)]
        assert not trouble, "dkimpy-milter complained about its config:\n" + "\n".join(log)
        assert any("dkimpy-milter starting" in line for line in log), "\n".join(log)
        added = [line for line in log if "DKIM signature added" in line]
        assert len(added) == 2 * (len(SIGNED_DOMAINS) + 1), "\n".join(log)
