"""The "After apply, run" line: one ``rndc reload`` for many zones, ``systemctl reload``
where the daemon re-reads the change on its signal, ``restart`` only where it must.

Plans are made by the real planner on the slackbox example (applied once, then changed);
the backends' own choices are checked on their rendered files.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailauth.backends.bind import ZONE_RELOAD_LIMIT
from mailauth.backends.opendmarc import READ_AT_START as DMARC_AT_START
from mailauth.backends.reloads import conf_values, merge_restarts, signal_reload
from mailauth.compiler import driver
from mailauth.compiler.cli import app
from mailauth.compiler.plan import FileChange, Plan

DAY = date(2026, 1, 18)
MOMENT = datetime(2026, 1, 18, 9, 0, tzinfo=UTC)

ZONE = """\
  - name: {name}
    mode: zone
    soa: {{mname: ns.slackbox.fr, rname: hostmaster@slackbox.fr}}
    ns: [ns.slackbox.fr]
    records:
      - {{name: "@", type: A, value: 192.0.2.1}}
"""


def plan_of(config: Path, root: Path) -> Plan:
    return driver.plan(driver.open_job(config, root, None), today=DAY)


def apply(config: Path, root: Path) -> Plan:
    result = driver.apply(driver.open_job(config, root, None), lambda _plan: True, now=MOMENT)
    assert result is not None
    return result


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert text.count(old) == 1, f"{old!r}: the example moved; update this test"
    config.write_text(text.replace(old, new))


def add_zones(config: Path, names: list[str]) -> None:
    edit(config, "\ndomains:\n", "".join(ZONE.format(name=n) for n in names) + "\ndomains:\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


# --- BIND -------------------------------------------------------------------------------------


def test_many_zones_make_one_rndc_reload(slackbox_config: Path, root: Path) -> None:
    add_zones(slackbox_config, ["a.test", "b.test", "c.test"])  # 5 zones with slackbox's 2
    rndc = [r for r in plan_of(slackbox_config, root).reloads if r.startswith("rndc")]
    assert rndc == ["rndc reload"]
    result = CliRunner().invoke(
        app, ["plan", "-c", str(slackbox_config), "--root", str(root)], env={"NO_COLOR": "1"}
    )
    assert "After apply, run: rndc reload; " in result.stdout
    assert "rndc reload slackbox.fr" not in result.stdout


def test_few_zones_are_reloaded_by_name_after_reconfig(slackbox_config: Path, root: Path) -> None:
    rndc = [r for r in plan_of(slackbox_config, root).reloads if r.startswith("rndc")]
    # named.conf first: a new zone must be configured before it can be reloaded by name.
    assert rndc == ["rndc reconfig", "rndc reload slackbox.fr", "rndc reload unixbox.fr"]


def test_the_zone_limit_is_a_count_of_changed_zones(slackbox_config: Path, root: Path) -> None:
    names = [f"z{i}.test" for i in range(ZONE_RELOAD_LIMIT + 2)]
    add_zones(slackbox_config, names)
    apply(slackbox_config, root)
    # Only one zone changes now: it is named, however many zones there are.
    edit(slackbox_config, "      - {name: www, type: CNAME, value: unixbox.fr.}\n", "")
    assert plan_of(slackbox_config, root).reloads == ["rndc reload unixbox.fr"]


# --- OpenDKIM ---------------------------------------------------------------------------------


@pytest.fixture
def applied(slackbox_config: Path, root: Path) -> Path:
    first = apply(slackbox_config, root)
    assert "systemctl restart opendkim" in first.reloads, "a new config starts the daemon"
    assert "systemctl reload opendkim" not in first.reloads
    return slackbox_config


def test_a_table_only_change_reloads_opendkim(applied: Path, root: Path) -> None:
    edit(
        applied,
        'trusted_hosts: [127.0.0.1, "::1"]',
        'trusted_hosts: [127.0.0.1, "::1", 10.0.0.0/8]',
    )
    plan = plan_of(applied, root)
    assert [(c.path, c.reload) for c in plan.pending] == [
        ("/etc/opendkim/TrustedHosts", "systemctl reload opendkim")
    ]
    assert plan.reloads == ["systemctl reload opendkim"]


def test_a_setting_reread_on_usr1_reloads_opendkim(applied: Path, root: Path) -> None:
    edit(applied, "mode: sv\n", "mode: s\n")
    plan = plan_of(applied, root)
    assert "/etc/opendkim.conf" in [c.path for c in plan.pending]
    assert "systemctl reload opendkim" in plan.reloads
    assert "systemctl restart opendkim" not in plan.reloads


def test_a_socket_change_restarts_opendkim_once(applied: Path, root: Path) -> None:
    """Socket is read at start only; the table changed too, and one restart covers both."""
    edit(applied, "inet:8891@127.0.0.1", "inet:8893@127.0.0.1")
    edit(applied, 'trusted_hosts: [127.0.0.1, "::1"]', "trusted_hosts: [127.0.0.1]")
    plan = plan_of(applied, root)
    by_path = {c.path: c.reload for c in plan.pending}
    assert by_path["/etc/opendkim.conf"] == "systemctl restart opendkim"
    assert by_path["/etc/opendkim/TrustedHosts"] == "systemctl reload opendkim"
    assert plan.reloads == ["systemctl restart opendkim", "postfix reload"]


# --- the choices themselves -------------------------------------------------------------------


def test_opendmarc_restarts_only_for_settings_read_at_start() -> None:
    choose = signal_reload("opendmarc", DMARC_AT_START)
    conf = b"AuthservID mail.example.org\nSocket inet:8893@127.0.0.1\nUserID opendmarc\n"
    assert choose(None, conf) == "systemctl restart opendmarc"
    assert choose(conf, conf.replace(b"mail.example", b"mx.example")) == (
        "systemctl reload opendmarc"
    )
    assert choose(conf, conf.replace(b"8893", b"8894")) == "systemctl restart opendmarc"
    # Names are case-insensitive; a setting removed counts as changed.
    assert choose(conf, conf.replace(b"Socket", b"SOCKET")) == "systemctl reload opendmarc"
    assert choose(conf, conf.replace(b"UserID opendmarc\n", b"")) == "systemctl restart opendmarc"


def test_conf_values_reads_names_values_and_comments() -> None:
    text = b"# c\nSocket\tinet:1@h  # why\n\nMode   sv\nmode s\nKeyTable refile:/a b\n"
    assert conf_values(text) == {"socket": "inet:1@h", "mode": "s", "keytable": "refile:/a b"}


def test_merge_restarts_keeps_order_and_drops_covered_reloads() -> None:
    commands = ["systemctl reload a", "postfix reload", "systemctl restart a", "systemctl reload b"]
    assert merge_restarts(commands) == [
        "systemctl restart a",
        "postfix reload",
        "systemctl reload b",
    ]


DKIMPY = "  dkimpy_milter:\n    internal_hosts: [127.0.0.1]\n  postfix:\n"


def test_dkimpy_milter_always_restarts(slackbox_config: Path, root: Path) -> None:
    """Its unit has no ExecReload: every file, table or config, new or changed, restarts."""
    text = slackbox_config.read_text()
    start, end = text.index("  opendkim:\n"), text.index("  postfix:\n")
    slackbox_config.write_text(text[:start] + DKIMPY + text[end + len("  postfix:\n") :])
    first = apply(slackbox_config, root)
    assert "systemctl restart dkimpy-milter" in first.reloads
    tables = [
        c for c in first.changes if c.target == "dkimpy_milter" and c.artifact.format == "table"
    ]
    assert tables, "dkimpy-milter wrote no table"
    changed = [
        FileChange(artifact=c.artifact, op="update", old=b"old\n", new=c.new, target=c.target)
        for c in tables
    ]
    assert Plan(root, changed).reloads == ["systemctl restart dkimpy-milter"]
    edit(slackbox_config, "internal_hosts: [127.0.0.1]", "internal_hosts: [127.0.0.1, 10.0.0.0/8]")
    plan = plan_of(slackbox_config, root)
    assert plan.pending and plan.reloads == ["systemctl restart dkimpy-milter"]
