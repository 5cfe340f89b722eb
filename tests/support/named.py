"""A real BIND ``named`` serving given zone files on 127.0.0.1 and a high port.

    with NamedServer([("slackbox.fr", path)]) as named:
        answer = named.resolver().resolve("slackbox.fr.", "TXT")

named runs in the foreground (``-g``: log on stderr, which goes to the log file), IPv4
only, with no recursion, no DNSSEC validation, no control channel (``controls {}``: no
rndc key and no port 953 shared between parallel servers) and every file it writes kept
in its own work directory. It is ready when every zone answers an authoritative SOA.
``reload()`` sends SIGHUP, the no-rndc way to make it re-read its zones.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
from collections.abc import Iterable, Sequence
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.zone

from support.net import free_port, wait_until
from support.process import ServerProcess
from support.tools import require_binary

_CONF_UNSAFE = re.compile(r'["\\\n;{}]')
_LOAD_FAILED = re.compile(
    r"zone (\S+): (?:not loaded due to errors|loading from master file .*failed.*)"
)
_BIND_FAILED = re.compile(r"could not listen on|address in use|unable to listen", re.IGNORECASE)


def resolver(port: int, address: str = "127.0.0.1", timeout: float = 3.0) -> dns.resolver.Resolver:
    """A dnspython resolver that asks only ``address:port`` and never caches."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [address]
    res.port = port
    res.timeout = timeout
    res.lifetime = timeout * 2
    res.cache = None
    res.use_edns(0, 0, 4096)
    return res


def _quoted(value: str | Path) -> str:
    text = str(value)
    if _CONF_UNSAFE.search(text):
        raise ValueError(f"{text!r} cannot be put in named.conf by this helper")
    return f'"{text}"'


class NamedServer(ServerProcess):
    """named for the zones ``(name, zone file)``; see the module docstring.

    ``port=None`` picks a free port (and picks again if another process takes it first).
    ``options`` and ``config`` are extra text for the ``options {}`` block and the end of
    named.conf. ``wrap`` runs named inside something (``ip netns exec NS``).
    """

    name = "named"

    def __init__(
        self,
        zones: Iterable[tuple[str, str | Path]],
        *,
        port: int | None = None,
        address: str = "127.0.0.1",
        workdir: Path | None = None,
        options: str = "",
        config: str = "",
        wrap: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(workdir=workdir, wrap=wrap, start_timeout=start_timeout)
        self.zones = [(zone.rstrip("."), Path(path)) for zone, path in zones]
        self._fixed_port = port
        self.port = port if port is not None else free_port(address)
        self.address = address
        self.options = options
        self.config = config
        self.conf_path = self.workdir / "named.conf"
        self.binary = require_binary("named")

    def named_conf(self) -> str:
        work = self.workdir
        lines = [
            "options {",
            f"    directory {_quoted(work)};",
            f"    pid-file {_quoted(work / 'named.pid')};",
            f"    session-keyfile {_quoted(work / 'session.key')};",
            f"    managed-keys-directory {_quoted(work)};",
            f"    dump-file {_quoted(work / 'named_dump.db')};",
            f"    statistics-file {_quoted(work / 'named.stats')};",
            f"    listen-on port {self.port} {{ {self.address}; }};",
            "    listen-on-v6 { none; };",
            "    recursion no;",
            "    dnssec-validation no;",
            "    notify no;",
            "    allow-query { any; };",
            f"    allow-transfer {{ {self.address}; }};",
        ]
        if self.options:
            lines.append(self.options)
        lines += ["};", "", "controls { };", ""]
        for zone, path in self.zones:
            lines.append(f"zone {_quoted(zone)} {{ type primary; file {_quoted(path)}; }};")
        if self.config:
            lines += ["", self.config]
        return "\n".join(lines) + "\n"

    def prepare(self) -> None:
        self.conf_path.write_text(self.named_conf())

    def argv(self) -> list[str]:
        argv = [self.binary, "-g", "-4", "-c", str(self.conf_path), "-p", str(self.port)]
        if os.geteuid() == 0:
            # As root named would switch to its own user unless told; stay root so it can
            # read zone files wherever the test wrote them.
            argv += ["-u", pwd.getpwuid(0).pw_name]
        return argv

    def resolver(self, timeout: float = 3.0) -> dns.resolver.Resolver:
        return resolver(self.port, self.address, timeout)

    def query(
        self, qname: str, rdtype: str, *, tcp: bool = False, timeout: float = 3.0
    ) -> dns.message.Message:
        """One raw query (no resolver logic): for rcodes and flags."""
        request = dns.message.make_query(qname, rdtype, use_edns=0, payload=4096)
        request.flags &= ~dns.flags.RD
        send = dns.query.tcp if tcp else dns.query.udp
        return send(request, self.address, timeout=timeout, port=self.port)

    def soa_serial(self, zone: str, timeout: float = 0.25) -> int | None:
        """The serial named serves for ``zone`` now, or None if it does not serve it."""
        try:
            response = self.query(zone.rstrip(".") + ".", "SOA", timeout=timeout)
        except (dns.exception.DNSException, OSError):
            return None
        if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
            return None
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def transfer(self, zone: str) -> dns.zone.Zone:
        """The whole zone as named serves it (AXFR over TCP)."""
        messages = dns.query.xfr(self.address, zone, port=self.port, lifetime=10, relativize=False)
        return dns.zone.from_xfr(messages, relativize=False)

    def is_ready(self) -> bool:
        return all(self.soa_serial(zone) is not None for zone, _ in self.zones)

    def failed_early(self) -> str | None:
        log = self.log_text()
        failed = _LOAD_FAILED.search(log)
        if failed:
            return f"zone {failed.group(1)} did not load: {failed.group(0)}"
        if "exiting (due to fatal error" in log or _BIND_FAILED.search(log):
            return "named failed to start (see log)"
        return None

    def start(self) -> NamedServer:
        if self._fixed_port is not None:
            super().start()
            return self
        for attempt in range(3):
            try:
                super().start()
                return self
            except BaseException:
                if attempt == 2 or not _BIND_FAILED.search(self.log_text()):
                    raise
            self.port = free_port(self.address)  # someone took the port: try another
            self.log_path.write_text("")
        return self

    def reload(self, timeout: float = 15.0, expect: dict[str, int] | None = None) -> None:
        """SIGHUP: named re-reads named.conf and every zone file whose mtime changed.

        With ``expect`` (zone -> serial), waits until named serves those serials.
        """
        self.prepare()
        self.send_signal(signal.SIGHUP)
        if expect:
            ok = wait_until(
                lambda: all(self.soa_serial(z) == s for z, s in expect.items()),
                timeout=timeout,
                give_up=lambda: not self.running,
            )
            if not ok:
                self.fail(f"after reload, serials are not {expect}")


def rrsets(zone: dns.zone.Zone) -> dict[tuple[str, str], dns.rrset.RRset]:
    """``(absolute owner, type) -> rrset`` of a transferred zone."""
    out: dict[tuple[str, str], dns.rrset.RRset] = {}
    for name, node in zone.nodes.items():
        assert zone.origin is not None
        owner = name.derelativize(zone.origin).to_text()
        for rdataset in node.rdatasets:
            rrset = dns.rrset.from_rdata_list(
                dns.name.from_text(owner), rdataset.ttl, list(rdataset)
            )
            out[(owner, dns.rdatatype.to_text(rdataset.rdtype))] = rrset
    return out
