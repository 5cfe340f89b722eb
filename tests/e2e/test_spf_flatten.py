"""SPF budget and flattening against a real named serving a third party's SPF records.

named serves ``thirdparty.test``: an ``_spf`` record that includes three more (addresses,
an ``a:``, an ``mx:``), plus a ``_deep`` chain of includes. mailauth asks it with
``--nameserver``: lint counts the lookups through the real DNS, ``spf refresh`` writes the
cache, plan publishes the flattened record and its ``_spf1``... chain, and a second named
serving the zone mailauth wrote must authorise exactly the addresses the third party
does, in records that fit a 512-octet UDP answer. Then the third party changes a network:
``lint --resolve`` notices, ``spf refresh`` records it, and plan shows it as a diff.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.resolver
import pytest
from support import NamedServer, run_mailauth

pytestmark = pytest.mark.e2e

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def strings(text: str) -> str:
    """``text`` as zone-file character-strings of at most 250 octets (joined on read)."""
    return " ".join(f'"{text[i : i + 250]}"' for i in range(0, len(text), 250))


def third_party_zone(serial: int, extra: str = "") -> str:
    # 40 separate /24s: far too many for one record once flattened.
    blocks = " ".join(f"ip4:10.{i}.{2 * i}.0/24" for i in range(40))
    # _deep -> _d1 -> ... -> _d5: six lookups for whoever includes _deep.
    deep = "\n".join(f'_d{i} TXT "v=spf1 include:_d{i + 1}.thirdparty.test"' for i in range(1, 5))
    return f"""$ORIGIN thirdparty.test.
$TTL 60
@ SOA ns.thirdparty.test. hostmaster.thirdparty.test. {serial} 3600 600 86400 60
@ NS ns
@ MX 10 mx1
ns A 127.0.0.1
mx1 A 192.0.2.25
mx1 AAAA 2001:db8:25::1
relay A 198.51.100.77
_spf TXT "v=spf1 include:_blocks.thirdparty.test include:_v6.thirdparty.test " "include:_mx.thirdparty.test ~all"
_blocks TXT {strings(f"v=spf1 {blocks} {extra} ~all")}
_v6 TXT "v=spf1 ip6:2001:db8:1000::/36 a:relay.thirdparty.test -all"
_mx TXT "v=spf1 mx:thirdparty.test"
_deep TXT "v=spf1 include:_d1.thirdparty.test"
{deep}
_d5 TXT "v=spf1 ip4:203.0.113.0/24 -all"
"""  # noqa: E501


CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.test, ipv4: [192.0.2.10]}
zones:
  - name: example.test
    ns: [ns1.example.test]
    records:
      - {name: ns1, type: A, value: 127.0.0.1}
domains:
  - name: example.test
    spf:
      include: [_spf.thirdparty.test, _deep.thirdparty.test]
      flatten: [_spf.thirdparty.test]
    dmarc: {p: none, rua: [dmarc@example.test]}
targets:
  bind: {directory: /var/named, named_conf: null}
"""


def spf_of(resolver: dns.resolver.Resolver, name: str) -> str:
    answer = resolver.resolve(name, "TXT")
    texts = [b"".join(r.strings).decode() for r in answer]
    (record,) = [t for t in texts if t.startswith("v=spf1")]
    return record


def passing_networks(resolver: dns.resolver.Resolver, name: str) -> set[Network]:
    """The networks ``name``'s SPF record passes, walked with plain DNS queries.

    Independent of mailauth: follows include/redirect, resolves a/mx, keeps ip4/ip6.
    """
    found: set[Network] = set()
    for term in spf_of(resolver, name).split()[1:]:
        kind, _, value = term.partition(":")
        if kind == "include":
            found |= passing_networks(resolver, value)
        elif kind in ("ip4", "ip6"):
            found.add(ipaddress.ip_network(value, strict=False))
        elif kind == "a":
            for rdtype in ("A", "AAAA"):
                answer = resolver.resolve(value, rdtype, raise_on_no_answer=False)
                found |= {ipaddress.ip_network(r.to_text()) for r in answer.rrset or []}
        elif kind == "mx":
            for mx in resolver.resolve(value, "MX"):
                host = mx.exchange.to_text()
                for rdtype in ("A", "AAAA"):
                    answer = resolver.resolve(host, rdtype, raise_on_no_answer=False)
                    found |= {ipaddress.ip_network(r.to_text()) for r in answer.rrset or []}
    return found


def addresses(networks: set[Network]) -> set[Network]:
    """Networks merged, so two ways of writing the same ranges compare equal."""
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return set(ipaddress.collapse_addresses(v4)) | set(ipaddress.collapse_addresses(v6))


def test_flattening_against_a_real_third_party(tmp_path: Path) -> None:
    upstream = tmp_path / "thirdparty.test.zone"
    upstream.write_text(third_party_zone(1))
    config = tmp_path / "config" / "mailauth.yaml"
    config.parent.mkdir()
    config.write_text(CONFIG)
    root = tmp_path / "root"
    cache = config.parent / "mailauth.spf.json"

    with NamedServer([("thirdparty.test", upstream)], workdir=tmp_path / "named-3p") as third:
        ns = ["--nameserver", f"127.0.0.1:{third.port}"]

        # Offline, the flattened include is not known yet: lint and plan refuse.
        lint = run_mailauth("lint", "-c", config, expect=1)
        assert "SPF025" in lint.stdout
        run_mailauth("plan", "-c", config, "--root", root, expect=1)

        # Through the real DNS the unflattened record needs mx + 6 (the _spf tree) + 6
        # (the _deep chain) = 13 lookups: over the limit; the tree shows where.
        budget = run_mailauth("spf", "budget", "-c", config, "--resolve", *ns, expect=1)
        assert "example.test: 13 DNS lookup(s), limit 10" in budget.stdout, budget.stdout
        (eleventh,) = [line for line in budget.stdout.splitlines() if "#11" in line]
        assert "include:_d3.thirdparty.test" in eleventh and "over the limit" in eleventh

        refresh = run_mailauth("spf", "refresh", "-c", config, *ns)
        assert "wrote" in refresh.stdout and cache.exists()
        cached = json.loads(cache.read_text())["names"]
        assert "_spf.thirdparty.test" in cached and "mx1.thirdparty.test" in cached

        lint = run_mailauth("lint", "-c", config, "--format", "json")
        doc = json.loads(lint.stdout)
        assert doc["summary"]["error"] == 0, lint.stdout
        (count,) = [b for b in doc["spf"] if b["domain"] == "example.test"]
        # mx + the _spf chain links + include:_deep (1 + 5 inside).
        links = sum(1 for n in count["tree"] if n["term"].startswith("include:_spf1."))
        assert links == 1 and count["lookups"] == 9, count

        run_mailauth("plan", "-c", config, "--root", root, expect=2)
        run_mailauth("apply", "-c", config, "--root", root, "--yes")
        run_mailauth("plan", "-c", config, "--root", root, expect=0)

        zone_file = root / "var/named/zone.example.test"
        with NamedServer([("example.test", zone_file)], workdir=tmp_path / "named-me") as me:
            mine = me.resolver()
            apex = spf_of(mine, "example.test.")
            assert apex == (
                "v=spf1 mx include:_spf1.example.test include:_deep.thirdparty.test ~all"
            )
            # The chain authorises exactly what the third party does.
            published = passing_networks(mine, "_spf1.example.test.")
            assert addresses(published) == addresses(
                passing_networks(third.resolver(), "_spf.thirdparty.test.")
            )
            # Every link fits a plain 512-octet UDP answer (no truncation, no EDNS).
            name = "_spf1.example.test."
            while True:
                query = dns.message.make_query(name, "TXT", use_edns=False)
                response = dns.query.udp(query, "127.0.0.1", port=me.port, timeout=3)
                assert not response.flags & dns.flags.TC, f"{name} does not fit 512 octets"
                record = spf_of(mine, name)
                assert len(record.encode()) <= 450
                nxt = [t for t in record.split() if t.startswith("include:")]
                if not nxt:
                    break
                name = nxt[0].removeprefix("include:") + "."

        # The third party adds a network.
        upstream.write_text(third_party_zone(2, extra="ip4:172.16.99.0/24"))
        third.reload(expect={"thirdparty.test": 2})
        lint = run_mailauth("lint", "-c", config, "--resolve", *ns)
        assert "warning SPF027" in lint.stdout and "+ ip4:172.16.99.0/24" in lint.stdout
        run_mailauth("spf", "refresh", "-c", config, "--check", *ns, expect=2)
        refresh = run_mailauth("spf", "refresh", "-c", config, *ns)
        assert "+ ip4:172.16.99.0/24" in refresh.stdout
        plan = run_mailauth("plan", "-c", config, "--root", root, expect=2)
        assert "ip4:172.16.99.0/24" in plan.stdout
        run_mailauth("apply", "-c", config, "--root", root, "--yes")
        run_mailauth("plan", "-c", config, "--root", root, expect=0)
        run_mailauth("spf", "refresh", "-c", config, "--check", *ns, expect=0)
