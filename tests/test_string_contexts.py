"""Every string from mailauth.yaml reaches a generated file through the type for its context.

For each kind of string field, arbitrary text (control characters, quotes, separators,
Unicode) either fails validation with a ConfigError, never another exception, or comes
out of the program that reads the generated file as the same value that went in: zone
text through dnspython and named-checkzone, main.cf values through postconf, milter
config values through their "Name value" line syntax.
"""

from __future__ import annotations

import posixpath
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import require_binary

from mailauth.backends.base import EditContext
from mailauth.backends.bind import BindBackend
from mailauth.backends.opendkim import render_conf as opendkim_conf
from mailauth.backends.opendmarc import render_conf as opendmarc_conf
from mailauth.backends.postfix import PostfixBackend, postfix_address
from mailauth.compiler.build import build_model, key_path
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import ConfigError
from mailauth.schema.loader import LoadedDocument, SourceMap
from mailauth.schema.validate import LoadedConfig, validate_document

ZONE = "example.org"
# Separators and quoting of every format mailauth writes, and a few Unicode characters.
NASTY = st.sampled_from(
    [*" \t\n\r\x00\x7f\"'\\;#,:=$(){}[]@%/.-_+*&!|<>`~", "é", "\u2028", "\ufeff", "日"]
)
TEXT = st.lists(st.one_of(NASTY, st.characters()), max_size=40).map("".join)
TODAY = EditContext(today=date(2026, 1, 1))
NS_A = {"name": "ns1", "type": "A", "value": "192.0.2.53"}  # named-checkzone wants it


def _config(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "zones": [{"name": ZONE, "ns": [f"ns1.{ZONE}"], "records": [NS_A]}],
        "domains": [{"name": ZONE}],
        "targets": {"bind": {"named_conf": None}},
    }
    data.update(changes)
    return data


def _load(data: dict[str, Any]) -> tuple[LoadedConfig, MailModel] | None:
    """The validated config and its model, or None when it is refused (ConfigError only)."""
    try:
        loaded = validate_document(LoadedDocument(data, SourceMap("t.yaml")), Path("t.yaml"))
        return loaded, build_model(loaded)
    except ConfigError as exc:
        assert exc.problems and all(p.where.startswith("t.yaml") for p in exc.problems)
        return None


def _zone_text(loaded: LoadedConfig, model: MailModel) -> str:
    target = loaded.config.targets.bind
    assert target is not None
    (zone,) = [a for a in BindBackend().render(model, target) if a.path.endswith(ZONE)]
    return zone.render(None, TODAY).decode("utf-8")


def _parse_zone(text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=f"{ZONE}.", relativize=False, check_origin=False)


def _txt_at(zone: dns.zone.Zone, owner: str) -> bytes:
    rdataset = zone.find_rdataset(f"{owner}.{ZONE}.", dns.rdatatype.TXT)
    (rdata,) = list(rdataset)
    return b"".join(rdata.strings)


def _checkzone(text: str, tmp: Path) -> str:
    """named-checkzone's own reading of the zone, printed back (-D)."""
    binary = require_binary("named-checkzone")
    path = tmp / "zone"
    path.write_text(text, encoding="utf-8")
    ran = subprocess.run(
        [binary, "-q", "-D", "-o", "-", ZONE, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return ran.stdout


def _txt_config(value: str) -> dict[str, Any]:
    records = [NS_A, {"name": "t", "type": "TXT", "value": value}]
    zone = {"name": ZONE, "ns": [f"ns1.{ZONE}"], "records": records}
    return _config(zones=[zone])


TXT_EXAMPLES = [
    'v=1; "quoted" \\ back',
    "a" * 300,
    "é日本",
    "x\n$INCLUDE /etc/passwd",
    "x) ( ; comment",
]


# ----------------------------------------------------------------------------- zone text


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(TEXT, st.text(max_size=700)))
@example(value=TXT_EXAMPLES[0])
@example(value=TXT_EXAMPLES[1])
@example(value=TXT_EXAMPLES[2])
@example(value=TXT_EXAMPLES[3])
@example(value="a" * 4001)
def test_txt_value_comes_back_from_the_zone_as_written(value: str) -> None:
    built = _load(_txt_config(value))
    if built is None:
        return
    assert _txt_at(_parse_zone(_zone_text(*built)), "t") == value.encode("utf-8")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(TEXT, st.text(max_size=400)))
@example(value=TXT_EXAMPLES[0])
@example(value=TXT_EXAMPLES[2])
def test_txt_value_comes_back_from_named_checkzone(value: str, tmp_path: Path) -> None:
    built = _load(_txt_config(value))
    if built is None:
        return
    printed = _checkzone(_zone_text(*built), tmp_path)
    assert _txt_at(_parse_zone(printed), "t") == value.encode("utf-8")


LOCAL = st.lists(st.one_of(NASTY, st.sampled_from(list("abc.-_+"))), max_size=12).map("".join)
DOMAIN = st.one_of(
    st.sampled_from(["example.org", "mail.example.org.", "EXAMPLE.net", "ex ample.org"]), TEXT
)


def _expected_rname(value: str) -> dns.name.Name:
    local, at, domain = value.strip().partition("@")
    host = domain if at else local
    labels = [label.lower().encode() for label in host.rstrip(".").split(".")]
    return dns.name.Name(([local.encode()] if at else []) + labels + [b""])


RNAME_EXAMPLES = [
    "hostmaster@slackbox.fr. ( 1 10800 600 1814400 10800 )\ninj IN NS ns.attacker.example.",
    "a\n$INCLUDE /etc/passwd\n@example.org",
    "dns.admin@example.org",
    "hostmaster.example.org",
    "x;y@example.org",
]


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.builds(lambda a, b: f"{a}@{b}", LOCAL, DOMAIN), TEXT))
@example(value=RNAME_EXAMPLES[0])
@example(value=RNAME_EXAMPLES[1])
@example(value=RNAME_EXAMPLES[2])
@example(value=RNAME_EXAMPLES[3])
@example(value=RNAME_EXAMPLES[4])
def test_rname_comes_back_from_the_zone_as_the_name_written(value: str) -> None:
    zone = {"name": ZONE, "ns": [f"ns1.{ZONE}"], "soa": {"rname": value}, "records": [NS_A]}
    built = _load(_config(zones=[zone]))
    if built is None:
        assert value not in RNAME_EXAMPLES[2:4]
        return
    parsed = _parse_zone(_zone_text(*built))
    soa = parsed.find_rdataset(f"{ZONE}.", dns.rdatatype.SOA)[0]
    expected = _expected_rname(value)
    assert soa.rname == expected
    assert soa.rname.labels[0] == expected.labels[0]
    # Nothing but the records of the model: no owner smuggled in through the contact.
    owners = {dns.name.from_text(r.fqdn(ZONE)) for r in built[1].zones[0].records}
    assert set(parsed.nodes) == owners | {dns.name.from_text(ZONE)}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.builds(lambda a, b: f"{a}@{b}", LOCAL, DOMAIN))
@example(value=RNAME_EXAMPLES[0])
@example(value=RNAME_EXAMPLES[2])
def test_rname_comes_back_from_named_checkzone(value: str, tmp_path: Path) -> None:
    zone = {"name": ZONE, "ns": [f"ns1.{ZONE}"], "soa": {"rname": value}, "records": [NS_A]}
    built = _load(_config(zones=[zone]))
    if built is None:
        return
    parsed = _parse_zone(_checkzone(_zone_text(*built), tmp_path))
    soa = parsed.find_rdataset(f"{ZONE}.", dns.rdatatype.SOA)[0]
    assert soa.rname == _expected_rname(value)


# ----------------------------------------------------------------------------- main.cf


def _main_cf(value: str, name: str = "smtpd_banner") -> bytes | None:
    postfix = {"parameters": {name: value}, "main_cf": "/etc/postfix/main.cf"}
    built = _load(_config(targets={"postfix": postfix}))
    if built is None:
        return None
    loaded, model = built
    target = loaded.config.targets.postfix
    assert target is not None
    artifact, _master = PostfixBackend().render(model, target)
    return artifact.render(b"", TODAY)


POSTFIX_EXAMPLES = ["  leading", "trailing ", "a  b", "$myhostname ESMTP", "é #x", "{ a }"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(TEXT, st.text(max_size=200)))
@example(value=POSTFIX_EXAMPLES[0])
@example(value=POSTFIX_EXAMPLES[1])
@example(value=POSTFIX_EXAMPLES[2])
@example(value=POSTFIX_EXAMPLES[3])
@example(value=POSTFIX_EXAMPLES[4])
@example(value=POSTFIX_EXAMPLES[5])
def test_postfix_value_comes_back_from_postconf(value: str, tmp_path: Path) -> None:
    text = _main_cf(value)
    if text is None:
        return
    postconf = require_binary("postconf")
    (tmp_path / "main.cf").write_bytes(text)
    (tmp_path / "master.cf").write_bytes(b"")
    ran = subprocess.run(
        [postconf, "-c", str(tmp_path), "-h", "smtpd_banner"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == value.encode("utf-8") + b"\n"


@settings(max_examples=200, deadline=None)
@given(name=TEXT)
@example(name="smtpd_milters")
@example(name="a\nb")
@example(name="x=y")
def test_postfix_parameter_names_are_refused_or_one_word(name: str) -> None:
    text = _main_cf("yes", name)
    if text is None:
        return
    assert text == f"{name} = yes\n".encode()


# ----------------------------------------------------------------------------- milter configs


def _settings(conf: str) -> dict[str, str]:
    """``Name value`` lines as the milters read them: one name, one value, no comment."""
    out: dict[str, str] = {}
    for line in conf.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        assert len(parts) == 2, line
        out[parts[0]] = parts[1]
    return out


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["user", "group", "umask", "pid_file", "socket"]),
    value=st.one_of(
        TEXT,
        st.builds(lambda v: "opendkim" + v, TEXT),
        st.builds(lambda v: "/run/" + v, TEXT),
        st.builds(lambda v: "inet:8891@" + v, TEXT),
        st.builds(lambda v: "local:/var/spool/postfix/" + v, TEXT),
    ),
)
@example(field="user", value="opendkim\n")
@example(field="socket", value="local:/var/spool/postfix/o.sock,inet:203.0.113.66:9999")
@example(field="pid_file", value="/run/o.pid # x")
def test_opendkim_values_are_refused_or_one_token(field: str, value: str) -> None:
    opendkim: dict[str, Any] = {field: value}
    built = _load(_config(targets={"opendkim": opendkim, "postfix": {"chroot": False}}))
    if built is None:
        return
    loaded, model = built
    target = loaded.config.targets.opendkim
    assert target is not None
    settings_ = _settings(opendkim_conf(model, target))
    key = {"user": "UserID", "group": "UserID", "umask": "UMask", "pid_file": "PidFile"}
    if field == "socket":
        assert settings_["Socket"] == target.socket
        postfix = loaded.config.targets.postfix
        assert postfix is not None
        address = postfix_address(model.milters[0], postfix)
        assert "," not in address and " " not in address and address.count(":") >= 1
    elif field == "group":
        assert settings_["UserID"] == f"opendkim:{value}"
    else:
        assert settings_[key[field]] == value


@settings(max_examples=200, deadline=None)
@given(value=TEXT)
@example(value="mail.example.org\n")
@example(value="a,b")
def test_opendmarc_authserv_ids_are_refused_or_one_item(value: str) -> None:
    opendmarc = {"authserv_id": value, "trusted_authserv_ids": [value]}
    built = _load(_config(targets={"opendmarc": opendmarc}))
    if built is None:
        return
    loaded, model = built
    target = loaded.config.targets.opendmarc
    assert target is not None
    settings_ = _settings(opendmarc_conf(model, target))
    assert settings_["AuthservID"] == value
    assert value in settings_["TrustedAuthservIDs"].split(",")


@settings(max_examples=200, deadline=None)
@given(value=TEXT)
@example(value="fe80::1%a,b #c")
@example(value="10.0.0.0/8\n")
def test_trusted_hosts_and_nameservers_are_refused_or_one_item(value: str) -> None:
    opendkim = {"trusted_hosts": [value], "nameservers": [value]}
    built = _load(_config(targets={"opendkim": opendkim}))
    if built is None:
        return
    assert all(c not in value for c in " \t\n,#%")


# ----------------------------------------------------------------------------- paths


TEMPLATE = st.lists(
    st.one_of(
        st.sampled_from(["{zone}", "{domain}", "{selector}", "{", "}", "/", "..", "."]), NASTY
    ),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(template=TEMPLATE)
@example(template="{nope}")
@example(template="{zone.__class__}")
@example(template="{0}")
@example(template="../{zone}")
@example(template="{zone")
def test_zone_file_templates_are_refused_or_stay_in_the_directory(template: str) -> None:
    built = _load(_config(targets={"bind": {"zone_file": template, "named_conf": None}}))
    if built is None:
        return
    loaded, model = built
    target = loaded.config.targets.bind
    assert target is not None
    (artifact,) = [a for a in BindBackend().render(model, target)]
    assert artifact.path.startswith("/var/named/")
    assert posixpath.normpath(artifact.path) == artifact.path


@settings(max_examples=300, deadline=None)
@given(template=TEMPLATE)
@example(template="{domain}/{selector.__class__}")
@example(template="{domain}/../{selector}")
def test_key_file_templates_are_refused_or_stay_in_the_key_store(template: str) -> None:
    selectors = [{"name": "s1", "public_key": "AAAA"}]
    data = _config(keys={"file": template})
    data["domains"] = [{"name": ZONE, "dkim": {"selectors": selectors}}]
    built = _load(data)
    if built is None:
        return
    loaded, _ = built
    selector = loaded.config.domains[0].dkim
    assert selector is not None
    path = key_path(loaded.config, ZONE, selector.selectors[0])
    assert path.startswith("/etc/opendkim/keys/")
    assert posixpath.normpath(path) == path


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["lock_file", "spf_cache"]), value=TEMPLATE)
@example(field="lock_file", value="/etc/passwd")
@example(field="spf_cache", value="../../x.json")
def test_lock_file_and_spf_cache_stay_beside_the_config(field: str, value: str) -> None:
    built = _load(_config(**{field: value}))
    if built is None:
        return
    base = Path("/srv/config")
    assert (base / value).resolve().is_relative_to(base)
    assert (base / value).resolve() != base


def test_a_trailing_newline_does_not_pass_a_user_name() -> None:
    assert _load(_config(targets={"opendkim": {"user": "opendkim\n"}})) is None


@pytest.mark.parametrize("value", ["01", "0100"])
def test_umask_must_be_text(value: str) -> None:
    assert _load(_config(targets={"opendkim": {"umask": int(value)}})) is None


# ----------------------------------------------------------------------------- main.cf bytes


def _main_cf_edit() -> Any:
    built = _load(_config(targets={"postfix": {"parameters": {"smtpd_banner": "hi"}}}))
    assert built is not None
    loaded, model = built
    target = loaded.config.targets.postfix
    assert target is not None
    artifact, _master = PostfixBackend().render(model, target)
    return artifact


def test_a_latin_1_main_cf_keeps_its_bytes() -> None:
    current = b"# r\xe9seau local\nmyhostname = caf\xe9.example\n"
    new = _main_cf_edit().render(current, TODAY)
    assert new == current + b"smtpd_banner = hi\n"


def test_a_main_cf_line_without_equals_is_a_named_error() -> None:
    from mailauth.backends.base import EditError

    with pytest.raises(EditError, match=r"/etc/postfix/main.cf: line 2: missing '='"):
        _main_cf_edit().render(b"a = 1\nnoequals\n", TODAY)


def test_printed_commands_quote_their_paths() -> None:
    from mailauth.backends.octodns import OctodnsBackend

    directory = "/etc/octodns/a$(touch_x)"
    octodns = {"directory": directory, "provider": {"class": "a.B"}}
    assert _load(_config(targets={"octodns": octodns})) is None  # '$(' is no path character
    built = _load(
        _config(targets={"octodns": {"directory": "/etc/octo~dns", "provider": {"class": "a.B"}}})
    )
    assert built is not None
    loaded, model = built
    target = loaded.config.targets.octodns
    assert target is not None
    reloads = {a.reload for a in OctodnsBackend().render(model, target)}
    assert reloads == {"octodns-sync --config-file '/etc/octo~dns/octodns-config.yaml'"}
