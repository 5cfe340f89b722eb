"""End to end, inbound: Postfix + dkimpy-milter (verify) + OpenDMARC judge mail from outside.

Everything runs in a network namespace the test makes for itself: named on 127.0.0.1:53
serving the zones ``mailauth apply --root /`` generated (slackbox.fr publishes
``p=reject``), ``/etc/netns/NAME/resolv.conf`` pointing at it (OpenDMARC and dkimpy-milter
ask the system resolver), dkimpy-milter and OpenDMARC with the generated configs, and a
Postfix whose main.cf mailauth edited. Mail comes from a Python process inside the
namespace bound to 192.0.2.25, an "outside" address (OpenDMARC ignores loopback clients).

Proven, with RejectFailures off: an unsigned message claiming From: someone@slackbox.fr is
delivered with ``dmarc=fail`` (and is not signed on the way in); the same message with a
forged ``Authentication-Results: ...; dkim=pass`` under our authserv-id still fails; a
message signed with the generated RSA and Ed25519 keys gets dkim=pass twice from
dkimpy-milter and ``dmarc=pass`` from OpenDMARC, which trusted the signer's authserv-id.
After switching ``reject_failures: true`` and applying again (only opendmarc.conf changes),
the unsigned message is refused with a 5xx and the signed one still passes. Neither
daemon logs an unknown option or configuration error; OpenDMARC writes its HistoryFile.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from support import require_binary, run_mailauth, safe_directory

from e2e.dmarcstack import (
    ED_SELECTOR,
    OUTSIDE_ADDRESS,
    RSA_SELECTOR,
    DkimpyMilterServer,
    NetNamespace,
    NetnsNamed,
    NetnsPostfix,
    OpenDmarcServer,
    SyslogSink,
    dual_config,
    send_via,
)
from e2e.mailstack import SIGNED_DOMAINS, wait_for_maildir, write_config, write_postfix_instance

pytestmark = pytest.mark.e2e

SMTP_PORT, DKIMPY_PORT, DMARC_PORT = 2525, 8892, 8893  # inside the test's own namespace
AUTHSERV_ID = "mail.slackbox.fr"
SENDER = "someone@slackbox.fr"
DKIMPY_TROUBLE = ("Unknown name", "does not provide a value", "Could not make", "ERROR")
OPENDMARC_TROUBLE = ("unrecognized", "configuration error", "warning", "error")


@pytest.fixture
def host_dir() -> Iterator[Path]:
    with safe_directory("e2e-dmarc-") as path:
        yield path


def _message(recipient: str, tag: str, extra: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    for name, value in (extra or {}).items():
        msg[name] = value
    msg["From"] = SENDER
    msg["To"] = recipient
    msg["Subject"] = f"mailauth dmarc {tag}"
    msg["Message-ID"] = f"<{tag}@outside.example>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content("Judge me.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _signed(host_dir: Path, recipient: str, tag: str) -> bytes:
    """The message signed by the test with the keys apply generated (RSA, then Ed25519)."""
    raw = _message(recipient, tag)
    keys = host_dir / "keys" / "slackbox.fr"
    for selector, algorithm in ((RSA_SELECTOR, b"rsa-sha256"), (ED_SELECTOR, b"ed25519-sha256")):
        header = dkim.sign(
            raw,
            selector.encode(),
            b"slackbox.fr",
            (keys / f"{selector}.private").read_bytes(),
            signature_algorithm=algorithm,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        raw = header + raw
    return raw


def _auth_results(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw)
    return [" ".join(str(v).split()) for v in parsed.get_all("Authentication-Results", [])]


def _verdict(results: list[str], method: str) -> list[str]:
    """``method=result`` values found in our own Authentication-Results headers."""
    found: list[str] = []
    for value in results:
        if value.split(";", 1)[0].strip() != AUTHSERV_ID:
            continue
        found += re.findall(rf"\b{method}=(\w+)", value)
    return found


def _apply(host_dir: Path, config: dict[str, Any]) -> str:
    path = write_config(host_dir, config)
    return run_mailauth("apply", "-c", path, "--root", "/", "--yes").stdout


def _troubles(lines: list[str], words: tuple[str, ...]) -> list[str]:
    return [line for line in lines if any(word in line.lower() for word in map(str.lower, words))]


def test_dmarc_verdicts_on_inbound_mail(host_dir: Path) -> None:
    for program in ("named", "dkimpy-milter", "opendmarc", "postfix", "ip", "unshare", "dig"):
        require_binary(program)
    instance = write_postfix_instance(host_dir, SMTP_PORT)
    rcpt = instance.mailbox
    config = dual_config(
        host_dir,
        dkimpy_port=DKIMPY_PORT,
        dmarc_port=DMARC_PORT,
        main_cf=instance.main_cf,
        queue_directory=instance.queue_dir,
        policy="reject",
        authserv_id=AUTHSERV_ID,
    )
    _apply(host_dir, config)
    conf_dmarc = host_dir / "opendmarc" / "opendmarc.conf"
    conf_dkimpy = host_dir / "dkimpy" / "dkimpy-milter.conf"
    text = instance.main_cf.read_text()
    assert f"smtpd_milters = inet:127.0.0.1:{DKIMPY_PORT}, inet:127.0.0.1:{DMARC_PORT}" in text

    zones = [(d, host_dir / "named" / f"zone.{d}") for d in SIGNED_DOMAINS]
    with NetNamespace() as netns, contextlib.ExitStack() as servers:
        servers.enter_context(NetnsNamed(zones, netns, workdir=host_dir / "named-run"))
        sink = servers.enter_context(SyslogSink(host_dir / "milters-run"))
        dkimpy_server = servers.enter_context(
            DkimpyMilterServer(
                conf_dkimpy, DKIMPY_PORT, workdir=host_dir / "dkimpy-run", sink=sink, netns=netns
            )
        )
        dmarc_server = servers.enter_context(
            OpenDmarcServer(
                conf_dmarc, DMARC_PORT, workdir=host_dir / "dmarc-run", sink=sink, netns=netns
            )
        )
        servers.enter_context(NetnsPostfix(instance, netns))

        def logs() -> str:
            return f"{dkimpy_server.log_tail()}\n{dmarc_server.log_tail()}"

        # RejectFailures off: verdicts are written, nothing is refused.
        forged = {"Authentication-Results": f"{AUTHSERV_ID}; dkim=pass header.d=slackbox.fr"}
        batch = {
            "unsigned": _message(rcpt, "unsigned"),
            "forged": _message(rcpt, "forged", forged),
            "signed": _signed(host_dir, rcpt, "signed"),
        }
        for tag, raw in batch.items():
            answer = send_via(netns, SMTP_PORT, SENDER, rcpt, raw, source=OUTSIDE_ADDRESS)
            assert answer.accepted, f"{tag}: {answer}\n{logs()}"
        delivered = {
            str(email.message_from_bytes(raw)["Subject"]).rsplit(" ", 1)[-1]: raw
            for raw in wait_for_maildir(instance.maildir, len(batch))
        }
        for tag in ("unsigned", "forged"):
            results = _auth_results(delivered[tag])
            assert _verdict(results, "dmarc") == ["fail"], f"{tag}: {results}\n{logs()}"
            assert "header.from=slackbox.fr" in " ".join(results)
            assert "DKIM-Signature" not in delivered[tag].decode(), f"{tag} was signed inbound"
        results = _auth_results(delivered["signed"])
        assert _verdict(results, "dkim") == ["pass", "pass"], f"{results}\n{logs()}"
        assert "header.a=ed25519-sha256" in " ".join(results)
        assert "header.a=rsa-sha256" in " ".join(results)
        assert _verdict(results, "dmarc") == ["pass"], f"{results}\n{logs()}"

        # RejectFailures on: apply changes only opendmarc.conf; OpenDMARC restarts on it.
        config["targets"]["opendmarc"]["reject_failures"] = True
        out = _apply(host_dir, config)
        assert "update" in out and str(conf_dmarc) in out
        assert "RejectFailures              true" in conf_dmarc.read_text()
        dmarc_server.stop()
        dmarc_server = servers.enter_context(
            OpenDmarcServer(
                conf_dmarc, DMARC_PORT, workdir=host_dir / "dmarc-run2", sink=sink, netns=netns
            )
        )
        refused = send_via(netns, SMTP_PORT, SENDER, rcpt, _message(rcpt, "refused"))
        assert 500 <= refused.code < 600, f"{refused}\n{logs()}"
        assert "slackbox.fr" in refused.text, refused
        answer = send_via(netns, SMTP_PORT, SENDER, rcpt, _signed(host_dir, rcpt, "passes"))
        assert answer.accepted, f"{answer}\n{logs()}"
        final = wait_for_maildir(instance.maildir, len(batch) + 1)
        subjects = [str(email.message_from_bytes(raw)["Subject"]) for raw in final]
        assert "mailauth dmarc refused" not in subjects
        passed = next(raw for raw in final if b"mailauth dmarc passes" in raw)
        assert _verdict(_auth_results(passed), "dmarc") == ["pass"]

        dkimpy_log = dkimpy_server.syslog()
        dmarc_log = sink.lines("opendmarc")
        assert not _troubles(dkimpy_log, DKIMPY_TROUBLE), "\n".join(dkimpy_log)
        assert not _troubles(dmarc_log, OPENDMARC_TROUBLE), "\n".join(dmarc_log)
        assert any("OpenDMARC Filter" in line and "starting" in line for line in dmarc_log)
        verdicts = [line.split(": ", 1)[-1] for line in dmarc_log if "SPF(" not in line]
        assert verdicts.count("slackbox.fr fail") == 3, "\n".join(dmarc_log)  # 2 + refused
        assert verdicts.count("slackbox.fr pass") == 2, "\n".join(dmarc_log)

    history = (host_dir / "run-opendmarc" / "history.dat").read_text()
    assert "from slackbox.fr" in history, history
