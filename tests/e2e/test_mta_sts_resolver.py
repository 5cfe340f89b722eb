"""MTA-STS end to end: postfix-mta-sts-resolver fetches what mailauth wrote, as Postfix asks.

``mailauth apply`` writes the zones, the policy files and the nginx server blocks into a
root. A real ``named`` serves the zones on 127.0.0.1 and a high port; a real ``nginx``
serves the web root with the generated server blocks (support/nginx.py: a ``trustme``
certificate in place of the host's, and ``listen 127.0.0.1:PORT`` in place of 443). Then
the resolver's own socketmap daemon (``STSSocketmapResponder``, what Postfix's
``smtp_tls_policy_maps = socketmap:...`` talks to) answers Postfix's question for each
domain, over its netstring protocol.

What the resolver cannot be told: it has no setting for the DNS server's port, nor for
the CA to trust, and it fetches ``https://mta-sts.<domain>/`` on port 443. So, with its
code otherwise unchanged, two pieces it builds are given their test-time equivalents:
its aiodns resolver (``STSResolver._resolver``) asks named's port, and its HTTP session
gets a connector whose resolver asks named for ``mta-sts.<domain>`` (A, or CNAME then A)
and connects to nginx's port, with an SSL context trusting the test CA. Everything it
checks itself (the TXT record and its id, the policy's content type, size, fields and
mx list) runs as shipped.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.resolver
import pytest
from support import NamedServer, require_module
from support.nginx import NginxServer

from mailauth.compiler import driver
from mailauth.compiler.model import MailModel

pytestmark = [
    pytest.mark.e2e,
    # the resolver's own call of aiodns' query(), not ours
    pytest.mark.filterwarnings("ignore:query\\(\\) is deprecated:DeprecationWarning"),
]

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [127.0.0.1]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 127.0.0.1}
      - {name: web, type: A, value: 127.0.0.1}
  - name: example.net
    ns: [ns1.example.org]
    records:
      - {name: mx2, type: A, value: 127.0.0.1}
defaults:
  dmarc: {p: none, rua: [dmarc@example.org]}
domains:
  - name: example.org
    mta_sts: {mode: testing, max_age: 86400}
  - name: example.net
    mx: [{host: mail.example.org}, {host: mx2.example.net, priority: 20}]
    mta_sts:
      mode: enforce
      max_age: 604800
      mx: [mail.example.org, "*.example.net"]
      host: web.example.org
targets:
  bind: {directory: /var/named, named_conf: null}
  mta_sts: {directory: /var/www/mta-sts, nginx: /etc/nginx/conf.d/mta-sts.conf}
"""
WEB_ROOT = "var/www/mta-sts"
POLICY = "/.well-known/mta-sts.txt"


@dataclass
class Site:
    root: Path
    model: MailModel
    dns_port: int
    https_port: int
    client_ssl: ssl.SSLContext


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    trustme = require_module("trustme")
    require_module("postfix_mta_sts_resolver")
    base = tmp_path_factory.mktemp("mta-sts")
    config = base / "mailauth.yaml"
    config.write_text(CONFIG)
    root = base / "root"
    assert driver.apply(driver.open_job(config, root, None), lambda _plan: True) is not None
    model = driver.model_for(driver.open_job(config, root, None))

    ca = trustme.CA()
    issued = ca.issue_cert("mta-sts.example.org", "mta-sts.example.net")
    cert, key = base / "cert.pem", base / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    servers = root / "etc/nginx/conf.d/mta-sts.conf"
    zones = [(z, root / f"var/named/zone.{z}") for z in ("example.org", "example.net")]
    with (
        NginxServer(servers, root, cert, key, base / "nginx") as nginx,
        NamedServer(zones, workdir=base / "named") as named,
    ):
        yield Site(root, model, named.port, nginx.port, client_ssl)


class NamedHttpsResolver:
    """aiohttp's resolver for the policy fetch: names through named, port 443 to the
    test HTTPS server's port (aiohttp connects to the port the resolver returns)."""

    def __init__(self, dns_port: int, https_port: int) -> None:
        self.dns = dns.asyncresolver.Resolver(configure=False)
        self.dns.nameservers = ["127.0.0.1"]
        self.dns.port = dns_port
        self.https_port = https_port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        answer = await self.address(host)
        return [
            {
                "hostname": host,
                "host": rdata.address,
                "port": self.https_port if port == 443 else port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for rdata in answer
        ]

    async def address(self, host: str) -> dns.resolver.Answer:
        """A records of ``host``, following CNAMEs across zones as a recursive resolver
        does (named, authoritative only, answers a CNAME into another zone without the
        target's records)."""
        name = host
        for _ in range(8):
            answer = await self.dns.resolve(name, "A", raise_on_no_answer=False)
            if answer.rrset is not None:
                return answer
            cname = await self.dns.resolve(name, "CNAME")
            name = str(cname[0].target)
        raise AssertionError(f"{host}: CNAME chain too long")

    async def close(self) -> None:
        pass


async def _ask(site: Site, requests: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Start the resolver's socketmap daemon on a free port, ask it as Postfix does, and
    return its answers and its cache (domain -> policy id and body)."""
    import aiodns
    import aiohttp
    from aiohttp.abc import AbstractResolver
    from postfix_mta_sts_resolver import netstring
    from postfix_mta_sts_resolver import resolver as sts_resolver
    from postfix_mta_sts_resolver.internal_cache import InternalLRUCache
    from postfix_mta_sts_resolver.responder import STSSocketmapResponder
    from postfix_mta_sts_resolver.utils import populate_cfg_defaults

    loop = asyncio.get_running_loop()
    AbstractResolver.register(NamedHttpsResolver)

    def session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        kwargs.pop("loop", None)
        connector = aiohttp.TCPConnector(
            resolver=NamedHttpsResolver(site.dns_port, site.https_port),  # type: ignore[arg-type]
            ssl=site.client_ssl,
        )
        return aiohttp.ClientSession(*args, connector=connector, **kwargs)

    shipped = sts_resolver.aiohttp
    sts_resolver.aiohttp = types.SimpleNamespace(  # type: ignore[assignment]
        ClientSession=session, ClientTimeout=aiohttp.ClientTimeout, helpers=aiohttp.helpers
    )
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        cfg = populate_cfg_defaults(
            {
                "host": "127.0.0.1",
                "port": port,
                "reuse_port": True,  # its only working TCP setting (False: opts unbound)
                "shutdown_timeout": 1,
                "zones": {"strict": {"strict_testing": True}},
            }
        )
        cache = InternalLRUCache()
        await cache.setup()
        responder = STSSocketmapResponder(cfg, loop, cache)
        for zone in [responder._default_zone, *responder._zones.values()]:
            zone.resolver._resolver = aiodns.DNSResolver(
                nameservers=[f"127.0.0.1:{site.dns_port}"], loop=loop, timeout=4
            )
        await responder.start()
        answers = []
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for request in requests:
                writer.write(netstring.encode(request.encode()))
                await writer.drain()
                stream = netstring.StreamReader()
                parts: list[bytes] = []
                string = stream.next_string()
                while True:
                    try:
                        chunk = string.read()
                    except netstring.WantRead:
                        stream.feed(await asyncio.wait_for(reader.read(4096), 20))
                        continue
                    if not chunk:
                        break
                    parts.append(chunk)
                answers.append(b"".join(parts).decode())
            writer.close()
        finally:
            await responder.stop()
        cached = {d: await cache.get(d) for d in ("example.org", "example.net")}
        await cache.teardown()
        return answers, cached
    finally:
        sts_resolver.aiohttp = shipped  # type: ignore[assignment]


def match_set(answer: str) -> tuple[str, set[str]]:
    head, _, rest = answer.partition(" match=")
    patterns, _, tail = rest.partition(" ")
    return f"{head} {tail}".strip(), set(patterns.split(":"))


def test_resolver_answers_postfix_with_the_enforced_policy(site: Site) -> None:
    answers, cached = asyncio.run(
        _ask(site, ["postfix example.net", "postfix example.org", "strict example.org"])
    )
    enforce, testing, strict = answers
    # enforce: TLS required, to the policy's mx patterns (a wildcard as ".example.net")
    assert match_set(enforce) == (
        "OK secure servername=hostname",
        {"mail.example.org", ".example.net"},
    )
    # testing: Postfix is told nothing (deliver as before), unless the map is strict
    assert testing == "NOTFOUND "
    assert match_set(strict) == ("OK secure servername=hostname", {"mail.example.org"})
    # and took the id from the _mta-sts TXT record: the id of the very bytes it fetched
    for name, entry in cached.items():
        policy = next(d for d in site.model.domains if d.name == name).mta_sts
        assert policy is not None and entry is not None
        assert entry.pol_id == policy.id
        assert entry.pol_body["mode"] == policy.mode
        assert entry.pol_body["max_age"] == policy.max_age
        assert sorted(entry.pol_body["mx"]) == sorted(policy.mx)


def test_served_policy_is_the_written_file(site: Site) -> None:
    for domain in site.model.domains:
        assert domain.mta_sts is not None
        path = site.root / WEB_ROOT / domain.name / POLICY.lstrip("/")
        assert path.read_bytes() == domain.mta_sts.text()


def fetch(site: Site, host: str, path: str) -> tuple[int, str, bytes]:
    """GET ``https://host/path`` from nginx, with SNI and certificate checks for ``host``."""
    raw = socket.create_connection(("127.0.0.1", site.https_port), timeout=10)
    conn = http.client.HTTPSConnection(host, site.https_port, timeout=10)
    conn.sock = site.client_ssl.wrap_socket(raw, server_hostname=host)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


def test_nginx_serves_each_policy_at_its_own_host_and_nothing_else(site: Site) -> None:
    for domain in site.model.domains:
        assert domain.mta_sts is not None
        status, kind, body = fetch(site, f"mta-sts.{domain.name}", POLICY)
        assert (status, kind, body) == (200, "text/plain", domain.mta_sts.text())
    assert fetch(site, "mta-sts.example.org", "/")[0] == 404
    assert fetch(site, "mta-sts.example.org", "/.well-known/other.txt")[0] == 404
