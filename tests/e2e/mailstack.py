"""Postfix and OpenDKIM run for real, from files in a test's own directory.

The pieces the DKIM end-to-end test (and later OpenDMARC/dkimpy-milter tests) need:

* :func:`write_postfix_instance` lays out a self-contained Postfix instance: config
  directory, queue, data directory and a virtual Maildir, listening on 127.0.0.1:PORT.
  Its master.cf is Debian's with every chroot column turned off and the ``smtp inet``
  service moved to that address; main.cf is a small base that ``mailauth apply`` then edits.
* :class:`PostfixServer` runs ``postfix -c DIR start-fg`` and stops it with
  ``postfix -c DIR stop``, then kills whatever is left in the master's session (the master
  calls setsid(), so the process-group kill of :class:`ServerProcess` cannot reach it).
* :class:`OpenDkimServer` runs ``opendkim -f -x CONF``.
* :func:`wait_for_maildir` and :func:`dkim_dnsfunc` read what arrived and check it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import smtplib
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver
import yaml
from support import ServerProcess, require_binary, wait_until

DEBIAN_MASTER_CF = Path("/etc/postfix/master.cf")
#: The mailbox user of the virtual delivery agent: an unprivileged system account.
MAILBOX_USER = "nobody"


# -- mailauth.yaml for a test ------------------------------------------------------------

SIGNED_DOMAINS = ("slackbox.fr", "unixbox.fr")


def mailauth_config(
    base: Path,
    *,
    milter_port: int = 8891,
    main_cf: Path | None = None,
    queue_directory: Path | None = None,
    domains: tuple[str, ...] = SIGNED_DOMAINS,
    selector: str = "e2e",
) -> dict[str, Any]:
    """A mailauth.yaml (as a dict) whose every host path lies below ``base``.

    Applied with ``--root /``, the generated files name each other by their real paths, so
    real daemons can read them. Keys belong to opendkim, as on a Debian host.
    """
    zones = [
        {
            "name": domain,
            "ttl": 300,
            "soa": {"mname": f"ns.{domain}", "rname": f"hostmaster@{domain}"},
            "ns": [f"ns.{domain}"],
            "records": [{"name": "ns", "type": "A", "value": "127.0.0.1"}],
        }
        for domain in domains
    ]
    return {
        "version": 1,
        "defaults": {
            "ttl": 300,
            "dmarc": {"p": "none"},
            "dkim": {"selectors": [{"name": selector, "algorithm": "rsa", "bits": 2048}]},
        },
        "mail_hosts": [{"name": f"mail.{domains[0]}", "ipv4": ["127.0.0.1"]}],
        "zones": zones,
        "domains": [{"name": domain} for domain in domains],
        "keys": {"directory": str(base / "keys"), "owner": "opendkim", "group": "opendkim"},
        "state": {"directory": str(base / "state"), "backups": str(base / "backups")},
        "targets": {
            "bind": {
                "directory": str(base / "named"),
                "named_conf": str(base / "named/zones.conf"),
            },
            "opendkim": {
                "config": str(base / "opendkim/opendkim.conf"),
                "directory": str(base / "opendkim"),
                "socket": f"inet:{milter_port}@127.0.0.1",
                "pid_file": str(base / "opendkim/opendkim.pid"),
                "user": "opendkim",
                "trusted_hosts": ["127.0.0.1"],
            },
            "postfix": {
                "mode": "edit",
                "main_cf": str(main_cf or base / "etc/postfix/main.cf"),
                "queue_directory": str(queue_directory or base / "spool"),
                "chroot": False,
                "parameters": {
                    "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination"
                },
            },
        },
    }


def write_config(base: Path, config: dict[str, Any]) -> Path:
    path = base / "mailauth.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- Postfix instance layout -------------------------------------------------------------


@dataclass(frozen=True)
class PostfixInstance:
    """Where one test Postfix keeps everything (all below ``base``)."""

    base: Path
    port: int
    local_domain: str
    mailbox: str

    @property
    def config_dir(self) -> Path:
        return self.base / "etc" / "postfix"

    @property
    def main_cf(self) -> Path:
        return self.config_dir / "main.cf"

    @property
    def queue_dir(self) -> Path:
        return self.base / "spool"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def mail_base(self) -> Path:
        return self.base / "mail"

    @property
    def maildir(self) -> Path:
        """The recipient's Maildir (virtual_mailbox_maps maps it to ``<domain>/<user>/``)."""
        user = self.mailbox.split("@", 1)[0]
        return self.mail_base / self.local_domain / user

    @property
    def log_path(self) -> Path:
        return self.base / "postfix.log"


def master_cf_for_test(text: str, port: int, address: str = "127.0.0.1") -> str:
    """Debian's master.cf with chroot off everywhere and ``smtp inet`` on ADDRESS:PORT.

    Only logical service lines change (column 5 is chroot); comments, continuation lines
    and the column layout of everything else stay as they are.
    """
    out: list[str] = []
    moved = False
    for line in text.splitlines(keepends=True):
        if not line.strip() or line[0] in " \t#":
            out.append(line)
            continue
        fields = line.split()
        if len(fields) < 8:
            raise ValueError(f"master.cf: unexpected service line {line!r}")
        service, kind = fields[0], fields[1]
        fields[4] = "n"
        if service == "smtp" and kind == "inet":
            fields[0] = f"{address}:{port}"
            moved = True
        out.append(" ".join(fields) + "\n")
    if not moved:
        raise ValueError("master.cf has no `smtp inet` service to move")
    return "".join(out)


def base_main_cf(instance: PostfixInstance, mailbox_uid: int, mailbox_gid: int) -> str:
    """The main.cf the test starts from, before mailauth connects the milter."""
    vmailbox = instance.config_dir / "vmailbox"
    return f"""\
# Test Postfix instance; `mailauth apply` edits this file (targets.postfix.main_cf).
compatibility_level = 3.6
myhostname = mail.{instance.local_domain}
mydomain = {instance.local_domain}
myorigin = $myhostname
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
biff = no
append_dot_mydomain = no
readme_directory = no
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = /dev/stdout
mail_owner = postfix
setgid_group = postdrop
queue_directory = {instance.queue_dir}
data_directory = {instance.data_dir}
meta_directory = /etc/postfix
virtual_mailbox_domains = {instance.local_domain}
virtual_mailbox_base = {instance.mail_base}
virtual_mailbox_maps = texthash:{vmailbox}
virtual_uid_maps = static:{mailbox_uid}
virtual_gid_maps = static:{mailbox_gid}
virtual_minimum_uid = {min(mailbox_uid, 100)}
smtputf8_enable = no
"""


def write_postfix_instance(
    base: Path, port: int, *, local_domain: str = "mailbox.test", user: str = "rcpt"
) -> PostfixInstance:
    """Create the directories, master.cf, main.cf and mailbox map of a test Postfix."""
    instance = PostfixInstance(base, port, local_domain, f"{user}@{local_domain}")
    postfix = pwd.getpwnam("postfix")
    owner = pwd.getpwnam(MAILBOX_USER)
    instance.config_dir.mkdir(parents=True, mode=0o755)
    instance.queue_dir.mkdir(mode=0o755)
    instance.data_dir.mkdir(mode=0o700)
    os.chown(instance.data_dir, postfix.pw_uid, postfix.pw_gid)
    instance.mail_base.mkdir(mode=0o700)
    os.chown(instance.mail_base, owner.pw_uid, owner.pw_gid)
    (instance.config_dir / "master.cf").write_text(
        master_cf_for_test(DEBIAN_MASTER_CF.read_text(), port)
    )
    instance.main_cf.write_text(base_main_cf(instance, owner.pw_uid, owner.pw_gid))
    (instance.config_dir / "vmailbox").write_text(f"{instance.mailbox} {local_domain}/{user}/\n")
    return instance


def postfix_command(instance: PostfixInstance, *args: str) -> subprocess.CompletedProcess[str]:
    """``postfix -c DIR ARGS``, output captured (never raises on failure)."""
    return subprocess.run(
        [require_binary("postfix"), "-c", str(instance.config_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# -- Servers -----------------------------------------------------------------------------


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _smtp_banner(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2) as conn:
            conn.settimeout(2)
            return conn.recv(512).startswith(b"220")
    except OSError:
        return False


def _session_members(sid: int) -> list[int]:
    """Live processes in session ``sid`` (field 6 of /proc/PID/stat)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class PostfixServer(ServerProcess):
    """``postfix -c DIR start-fg`` for a :class:`PostfixInstance`; ready at the SMTP banner."""

    name = "postfix"

    def __init__(self, instance: PostfixInstance, *, start_timeout: float = 30.0) -> None:
        super().__init__(workdir=instance.base, start_timeout=start_timeout, stop_timeout=10.0)
        self.instance = instance
        self.log_path = instance.log_path
        self.binary = require_binary("postfix")
        self._master: int | None = None

    def argv(self) -> list[str]:
        return [self.binary, "-c", str(self.instance.config_dir), "start-fg"]

    def is_ready(self) -> bool:
        if self._master is None:
            self._master = self.master_pid()
        return _smtp_banner("127.0.0.1", self.instance.port)

    def failed_early(self) -> str | None:
        match = re.search(r"(?:fatal|panic): .*", self.log_text())
        return match.group(0) if match else None

    def master_pid(self) -> int | None:
        try:
            text = (self.instance.queue_dir / "pid" / "master.pid").read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """``postfix stop``; then anything still in the master's session is killed."""
        master = self._master or self.master_pid()
        if self.proc is not None and self.proc.returncode is None:
            result = postfix_command(self.instance, "stop")
            if result.returncode != 0:
                with self.log_path.open("a") as log:
                    log.write(f"postfix stop: {result.stdout}{result.stderr}\n")
        if master is not None:
            wait_until(lambda: not _is_postfix_master(master), timeout=self.stop_timeout)
            # The master's children outlive it by a few seconds. The session id is the
            # master's pid, which Linux does not hand out again while the session has
            # members: whatever is in it is this Postfix's.
            for pid in _session_members(master):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not _session_members(master), timeout=self.stop_timeout)
        super().stop()


def _is_postfix_master(pid: int) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2 :].split()[0]
    return exe.endswith("/master") and state != "Z"


class OpenDkimServer(ServerProcess):
    """``opendkim -f -x CONF``, ready when its inet milter socket accepts connections."""

    name = "opendkim"

    def __init__(self, conf: Path, port: int, *, workdir: Path) -> None:
        super().__init__(workdir=workdir, start_timeout=20.0)
        self.conf = conf
        self.port = port
        self.binary = require_binary("opendkim")

    def argv(self) -> list[str]:
        return [self.binary, "-f", "-x", str(self.conf)]

    def is_ready(self) -> bool:
        return _accepts("127.0.0.1", self.port)


# -- Mail in, mail out -------------------------------------------------------------------


def send(port: int, sender: str, recipient: str, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=20) as smtp:
        refused = smtp.sendmail(sender, [recipient], message)
    assert not refused, refused


def wait_for_maildir(maildir: Path, count: int, timeout: float = 20.0) -> list[bytes]:
    """The messages in ``maildir/new`` once there are ``count`` of them (sorted by name)."""
    new = maildir / "new"

    def arrived() -> list[Path]:
        try:
            return sorted(p for p in new.iterdir() if p.is_file())
        except FileNotFoundError:
            return []

    deadline = time.monotonic() + timeout
    while len(arrived()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    files = arrived()
    assert len(files) >= count, f"{len(files)} of {count} messages delivered to {new}"
    return [path.read_bytes() for path in files]


def dkim_dnsfunc(res: dns.resolver.Resolver):  # type: ignore[no-untyped-def]
    """A dkimpy ``dnsfunc`` that asks only ``res`` (the test's named)."""

    def txt(name: bytes | str, timeout: float = 5) -> bytes | None:
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            answer = res.resolve(qname, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:
            raise AssertionError(f"TXT {qname}: the test named did not answer ({exc})") from exc
        return b"".join(answer[0].strings)

    return txt
