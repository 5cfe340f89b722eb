"""MTA-STS (RFC 8461): the schema, the policy and its id, the records, the target, lint, verify.

The id is the part everything else leans on: receivers fetch a policy again only when
its id changes, so the id must change exactly when the policy's bytes do (hypothesis
checks both directions). The real consumers (named, an HTTPS server and
postfix-mta-sts-resolver) are in tests/e2e/test_mta_sts_resolver.py.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from octodns.provider.yaml import YamlProvider
from octodns.zone import Zone
from support.consumers import check_mta_sts, check_nginx

from mailauth.backends import REGISTRY
from mailauth.backends.mta_sts import MtaStsTarget, render_nginx
from mailauth.compiler import driver
from mailauth.compiler.lint.command import lint_file
from mailauth.compiler.model import DomainModel, MailModel
from mailauth.compiler.mta_sts import MtaStsPolicy, matches, parse_policy, policy_id
from mailauth.compiler.octodns_source import MailauthSource
from mailauth.compiler.verify import Answer, Lookup, expected_state, verify
from mailauth.schema.errors import ConfigError
from mailauth.schema.mta_sts import MtaSts, mx_pattern

TODAY = date(2026, 1, 18)
GOLDEN = Path(__file__).parent / "golden" / "mta-sts"

BASE = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25], ipv6: ["2001:db8::25"]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
defaults:
  dmarc: {p: none, rua: [dmarc@example.org]}
"""


def write(tmp_path: Path, body: str, targets: str = "  bind: {}\n  mta_sts: {}\n") -> Path:
    config = tmp_path / "mailauth.yaml"
    config.write_text(BASE + textwrap.dedent(body) + "targets:\n" + targets)
    return config


def model_of(config: Path) -> MailModel:
    return driver.model_for(driver.open_job(config, config.parent / "root", None), TODAY)


def domain(model: MailModel, name: str) -> DomainModel:
    return next(d for d in model.domains if d.name == name)


def records(model: MailModel, purpose: str = "mta-sts") -> set[tuple[str, str, str]]:
    """(absolute owner without the dot, type, value) of the records of ``purpose``."""
    return {
        (r.fqdn(z.name).rstrip("."), r.type, r.value)
        for z in model.zones
        for r in z.records
        if r.purpose == purpose
    }


# --- the schema ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail.example.org", "mail.example.org"),
        ("MX1.Example.ORG.", "mx1.example.org"),
        ("*.example.net", "*.example.net"),
    ],
)
def test_mx_pattern_accepts_host_names_and_one_label_wildcards(text: str, expected: str) -> None:
    assert mx_pattern(text) == expected


@pytest.mark.parametrize(
    "text", ["*", "*.", "mail*.example.org", "a.*.example.org", "**.example.org", "mail", "a b.org"]
)
def test_mx_pattern_refuses_what_rfc_8461_does_not_allow(text: str) -> None:
    with pytest.raises(ValueError, match="not an MTA-STS mx pattern"):
        mx_pattern(text)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_an_accepted_pattern_is_one_policy_line_that_parses_back(text: str) -> None:
    """Whatever mailauth.yaml holds, a pattern it accepts is one `mx:` line of the file
    and reads back as itself: nothing in it can end the line or start another field."""
    try:
        pattern = mx_pattern(text)
    except ValueError:
        return
    assert re.fullmatch(r"(\*\.)?[a-z0-9.-]+", pattern)
    policy = MtaStsPolicy("enforce", 86400, (pattern,))
    assert parse_policy(policy.text())["mx"] == [pattern]
    assert policy.text().count(b"\r\n") == 4


def test_max_age_is_bounded_by_the_rfc(tmp_path: Path) -> None:
    assert MtaSts(max_age=31557600).max_age == 31557600
    config = write(tmp_path, "domains:\n  - name: example.org\n    mta_sts: {max_age: 31557601}\n")
    with pytest.raises(ConfigError, match=r"mailauth.yaml:\d+:\d+: .*max_age"):
        model_of(config)


def test_host_and_addresses_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        MtaSts.model_validate({"host": "web.example.org", "ipv4": ["192.0.2.80"]})


def test_bad_pattern_is_a_positioned_error(tmp_path: Path) -> None:
    body = 'domains:\n  - name: example.org\n    mta_sts: {mx: ["mx.*.example.org"]}\n'
    with pytest.raises(ConfigError) as caught:
        model_of(write(tmp_path, body))
    assert re.search(r"mailauth.yaml:\d+:\d+: domains\[0\]\.mta_sts\.mx", str(caught.value))


# --- the policy and its id -----------------------------------------------------------------


def test_policy_text_is_crlf_with_version_first() -> None:
    policy = MtaStsPolicy("enforce", 604800, ("mail.example.org", "*.example.net"))
    assert policy.text() == (
        b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmx: *.example.net\r\n"
        b"max_age: 604800\r\n"
    )
    assert parse_policy(policy.text()) == {
        "version": ["STSv1"],
        "mode": ["enforce"],
        "mx": ["mail.example.org", "*.example.net"],
        "max_age": ["604800"],
    }


def test_id_is_1_to_32_letters_and_digits() -> None:
    ident = MtaStsPolicy("testing", 86400, ("mail.example.org",)).id
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", ident) and len(ident) == 32
    assert MtaStsPolicy("testing", 86400, ("mail.example.org",)).txt() == f"v=STSv1; id={ident}"


policies = st.builds(
    MtaStsPolicy,
    st.sampled_from(["testing", "enforce", "none"]),
    st.integers(min_value=0, max_value=31557600),
    st.lists(
        st.from_regex(r"(\*\.)?[a-z0-9]{1,8}\.(org|net|example)", fullmatch=True),
        min_size=1,
        max_size=4,
        unique=True,
    ).map(tuple),
)


@settings(max_examples=300)
@given(policies, policies)
def test_id_changes_if_and_only_if_the_policy_bytes_change(
    a: MtaStsPolicy, b: MtaStsPolicy
) -> None:
    assert (a.id == b.id) == (a.text() == b.text())


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_id_of_any_bytes_differs_when_the_bytes_do(a: bytes, b: bytes) -> None:
    assert (policy_id(a) == policy_id(b)) == (a == b)


def test_id_in_dns_follows_the_policy_file(tmp_path: Path) -> None:
    body = "domains:\n  - name: example.org\n    mta_sts: {mode: testing}\n"
    first = domain(model_of(write(tmp_path, body)), "example.org").mta_sts
    same = domain(model_of(write(tmp_path, body)), "example.org").mta_sts
    second = domain(
        model_of(write(tmp_path, body.replace("testing", "enforce"))), "example.org"
    ).mta_sts
    assert first is not None and same is not None and second is not None
    assert first.id == same.id and first.id != second.id


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.org", "MAIL.example.org.", True),
        ("*.example.org", "mx1.example.org", True),
        ("*.example.org", "example.org", False),
        ("*.example.org", "a.b.example.org", False),
        ("mail.example.org", "mx.example.org", False),
    ],
)
def test_pattern_matching_is_rfc_8461_4_1(pattern: str, host: str, expected: bool) -> None:
    assert matches(pattern, host) is expected


# --- defaults, records ---------------------------------------------------------------------


def test_defaults_field_by_field_and_false_turns_it_off(tmp_path: Path) -> None:
    body = """\
    defaults:
      dmarc: {p: none, rua: [dmarc@example.org]}
      mta_sts: {mode: enforce, max_age: 604800}
    domains:
      - name: example.org
      - name: sub.example.org
        mta_sts: {mode: testing}
      - name: off.example.org
        mta_sts: false
    """
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        BASE.replace("defaults:\n  dmarc: {p: none, rua: [dmarc@example.org]}\n", "")
        + textwrap.dedent(body)
        + "targets:\n  bind: {}\n  mta_sts: {}\n"
    )
    model = model_of(config)
    org = domain(model, "example.org").mta_sts
    sub = domain(model, "sub.example.org").mta_sts
    assert org == MtaStsPolicy("enforce", 604800, ("mail.example.org",))
    assert sub == MtaStsPolicy("testing", 604800, ("mail.example.org",))
    assert domain(model, "off.example.org").mta_sts is None
    names = {name for name, _, _ in records(model)}
    assert "_mta-sts.off.example.org" not in names and "_mta-sts.sub.example.org" in names


def test_records_from_the_mail_host_addresses(tmp_path: Path) -> None:
    model = model_of(write(tmp_path, "domains:\n  - name: example.org\n    mta_sts: {}\n"))
    policy = domain(model, "example.org").mta_sts
    assert policy is not None and policy.mx == ("mail.example.org",)
    assert records(model) == {
        ("_mta-sts.example.org", "TXT", f"v=STSv1; id={policy.id}"),
        ("mta-sts.example.org", "A", "192.0.2.25"),
        ("mta-sts.example.org", "AAAA", "2001:db8::25"),
    }


def test_records_from_own_addresses_or_a_cname(tmp_path: Path) -> None:
    body = """\
    domains:
      - name: example.org
        mta_sts: {ipv4: [192.0.2.80]}
      - name: example.net
        mta_sts: {host: web.example.org}
    """
    model = model_of(write(tmp_path, body))
    found = records(model)
    assert ("mta-sts.example.org", "A", "192.0.2.80") in found
    assert ("mta-sts.example.org", "AAAA", "2001:db8::25") not in found
    assert ("mta-sts.example.net", "CNAME", "web.example.org.") in found


def test_no_address_at_all_is_a_positioned_error(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        "version: 1\nmail_hosts:\n  - {name: mail.example.org}\ndomains:\n"
        "  - name: example.org\n    mta_sts: {mode: testing}\n"
    )
    with pytest.raises(ConfigError, match=r"mailauth.yaml:6:\d+: domains\[0\]\.mta_sts: .*no addr"):
        model_of(config)


def test_a_cname_clash_with_a_hand_written_record_is_refused(tmp_path: Path) -> None:
    config = write(
        tmp_path, "domains:\n  - name: example.org\n    mta_sts: {host: web.example.net}\n"
    )
    text = config.read_text().replace(
        "      - {name: ns1, type: A, value: 192.0.2.53}\n",
        "      - {name: ns1, type: A, value: 192.0.2.53}\n"
        "      - {name: mta-sts, type: TXT, value: hello}\n",
    )
    config.write_text(text)
    with pytest.raises(ConfigError, match="mta-sts: a CNAME cannot sit beside TXT"):
        model_of(config)


# --- the target ----------------------------------------------------------------------------


def test_target_is_registered_and_writes_one_file_per_domain(tmp_path: Path) -> None:
    backend = REGISTRY["mta_sts"]
    body = "domains:\n  - name: example.org\n    mta_sts: {}\n  - name: example.net\n"
    model = model_of(write(tmp_path, body))
    target = MtaStsTarget(directory="/srv/sts", nginx="/etc/nginx/sts.conf")
    files = {a.path: a for a in backend.render(model, target)}
    policy = domain(model, "example.org").mta_sts
    assert policy is not None
    assert files["/srv/sts/example.org/.well-known/mta-sts.txt"].content == policy.text()
    assert "/srv/sts/example.net/.well-known/mta-sts.txt" not in files
    nginx = files["/etc/nginx/sts.conf"]
    assert nginx.reload == "systemctl reload nginx"
    assert b"server_name mta-sts.example.org;" in nginx.content
    assert b"example.net" not in nginx.content


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("directory", "/srv/sts;evil"),
        ("directory", "/srv/$host"),
        ("nginx", "/etc/nginx/a b.conf"),
        ("certificate", "/etc/ssl/{domain}/{zone}.pem"),
        ("certificate", "/etc/ssl/{domain}/x.pem; include /etc/shadow"),
        ("certificate_key", "relative/{domain}.key"),
    ],
)
def test_settings_refuse_what_would_break_the_nginx_file(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        MtaStsTarget.model_validate({field: value})


def test_nginx_renderer_refuses_an_unsafe_token() -> None:
    target = MtaStsTarget.model_construct(
        directory="/srv/x;y",
        nginx="/etc/nginx/x.conf",
        certificate="/c/{domain}",
        certificate_key="/k/{domain}",
    )
    model_domain = DomainModel("example.org", "example.org", "", "", ())
    with pytest.raises(ValueError, match="nginx"):
        render_nginx([model_domain], target)


def test_policy_files_pass_the_resolver_parser_and_line_ends_are_checked(tmp_path: Path) -> None:
    assert check_mta_sts(GOLDEN / "expected/var/www/mta-sts") == []
    bad = tmp_path / "example.org/.well-known/mta-sts.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 86400\n")
    assert any("CRLF" in p for p in check_mta_sts(tmp_path))


def test_nginx_accepts_the_server_blocks_and_the_check_can_fail(tmp_path: Path) -> None:
    written = GOLDEN / "expected/etc/nginx/conf.d/mailauth-mta-sts.conf"
    root = tmp_path / "root"
    shutil.copytree(GOLDEN / "expected", root)
    assert check_nginx(written, root, tmp_path / "ok") == []
    broken = tmp_path / "broken.conf"
    broken.write_text(written.read_text().replace("default_type text/plain;", "default_type;"))
    assert check_nginx(broken, root, tmp_path / "broken")


# --- the octodns source shares the records -------------------------------------------------


def test_octodns_source_serves_what_the_zone_files_hold(tmp_path: Path) -> None:
    source = MailauthSource("mailauth", str(GOLDEN / "mailauth.yaml"), root=str(tmp_path / "r"))
    files = YamlProvider(
        "files", str(GOLDEN / "expected/etc/octodns/mailauth"), escaped_semicolons=True
    )
    for name in ("example.org", "example.net"):
        mine, theirs = Zone(f"{name}.", []), Zone(f"{name}.", [])
        source.populate(mine)
        files.populate(theirs)
        sts = {(r.name, r._type) for r in mine.records if "mta-sts" in r.name}
        assert ("_mta-sts", "TXT") in sts and len(sts) >= 2
        assert mine.changes(theirs, files) == []


# --- lint against the applied policy -------------------------------------------------------


def applied(root: Path, text: bytes, name: str = "example.org") -> None:
    path = root / "var/www/mta-sts" / name / ".well-known/mta-sts.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)


def rules(config: Path, root: Path) -> dict[str, list[Any]]:
    report, problems = lint_file(config, root=root)
    assert not problems
    found: dict[str, list[Any]] = {}
    for finding in report.findings:
        if finding.rule.startswith("STS"):
            found.setdefault(finding.rule, []).append(finding)
    return found


def test_enforce_after_testing_is_quiet_and_after_none_warns(tmp_path: Path) -> None:
    config = write(tmp_path, "domains:\n  - name: example.org\n    mta_sts: {mode: enforce}\n")
    root = tmp_path / "root"
    assert "STS002" in rules(config, root), "no policy applied yet"
    applied(root, MtaStsPolicy("testing", 86400, ("mail.example.org",)).text())
    assert rules(config, root) == {}
    applied(root, MtaStsPolicy("enforce", 86400, ("mail.example.org",)).text())
    assert rules(config, root) == {}
    applied(root, MtaStsPolicy("none", 86400, ("mail.example.org",)).text())
    (finding,) = rules(config, root)["STS002"]
    assert "mode none" in finding.message and finding.field == "domains[0].mta_sts.mode"


def test_lowering_max_age_warns_at_the_field(tmp_path: Path) -> None:
    body = "domains:\n  - name: example.org\n    mta_sts: {max_age: 86400}\n"
    config = write(tmp_path, body)
    root = tmp_path / "root"
    applied(root, MtaStsPolicy("testing", 604800, ("mail.example.org",)).text())
    (finding,) = rules(config, root)["STS003"]
    assert "604800 to 86400" in finding.message
    assert finding.field == "domains[0].mta_sts.max_age" and finding.severity == "warning"
    applied(root, MtaStsPolicy("testing", 3600, ("mail.example.org",)).text())
    assert "STS003" not in rules(config, root), "raising it is fine"


def test_withdrawing_a_policy_wants_mode_none_first(tmp_path: Path) -> None:
    root = tmp_path / "root"
    applied(root, MtaStsPolicy("enforce", 604800, ("mail.example.org",)).text())
    off = write(tmp_path, "domains:\n  - name: example.org\n    mta_sts: false\n")
    (finding,) = rules(off, root)["STS006"]
    assert finding.field == "domains[0].mta_sts" and "mode enforce" in finding.message
    gone = write(tmp_path, "domains:\n  - name: example.org\n")
    assert [f.field for f in rules(gone, root)["STS006"]] == ["domains[0]"]
    applied(root, MtaStsPolicy("none", 3600, ("mail.example.org",)).text())
    assert rules(off, root) == {}, "after a none policy, removing it is the RFC's way"


def test_plan_stops_on_an_uncovered_mx_and_notes_the_warnings(tmp_path: Path) -> None:
    body = 'domains:\n  - name: example.org\n    mta_sts: {mx: ["*.example.net"]}\n'
    with pytest.raises(ConfigError, match="STS001"):
        driver.plan(driver.open_job(write(tmp_path, body), tmp_path / "root", None), today=TODAY)


def test_an_uncovered_mx_is_only_an_error_when_senders_apply_the_policy(tmp_path: Path) -> None:
    body = 'domains:\n  - name: example.org\n    mta_sts: {mode: MODE, mx: ["*.example.net"]}\n'
    assert "STS001" in rules(write(tmp_path, body.replace("MODE", "testing")), tmp_path / "r")
    assert "STS001" not in rules(write(tmp_path, body.replace("MODE", "none")), tmp_path / "r")


def test_lint_reads_the_applied_policy_from_the_target_directory(tmp_path: Path) -> None:
    """The history comes from the file under --root where the target writes it: an
    applied policy elsewhere (another directory) is not this target's history."""
    targets = "  bind: {}\n  mta_sts: {directory: /srv/sts}\n"
    config = write(
        tmp_path, "domains:\n  - name: example.org\n    mta_sts: {mode: enforce}\n", targets
    )
    root = tmp_path / "root"
    applied(root, MtaStsPolicy("testing", 86400, ("mail.example.org",)).text())
    assert "STS002" in rules(config, root)
    where = root / "srv/sts/example.org/.well-known/mta-sts.txt"
    where.parent.mkdir(parents=True)
    where.write_bytes(MtaStsPolicy("testing", 86400, ("mail.example.org",)).text())
    assert "STS002" not in rules(config, root)


# --- verify compares the id ----------------------------------------------------------------


def zone_lookup(zones: list[dns.zone.Zone]) -> Lookup:
    def lookup(name: str, rdtype: str) -> Answer:
        import dns.name

        qname = dns.name.from_text(name)
        for zone in zones:
            assert zone.origin is not None
            if qname.is_subdomain(zone.origin):
                rdataset = zone.get_rdataset(qname, rdtype)
                if rdataset is None:
                    return Answer(authoritative=True)
                return Answer(tuple(rdataset), rdataset.ttl, True)
        return Answer(refused=True)

    return lookup


def test_verify_reports_a_stale_id(tmp_path: Path) -> None:
    body = "domains:\n  - name: example.org\n    mta_sts: {}\n"
    config = write(
        tmp_path, body, "  bind: {directory: /var/named, named_conf: null}\n  mta_sts: {}\n"
    )
    root = tmp_path / "root"
    job = driver.open_job(config, root, None)
    assert driver.apply(job, lambda _plan: True) is not None
    text = (root / "var/named/zone.example.org").read_text()
    model, lock = expected_state(driver.open_job(config, root, None))
    served = dns.zone.from_text(text, origin="example.org", relativize=False)
    assert verify(model, lock, zone_lookup([served]), "test").in_sync
    policy = domain(model, "example.org").mta_sts
    assert policy is not None
    old = MtaStsPolicy("testing", 3600, policy.mx).id
    stale = dns.zone.from_text(text.replace(policy.id, old), origin="example.org", relativize=False)
    report = verify(model, lock, zone_lookup([stale]), "test")
    (finding,) = report.findings
    assert (finding.kind, finding.name, finding.type) == (
        "different",
        "_mta-sts.example.org.",
        "TXT",
    )
    assert finding.published == (f"v=STSv1; id={old}",)


def test_verify_in_include_mode_reports_a_second_sts_record(tmp_path: Path) -> None:
    """In an include-mode zone, foreign TXT records are the admin's; a second v=STSv1
    record beside mailauth's is not: senders then use no policy at all (RFC 8461 3.1)."""
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        "version: 1\nmail_hosts:\n  - {name: mail.example.net, ipv4: [192.0.2.25]}\n"
        "zones:\n  - {name: example.net, mode: include}\n"
        "domains:\n  - name: example.net\n    mta_sts: {}\n"
        "targets:\n  bind: {directory: /var/named, named_conf: null}\n  mta_sts: {}\n"
    )
    root = tmp_path / "root"
    assert driver.apply(driver.open_job(config, root, None), lambda _plan: True) is not None
    fragment = (root / "var/named/mailauth.example.net.inc").read_text()
    hand = (
        "$ORIGIN example.net.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
        '@ IN NS ns1\nns1 IN A 192.0.2.53\nmail IN A 192.0.2.25\n@ IN TXT "site-token=1"\n'
    )
    model, lock = expected_state(driver.open_job(config, root, None))
    zone = dns.zone.from_text(hand + fragment, origin="example.net", relativize=False)
    assert verify(model, lock, zone_lookup([zone]), "test").in_sync
    second = hand + '_mta-sts IN TXT "v=STSv1; id=handmade1"\n' + fragment
    zone = dns.zone.from_text(second, origin="example.net", relativize=False)
    (finding,) = verify(model, lock, zone_lookup([zone]), "test").findings
    assert (finding.kind, finding.name) == ("extra", "_mta-sts.example.net.")
    assert "more than one MTA-STS record" in finding.message
