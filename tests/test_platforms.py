"""Issue 14 item 6: Debian and Red Hat presets, and the distribution's options kept.

``platform:`` fills the paths a file leaves unset from backends/platforms.py; a path the
file sets wins. ``init --platform debian`` writes a file on the Debian preset. OpenDKIM's
(and OpenDMARC's) distribution file is merged, not replaced: the options mailauth does not
set are kept, such as Debian's ``TrustAnchorFile``; ``extra_options`` adds checked ones.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mailauth.backends import REGISTRY, platforms
from mailauth.backends.keptconf import KEPT_TITLE
from mailauth.compiler import driver
from mailauth.compiler.cli import PlatformChoice, app
from mailauth.schema.errors import ConfigError, MailauthError
from mailauth.schema.models import Config
from mailauth.schema.targets import KeyStore
from mailauth.schema.validate import load_config

FIXTURES = Path(__file__).parent / "fixtures" / "debian"
TODAY = date(2026, 1, 18)
DOMAINS: dict[str, Any] = {"domains": [{"name": "example.org"}]}
TARGETS = [name for name in platforms.column("debian") if name != platforms.KEYS]

SIGNING = textwrap.dedent(
    """\
    version: 1
    platform: debian
    defaults:
      dkim:
        selectors:
          - {name: mail, algorithm: rsa, bits: 1024}
    mail_hosts:
      - {name: mail.example.org, ipv4: [192.0.2.25]}
    zones:
      - {name: example.org, ns: [ns1.example.org], soa: {rname: hostmaster@example.org}}
    domains:
      - name: example.org
    targets:
      bind: {}
      opendkim:
    OPENDKIM
      opendmarc: {}
    """
)


def _config(opendkim: str = "    socket: inet:8891@127.0.0.1") -> str:
    return SIGNING.replace("OPENDKIM\n", textwrap.indent(opendkim, "  ") + "\n")


def _cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


# --- the preset ------------------------------------------------------------------------------


def test_the_debian_preset_fills_debian_paths() -> None:
    config = Config.model_validate(
        {**DOMAINS, "platform": "debian", "targets": {n: {} for n in TARGETS}}
    )
    assert config.platform == "debian"
    assert config.keys.directory == "/etc/dkimkeys"
    bind = config.targets.settings("bind")
    assert bind.directory == "/etc/bind"
    assert bind.zone_file == "db.{zone}"
    assert bind.named_conf == "/etc/bind/named.conf.mailauth"
    assert bind.named_directory == "/var/cache/bind"
    opendmarc = config.targets.settings("opendmarc")
    assert opendmarc is not None
    assert opendmarc.public_suffix_list == ("/usr/share/publicsuffix/public_suffix_list.dat")
    opendkim = config.targets.settings("opendkim")
    assert opendkim.pid_file == "/run/opendkim/opendkim.pid"


def test_the_preset_reaches_the_targets_on_by_default() -> None:
    """Without ``targets:``, BIND is on (default_on): it gets Debian's paths too."""
    config = Config.model_validate({**DOMAINS, "platform": "debian"})
    bind = config.targets.settings("bind")
    assert bind.directory == "/etc/bind"


def test_an_explicit_path_wins_over_the_preset() -> None:
    config = Config.model_validate(
        {
            **DOMAINS,
            "platform": "debian",
            "targets": {"bind": {"directory": "/srv/zones", "named_directory": None}},
            "keys": {"directory": "/srv/keys"},
        }
    )
    bind = config.targets.settings("bind")
    assert bind.directory == "/srv/zones"
    assert bind.named_directory is None  # written as null: not the preset's
    assert bind.zone_file == "db.{zone}"  # unset: the preset's
    assert config.keys.directory == "/srv/keys"


def test_without_platform_nothing_changes() -> None:
    """rhel is the default, and its column is what the models said before presets."""
    config = Config.model_validate(DOMAINS)
    assert config.platform == "rhel"
    assert config.keys == KeyStore()
    assert config.targets.settings("bind") == REGISTRY["bind"].settings()


@pytest.mark.parametrize("section", sorted(platforms.column("rhel")))
def test_the_rhel_column_is_the_models_defaults(section: str) -> None:
    model = KeyStore if section == platforms.KEYS else REGISTRY[section].settings
    defaults = model()
    for field, value in platforms.column("rhel")[section].items():
        assert getattr(defaults, field) == value, f"{section}.{field}"


@pytest.mark.parametrize("platform", platforms.PLATFORMS)
def test_every_column_passes_the_fields_checks(platform: str) -> None:
    for section, fields in platforms.column(platform).items():
        model = KeyStore if section == platforms.KEYS else REGISTRY[section].settings
        model.model_validate(dict(fields))
        assert set(fields) <= set(model.model_fields), section


def test_an_unknown_platform_is_refused_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "mailauth.yaml"
    path.write_text("version: 1\nplatform: suse\ndomains:\n  - name: example.org\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "mailauth.yaml:2:11: platform: expected one of rhel, debian (got 'suse')" in message


def test_the_cli_choices_are_the_platforms() -> None:
    assert tuple(choice.value for choice in PlatformChoice) == platforms.PLATFORMS


# --- init --------------------------------------------------------------------------------------


def test_init_platform_debian_writes_a_valid_debian_config(tmp_path: Path) -> None:
    target = tmp_path / "mailauth.yaml"
    code, _, err = _cli("init", "-c", target, "--platform", "debian")
    assert code == 0, err
    text = target.read_text()
    assert "\nplatform: debian\n" in text
    assert "/etc/bind" in text and "/etc/dkimkeys" in text  # said in its comments
    code, _, err = _cli("validate", "-c", target)
    assert code == 0, err
    config = load_config(target).config
    assert config.keys.directory == "/etc/dkimkeys"
    assert config.targets.settings("bind").directory == "/etc/bind"
    assert config.targets.settings("opendkim").config == "/etc/opendkim.conf"


def test_init_without_platform_keeps_red_hat_paths(tmp_path: Path) -> None:
    target = tmp_path / "mailauth.yaml"
    assert _cli("init", "-c", target)[0] == 0
    config = load_config(target).config
    assert config.platform == "rhel"
    assert config.targets.settings("bind").directory == "/var/named"
    assert config.keys.directory == "/etc/opendkim/keys"


# --- OpenDKIM keeps the distribution's options --------------------------------------------------


def _stage(tmp_path: Path, opendkim: str = "    socket: inet:8891@127.0.0.1") -> tuple[Path, Path]:
    config = tmp_path / "config" / "mailauth.yaml"
    config.parent.mkdir()
    config.write_text(_config(opendkim))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    shutil.copy(FIXTURES / "opendkim.conf", root / "etc/opendkim.conf")
    shutil.copy(FIXTURES / "opendmarc.conf", root / "etc/opendmarc.conf")
    return config, root


def _plan(config: Path, root: Path) -> Any:
    return driver.plan(driver.open_job(config, root, None), today=TODAY)


def _apply(config: Path, root: Path) -> None:
    assert driver.apply(driver.open_job(config, root, None), lambda _: True) is not None


def _change(plan: Any, path: str) -> Any:
    (change,) = [c for c in plan.changes if c.path == path]
    return change


def test_debians_trust_anchor_is_kept_and_shown_as_context(tmp_path: Path) -> None:
    config, root = _stage(tmp_path)
    conf = _change(_plan(config, root), "/etc/opendkim.conf")
    assert conf.op == "update" and conf.foreign
    assert b"\nTrustAnchorFile\t\t/usr/share/dns/root.key\n" in conf.new
    assert b"Socket              inet:8891@127.0.0.1" in conf.new
    assert b"local:/run/opendkim/opendkim.sock" not in conf.new  # Socket is mailauth's
    diff = conf.diff()
    assert " TrustAnchorFile\t\t/usr/share/dns/root.key\n" in diff.splitlines(keepends=True)
    # Nothing else of the file mailauth did not write reaches the plan.
    assert "This is a basic configuration" not in diff
    assert "-" + "Socket" not in diff
    _apply(config, root)
    text = (root / "etc/opendkim.conf").read_text()
    assert text.count("TrustAnchorFile") == 1 and KEPT_TITLE in text
    assert not _plan(config, root).has_work  # merged once, the same bytes again


def test_opendmarc_keeps_an_option_mailauth_does_not_set(tmp_path: Path) -> None:
    config, root = _stage(tmp_path)
    with (root / "etc/opendmarc.conf").open("a") as handle:
        handle.write("FailureReports false\n")
    _apply(config, root)
    text = (root / "etc/opendmarc.conf").read_text()
    assert "\nFailureReports false\n" in text
    assert "UMask 0002" not in text  # UMask is mailauth's
    assert "PublicSuffixList            /usr/share/publicsuffix/public_suffix_list.dat" in text
    assert not _plan(config, root).has_work


def test_extra_options_are_written_and_taken_out_again(tmp_path: Path) -> None:
    extra = '    socket: inet:8891@127.0.0.1\n    extra_options:\n      SoftwareHeader: "yes"'
    config, root = _stage(tmp_path, extra)
    _apply(config, root)
    text = (root / "etc/opendkim.conf").read_text()
    assert re.search(r"\nSoftwareHeader +yes\n", text), text
    assert "TrustAnchorFile" in text
    config.write_text(_config())
    _apply(config, root)
    text = (root / "etc/opendkim.conf").read_text()
    assert "SoftwareHeader" not in text  # mailauth's own, not kept as the host's
    assert "TrustAnchorFile" in text


@pytest.mark.parametrize(
    ("option", "field", "message"),
    [
        (
            "SoftwareHeadr: 'yes'",
            "targets.opendkim.extra_options.SoftwareHeadr",
            "'SoftwareHeadr' is not an OpenDKIM option",
        ),
        (
            "Socket: local:/run/x.sock",
            "targets.opendkim.extra_options.Socket",
            "Socket is set by mailauth from targets.opendkim.socket; set it there",
        ),
        (
            'ReportAddress: "a@example.org\\nSocket inet:1@10.0.0.1"',
            "targets.opendkim.extra_options.ReportAddress",
            "newline",
        ),
        (
            "ReportAddress: 'a@example.org # b'",
            "targets.opendkim.extra_options.ReportAddress",
            "'#'",
        ),
        (
            "TestDNSData: 'mail._domainkey.example.com v=DKIM1'",
            "targets.opendkim.extra_options.TestDNSData",
            "for tests only",
        ),
        (
            "MTACommand: /usr/bin/evil",
            "targets.opendkim.extra_options.MTACommand",
            "makes OpenDKIM run a program",
        ),
    ],
)
def test_extra_options_refuse_with_file_line_and_field(
    tmp_path: Path, option: str, field: str, message: str
) -> None:
    path = tmp_path / "mailauth.yaml"
    opendkim = f"    socket: inet:8891@127.0.0.1\n    extra_options:\n      {option}"
    path.write_text(_config(opendkim))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "mailauth.yaml:18:" in text, text
    assert f": {field}: " in text, text
    assert message in text, text


def test_extra_option_names_take_the_documented_spelling(tmp_path: Path) -> None:
    path = tmp_path / "mailauth.yaml"
    path.write_text(_config("    extra_options:\n      softwareheader: 'yes'"))
    opendkim = load_config(path).config.targets.settings("opendkim")
    assert opendkim.extra_options == {"SoftwareHeader": "yes"}


# --- the README's tour, on either platform -------------------------------------------------


def _tour() -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A tour of mailauth.yaml", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("platform", "zone", "key"),
    [
        ("rhel", "/var/named/zone.example.org", "/etc/opendkim/keys/example.org/01.private"),
        ("debian", "/etc/bind/db.example.org", "/etc/dkimkeys/example.org/01.private"),
    ],
)
def test_the_readme_tour_applies_on_both_platforms(
    tmp_path: Path, platform: str, zone: str, key: str
) -> None:
    tour = _tour()
    assert "\nplatform: rhel " in tour
    config = tmp_path / "config" / "mailauth.yaml"
    config.parent.mkdir()
    config.write_text(tour.replace("\nplatform: rhel ", f"\nplatform: {platform} ", 1))
    root = tmp_path / "root"
    (root / "etc/postfix").mkdir(parents=True)
    shutil.copy(FIXTURES / "main.cf", root / "etc/postfix/main.cf")
    planned = {c.path for c in _plan(config, root).changes}
    assert {zone, key} <= planned, sorted(planned)
    _apply(config, root)
    assert (root / zone.lstrip("/")).is_file() and (root / key.lstrip("/")).is_file()
    assert not _plan(config, root).has_work


def test_a_secret_in_the_distributions_file_stops_the_plan_unshown(tmp_path: Path) -> None:
    config, root = _stage(tmp_path)
    with (root / "etc/opendkim.conf").open("a") as handle:
        handle.write("LDAPBindPassword hunter2-secret\n")
    with pytest.raises(MailauthError) as caught:
        _plan(config, root)
    assert "line 52 sets LDAPBindPassword, a secret" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# --- the merge, for any file on disk ------------------------------------------------------------

_OPTION = st.sampled_from(["Syslog", "socket", "TrustAnchorFile", "SoftwareHeader", "Foo-Bar"])
_LINE = st.one_of(
    st.tuples(_OPTION, st.sampled_from([" ", "\t", "  \t"]), st.text(max_size=12)).map("".join),
    st.sampled_from(["", "# a comment", "   ", "\t# indented comment"]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, max_size=12), extra=st.booleans())
def test_the_merge_is_stable_and_keeps_only_what_mailauth_does_not_set(
    lines: list[str], extra: bool
) -> None:
    from mailauth.backends.base import EditContext, Edited
    from mailauth.backends.keptconf import merge_edit, option_name

    generated = "# Generated by mailauth\n\nSyslog  yes\nSocket  inet:1@127.0.0.1\n"
    if extra:
        generated += "\nSoftwareHeader  yes\n"
    _, edit = merge_edit(
        generated,
        owned=("Syslog", "Socket"),
        extra=("SoftwareHeader",) if extra else (),
        path="/etc/x.conf",
    )
    ctx = EditContext(today=TODAY)
    first = edit("\n".join(lines).encode("utf-8", "surrogateescape"), ctx)
    assert isinstance(first, Edited) and first.content is not None
    assert first.content.startswith(generated.encode())
    again = edit(first.content, EditContext(today=TODAY, state=first.state))
    assert isinstance(again, Edited)
    assert again.content == first.content  # applied, then planned: nothing to do
    kept = first.content[len(generated) :].decode("utf-8", "surrogateescape").splitlines()
    names = [option_name(line) for line in kept]
    owned = {"syslog", "socket"} | ({"softwareheader"} if extra else set())
    assert not {n.casefold() for n in names if n is not None} & owned
    physical = [line.rstrip(" \t\r") for line in "\n".join(lines).split("\n")]
    assert all(line in physical for line in kept[2:])  # copied as written, nothing made up
