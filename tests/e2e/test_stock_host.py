"""Stock-host end to end (issue 12): a generated setup works on a Debian host as it is.

Each case runs on the machine's own Debian installation seen through a private mount and
network namespace (:mod:`e2e.stockhost`): /etc and /var are overlays of the real ones, /run
is what tmpfiles.d gives at boot. The host starts as the postfix package leaves it (its
main.cf and master.cf, "Internet Site") with a third-party milter already in main.cf
(rspamd's ``inet:127.0.0.1:11332``, ``milter_default_action = accept``). The test runs
``mailauth apply --root / --yes`` on the example, then the README's "Host steps" (none
while the README has no such section), then named, the milters as their Debian units
start them (root, dropping to their own ``UserID``) and Postfix (chrooted, as
Debian's master.cf has it). It creates, chowns and edits nothing mailauth should provide.

The only change to an example is :func:`adapt_example`: its public address becomes
127.0.0.1. Paths of configs, sockets, pid and history files stay the example's.

Shown per case, one test each: the README steps run as printed; apply succeeds and a
second plan is empty; the daemons run as their Debian users; the third-party milter keeps
its place in ``smtpd_milters`` and the host's milter settings stay; mail our users submit
leaves signed (RSA and Ed25519 with dkimpy-milter) and dkimpy verifies it through the
generated DNS; mail from 192.0.2.25 claiming From: our domain is neither signed nor passes
DMARC; our signed mail re-sent from outside gets ``dmarc=pass`` where OpenDMARC runs.
"""

from __future__ import annotations

import email
import ipaddress
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import dkim
import dkim.util
import pytest
import yaml
from support import EXAMPLES, REPO, ServerProcess, require_binary, safe_directory

from e2e.dmarcstack import OUTSIDE_ADDRESS
from e2e.stockhost import (
    THIRD_PARTY_MILTER,
    THIRD_PARTY_SETTINGS,
    CaseRun,
    HostError,
    StockHost,
    StockNamed,
    StockPostfix,
    Unit,
    UnitDaemon,
    host_dnsfunc,
    install_stock_postfix,
    message,
    pid_user,
    readme_host_steps,
    smtp_send,
    split_mbox,
    subject_tag,
    without_delivery_headers,
)
from mailauth.backends import platforms

pytestmark = pytest.mark.e2e

STOCK = Path(__file__).parent / "stock"
MAIL_HOST = "mail.slackbox.fr"
#: Debian's ``mail`` system user: local(8) delivers to /var/mail/mail, which it may create.
RECIPIENT = "mail@localhost"
MAILBOX = "/var/mail/mail"
#: The example's public address; nothing may be sent there.
PUBLIC_ADDRESS = "51.158.146.161"

# The Debian units of the milters mailauth configures, and how each stays in the foreground.
UNITS = {
    "opendkim": ("opendkim", ("-f",), "/etc/opendkim.conf", "opendkim"),
    "dkimpy_milter": (
        "dkimpy-milter",
        (),
        "/etc/dkimpy-milter/dkimpy-milter.conf",
        "dkimpy-milter",
    ),
    "opendmarc": ("opendmarc", ("-f",), "/etc/opendmarc.conf", "opendmarc"),
}


@dataclass(frozen=True)
class Case:
    """One stock-host case: a config, how our users submit, what to expect."""

    name: str
    config: Path
    domains: tuple[str, ...]
    submission_port: int  # 25 for OpenDKIM (trusted_hosts), 587 for dkimpy-milter
    algorithms: tuple[str, ...]
    local_mail: bool  # also submitted through sendmail (non_smtpd_milters)
    fixtures: tuple[tuple[str, str], ...] = ()  # (file beside the config, host path)
    hand_zones: tuple[tuple[str, str], ...] = ()  # zones named.conf serves from host files


SLACKBOX = Case(
    name="slackbox",
    config=EXAMPLES / "slackbox" / "mailauth.yaml",
    domains=("slackbox.fr", "unixbox.fr"),
    submission_port=25,
    algorithms=("rsa-sha256",),
    local_mail=True,
)
DUAL = Case(
    name="dual-signing",
    config=EXAMPLES / "dual-signing" / "mailauth.yaml",
    domains=("slackbox.fr", "unixbox.fr"),
    submission_port=587,
    algorithms=("ed25519-sha256", "rsa-sha256"),
    local_mail=False,
)
INCLUDE_SOCKET = Case(
    name="include-socket",
    config=STOCK / "include-socket" / "mailauth.yaml",
    domains=("slackbox.fr",),
    submission_port=25,
    algorithms=("rsa-sha256",),
    local_mail=True,
    fixtures=(("db.slackbox.fr", "/etc/bind/db.slackbox.fr"),),
    hand_zones=(("slackbox.fr", "/etc/bind/db.slackbox.fr"),),
)
DEBIAN = Case(
    name="debian",
    config=EXAMPLES / "debian" / "mailauth.yaml",
    domains=("slackbox.fr", "unixbox.fr"),
    submission_port=25,
    algorithms=("rsa-sha256",),
    local_mail=True,
)
#: Examples whose mailauth.yaml has no mail-server side (DNS only): nothing to run here.
DNS_ONLY_EXAMPLES = {"octodns"}
#: Examples whose mail side is another example's, run by that example's case; what they add
#: is proven elsewhere, named here so the exemption stays reviewed.
MAIL_SIDE_OF = {
    # OpenDKIM + Postfix as slackbox; its DANE, MTA-STS, TLS-RPT and BIMI parts are checked
    # through a real named, nginx, Postfix STARTTLS and openssl in tests/e2e/test_dane.py,
    # test_mta_sts_resolver.py, test_tlsrpt_bimi_named.py and test_trust_all_example.py.
    "trust-all": "slackbox",
}
MAIL_TARGETS = {"opendkim", "dkimpy_milter", "opendmarc", "postfix"}


def adapt_example(config: dict[str, Any]) -> dict[str, Any]:
    """The one change made to an example: its public address becomes 127.0.0.1.

    The address only appears in DNS data (the mail host's A record, which SPF ``mx``
    resolves to); nothing connects to it, but no real address belongs in a test.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return "127.0.0.1" if node == PUBLIC_ADDRESS else node

    return dict(walk(config))


# -- running a case --------------------------------------------------------------------------


def _socket_ready(host: StockHost, conf: str) -> Callable[[], bool]:
    """Ready when the milter's ``Socket`` (from the config mailauth wrote) accepts."""

    def ready() -> bool:
        text = (host.read_bytes(conf) or b"").decode(errors="replace")
        match = re.search(r"^\s*Socket\s+(\S+)", text, re.MULTILINE)
        if match is None:
            return False
        socket = match.group(1)
        if socket.startswith(("local:", "unix:")):
            return host.is_socket(socket.split(":", 1)[1])
        inet = re.fullmatch(r"inet6?:(\d+)(?:@.*)?", socket)
        return inet is not None and host.netns.accepts(int(inet.group(1)))

    return ready


def _start(server: ServerProcess, run: CaseRun, name: str) -> bool:
    """Start ``server``; a failure is recorded for the tests, not raised."""
    try:
        server.start()
    except pytest.fail.Exception as exc:
        run.failures[name] = str(exc)
        return False
    return True


def _process_uid(host: StockHost, program: str) -> int | None:
    """The uid of a running ``program`` in the case's namespace (e.g. Postfix's qmgr)."""
    for pid in host.pids():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if comm == program:
            match = re.search(r"^Uid:\s+\d+\s+(\d+)", status, re.MULTILINE)
            return int(match.group(1)) if match else None
    return None


def _delivery_key(raw: bytes) -> str:
    """The Subject tag, plus ``@outside`` when the last hop was 192.0.2.25 (a re-send)."""
    received = email.message_from_bytes(raw).get_all("Received", [])
    outside = bool(received) and f"[{OUTSIDE_ADDRESS}]" in str(received[0])
    return subject_tag(raw) + ("@outside" if outside else "")


def _deliveries(host: StockHost) -> dict[str, bytes]:
    return {_delivery_key(raw): raw for raw in split_mbox(host.read_bytes(MAILBOX) or b"")}


def run_case(case: Case, base: Path) -> Iterator[CaseRun]:
    """Set the host up, apply, start everything, send every message; yield what was seen."""
    loaded = yaml.safe_load(case.config.read_text())
    config = adapt_example(loaded)
    run = CaseRun(case.name, targets=tuple(config.get("targets", {})))
    with StockHost(base) as host:
        install_stock_postfix(host, MAIL_HOST)
        config_dir = host.case_dir / "config"
        config_dir.mkdir()
        config_path = config_dir / "mailauth.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        for name, target in case.fixtures:
            host.write_text(target, (case.config.parent / name).read_text())

        run.apply = host.mailauth("apply", "-c", config_path, "--root", "/", "--yes")
        if run.apply.returncode != 0:
            run.syslog = host.sink.text()
            yield run
            return
        run.replan = host.mailauth("plan", "-c", config_path, "--root", "/")
        # The README's steps, as printed, after apply and before the daemons (re)start.
        for step in readme_host_steps((REPO / "README.md").read_text()):
            if step.applies(run.targets):
                run.host_steps.append(host.run(["sh", "-c", step.command]))
        # The paths its platform: fills in count too (Debian's /etc/bind/named.conf.mailauth).
        bind = platforms.with_preset(config, ["bind"])["targets"].get("bind", {})
        includes = [bind["named_conf"]] if "named_conf" in bind else []
        servers: list[ServerProcess] = []
        try:
            named = StockNamed(host, includes=includes, zones=case.hand_zones, expect=case.domains)
            if _start(named, run, "named"):
                servers.append(named)
            daemons: dict[str, UnitDaemon] = {}
            for target in ("opendkim", "dkimpy_milter", "opendmarc"):
                if target not in run.targets:
                    continue
                unit_name, foreground, conf, program = UNITS[target]
                run.configs[conf] = (host.read_bytes(conf) or b"").decode(errors="replace")
                daemon = UnitDaemon(
                    host,
                    Unit.read(unit_name),
                    ready=_socket_ready(host, conf),
                    program=program,
                    foreground=foreground,
                )
                if _start(daemon, run, unit_name):
                    servers.append(daemon)
                daemons[unit_name] = daemon
            postfix = StockPostfix(host)
            if not _start(postfix, run, "postfix"):
                run.syslog = host.sink.text()
                yield run
                return
            servers.append(postfix)
            run.postconf = dict(
                zip(
                    THIRD_PARTY_SETTINGS,
                    host.postconf(*THIRD_PARTY_SETTINGS),
                    strict=True,
                )
            )

            # Our users submit; a spoofer on the outside claims our From:.
            for domain in case.domains:
                sender = f"someone@{domain}"
                tag = f"sub-{domain}"
                run.sent[tag] = smtp_send(
                    host,
                    case.submission_port,
                    sender,
                    RECIPIENT,
                    message(sender, RECIPIENT, tag),
                    tag=tag,
                )
            if case.local_mail:
                sender = f"cron@{case.domains[0]}"
                local = host.run(
                    [
                        *host.as_user("nobody", "nogroup"),
                        "/usr/sbin/sendmail",
                        "-f",
                        sender,
                        RECIPIENT,
                    ],
                    input=message(sender, RECIPIENT, "local"),
                )
                if local.returncode != 0:
                    run.failures["sendmail"] = str(local)
            spoofer = f"ceo@{case.domains[0]}"
            run.sent["spoof"] = smtp_send(
                host,
                25,
                spoofer,
                RECIPIENT,
                message(spoofer, RECIPIENT, "spoof"),
                tag="spoof",
                source=OUTSIDE_ADDRESS,
            )
            expected = [t for t, s in run.sent.items() if s.accepted]
            expected = [t if t != "spoof" else "spoof@outside" for t in expected]
            if case.local_mail and "sendmail" not in run.failures:
                expected.append("local")
            _wait_keys(host, expected)
            run.delivered = _deliveries(host)

            # Our signed mail comes back from outside (a forward, a list): judged inbound.
            first = run.delivered.get(f"sub-{case.domains[0]}")
            if first is not None and "opendmarc" in run.targets:
                again = without_delivery_headers(first)
                run.sent["resent"] = smtp_send(
                    host,
                    25,
                    f"someone@{case.domains[0]}",
                    RECIPIENT,
                    again,
                    tag="resent",
                    source=OUTSIDE_ADDRESS,
                )
                key = f"sub-{case.domains[0]}@outside"
                if run.sent["resent"].accepted:
                    _wait_keys(host, [*expected, key])
                run.delivered = _deliveries(host)

            for name, daemon in daemons.items():
                run.uids[name] = daemon.uid() if daemon.running else None
            run.uids["postfix"] = _process_uid(host, "qmgr")
            run.dnsfunc = _snapshot_dns(host, run, case.domains)
            run.syslog = host.sink.text()
            yield run
        finally:
            for server in reversed(servers):
                server.stop()


def _wait_keys(host: StockHost, keys: list[str], timeout: float = 20.0) -> None:
    """Wait until every key has been delivered (or time is up: the tests say what is missing)."""
    deadline = time.monotonic() + timeout
    while not set(keys) <= set(_deliveries(host)) and time.monotonic() < deadline:
        time.sleep(0.3)


def _snapshot_dns(
    host: StockHost, run: CaseRun, domains: tuple[str, ...]
) -> Callable[..., bytes | None]:
    """Answer every DNS name the tests will ask now, while the host's named still runs."""
    live = host_dnsfunc(host)
    lookup = live.lookup  # type: ignore[attr-defined]
    answers: dict[tuple[str, str], list[bytes] | None] = {}

    def ask(qname: str, rdtype: str) -> list[bytes] | None:
        key = (qname.rstrip(".").lower(), rdtype)
        if key not in answers:
            try:
                answers[key] = lookup(qname, rdtype)
            except AssertionError as exc:
                answers[key] = None
                run.failures.setdefault("dns", str(exc).splitlines()[0])
        return answers[key]

    names: set[str] = set()
    for raw in run.delivered.values():
        for sig in _signatures(raw):
            names.add(f"{sig[b's'].decode()}._domainkey.{sig[b'd'].decode()}")
    for name in names:
        ask(name, "TXT")
    for domain in domains:
        ask(domain, "TXT")
        ask(f"_dmarc.{domain}", "TXT")
        for mx in ask(domain, "MX") or []:
            ask(mx.split()[-1].decode(), "A")
        ask(domain, "A")

    def txt(name: bytes | str, timeout: float = 5) -> bytes | None:
        qname = name.decode() if isinstance(name, bytes) else name
        found = answers.get((qname.rstrip(".").lower(), "TXT"))
        return found[0] if found else None

    def cached(qname: str, rdtype: str) -> list[bytes] | None:
        return answers.get((qname.rstrip(".").lower(), rdtype))

    txt.lookup = cached  # type: ignore[attr-defined]
    return txt


# -- reading mail --------------------------------------------------------------------------


def _signatures(raw: bytes) -> list[dict[bytes, bytes]]:
    parsed = email.message_from_bytes(raw)
    return [
        dkim.util.parse_tag_value("".join(str(value).split()).encode())
        for value in parsed.get_all("DKIM-Signature", [])
    ]


def _verifies(raw: bytes, idx: int, dnsfunc: object) -> bool:
    try:
        return bool(dkim.DKIM(raw).verify(idx=idx, dnsfunc=dnsfunc))
    except dkim.ValidationError:
        return False


def _dmarc_results(raw: bytes) -> list[str]:
    """The ``dmarc=`` verdicts in the message's Authentication-Results headers."""
    parsed = email.message_from_bytes(raw)
    out: list[str] = []
    for value in parsed.get_all("Authentication-Results", []):
        out += re.findall(r"\bdmarc=(\w+)", " ".join(str(value).split()))
    return out


def _spf_passes(
    lookup: Callable[[str, str], list[bytes] | None], domain: str, ip: str, depth: int = 0
) -> bool:
    """A minimal SPF check (ip4, a, mx, include, redirect, all) of the generated record.

    Enough for the records these examples publish; another mechanism is a test error,
    never a silent pass.
    """
    assert depth < 10, f"SPF of {domain}: too many includes"
    records = [t.decode() for t in lookup(domain, "TXT") or [] if t.startswith(b"v=spf1")]
    if not records:
        return False
    address = ipaddress.ip_address(ip)
    for term in records[0].split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        mech = term.lstrip("+-~?")
        name, _, arg = mech.partition(":")
        if name == "all":
            return qualifier == "+"
        if name == "ip4":
            hit = address in ipaddress.ip_network(arg, strict=False)
        elif name == "a":
            hit = ip in {a.decode() for a in lookup(arg or domain, "A") or []}
        elif name == "mx":
            hosts = [mx.split()[-1].decode() for mx in lookup(arg or domain, "MX") or []]
            hit = any(ip in {a.decode() for a in lookup(h, "A") or []} for h in hosts)
        elif name == "include":
            hit = _spf_passes(lookup, arg, ip, depth + 1)
        elif mech.startswith("redirect="):
            return _spf_passes(lookup, mech.split("=", 1)[1], ip, depth + 1)
        else:
            raise AssertionError(f"SPF of {domain}: {term!r} is beyond this test's checker")
        if hit:
            return qualifier == "+"
    return False


# -- the cases -----------------------------------------------------------------------------


class StockHostChecks:
    """What every case must show (issue 12, Tests)."""

    case: ClassVar[Case]

    @pytest.fixture(scope="class")
    @classmethod
    def run(cls) -> Iterator[CaseRun]:
        for program in (
            "named",
            "dig",
            "postfix",
            "postconf",
            "sendmail",
            "nsenter",
            "unshare",
            "ip",
            "setpriv",
            "mount",
        ):
            require_binary(program)
        for unit, *_ in UNITS.values():
            require_binary(unit)
        with safe_directory(f"stock-{cls.case.name}-") as base:
            try:
                yield from run_case(cls.case, base)
            except HostError as exc:
                pytest.fail(f"the stock-host harness failed: {exc}", pytrace=False)

    def test_readme_host_steps_run_as_printed(self, run: CaseRun) -> None:
        failed = [str(r) for r in run.host_steps if r.returncode != 0]
        assert not failed, "a README host step failed as printed:\n" + "\n".join(failed)

    def test_apply_writes_the_stock_host(self, run: CaseRun) -> None:
        assert run.apply is not None and run.apply.returncode == 0, run.context()
        assert run.replan is not None and run.replan.returncode == 0, (
            f"plan after apply is not empty:\n{run.replan}"
        )

    def test_daemons_run_as_their_debian_users(self, run: CaseRun) -> None:
        assert run.apply is not None and run.apply.returncode == 0, run.context()
        assert not run.failures, run.context()
        expected = {
            unit: user for target, (unit, _, _, user) in UNITS.items() if target in run.targets
        }
        expected["postfix"] = "postfix"
        got = {name: pid_user(run.uids.get(name)) for name in expected}
        assert got == expected, run.context()

    def test_third_party_milter_keeps_its_place(self, run: CaseRun) -> None:
        assert run.postconf, run.context()
        for name in ("smtpd_milters", "non_smtpd_milters"):
            entries = [e for e in re.split(r"[\s,]+", run.postconf[name]) if e]
            assert entries[:1] == [THIRD_PARTY_MILTER], (
                f"{name} = {run.postconf[name]!r}: the host's {THIRD_PARTY_MILTER} is no "
                "longer first, where it was"
            )
            if name == "smtpd_milters":
                assert len(entries) > 1, f"{name} = {run.postconf[name]!r}: no mailauth milter"
        for name in ("milter_default_action", "milter_protocol"):
            assert run.postconf[name] == THIRD_PARTY_SETTINGS[name], (
                f"{name} = {run.postconf[name]!r}; the host had "
                f"{THIRD_PARTY_SETTINGS[name]!r} and mailauth.yaml does not set it"
            )

    def test_submitted_mail_leaves_signed(self, run: CaseRun) -> None:
        assert run.dnsfunc is not None, run.context()
        tags = {f"sub-{d}": d for d in self.case.domains}
        if self.case.local_mail:
            tags["local"] = self.case.domains[0]
        for tag, domain in tags.items():
            sent = run.sent.get(tag)
            assert sent is None or sent.accepted, (
                f"submitting {tag!r} on port {sent.port}: {sent.code} {sent.text}\n{run.context()}"
            )
            raw = run.delivered.get(tag)
            assert raw is not None, f"{tag!r} was not delivered\n{run.context()}"
            signatures = _signatures(raw)
            algorithms = sorted(s[b"a"].decode() for s in signatures)
            assert algorithms == sorted(self.case.algorithms), (
                f"{tag!r} From: {domain} left with signatures {algorithms}, expected "
                f"{sorted(self.case.algorithms)}\n{raw.decode(errors='replace')}\n"
                f"{run.context()}"
            )
            assert {s[b"d"] for s in signatures} == {domain.encode()}
            for idx in range(len(signatures)):
                assert _verifies(raw, idx, run.dnsfunc), (
                    f"{tag!r}: signature {idx} ({algorithms[idx]}) does not verify "
                    f"through the generated DNS\n{raw.decode(errors='replace')}"
                )

    def test_spoofed_mail_is_neither_signed_nor_passes_dmarc(self, run: CaseRun) -> None:
        assert run.dnsfunc is not None, run.context()
        raw = run.delivered.get("spoof@outside")
        sent = run.sent.get("spoof")
        if raw is None:
            # Refused outright is fine; a temporary failure means the host is broken.
            assert sent is not None and 500 <= sent.code < 600, run.context()
            return
        domain = self.case.domains[0]
        ours = [s for s in _signatures(raw) if s[b"d"].decode().endswith(domain)]
        assert not ours, f"spoofed mail was signed for {domain}:\n{raw.decode()}"
        lookup = run.dnsfunc.lookup  # type: ignore[attr-defined]
        assert not _spf_passes(lookup, domain, OUTSIDE_ADDRESS), (
            f"the generated SPF of {domain} authorises {OUTSIDE_ADDRESS}"
        )
        verdicts = _dmarc_results(raw)
        assert "pass" not in verdicts, raw.decode()
        if "opendmarc" in run.targets:
            assert verdicts == ["fail"], raw.decode()


class DmarcChecks:
    """For cases with OpenDMARC: our own signed mail, arriving from outside, passes."""

    def test_our_signed_mail_from_outside_passes_dmarc(self, run: CaseRun) -> None:
        case: Case = self.case  # type: ignore[attr-defined]
        key = f"sub-{case.domains[0]}@outside"
        raw = run.delivered.get(key)
        assert raw is not None, f"the re-sent message was not delivered\n{run.context()}"
        assert _dmarc_results(raw)[:1] == ["pass"], (
            f"{raw.decode(errors='replace')}\n{run.context()}"
        )


class TestSlackbox(StockHostChecks):
    """examples/slackbox: OpenDKIM on inet:8891@127.0.0.1, two domains."""

    case = SLACKBOX


class TestDualSigning(StockHostChecks, DmarcChecks):
    """examples/dual-signing: dkimpy-milter (RSA + Ed25519) and OpenDMARC."""

    case = DUAL


class TestDebian(StockHostChecks):
    """examples/debian: the slackbox setup on the Debian preset (no path in the file):
    zones in /etc/bind, keys in /etc/dkimkeys, the package's opendkim.conf merged."""

    case = DEBIAN

    def test_the_packages_trust_anchor_is_kept(self, run: CaseRun) -> None:
        assert run.apply.returncode == 0, run.apply
        conf = Path("/etc/opendkim.conf").read_text()
        anchor = [line for line in conf.splitlines() if line.startswith("TrustAnchorFile")]
        assert anchor, "the stock host's opendkim.conf has no TrustAnchorFile to keep"
        applied = run.configs["/etc/opendkim.conf"]
        assert anchor[0] in applied.splitlines(), applied


class TestIncludeSocket(StockHostChecks):
    """A hand-kept zone that $INCLUDEs mailauth's fragment; OpenDKIM on a UNIX socket."""

    case = INCLUDE_SOCKET


# -- the suite covers every example; the step parser reads the format the README will use ---


def test_every_example_with_a_mail_side_has_a_case() -> None:
    covered = {c.config.parent.name for c in (SLACKBOX, DUAL, DEBIAN)}
    assert set(MAIL_SIDE_OF.values()) <= covered
    covered |= set(MAIL_SIDE_OF)
    for path in sorted(EXAMPLES.glob("*/mailauth.yaml")):
        targets = set((yaml.safe_load(path.read_text()) or {}).get("targets", {}))
        name = path.parent.name
        if targets & MAIL_TARGETS:
            assert name in covered, f"examples/{name} runs a mail server: add a stock case"
        else:
            assert name in DNS_ONLY_EXAMPLES, f"examples/{name}: DNS only? list it"


def test_readme_host_steps_format() -> None:
    readme = """\
# mailauth

## Host steps

What apply cannot do by writing files; `mailauth plan` prints those your setup needs.

```sh
# comment lines are skipped
usermod -aG opendkim postfix     # with: opendkim
true
```

## Next
```sh
not-a-step
```
"""
    steps = readme_host_steps(readme)
    assert [(s.command, s.targets) for s in steps] == [
        ("usermod -aG opendkim postfix", ("opendkim",)),
        ("true", ()),
    ]
    assert steps[0].applies(["opendkim", "postfix"])
    assert not steps[0].applies(["dkimpy_milter"])
    assert readme_host_steps("# mailauth\n\nNo steps.\n") == []


def test_mbox_split_keeps_messages_apart() -> None:
    data = (
        b"From a@x  Tue Dec  1 00:00:00 2026\nSubject: one\n\nbody\n>From here\n\n"
        b"From b@x  Tue Dec  1 00:00:01 2026\nSubject: two\n\nbody two\n\n"
    )
    assert split_mbox(data) == [
        b"Subject: one\n\nbody\nFrom here\n",
        b"Subject: two\n\nbody two\n",
    ]
