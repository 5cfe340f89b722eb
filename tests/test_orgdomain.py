"""Organisational domains come from the Public Suffix List (RFC 7489 section 3.2), not from
"the last two labels": names under co.uk-style suffixes get no spurious DMARC warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from mailauth.compiler.cli import app
from mailauth.compiler.dmarc_reports import external_destinations, report_authorizations
from mailauth.schema.orgdomain import is_public_suffix, organizational_domain


@pytest.mark.parametrize(
    ("name", "org"),
    [
        ("mail.example.co.uk", "example.co.uk"),
        ("a.b.mail.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("Mail.Example.ORG.", "example.org"),
        ("example.org", "example.org"),
        ("shop.example.com.au", "example.com.au"),
        ("mail.corp.internal", "corp.internal"),  # unknown TLD: the default rule
        ("co.uk", "co.uk"),  # a public suffix is its own (PSD) organisation
    ],
)
def test_organizational_domain(name: str, org: str) -> None:
    assert organizational_domain(name) == org


def test_public_suffixes() -> None:
    assert is_public_suffix("co.uk") and is_public_suffix("uk") and is_public_suffix("org")
    assert not is_public_suffix("example.co.uk")


def _rua(address: str) -> str:
    return f"v=DMARC1; p=none; rua=mailto:{address}"


def test_reports_within_a_co_uk_organisation_are_not_external() -> None:
    assert external_destinations("example.co.uk", _rua("dmarc@reports.example.co.uk")) == []
    assert external_destinations("mail.example.co.uk", _rua("dmarc@example.co.uk")) == []


def test_reports_to_another_co_uk_name_are_external() -> None:
    found = external_destinations("example.co.uk", _rua("dmarc@other.co.uk"))
    assert found == [("rua", "mailto:dmarc@other.co.uk", "other.co.uk")]


def test_authorisation_records_follow_the_list() -> None:
    policies = [
        ("example.co.uk", _rua("dmarc@reports.example.co.uk")),
        ("other.co.uk", _rua("dmarc@reports.example.co.uk")),
    ]
    zones = ["example.co.uk", "other.co.uk"]
    assert report_authorizations(policies, zones) == [
        "other.co.uk._report._dmarc.reports.example.co.uk"
    ]


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
SUFFIX = st.sampled_from(
    ["co.uk", "uk", "org", "com.au", "github.io", "internal", "kawasaki.jp", "xn--p1ai"]
)


@given(st.lists(LABEL, min_size=1, max_size=4), SUFFIX)
def test_org_domain_is_a_suffix_of_the_name_and_never_a_public_suffix(
    labels: list[str], suffix: str
) -> None:
    name = ".".join([*labels, suffix])
    if is_public_suffix(name):  # e.g. x.kawasaki.jp: the list's wildcard makes it public
        assert organizational_domain(name) == name
        return
    org = organizational_domain(name)
    assert name == org or name.endswith("." + org)
    assert not is_public_suffix(org)
    # one label more than the public suffix it ends in
    parent = org.split(".", 1)[1]
    assert is_public_suffix(parent)


# --- lint on a small config ----------------------------------------------------------------

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.co.uk, ipv4: [192.0.2.25]}
zones:
  - name: %(zone)s
    ns: [ns1.%(zone)s]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
domains:
%(domains)s"""


def lint(tmp_path: Path, zone: str, domains: str) -> list[tuple[str, str]]:
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG % {"zone": zone, "domains": domains})
    result = CliRunner().invoke(
        app,
        ["lint", "-c", str(config), "--format", "json"],
        prog_name="mailauth",
        env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    return [(f["rule"], f["message"]) for f in findings if f["severity"] != "info"]


def test_a_co_uk_sub_domain_reporting_to_its_parent_gets_no_warning(tmp_path: Path) -> None:
    domains = "  - name: shop.example.co.uk\n    dmarc: {p: none, rua: [dmarc@example.co.uk]}\n"
    assert lint(tmp_path, "shop.example.co.uk", domains) == []


def test_a_co_uk_zone_with_its_own_report_host_gets_no_warning(tmp_path: Path) -> None:
    domains = (
        "  - name: example.co.uk\n"
        "    dmarc: {p: none, sp: quarantine, rua: [dmarc@reports.example.co.uk]}\n"
        "  - name: mail.example.co.uk\n"
        "    dmarc: {p: none, rua: [dmarc@example.co.uk]}\n"
    )
    assert lint(tmp_path, "example.co.uk", domains) == []


def test_sp_on_a_co_uk_sub_domain_is_flagged_by_the_list(tmp_path: Path) -> None:
    """With only the sub-domain in the file, the list still knows example.co.uk is the
    organisational domain, so its sp has no effect."""
    domains = (
        "  - name: shop.example.co.uk\n    dmarc: {p: none, sp: reject, rua: [d@example.co.uk]}\n"
    )
    found = lint(tmp_path, "shop.example.co.uk", domains)
    assert [rule for rule, _ in found] == ["DMARC006"], found
    assert "(that is example.co.uk)" in found[0][1]


def test_reports_to_another_co_uk_name_are_flagged(tmp_path: Path) -> None:
    domains = "  - name: example.co.uk\n    dmarc: {p: none, rua: [dmarc@other.co.uk]}\n"
    found = lint(tmp_path, "example.co.uk", domains)
    assert [rule for rule, _ in found] == ["DMARC008"], found


def test_psd_y_on_a_public_suffix_is_not_flagged(tmp_path: Path) -> None:
    domains = "  - name: co.uk\n    dmarc: {p: none, psd: y, rua: [dmarc@nic.co.uk]}\n"
    found = lint(tmp_path, "co.uk", domains)
    assert "DMARC007" not in [rule for rule, _ in found], found
