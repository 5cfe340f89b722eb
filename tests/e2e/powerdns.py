"""A real PowerDNS authoritative server with its HTTP API, on 127.0.0.1 and high ports.

    with PowerDnsServer() as pdns:
        pdns.create_zone("example.org", nameservers=["ns1.example.org"])
        ...  # octodns-powerdns: host=pdns.address, port=pdns.api_port, api_key=pdns.api_key
        answer = pdns.resolver().resolve("example.org.", "TXT")

``pdns_server`` runs in the foreground (``daemon=no``, ``guardian=no``) with everything in
its own work directory: the config (``--config-dir``), the control socket (``socket-dir``)
and a gsqlite3 database made from Debian's schema. Caches are off, so a query right after
an API change sees it. It is ready when the API answers and the DNS port responds.
Missing ``pdns_server`` or the sqlite3 backend skips the test, or fails it under CI=true.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.resolver
from support import ServerProcess, free_port, require_binary, resolver, unavailable

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
_BIND_FAILED = ("Unable to bind", "Address already in use", "address in use")


class PowerDnsServer(ServerProcess):
    """pdns_server (gsqlite3 backend, API on); see the module docstring."""

    name = "pdns_server"

    def __init__(
        self,
        *,
        address: str = "127.0.0.1",
        workdir: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(workdir=workdir, start_timeout=start_timeout)
        self.binary = require_binary("pdns_server")
        if not SCHEMA.exists():
            unavailable(f"{SCHEMA} is missing (apt-get install pdns-backend-sqlite3)")
        self.address = address
        self.api_key = secrets.token_hex(16)
        self.port = free_port(address)
        self.api_port = free_port(address)
        self.database = self.workdir / "pdns.sqlite3"
        self.conf_path = self.workdir / "pdns.conf"

    # -- configuration -----------------------------------------------------------------

    def pdns_conf(self) -> str:
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(self.database),
            "local-address": self.address,
            "local-port": str(self.port),
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": self.address,
            "webserver-port": str(self.api_port),
            "webserver-allow-from": f"{self.address}/32",
            "guardian": "no",
            "daemon": "no",
            "socket-dir": str(self.workdir),
            "disable-syslog": "yes",
            "write-pid": "no",
            "security-poll-suffix": "",
            "cache-ttl": "0",
            "negquery-cache-ttl": "0",
            "query-cache-ttl": "0",
            "distributor-threads": "1",
            "receiver-threads": "1",
            "loglevel": "5",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def prepare(self) -> None:
        if not self.database.exists():
            with sqlite3.connect(self.database) as db:
                db.executescript(SCHEMA.read_text())
        self.conf_path.write_text(self.pdns_conf())

    def argv(self) -> list[str]:
        return [self.binary, f"--config-dir={self.workdir}"]

    # -- readiness -----------------------------------------------------------------------

    def _dns_answers(self) -> bool:
        request = dns.message.make_query("ready.invalid.", "SOA")
        try:
            dns.query.udp(request, self.address, timeout=0.5, port=self.port)
        except (dns.exception.DNSException, OSError):
            return False
        return True

    def is_ready(self) -> bool:
        try:
            self.api("GET", "")
        except (OSError, urllib.error.URLError):
            return False
        return self._dns_answers()

    def failed_early(self) -> str | None:
        log = self.log_text()
        if any(marker in log for marker in _BIND_FAILED):
            return "pdns_server could not bind its ports (see log)"
        if "Fatal error" in log or "Exiting because" in log:
            return "pdns_server failed to start (see log)"
        return None

    def start(self) -> PowerDnsServer:
        for attempt in range(3):
            try:
                super().start()
                return self
            except BaseException:
                if attempt == 2 or not any(m in self.log_text() for m in _BIND_FAILED):
                    raise
            # another process took a port between free_port() and the bind: pick again
            self.port = free_port(self.address)
            self.api_port = free_port(self.address)
            self.log_path.write_text("")
        return self

    # -- the HTTP API --------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{self.api_port}/api/v1/servers/localhost"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the decoded JSON answer (None for an empty one)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api_url + (f"/{path}" if path else ""),
            data=data,
            method=method,
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def create_zone(self, zone: str, nameservers: list[str]) -> None:
        """A Native zone with its SOA and these apex NS, as an operator would make it."""
        self.api(
            "POST",
            "zones",
            {
                "name": zone.rstrip(".") + ".",
                "kind": "Native",
                "nameservers": [ns.rstrip(".") + "." for ns in nameservers],
            },
        )

    def rrsets(self, zone: str) -> dict[tuple[str, str], list[str]]:
        """``(name, type) -> [content]`` as the API reports the zone."""
        doc = self.api("GET", f"zones/{zone.rstrip('.')}.")
        return {
            (rrset["name"], rrset["type"]): sorted(r["content"] for r in rrset["records"])
            for rrset in doc["rrsets"]
        }

    # -- DNS -----------------------------------------------------------------------------

    def resolver(self, timeout: float = 3.0) -> dns.resolver.Resolver:
        return resolver(self.port, self.address, timeout)
