"""The SPF lookup counter against worked examples (RFC 7208 section 4.6.4, appendix A).

Each case gives the DNS a receiver would see and the count it must make: which terms cost
a lookup, the 11th lookup (even on the last term), redirect= followed, void lookups, the
MX host limit, loops. The DNS here is a plain table (a CacheView), so the counter is tested
apart from mailauth.yaml; tests/test_lint_rules.py covers the same through the model.
"""

from __future__ import annotations

import pytest

from mailauth.compiler.spf.budget import Budget, count, render
from mailauth.compiler.spf.dnsview import CacheView
from mailauth.compiler.spf.syntax import expand, parse

# The DNS of RFC 7208 appendix A.
RFC_ZONE: dict[str, dict[str, list[str]]] = {
    "example.com": {"mx": ["mail-a.example.com", "mail-b.example.com"], "a": ["192.0.2.10"]},
    "amy.example.com": {"a": ["192.0.2.65"], "aaaa": []},
    "bob.example.com": {"a": ["192.0.2.66"], "aaaa": []},
    "mail-a.example.com": {"a": ["192.0.2.129"], "aaaa": []},
    "mail-b.example.com": {"a": ["192.0.2.130"], "aaaa": []},
    "example.org": {"mx": ["mail-c.example.org"], "a": [], "aaaa": []},
    "mail-c.example.org": {"a": ["192.0.2.140"], "aaaa": []},
    "ip4._spf.example.com": {"txt": ["v=spf1 -ip4:192.0.2.0/24 +all"]},
    "ptr._spf.example.com": {"txt": ["v=spf1 -ptr +all"]},
}


def budget(record: str, zone: dict[str, dict[str, list[str]]] | None = None) -> Budget:
    return count("example.com", record, CacheView(zone if zone is not None else RFC_ZONE))


@pytest.mark.parametrize(
    ("record", "lookups"),
    [
        ("v=spf1 +all", 0),
        ("v=spf1 a -all", 1),
        ("v=spf1 a:example.org -all", 1),
        ("v=spf1 mx -all", 1),
        ("v=spf1 mx:example.org -all", 1),
        ("v=spf1 mx mx:example.org -all", 2),
        ("v=spf1 mx/30 mx:example.org/30 -all", 2),
        ("v=spf1 ptr -all", 1),
        ("v=spf1 ip4:192.0.2.128/28 -all", 0),
        # A.4: two includes, and the ptr inside one of them.
        ("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all", 3),
        # all, ip4, ip6 and exp= cost nothing.
        ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 exp=explain.example.com -all", 0),
        # Terms after all are never evaluated, so never counted.
        ("v=spf1 ~all include:ip4._spf.example.com a mx", 0),
        # redirect= with all is dead: not followed, not counted.
        ("v=spf1 -all redirect=ip4._spf.example.com", 0),
        # redirect= counts one and the target's own lookups.
        ("v=spf1 a redirect=ptr._spf.example.com", 3),
        # exists counts one even though its name is known only per message.
        ("v=spf1 exists:%{i}._spf.example.com -all", 1),
    ],
)
def test_rfc_7208_worked_examples(record: str, lookups: int) -> None:
    result = budget(record)
    assert result.lookups == lookups, "\n".join(render(result))
    assert result.over is None and not result.findings and result.complete


def _includes(n: int) -> dict[str, dict[str, list[str]]]:
    return {f"i{k}.example.net": {"txt": [f"v=spf1 ip4:198.51.100.{k} -all"]} for k in range(n)}


def test_ten_lookups_pass_and_the_eleventh_fails_even_as_the_last_term() -> None:
    zone = _includes(11)
    ten = "v=spf1 " + " ".join(f"include:i{k}.example.net" for k in range(10)) + " -all"
    assert budget(ten, zone).lookups == 10 and budget(ten, zone).over is None
    eleven = ten.replace(" -all", " include:i10.example.net")  # last term, no all after it
    result = budget(eleven, zone)
    assert result.lookups == 11
    assert result.over is not None and result.over.term == "include:i10.example.net"
    assert result.over.top == 10  # the 11th term of the record
    lines = render(result)
    assert lines[-1].startswith("#11  include:i10.example.net")
    assert "<- lookup 11: over the limit, permerror" in lines[-1]


def test_lookups_inside_includes_and_redirects_count_where_they_happen() -> None:
    zone = {
        "outer.example.net": {
            "txt": ["v=spf1 include:inner.example.net redirect=last.example.net"]
        },
        "inner.example.net": {"txt": ["v=spf1 a:h.example.net mx:h.example.net ~all"]},
        "last.example.net": {"txt": ["v=spf1 " + " ".join(["a:h.example.net"] * 6) + " -all"]},
        "h.example.net": {"a": ["198.51.100.1"], "aaaa": [], "mx": ["h.example.net"]},
    }
    result = budget("v=spf1 mx include:outer.example.net -all", zone)
    # mx, include:outer, include:inner, a, mx, redirect=last, 6 x a = 12: the 11th is the
    # fifth a: of the redirect target, and that is what the tree points at.
    assert result.lookups == 12
    assert result.over is not None
    assert (result.over.domain, result.over.term) == ("last.example.net", "a:h.example.net")
    assert result.over.top == 1  # reached through the record's second term
    outer = result.root.children[1]
    assert (outer.term, outer.cost) == ("include:outer.example.net", 11)
    assert [c.term for c in outer.children] == [
        "include:inner.example.net",
        "redirect=last.example.net",
    ]


def test_two_void_lookups_pass_and_the_third_fails() -> None:
    zone = {
        "ghost1.example.net": {"a": [], "aaaa": []},
        "ghost2.example.net": {"a": [], "aaaa": []},
    }
    zone["ghost3.example.net"] = {"mx": []}
    two = budget("v=spf1 a:ghost1.example.net a:ghost2.example.net -all", zone)
    assert two.voids == 2 and two.void_over is None
    three = budget("v=spf1 a:ghost1.example.net a:ghost2.example.net mx:ghost3.example.net", zone)
    assert three.voids == 3
    assert three.void_over is not None and three.void_over.term == "mx:ghost3.example.net"


def test_an_include_of_a_name_without_spf_is_a_permerror() -> None:
    result = budget("v=spf1 include:nothing.example.net -all", {"nothing.example.net": {"txt": []}})
    assert [f.rule for f in result.findings] == ["SPF014"]
    assert result.voids == 1


def test_mx_with_more_than_ten_hosts_is_a_permerror() -> None:
    hosts = [f"mx{k}.example.net" for k in range(11)]
    ten = budget("v=spf1 mx -all", {"example.com": {"mx": hosts[:10]}})
    assert not ten.findings
    eleven = budget("v=spf1 mx -all", {"example.com": {"mx": hosts}})
    assert [f.rule for f in eleven.findings] == ["SPF015"]
    assert eleven.lookups == 1  # the address lookups of MX hosts are not among the ten


@pytest.mark.parametrize(
    "zone",
    [
        {"example.com": {"txt": ["v=spf1 include:example.com"]}},
        {
            "a.example.net": {"txt": ["v=spf1 include:b.example.net"]},
            "b.example.net": {"txt": ["v=spf1 redirect=a.example.net"]},
        },
    ],
    ids=["self", "through-redirect"],
)
def test_include_and_redirect_loops_are_found(zone: dict[str, dict[str, list[str]]]) -> None:
    first = next(iter(zone))
    result = budget(f"v=spf1 include:{first} -all", zone)
    assert [f.rule for f in result.findings] == ["SPF013"]
    assert "comes back to a record already being evaluated" in result.findings[0].message


def test_two_records_at_an_include_target_are_a_permerror() -> None:
    zone = {"two.example.net": {"txt": ["v=spf1 -all", "v=spf1 ~all"]}}
    result = budget("v=spf1 include:two.example.net -all", zone)
    assert [f.rule for f in result.findings] == ["SPF001"]


def test_syntax_errors_in_a_third_party_record_are_reported() -> None:
    zone = {"bad.example.net": {"txt": ["v=spf1 ip4:198.51.100.0/40 -all"]}}
    result = budget("v=spf1 include:bad.example.net -all", zone)
    assert [f.rule for f in result.findings] == ["SPF003"]
    assert "in the record of bad.example.net" in result.findings[0].message


def test_what_is_not_known_offline_counts_one_and_is_listed() -> None:
    result = budget("v=spf1 include:_spf.unknown.example include:%{l}._spf.example.com -all", {})
    assert result.lookups == 2
    assert result.unresolved == ["_spf.unknown.example", "include:%{l}._spf.example.com"]
    assert not result.complete


def test_d_macros_are_expanded_statically() -> None:
    assert expand("%{d}._spf.example.org", "a.example.com") == "a.example.com._spf.example.org"
    assert expand("%{d2}", "a.b.example.com") == "example.com"
    assert expand("%{dr}.x.org", "a.b.c") == "c.b.a.x.org"
    assert expand("%{d1r}.x.org", "a.b.c") == "a.x.org"
    assert expand("%{i}.x.org", "a.b.c") is None


@pytest.mark.parametrize(
    ("record", "rule"),
    [
        ("v=spf1 inclde:_spf.example.com", "SPF002"),
        ("v=spf1 ip4=192.0.2.1", "SPF002"),
        ("v=spf1 all:foo", "SPF002"),
        ("v=spf1 +redirect=_spf.example.com", "SPF002"),
        ("v=spf1 ip4:192.0.2.0/33", "SPF003"),
        ("v=spf1 ip4:2001:db8::1", "SPF003"),
        ("v=spf1 ip6:2001:db8::/129", "SPF003"),
        ("v=spf1 a/024", "SPF003"),
        ("v=spf1 mx//129", "SPF003"),
        ("v=spf1 exists:%{z}.example.com", "SPF004"),
        ("v=spf1 exists:%{i0}.example.com", "SPF004"),
        ("v=spf1 exists:%{c}.example.com", "SPF004"),
        ("v=spf1 include:50%.example.com", "SPF004"),
        ("v=spf1 exists:%{i.example.com", "SPF004"),
        ("v=spf1 ip4:%{i}", "SPF005"),
        ("v=spf1 include:localhost", "SPF006"),
        ("v=spf1 include:%{d}.", "SPF006"),
        ("v=spf1 include:192.0.2.1", "SPF006"),
        ("v=spf1 a:example..com", "SPF006"),
        ("v=spf1 redirect=a.example.com redirect=b.example.com", "SPF007"),
        ("v=spf1 exp=a.example.com exp=b.example.com -all", "SPF007"),
        ("v=spf1 redirct=a.example.com", "SPF008"),
    ],
)
def test_malformed_terms_are_named_by_their_rule(record: str, rule: str) -> None:
    assert rule in {issue.rule for issue in parse(record).issues}


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1",
        "v=spf1 -all",
        "V=SPF1 MX A:Mail.Example.COM/24//64 ?All",
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::ffff:192.0.2.1 -all",
        "v=spf1 a/24 mx//64 ptr ptr:example.com exists:%{ir}.%{v}._spf.%{d2} ~all",
        "v=spf1 include:_spf.example.com redirect=_spf.example.org exp=explain.%{d}",
        "v=spf1 include:%{d} a:%{l1r-}.example.com. ~all",
        "v=spf1 include:_spf.example.com. foo=bar.%% -all",
    ],
)
def test_well_formed_records_have_no_syntax_issue(record: str) -> None:
    issues = [i for i in parse(record).issues if i.rule != "SPF008"]
    assert not issues, issues


def test_an_include_not_known_makes_the_budget_unknown_an_address_does_not() -> None:
    result = budget("v=spf1 a:relay.unknown.example include:_spf.unknown.example -all", {})
    assert result.unresolved == ["relay.unknown.example", "_spf.unknown.example"]
    assert result.unknown == ["_spf.unknown.example"] and not result.known
    assert "the lookup budget is unknown" in render(result)[0]
    only_address = budget("v=spf1 a:relay.unknown.example -all", {})
    assert not only_address.complete and only_address.known
