"""SPF flattening and the SPF cache, offline: what gets published, and when it changes.

The third party's DNS is a table here (the cache, or a LiveView whose queries are answered
from a table); tests/e2e/test_spf_flatten.py does the same against a real named.
"""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailauth.compiler import driver
from mailauth.compiler.cli import app
from mailauth.compiler.lint.command import lint_file
from mailauth.compiler.spf.cache import read_cache, render_cache
from mailauth.compiler.spf.dnsview import Answers, CacheView, DnsFailure, LiveView, norm
from mailauth.compiler.spf.flatten import RECORD_LIMIT, flatten
from mailauth.compiler.spf.syntax import parse

PROVIDER: Answers = {
    "_spf.provider.example": {
        "txt": [
            "v=spf1 include:_v4.provider.example include:_v6.provider.example "
            "a:relay.provider.example mx:provider.example ~all"
        ]
    },
    "_v4.provider.example": {"txt": ["v=spf1 ip4:198.51.100.0/25 ip4:198.51.100.128/25 -all"]},
    "_v6.provider.example": {
        "txt": ["v=spf1 ip6:2001:db8:10::/48 redirect=_more.provider.example"]
    },
    "_more.provider.example": {"txt": ["v=spf1 ip4:203.0.113.7 ?all"]},
    "relay.provider.example": {"a": ["192.0.2.77"], "aaaa": ["2001:db8:77::1"]},
    "provider.example": {"mx": ["mx1.provider.example"]},
    "mx1.provider.example": {"a": ["192.0.2.25"], "aaaa": []},
}


def big_provider(count: int) -> Answers:
    nets = [f"ip4:10.{i // 200}.{i % 200}.0/24" for i in range(0, 2 * count, 2)]
    return {"_spf.big.example": {"txt": ["v=spf1 " + " ".join(nets) + " -all"]}}


def test_an_include_becomes_its_addresses_in_place() -> None:
    result = flatten(
        "example.org",
        "v=spf1 mx include:_spf.provider.example a ~all",
        ["_spf.provider.example"],
        CacheView(PROVIDER),
    )
    assert not result.issues and not result.chain
    # The two /25s merge; IPv4 first in address order, then IPv6; mx, a and ~all stay put.
    assert result.text == (
        "v=spf1 mx ip4:192.0.2.25 ip4:192.0.2.77 ip4:198.51.100.0/24 ip4:203.0.113.7 "
        "ip6:2001:db8:10::/48 ip6:2001:db8:77::1 a ~all"
    )
    assert result.networks["_spf.provider.example"][0] == "ip4:192.0.2.25"


def test_too_many_addresses_go_into_chained_records_within_the_size_limit() -> None:
    answers = big_provider(90)
    result = flatten(
        "example.org",
        "v=spf1 mx include:_spf.big.example include:_spf.other.example -all",
        ["_spf.big.example"],
        CacheView(answers),
    )
    assert result.text == "v=spf1 mx include:_spf1.example.org include:_spf.other.example -all"
    names = [name for name, _ in result.chain]
    assert names == [f"_spf{i}.example.org" for i in range(1, len(names) + 1)]
    assert len(names) >= 3
    terms: list[str] = []
    for index, (name, text) in enumerate(result.chain, start=1):
        assert len(text.encode()) <= RECORD_LIMIT, (name, len(text))
        record = parse(text)
        assert not record.issues and record.all_term is None  # neutral: include does not match
        links = [t.text for t in record.terms if t.name == "include"]
        if index < len(names):
            assert links == [f"include:_spf{index + 1}.example.org"] and text.endswith(links[0])
        else:
            assert links == []
        terms += [t.text for t in record.terms if t.name == "ip4"]
    assert terms == list(result.networks["_spf.big.example"]) and len(terms) == 90


def test_the_result_depends_only_on_the_addresses_not_on_their_order() -> None:
    answers = big_provider(60)
    record = answers["_spf.big.example"]["txt"][0].split()
    shuffled = [record[0], *random.Random(7).sample(record[1:-1], len(record) - 2), record[-1]]
    other: Answers = {"_spf.big.example": {"txt": [" ".join(shuffled)]}}
    args = ("example.org", "v=spf1 include:_spf.big.example ~all", ["_spf.big.example"])
    assert flatten(*args, CacheView(answers)) == flatten(*args, CacheView(other))


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=spf1 ip4:198.51.100.0/24 exists:%{i}._ip.provider.example ~all", "depends on"),
        ("v=spf1 ptr ~all", "depends on"),
        ("v=spf1 a:%{l}.provider.example ~all", "a macro"),
        ("v=spf1 -ip4:198.51.100.1 ip4:198.51.100.0/24 ~all", "only terms that pass"),
        ("v=spf1 ip4:198.51.100.0/24 +all", "+all"),
        ("v=spf1 include:_spf.provider.example", "loops"),
    ],
)
def test_includes_that_depend_on_the_message_are_not_flattened(record: str, why: str) -> None:
    answers: Answers = {"_spf.provider.example": {"txt": [record]}}
    text = "v=spf1 include:_spf.provider.example ~all"
    result = flatten("example.org", text, ["_spf.provider.example"], CacheView(answers))
    assert result.text == text and not result.chain
    (issue,) = result.issues
    assert issue.rule == "SPF026" and why in issue.message


def test_a_name_missing_from_the_cache_keeps_the_include() -> None:
    answers = {k: v for k, v in PROVIDER.items() if k != "mx1.provider.example"}
    text = "v=spf1 include:_spf.provider.example ~all"
    result = flatten("example.org", text, ["_spf.provider.example"], CacheView(answers))
    assert result.text == text
    assert [(i.rule, "mx1.provider.example" in i.message) for i in result.issues] == [
        ("SPF025", True)
    ]


def test_flatten_must_name_an_include_of_the_record() -> None:
    result = flatten("example.org", "v=spf1 mx ~all", ["_spf.provider.example"], CacheView({}))
    assert [i.rule for i in result.issues] == ["SPF024"]


# --- through mailauth.yaml, plan and the cache file ---------------------------------------

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
domains:
  - name: example.org
    spf:
      include: [_spf.big.example, _spf.provider.example]
      flatten: [_spf.big.example]
    dmarc: {p: none, rua: [dmarc@example.org]}
"""


def setup(tmp_path: Path, answers: Answers) -> Path:
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG)
    (tmp_path / "mailauth.spf.json").write_bytes(render_cache(answers))
    return config


def zone_txt(tmp_path: Path, config: Path) -> dict[str, str]:
    job = driver.open_job(config, tmp_path / "root", None)
    zone = driver.model_for(job).zone("example.org")
    return {r.name: r.value for r in zone.records if r.type == "TXT"}


def test_plan_publishes_the_chain_from_the_cache_and_shows_an_upstream_change(
    tmp_path: Path,
) -> None:
    answers = {**big_provider(50), **PROVIDER}
    config = setup(tmp_path, answers)
    txt = zone_txt(tmp_path, config)
    assert txt["@"] == "v=spf1 mx include:_spf1.example.org include:_spf.provider.example ~all"
    assert {"_spf1", "_spf2"} <= set(txt) and all(len(v) <= RECORD_LIMIT for v in txt.values())
    report, problems = lint_file(config, root=tmp_path / "root")
    assert not problems and not report.errors, [f.text() for f in report.findings]
    (budget,) = [b for b in report.budgets if b.domain == "example.org"]
    chain_lookups = sum(1 for name in txt if name.startswith("_spf"))
    # mx, the chain's includes, and include:_spf.provider.example (1 + a + mx + 2 includes
    # and the redirect inside): flattening made the provider's 50 networks cost the chain.
    assert budget.lookups == 1 + chain_lookups + 6, budget

    runner = CliRunner()
    root = tmp_path / "root"
    first = runner.invoke(app, ["apply", "-c", str(config), "--root", str(root), "--yes"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["plan", "-c", str(config), "--root", str(root)])
    assert again.exit_code == 0, again.output  # the cache pins the result: no churn

    # The provider adds a network; a refreshed cache shows it in the next plan.
    changed = json.loads(json.dumps(answers))
    changed["_spf.big.example"]["txt"][0] = changed["_spf.big.example"]["txt"][0].replace(
        " -all", " ip4:172.16.5.0/24 -all"
    )
    (tmp_path / "mailauth.spf.json").write_bytes(render_cache(changed))
    plan = runner.invoke(app, ["plan", "-c", str(config), "--root", str(root)])
    assert plan.exit_code == 2, plan.output
    assert "ip4:172.16.5.0/24" in plan.output


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: Answers, broken: set[str]) -> None:
    def query(self: LiveView, name: str, rtype: str) -> list[str]:
        if name in broken:
            raise DnsFailure("timed out")
        return list(answers.get(norm(name), {}).get(rtype, []))

    monkeypatch.setattr(LiveView, "_query", query)


def test_resolve_reports_an_upstream_change_and_refresh_rewrites_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {**big_provider(5), **PROVIDER}
    config = setup(tmp_path, answers)
    upstream = json.loads(json.dumps(answers))
    upstream["_spf.big.example"]["txt"] = ["v=spf1 ip4:10.0.0.0/24 ip4:172.16.9.9 -all"]
    _fake_dns(monkeypatch, upstream, set())
    runner = CliRunner()
    args = ["-c", str(config), "--nameserver", "127.0.0.1:5353"]
    lint = runner.invoke(app, ["lint", "--resolve", *args])
    assert lint.exit_code == 0, lint.output  # a warning
    assert "warning SPF027" in lint.output and "+ ip4:172.16.9.9" in lint.output
    assert "- ip4:10.0.2.0/24" in lint.output

    check = runner.invoke(app, ["spf", "refresh", "--check", *args])
    assert check.exit_code == 2, check.output
    assert (
        read_cache(tmp_path / "mailauth.spf.json")["_spf.big.example"]
        == answers["_spf.big.example"]
    )
    refresh = runner.invoke(app, ["spf", "refresh", *args])
    assert refresh.exit_code == 0, refresh.output
    assert "+ ip4:172.16.9.9" in refresh.output and "wrote " in refresh.output
    cached = read_cache(tmp_path / "mailauth.spf.json")
    assert cached["_spf.big.example"]["txt"] == upstream["_spf.big.example"]["txt"]
    # Only third-party names are cached: example.org is mailauth's own.
    assert all(not name.endswith("example.org") for name in cached)
    # Everything the count follows is cached (the redirect, the MX); the addresses of MX
    # hosts only for flattened includes (here _spf.provider.example is not flattened).
    assert "_more.provider.example" in cached
    assert cached["provider.example"] == {"mx": ["mx1.provider.example"]}
    assert "mx1.provider.example" not in cached
    lint = runner.invoke(app, ["lint", "--resolve", *args])
    assert lint.exit_code == 0 and "SPF027" not in lint.output
    again = runner.invoke(app, ["spf", "refresh", "--check", *args])
    assert again.exit_code == 0 and "up to date" in again.output


def test_a_failing_query_is_reported_and_leaves_the_cache_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {**big_provider(5), **PROVIDER}
    config = setup(tmp_path, answers)
    before = (tmp_path / "mailauth.spf.json").read_bytes()
    _fake_dns(monkeypatch, answers, {"_v6.provider.example"})
    runner = CliRunner()
    args = ["-c", str(config), "--nameserver", "127.0.0.1"]
    lint = runner.invoke(app, ["lint", "--resolve", *args])
    assert "warning SPF028" in lint.output and "_v6.provider.example TXT: timed out" in lint.output
    refresh = runner.invoke(app, ["spf", "refresh", *args])
    assert refresh.exit_code == 1 and "not changed" in refresh.output + (refresh.stderr or "")
    assert (tmp_path / "mailauth.spf.json").read_bytes() == before


def test_a_corrupt_cache_is_an_error_not_a_silent_unflattening(tmp_path: Path) -> None:
    config = setup(tmp_path, PROVIDER)
    (tmp_path / "mailauth.spf.json").write_text("{not json")
    result = CliRunner().invoke(app, ["plan", "-c", str(config), "--root", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "mailauth.spf.json: (spf cache): not valid JSON" in result.output + (result.stderr or "")


def test_networks_are_merged_when_they_touch() -> None:
    answers: Answers = {
        "_spf.p.example": {
            "txt": ["v=spf1 ip4:192.0.2.0/25 ip4:192.0.2.128/25 ip4:192.0.2.5 ip6:2001:db8::/33 "
                    "ip6:2001:db8:8000::/33 -all"]
        }
    }  # fmt: skip
    result = flatten("x.example", "v=spf1 include:_spf.p.example -all", ["_spf.p.example"],
                     CacheView(answers))  # fmt: skip
    assert result.text == "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
    for term in result.networks["_spf.p.example"]:
        ipaddress.ip_network(term.split(":", 1)[1])


def test_refresh_refuses_a_resolver_for_which_every_include_is_void(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A captive or offline resolver answers NXDOMAIN (or nothing) for every name: writing
    that down would unflatten every include and make each one a permerror."""
    answers = {**big_provider(5), **PROVIDER}
    config = setup(tmp_path, answers)
    before = (tmp_path / "mailauth.spf.json").read_bytes()
    _fake_dns(monkeypatch, {}, set())  # every name: no such name / no record
    runner = CliRunner()
    args = ["-c", str(config), "--nameserver", "127.0.0.1"]
    for extra in ([], ["--check"]):
        refresh = runner.invoke(app, ["spf", "refresh", *extra, *args])
        said = refresh.output + (refresh.stderr or "")
        assert refresh.exit_code == 1, said
        assert "no SPF record came back for any third-party name asked" in said
        assert "_spf.big.example, _spf.provider.example" in said
        assert "offline or captive" in said and "not changed" in said
        assert (tmp_path / "mailauth.spf.json").read_bytes() == before


def test_refresh_keeps_a_void_include_beside_one_that_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {**big_provider(5), **PROVIDER}
    config = setup(tmp_path, answers)
    _fake_dns(monkeypatch, big_provider(5), set())  # _spf.provider.example is gone
    refresh = CliRunner().invoke(
        app, ["spf", "refresh", "-c", str(config), "--nameserver", "127.0.0.1"]
    )
    assert refresh.exit_code == 0, refresh.output
    assert read_cache(tmp_path / "mailauth.spf.json")["_spf.provider.example"] == {"txt": []}
