"""A stock Debian host, private to one test, on which ``mailauth apply --root /`` runs for real.

Why: the other end-to-end tests lay out each daemon's files in a test directory and create
whatever a daemon needs, so they cannot see what a real host lacks (issue 12). Here the
host is the machine's own Debian installation, seen through a private mount namespace:

* ``/etc`` and ``/var`` are overlayfs mounts whose lower layer is the real directory and
  whose upper layer lives in the test's directory: Debian's files are there as installed,
  and every write (mailauth's, Postfix's, a daemon's) lands in the test's upper layer.
  The real ``/etc`` and ``/var`` are never written.
* ``/run`` is a fresh tmpfs, filled as a boot fills it: the ``d`` lines of the packages'
  ``/usr/lib/tmpfiles.d`` files (``/run/opendkim``, ``/run/opendmarc``, ``/run/named``...)
  and nothing else, so only what Debian itself provides is there.
* ``/dev`` is :class:`SyslogSink`'s directory (the few device nodes, a ``log`` socket the
  test reads, a tmpfs ``shm``): the daemons log to syslog as on a real host.
* The case directory (configs, named's work files) is bound back over the overlay, so the
  test and the namespace see the same files there.
* The network is a :class:`NetNamespace` (loopback up, 192.0.2.25 as the "outside" client,
  no route anywhere else). ``/etc/resolv.conf`` inside says ``nameserver 127.0.0.1``,
  where the test's named answers: the host's resolver finds the generated zones.

One long-lived holder process (``ip netns exec NS unshare --mount ... sleep``) keeps the
namespaces; every command of a case runs through ``nsenter --target HOLDER --mount --net``.
Daemons are started as their Debian systemd units would start them (:class:`Unit`): the
unit's ``ExecStart`` in the foreground, as root unless the unit names a ``User=``, so each
drops privileges per its own ``UserID``. At the end every process in the namespace is
killed by pid; the mount namespace and its overlays go with its last process.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from support import ServerProcess, mailauth_argv, mailauth_env, require_binary, wait_until

from e2e.dmarcstack import NetNamespace, NetnsNamed, SyslogSink

#: The host's top-level directories mailauth, Postfix and the daemons write below.
OVERLAID = ("etc", "var")
TMPFILES_DIR = Path("/usr/lib/tmpfiles.d")
UNIT_DIR = Path("/lib/systemd/system")
POSTFIX_SHARE = Path("/usr/share/postfix")

# The holder: runs as `sh -c HOLDER CASE DEV LAYERS`, in fresh mount and network namespaces.
# fd 3 keeps the real case directory, which the /var overlay hides, to bind it back.
_HOLDER = r"""
set -eu
case_dir=$0 dev=$1 layers=$2
exec 3<"$case_dir"
mount --bind "$dev" /dev
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
for top in etc var; do
    mount -t overlay overlay \
        -o "lowerdir=/$top,upperdir=$layers/$top/upper,workdir=$layers/$top/work" "/$top"
done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount --no-canonicalize --bind /proc/self/fd/3 "$case_dir"
exec 3<&-
echo ready
exec sleep infinity
"""


class HostError(RuntimeError):
    """The namespaces could not be set up: the harness, not the product, is broken."""


@dataclass(frozen=True)
class Result:
    """One command's outcome inside the host (text)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"$ {shlex.join(self.argv)}\nexit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


class StockHost:
    """The namespaces of one case; see the module docstring. Use as a context manager."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.case_dir = base / "case"
        self.layers = base / "layers"
        self.netns = NetNamespace("stockhost")
        self.sink = SyslogSink(base / "sys")
        self.holder: subprocess.Popen[bytes] | None = None
        self.nsenter = require_binary("nsenter")

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> Self:
        for program in ("unshare", "ip", "mount", "setpriv"):
            require_binary(program)
        self.case_dir.mkdir(mode=0o755, parents=True)
        for top in OVERLAID:
            (self.layers / top / "upper").mkdir(parents=True)
            (self.layers / top / "work").mkdir()
        self.sink.start()
        (self.sink.devdir / "shm").mkdir()
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ):
            (self.sink.devdir / name).symlink_to(target)
        self.netns.create()
        argv = [
            *self.netns.prefix,
            require_binary("unshare"),
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _HOLDER,
            str(self.case_dir),
            str(self.sink.devdir),
            str(self.layers),
        ]
        log = (self.base / "holder.log").open("wb")
        self.holder = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            self.holder.wait(10)
            raise HostError(f"namespace holder failed: {(self.base / 'holder.log').read_text()}")
        self._boot()
        return self

    def _boot(self) -> None:
        """What a boot gives a Debian host: /run from tmpfiles.d, a resolver (our named)."""
        script = "\n".join(shlex.join(argv) for argv in run_directories())
        self.check(["sh", "-ec", script or "true"])
        self.write_text("/etc/resolv.conf", "nameserver 127.0.0.1\noptions timeout:2\n")

    def pids(self) -> list[int]:
        """Every process in the case's network namespace (which holds all of the case)."""
        result = subprocess.run(
            [require_binary("ip"), "netns", "pids", self.netns.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return [int(p) for p in result.stdout.split()]

    def stop(self) -> None:
        """Kill every process of the case by pid; the mounts go with the last one."""
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not self.pids(), timeout=5)
        if self.holder is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.holder.wait(10)
            if self.holder.stdout is not None:
                self.holder.stdout.close()
            self.holder = None
        self.sink.stop()
        self.netns.remove()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- running things inside -----------------------------------------------------------

    @property
    def prefix(self) -> list[str]:
        """Put in front of a command to run it in the case's mount and network namespaces."""
        assert self.holder is not None, "host not started"
        return [self.nsenter, "--target", str(self.holder.pid), "--mount", "--net", "--"]

    def as_user(self, user: str, group: str | None = None) -> list[str]:
        """``setpriv`` to ``user`` with its groups, as systemd's ``User=`` does."""
        return [
            require_binary("setpriv"),
            f"--reuid={user}",
            f"--regid={group or user}",
            "--init-groups",
            "--",
        ]

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> Result:
        """``argv`` inside the host, as root, in the case directory; never raises on exit."""
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [*self.prefix, *argv],
            input=data,
            capture_output=True,
            cwd=self.case_dir,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
        return Result(
            tuple(argv),
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    def check(self, argv: Sequence[str], **kwargs: Any) -> Result:
        """:meth:`run`, failing on a non-zero exit: for the harness's own steps."""
        result = self.run(argv, **kwargs)
        if result.returncode != 0:
            raise HostError(str(result))
        return result

    def read_bytes(self, path: str) -> bytes | None:
        """A file as the host sees it (None if it does not exist)."""
        proc = subprocess.run(
            [*self.prefix, "cat", "--", path], capture_output=True, timeout=30, check=False
        )
        return proc.stdout if proc.returncode == 0 else None

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a host file the way an admin would (root-owned)."""
        self.check(
            ["sh", "-ec", 'umask 022; cat > "$0"; chmod "$1" "$0"', path, f"{mode:o}"],
            input=text,
        )

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path]).returncode == 0

    def is_socket(self, path: str) -> bool:
        return self.run(["test", "-S", path]).returncode == 0

    def mailauth(self, *args: str | Path, timeout: float = 180) -> Result:
        """The real ``mailauth`` command line, run inside the host."""
        return self.run(mailauth_argv(*args), env=mailauth_env(), timeout=timeout)

    def postconf(self, *names: str) -> list[str]:
        """``postconf -h NAMES`` of the host's /etc/postfix."""
        result = self.check([require_binary("postconf"), "-h", *names])
        return result.stdout.splitlines()

    def python(self, code: str, *args: str, stdin: bytes | None = None) -> Result:
        """This interpreter (with the test's site-packages) inside the host."""
        return self.run([sys.executable, "-c", code, *args], input=stdin)


# -- what Debian provides -------------------------------------------------------------------


def run_directories(directory: Path = TMPFILES_DIR) -> list[list[str]]:
    """``install -d`` commands for the ``d``/``D`` lines under /run of tmpfiles.d.

    This is what systemd-tmpfiles creates at boot (and the packages' postinst at install);
    lines with specifiers or other types are not needed by any daemon here.
    """
    commands: list[list[str]] = []
    for conf in sorted(directory.glob("*.conf")):
        for line in conf.read_text().splitlines():
            fields = line.split()
            if len(fields) < 2 or fields[0] not in ("d", "D") or "%" in line:
                continue
            path = fields[1]
            if not path.startswith("/run/"):
                continue
            mode = fields[2] if len(fields) > 2 and fields[2] != "-" else "0755"
            user = fields[3] if len(fields) > 3 and fields[3] != "-" else "root"
            group = fields[4] if len(fields) > 4 and fields[4] != "-" else "root"
            commands.append(
                ["install", "-d", "-m", mode.lstrip("~"), "-o", user, "-g", group, path]
            )
    return commands


@dataclass(frozen=True)
class Unit:
    """The parts of a Debian systemd unit that decide how its daemon starts."""

    name: str
    exec_start: tuple[str, ...]
    type: str
    user: str | None
    group: str | None
    runtime_directories: tuple[str, ...]

    @classmethod
    def read(cls, name: str, directory: Path = UNIT_DIR) -> Unit:
        values: dict[str, str] = {}
        for line in (directory / f"{name}.service").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith(("#", ";")):
                values[key.strip()] = value.strip()
        start = values["ExecStart"].lstrip("-@+!:")
        return cls(
            name=name,
            exec_start=tuple(shlex.split(start)),
            type=values.get("Type", "simple"),
            user=values.get("User"),
            group=values.get("Group"),
            runtime_directories=tuple(values.get("RuntimeDirectory", "").split()),
        )

    def argv(self, foreground: Sequence[str] = ()) -> list[str]:
        """ExecStart, plus the program's own "stay in the foreground" flag if it forks."""
        return [*self.exec_start, *(foreground if self.type == "forking" else ())]


# -- the Postfix an admin had before mailauth ------------------------------------------------

#: What the third-party milter (rspamd, say) put in main.cf before mailauth came.
THIRD_PARTY_MILTER = "inet:127.0.0.1:11332"
#: Host settings for that milter, as rspamd's own guide has them. Nothing listens on
#: 11332: with ``accept`` Postfix logs "connect to Milter service ...: Connection refused",
#: skips that one milter for the session and runs the others; with Postfix's default
#: ``tempfail`` every message would be refused with 451 4.7.1 whatever mailauth does.
THIRD_PARTY_SETTINGS = {
    "smtpd_milters": THIRD_PARTY_MILTER,
    "non_smtpd_milters": THIRD_PARTY_MILTER,
    "milter_default_action": "accept",
    "milter_protocol": "6",
}


def debian_main_cf_steps(myhostname: str) -> list[list[str]]:
    """The ``postconf -e`` calls of postfix's postinst for "Internet Site".

    main.cf starts as /usr/share/postfix/main.cf.debian (no TLS part: Debian adds it only
    when the snakeoil key exists) and gets these values, as debconf would set them.
    Rebuilt rather than read from /etc/postfix so the case does not depend on the
    machine's debconf answers ("Local only" on CI).
    """
    mydomain = myhostname.partition(".")[2]
    values = [
        "smtpd_relay_restrictions=permit_mynetworks permit_sasl_authenticated "
        "defer_unauth_destination",
        f"myhostname={myhostname}",
        "alias_maps=hash:/etc/aliases",
        "alias_database=hash:/etc/aliases",
        f"mydomain={mydomain}",
        "myorigin=/etc/mailname",
        f"mydestination=$myhostname, {myhostname}, localhost.{mydomain}, localhost",
        "relayhost=",
        "mynetworks=127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
        "mailbox_size_limit=0",
        "recipient_delimiter=+",
        "inet_interfaces=all",
        "inet_protocols=all",
    ]
    return [["postconf", "-e", value] for value in values]


def install_stock_postfix(host: StockHost, myhostname: str) -> None:
    """The package's main.cf and master.cf in /etc/postfix, plus the third-party milter."""
    main_cf = (POSTFIX_SHARE / "main.cf.debian").read_text()
    master_cf = (POSTFIX_SHARE / "master.cf.dist").read_text()
    host.write_text("/etc/postfix/main.cf", main_cf)
    host.write_text("/etc/postfix/master.cf", master_cf)
    host.write_text("/etc/mailname", myhostname + "\n")
    for argv in debian_main_cf_steps(myhostname):
        host.check(argv)
    host.check(["postconf", "-e", *(f"{k}={v}" for k, v in THIRD_PARTY_SETTINGS.items())])
    host.check(["newaliases"])


# -- README host steps ---------------------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s+Host steps\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```")
_WITH = re.compile(r"\s+#\s*with:\s*(?P<targets>[\w\-, ]+)\s*$")


@dataclass(frozen=True)
class HostStep:
    """One line of the README's "Host steps" block: a shell command, maybe for some targets."""

    command: str
    targets: tuple[str, ...] = ()

    def applies(self, targets: Iterable[str]) -> bool:
        return not self.targets or bool(set(self.targets) & set(targets))


def readme_host_steps(readme: str) -> list[HostStep]:
    """The commands of the first fenced block after a "Host steps" heading.

    One command per line, run with ``sh -c`` as root; ``# with: opendkim, opendmarc`` at
    the end limits a line to configs that have one of those targets; blank lines and
    comment lines are skipped. No such heading: no steps (the product must do everything).
    """
    lines = readme.splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADING.match(line)), None)
    if start is None:
        return []
    steps: list[HostStep] = []
    inside = False
    for line in lines[start + 1 :]:
        if not inside and line.startswith("#") and not _FENCE.match(line):
            break  # next heading: the section had no block
        if _FENCE.match(line):
            if inside:
                break
            inside = True
            continue
        if not inside or not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _WITH.search(line)
        targets: tuple[str, ...] = ()
        if match:
            targets = tuple(t.strip() for t in match["targets"].split(",") if t.strip())
            line = line[: match.start()]
        steps.append(HostStep(line.strip(), targets))
    return steps


# -- named ---------------------------------------------------------------------------------

_ROOT_ZONE = """\
$TTL 300
. IN SOA ns.test-root. hostmaster.test-root. 1 3600 600 86400 300
. IN NS ns.test-root.
ns.test-root. IN A 127.0.0.1
"""


class StockNamed(NetnsNamed):
    """named on 127.0.0.1:53 in the host: an empty root zone plus named.conf includes.

    The empty root makes every name outside the generated zones an authoritative NXDOMAIN
    at once (RBL lookups, reverse lookups of 192.0.2.25, out-of-zone NS names), so nothing
    waits for a timeout and nothing is asked outside the namespace.
    """

    def __init__(
        self,
        host: StockHost,
        *,
        includes: Sequence[str],
        zones: Sequence[tuple[str, str]],
        expect: Sequence[str],
    ) -> None:
        workdir = host.case_dir / "named-run"
        workdir.mkdir(parents=True, exist_ok=True)
        root = workdir / "root.zone"
        root.write_text(_ROOT_ZONE)
        super().__init__([], host.netns, workdir=workdir)
        self.wrap = host.prefix
        self.expect = list(expect)
        self.config = "\n".join(
            [
                f'zone "." {{ type primary; file "{root}"; }};',
                *(f'include "{path}";' for path in includes),
                *(f'zone "{name}" {{ type primary; file "{path}"; }};' for name, path in zones),
            ]
        )

    def is_ready(self) -> bool:
        saved = self.zones
        self.zones = [(name, Path("/")) for name in self.expect]
        try:
            return super().is_ready()
        finally:
            self.zones = saved


def host_dnsfunc(host: StockHost) -> Callable[..., bytes | None]:
    """A dkimpy ``dnsfunc`` asking the host's named (from inside the namespace)."""
    code = (
        "import sys, base64, dns.resolver\n"
        "r = dns.resolver.Resolver(configure=False); r.nameservers = ['127.0.0.1']\n"
        "try:\n"
        "    a = r.resolve(sys.argv[1], sys.argv[2], lifetime=5)\n"
        "except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):\n"
        "    sys.exit(3)\n"
        "for rr in a:\n"
        "    t = b''.join(rr.strings) if sys.argv[2] == 'TXT' else rr.to_text().encode()\n"
        "    print(base64.b64encode(t).decode())\n"
    )

    def lookup(qname: str, rdtype: str) -> list[bytes] | None:
        result = host.python(code, qname, rdtype)
        if result.returncode == 3:
            return None
        if result.returncode != 0:
            raise AssertionError(f"{rdtype} {qname}: the host's named did not answer\n{result}")
        return [base64.b64decode(line) for line in result.stdout.split()]

    def txt(name: bytes | str, timeout: float = 5) -> bytes | None:
        qname = name.decode() if isinstance(name, bytes) else name
        answers = lookup(qname, "TXT")
        return answers[0] if answers else None

    txt.lookup = lookup  # type: ignore[attr-defined]
    return txt


# -- milters, Postfix ------------------------------------------------------------------------


class UnitDaemon(ServerProcess):
    """A Debian unit's daemon, in the foreground inside the host, logging to the sink."""

    def __init__(
        self,
        host: StockHost,
        unit: Unit,
        *,
        ready: Callable[[], bool],
        program: str,
        foreground: Sequence[str] = (),
    ) -> None:
        wrap = [*host.prefix]
        if unit.user is not None:
            wrap += host.as_user(unit.user, unit.group)
        super().__init__(
            unit.argv(foreground),
            name=unit.name,
            ready=ready,
            workdir=host.case_dir / f"{unit.name}-run",
            wrap=wrap,
            start_timeout=20.0,
            stop_timeout=5.0,
            # libmilter notices SIGTERM only at its next 5 s poll; nothing is lost by KILL.
            stop_signal=signal.SIGKILL,
        )
        self.host = host
        self.unit = unit
        self.program = program

    def prepare(self) -> None:
        for name in self.unit.runtime_directories:  # what systemd would make for the unit
            owner = self.unit.user or "root"
            self.host.check(
                ["install", "-d", "-o", owner, "-g", self.unit.group or owner, f"/run/{name}"]
            )

    def syslog(self) -> list[str]:
        return self.host.sink.lines(self.program)

    def log_text(self) -> str:
        own = super().log_text()
        return own + "".join(f"[syslog] {line}\n" for line in self.syslog())

    def uid(self) -> int | None:
        """The daemon's effective uid now (it switches users after starting)."""
        if self.proc is None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^Uid:\s+\d+\s+(\d+)", status, re.MULTILINE)
        return int(match.group(1)) if match else None


class StockPostfix(ServerProcess):
    """The host's Postfix: configure-instance.sh (the unit's ExecStartPre), then start-fg."""

    name = "postfix"

    def __init__(self, host: StockHost) -> None:
        super().__init__(
            workdir=host.case_dir / "postfix-run",
            wrap=host.prefix,
            start_timeout=30.0,
            stop_timeout=10.0,
        )
        self.host = host

    def prepare(self) -> None:
        pre = self.host.run(["/usr/lib/postfix/configure-instance.sh", "-"])
        self.log_path.write_text(f"configure-instance.sh:\n{pre.stdout}{pre.stderr}")

    def argv(self) -> list[str]:
        return [require_binary("postfix"), "start-fg"]

    def is_ready(self) -> bool:
        return self.host.netns.accepts(25, banner="220")

    def log_text(self) -> str:
        lines = [line for line in self.host.sink.text().splitlines() if " postfix/" in line]
        return super().log_text() + "".join(f"[syslog] {line}\n" for line in lines)

    def stop(self) -> None:
        if self.running:
            self.host.run([require_binary("postfix"), "stop"], timeout=30)
            wait_until(lambda: not self.running, timeout=self.stop_timeout)
        # What the master leaves behind is killed with the rest of the host.
        super().stop()


# -- mail ------------------------------------------------------------------------------------

_SEND = """
import json, smtplib, ssl, sys
host, port, source, sender, rcpt = sys.argv[1:6]
message = sys.stdin.buffer.read()
try:
    with smtplib.SMTP(host, int(port), local_hostname="client.example",
                      source_address=(source, 0), timeout=30) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl._create_unverified_context())
            smtp.ehlo()
        smtp.sendmail(sender, [rcpt], message)
    print(json.dumps({"code": 250, "text": ""}))
except smtplib.SMTPResponseException as exc:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \\
        else str(exc.smtp_error)
    print(json.dumps({"code": exc.smtp_code, "text": text}))
except smtplib.SMTPRecipientsRefused as exc:
    code, text = next(iter(exc.recipients.values()))
    print(json.dumps({"code": code, "text": text.decode("utf-8", "replace")}))
except OSError as exc:
    print(json.dumps({"code": 0, "text": f"connection failed: {exc}"}))
"""


@dataclass(frozen=True)
class Sent:
    """What the server answered to one message."""

    tag: str
    port: int
    source: str
    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return self.code == 250


def smtp_send(
    host: StockHost,
    port: int,
    sender: str,
    rcpt: str,
    message: bytes,
    *,
    tag: str,
    source: str = "127.0.0.1",
) -> Sent:
    """One SMTP transaction from ``source`` (STARTTLS when offered, no AUTH)."""
    result = host.netns.python(
        _SEND, "127.0.0.1", str(port), source, sender, rcpt, stdin=message, timeout=90
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise HostError(f"the SMTP client did not run: {result.stderr.decode()}")
    answer = json.loads(result.stdout)
    return Sent(tag, port, source, int(answer["code"]), str(answer["text"]))


def message(sender: str, rcpt: str, tag: str, body: str = "Signed, I hope.\n") -> bytes:
    """A small message whose Subject ends in ``tag``: how deliveries are told apart."""
    msg = email.message.EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = f"stock host {tag}"
    msg["Message-ID"] = f"<{tag}.{os.getpid()}@stockhost.test>"
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox written by Postfix's local(8), without the ``From `` lines."""
    messages: list[bytes] = []
    current: list[bytes] | None = None
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and (current is None or not current or current[-1] == b"\n"):
            if current is not None:
                messages.append(b"".join(current[:-1] if current[-1:] == [b"\n"] else current))
            current = []
            continue
        if current is not None:
            current.append(line[1:] if line.startswith(b">From ") else line)
    if current is not None:
        messages.append(b"".join(current[:-1] if current[-1:] == [b"\n"] else current))
    return messages


def subject_tag(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Subject"] or "").rsplit(" ", 1)[-1]


def without_delivery_headers(raw: bytes) -> bytes:
    """The message as it left: local(8)'s Return-Path and Delivered-To removed."""
    head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    skip = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                kept.append(line)
            continue
        skip = line.lower().startswith((b"return-path:", b"delivered-to:"))
        if not skip:
            kept.append(line)
    return b"".join(kept) + sep + body


# -- a case's run, recorded ----------------------------------------------------------------


@dataclass
class CaseRun:
    """Everything one case observed; the tests assert on it (one setup, several verdicts)."""

    name: str
    targets: tuple[str, ...] = ()
    host_steps: list[Result] = field(default_factory=list)
    apply: Result | None = None
    replan: Result | None = None
    failures: dict[str, str] = field(default_factory=dict)
    uids: dict[str, int | None] = field(default_factory=dict)
    postconf: dict[str, str] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)  # milter configs as applied
    sent: dict[str, Sent] = field(default_factory=dict)
    delivered: dict[str, bytes] = field(default_factory=dict)
    resent: dict[str, bytes] = field(default_factory=dict)
    syslog: str = ""
    dnsfunc: Callable[..., bytes | None] | None = None

    def context(self) -> str:
        """What to show with any failed assertion: why things went as they did."""
        parts = [f"case {self.name}"]
        if self.apply is not None and self.apply.returncode != 0:
            parts.append(f"apply failed:\n{self.apply}")
        for name, reason in self.failures.items():
            parts.append(f"{name}: {reason}")
        refused = [s for s in self.sent.values() if not s.accepted]
        for sent in refused:
            parts.append(f"message {sent.tag!r} refused: {sent.code} {sent.text}")
        tail = "\n".join(self.syslog.splitlines()[-60:])
        parts.append(f"--- syslog (last 60 lines) ---\n{tail}")
        return "\n".join(parts)


def pid_user(uid: int | None) -> str:
    import pwd

    if uid is None:
        return "(not running)"
    with contextlib.suppress(KeyError):
        return pwd.getpwuid(uid).pw_name
    return str(uid)
