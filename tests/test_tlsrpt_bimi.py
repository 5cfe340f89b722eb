"""TLS-RPT (RFC 8460) and BIMI: record text, URI checks, the SVG Tiny PS checker, plans.

The records are also parsed by checkdmarc's own parsers (offline: they take the record
text), the tool admins use to audit these records; the end-to-end test through named is
tests/e2e/test_tlsrpt_bimi_named.py.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import require_module, run_mailauth

from mailauth.compiler.lint.svg_tinyps import SvgUnreadable, check_svg
from mailauth.compiler.trust_records import bimi_text, tlsrpt_text
from mailauth.schema.bimi import Bimi
from mailauth.schema.tlsrpt import TlsRpt, report_uri
from mailauth.schema.uris import https_url

GOLDEN = Path(__file__).parent / "golden" / "tls-rpt-bimi" / "mailauth.yaml"
SVG_NS = "http://www.w3.org/2000/svg"


# -- record text -----------------------------------------------------------------------------


def test_tlsrpt_text_joins_uris_with_commas() -> None:
    policy = TlsRpt(rua=["tls@example.org", "https://r.example.net/v1?a=1%2C2"])
    assert tlsrpt_text(policy) == (
        "v=TLSRPTv1; rua=mailto:tls@example.org,https://r.example.net/v1?a=1%2C2"
    )


def test_bimi_text_with_and_without_authority() -> None:
    logo = "https://Brand.Example.org/logo.svg"
    assert bimi_text(Bimi(logo=logo)) == "v=BIMI1; l=https://brand.example.org/logo.svg"
    with_vmc = Bimi(logo=logo, authority="https://brand.example.org/vmc.pem")
    assert bimi_text(with_vmc).endswith("; a=https://brand.example.org/vmc.pem")


# Characters a hostile URI may try; whatever passes must leave the tag list intact.
_HOSTILE = st.text(
    alphabet=st.sampled_from(list("abcXYZ019-._~:/?#[]@$&'()*+=%,;! \"\\\n\té")), max_size=30
)


@given(path=_HOSTILE)
def test_accepted_urls_cannot_break_the_record(path: str) -> None:
    for candidate in (f"https://r.example.org/{path}", f"mailto:{path}@example.org"):
        try:
            uri = report_uri(candidate)
        except ValueError:
            continue
        assert not set(uri) & set(',;! "\\\n\t'), uri
        assert uri.isascii()
        text = tlsrpt_text(TlsRpt(rua=[uri]))
        assert text.split("; rua=", 1)[1] == uri


@given(path=_HOSTILE)
def test_https_url_is_https_with_a_domain_host(path: str) -> None:
    try:
        url = https_url(f"https://r.example.org/{path}")
    except ValueError:
        return
    assert url.startswith("https://r.example.org/")


# -- checkdmarc parses what mailauth publishes -------------------------------------------------


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkdmarc's BIMI parser fetches the logo: point its HTTP at a closed local port, so
    it fails at once and reports the fetch as an image error, without leaving the machine."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "rua",
    [
        ["tls@example.org"],
        ["mailto:tls-reports@example.net", "https://reports.example.net/v1/tlsrpt?src=dns%2Cmx"],
    ],
)
def test_checkdmarc_accepts_the_tlsrpt_record(rua: list[str]) -> None:
    tlsrpt = require_module("checkdmarc.smtp_tls_reporting")
    text = tlsrpt_text(TlsRpt(rua=rua))
    parsed = tlsrpt.parse_smtp_tls_reporting_record(text)
    assert parsed["warnings"] == []
    assert parsed["tags"]["rua"]["value"] == [report_uri(u) for u in rua]


def test_checkdmarc_accepts_the_bimi_record(monkeypatch: pytest.MonkeyPatch) -> None:
    bimi = require_module("checkdmarc.bimi")
    _offline(monkeypatch)
    record = Bimi(
        logo="https://brand.example.org/bimi/logo.svg",
        authority="https://brand.example.org/bimi/vmc.pem",
    )
    parsed = bimi.parse_bimi_record(bimi_text(record), domain="example.org", http_timeout=2)
    assert parsed["tags"]["v"]["value"] == "BIMI1"
    assert parsed["tags"]["l"]["value"] == record.logo
    assert parsed["tags"]["a"]["value"] == record.authority


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(alphabet=st.sampled_from(list("abc019-._~/%2C")), min_size=1, max_size=20))
def test_checkdmarc_accepts_every_tlsrpt_uri_we_accept(path: str) -> None:
    tlsrpt = require_module("checkdmarc.smtp_tls_reporting")
    try:
        uri = report_uri(f"https://r.example.org/{path}")
    except ValueError:
        return
    parsed = tlsrpt.parse_smtp_tls_reporting_record(tlsrpt_text(TlsRpt(rua=[uri])))
    assert parsed["tags"]["rua"]["value"] == [uri]


# -- the SVG Tiny PS checker ---------------------------------------------------------------------

_FEATURES = ("script", "image", "foreign", "external", "onload", "no-title", "profile", "version")


def _svg(features: frozenset[str], title: str) -> bytes:
    profile = 'baseProfile="tiny-11"' if "profile" in features else 'baseProfile="tiny-ps"'
    version = 'version="1.1"' if "version" in features else 'version="1.2"'
    onload = ' onload="go()"' if "onload" in features else ""
    body = [] if "no-title" in features else [f"<title>{title}</title>"]
    body.append('<circle id="c" r="4"/><use xlink:href="#c"/>')
    if "script" in features:
        body.append("<script>go()</script>")
    if "image" in features:
        body.append('<image xlink:href="#c"/>')
    if "foreign" in features:
        body.append("<foreignObject/>")
    if "external" in features:
        body.append('<use xlink:href="https://x.example.net/a.svg#c"/>')
    return (
        f'<svg xmlns="{SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f"{version} {profile}{onload}>{''.join(body)}</svg>"
    ).encode()


@given(
    features=st.frozensets(st.sampled_from(_FEATURES)),
    title=st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12),
)
def test_checker_reports_exactly_the_profile_breaks_put_in(
    features: frozenset[str], title: str
) -> None:
    found = " | ".join(p.message for p in check_svg(_svg(features, title)))
    expected_words = {
        "script": "<script>",
        "image": "<image>",
        "foreign": "<foreignObject>",
        "external": "refers outside the file",
        "onload": "event handler onload",
        "no-title": "no <title>",
        "profile": "baseProfile",
        "version": "version is",
    }
    for feature, words in expected_words.items():
        assert (words in found) == (feature in features), (feature, found)


@given(data=st.binary(max_size=300))
def test_checker_never_fails_on_garbage(data: bytes) -> None:
    with contextlib.suppress(SvgUnreadable):
        check_svg(data)


@given(depth=st.integers(min_value=1, max_value=8))
def test_entity_expansion_is_refused_not_performed(depth: int) -> None:
    entities = ['<!ENTITY e0 "lollollollol">'] + [
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, depth + 1)
    ]
    doc = f"<!DOCTYPE svg [{''.join(entities)}]><svg xmlns='{SVG_NS}'>&e{depth};</svg>"
    with pytest.raises(SvgUnreadable, match="entities"):
        check_svg(doc.encode())


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    doc = f'<!DOCTYPE svg [<!ENTITY x SYSTEM "file://{secret}">]><svg>&x;</svg>'
    with pytest.raises(SvgUnreadable):
        check_svg(doc.encode())


def test_css_url_outside_the_file_is_reported() -> None:
    doc = (
        f'<svg xmlns="{SVG_NS}" version="1.2" baseProfile="tiny-ps"><title>T</title>'
        '<rect style="fill: url(https://x.example.net/p)"/><rect fill="url(#g)"/></svg>'
    )
    messages = [p.message for p in check_svg(doc.encode())]
    assert messages == ["<rect> style= loads url(...) from outside the file"]


def test_logo_file_symlink_out_of_the_config_dir_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.svg"
    outside.write_text("<svg/>")
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    (config_dir / "logo.svg").symlink_to(outside)
    config = config_dir / "mailauth.yaml"
    config.write_text(
        "version: 1\ndomains:\n  - name: example.org\n    dmarc: {p: reject}\n"
        "    bimi: {logo: https://example.org/l.svg, logo_file: logo.svg}\n"
    )
    done = run_mailauth("lint", "-c", config, "--format", "json", expect=None)
    findings = json.loads(done.stdout)["findings"]
    bimi = [f for f in findings if f["rule"] == "BIMI005"]
    assert bimi and "outside the directory" in bimi[0]["message"]
    assert bimi[0]["field"] == "domains[0].bimi.logo_file"


# -- plans ---------------------------------------------------------------------------------------


def test_json_and_markdown_plans_show_both_families(tmp_path: Path) -> None:
    root = tmp_path / "root"
    plan = run_mailauth("plan", "-c", GOLDEN, "--root", root, "--format", "json", expect=None)
    doc = json.loads(plan.stdout)
    names = {(r["name"], r["type"]) for r in doc["dns"]}
    for owner in (
        "_smtp._tls.example.org.",
        "_smtp._tls.example.net.",
        "default._bimi.example.org.",
        "brand2._bimi.example.net.",
    ):
        assert (owner, "TXT") in names, sorted(names)
    markdown = run_mailauth(
        "plan", "-c", GOLDEN, "--root", root, "--format", "markdown", expect=None
    ).stdout
    assert "_smtp._tls.example.org" in markdown and "default._bimi.example.org" in markdown
    assert "v=TLSRPTv1; rua=mailto:tlsrpt@example.org" in markdown


# -- octodns: the source and the zone files carry the same records ----------------------------


def test_octodns_source_and_zone_files_agree(tmp_path: Path) -> None:
    require_module("octodns")
    from octodns.provider.yaml import YamlProvider
    from octodns.zone import Zone

    from mailauth.compiler.octodns_source import MailauthSource

    config = tmp_path / "mailauth.yaml"
    config.write_text(GOLDEN.read_text())
    files = GOLDEN.parent / "expected" / "etc" / "octodns" / "mailauth"
    source = MailauthSource("mailauth", str(config), root=str(tmp_path / "out"))
    yaml_files = YamlProvider("files", str(files), escaped_semicolons=True)
    for zone_name, owners in (
        ("example.org", {"_smtp._tls", "_smtp._tls.shop", "default._bimi"}),
        ("example.net", {"_smtp._tls", "brand2._bimi"}),
    ):
        from_source = Zone(f"{zone_name}.", [])
        source.populate(from_source)
        from_files = Zone(f"{zone_name}.", [])
        yaml_files.populate(from_files)
        assert from_source.changes(from_files, yaml_files) == []
        txt = {r.name: r.values for r in from_source.records if r._type == "TXT"}
        assert owners <= set(txt), sorted(txt)
        assert all(v.startswith("v=TLSRPTv1\\; rua=") for v in txt["_smtp._tls"])
    assert not (tmp_path / "out").exists()


def test_plan_refuses_a_handkept_zone_that_already_has_a_tlsrpt_record(tmp_path: Path) -> None:
    """Include mode: a second TLS-RPT record would make senders send no report at all."""
    zone = tmp_path / "root" / "var" / "named" / "db.example.net"
    zone.parent.mkdir(parents=True)
    zone.write_text(
        "$ORIGIN example.net.\n$TTL 3600\n"
        "@ IN SOA ns1.example.net. hostmaster.example.net. 2026011801 7200 900 1209600 300\n"
        "@ IN NS ns1.example.net.\n"
        '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:old@example.net"\n'
        "$INCLUDE /var/named/mailauth.example.net.inc\n"
    )
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        GOLDEN.read_text().replace(
            "    mode: include\n",
            "    mode: include\n    zone_file: /var/named/db.example.net\n",
        )
    )
    done = run_mailauth("plan", "-c", config, "--root", tmp_path / "root", expect=1)
    assert "db.example.net:5" in done.stderr and "a TLS-RPT record" in done.stderr, done.stderr
