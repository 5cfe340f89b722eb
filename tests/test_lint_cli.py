"""`mailauth lint`, and the rules inside plan/apply: exit codes, --strict, silences, JSON.

The contract: errors stop plan and apply (exit 1, nothing written); warnings print (as
plan notes); `--strict` makes warnings errors everywhere; a silence needs a reason and
covers one domain; every example lints clean.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailauth.compiler.cli import app

REPO = Path(__file__).resolve().parents[1]
LINT_CASES = REPO / "tests" / "lint"
EXAMPLES = sorted(REPO.glob("examples/**/mailauth.yaml"))

BASE = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
  - name: example.net
    ns: [ns1.example.org]
domains:
"""


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [str(a) for a in args],
        prog_name="mailauth",
        env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, domains: str, extra: str = "") -> Path:
    config = tmp_path / "mailauth.yaml"
    config.write_text(BASE + domains + extra)
    return config


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(p.parent.name) for p in EXAMPLES])
def test_every_example_lints_clean(example: Path, tmp_path: Path) -> None:
    shutil.copytree(example.parent, tmp_path / "example")
    code, out, err = invoke("lint", "-c", tmp_path / "example" / "mailauth.yaml")
    assert code == 0, out + err
    assert " 0 errors," in out


def test_plan_refuses_an_11_lookup_record_and_says_which_terms_cost_what(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    shutil.copy(LINT_CASES / "SPF011.yaml", config)
    root = tmp_path / "root"
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 1, out + err
    assert f"error: {config}:23:11: domains[0].spf.include[2]: SPF011: example.org: 11 DNS " in err
    assert "the 11th, include:spf.mailer.example" in err
    tree = err[err.index("example.org: 11 DNS lookup(s), limit 10; 0 void, limit 2") :]
    # Every lookup, numbered in the order a receiver makes them, nested under its include.
    for line in (
        "#1  a:mail.example.org",
        "#2  mx",
        "#3  include:_spf.example.org",
        "1 + 6 inside = 7",
        "#4  |-- include:_a._spf.example.org",
        "#5  |   |-- a:mail.example.org",
        "#6  |   `-- mx:example.org",
        "#7  |-- include:_b._spf.example.org",
        "#8  |   `-- a:ns1.example.org",
        "#9  `-- a:mail.example.org",
        "#10  include:_spf.provider.example",
        "#11  include:spf.mailer.example",
        "<- lookup 11: over the limit, permerror",
    ):
        assert line in tree, f"{line!r} not in:\n{tree}"
    assert "nothing was written" in err and not root.exists()
    code, out, err = invoke("apply", "-c", config, "--root", root, "--yes")
    assert code == 1 and "SPF011" in err and not root.exists()
    # The same record with ten lookups plans.
    config.write_text(config.read_text().replace("        - spf.mailer.example\n", ""))
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 2, out + err


def test_warnings_print_and_strict_makes_them_errors(tmp_path: Path) -> None:
    config = write(tmp_path, '  - name: example.org\n    spf: {all: "?all"}\n')
    root = tmp_path / "root"
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 2, out + err
    assert "note: warning: " in out and "SPF018: example.org: ?all" in out
    code, out, err = invoke("plan", "-c", config, "--root", root, "--strict")
    assert code == 1 and "error: " in err and "SPF018" in err, out + err
    code, out, err = invoke("apply", "-c", config, "--root", root, "--yes", "--strict")
    assert code == 1 and "SPF018" in err and not root.exists()
    code, out, _ = invoke("lint", "-c", config)
    assert code == 0 and "warning SPF018" in out
    code, out, _ = invoke("lint", "-c", config, "--strict")
    assert code == 1 and "error SPF018" in out
    code, out, err = invoke("apply", "-c", config, "--root", root, "--yes")
    assert code == 0, out + err


def test_info_does_not_reach_plan(tmp_path: Path) -> None:
    config = write(tmp_path, '  - name: example.org\n    spf: {all: "-all"}\n')
    code, out, _ = invoke("lint", "-c", config, "--strict")
    assert code == 0 and "info SPF022" in out
    code, out, err = invoke("plan", "-c", config, "--root", tmp_path / "root", "--strict")
    assert code == 2 and "SPF022" not in out + err


def test_a_silence_covers_one_domain_and_needs_a_reason(tmp_path: Path) -> None:
    domains = (
        '  - name: example.org\n    spf: {all: "?all"}\n'
        "    silence:\n"
        '      - {rule: spf018, reason: "migrating senders; ~all in March"}\n'
        '  - name: example.net\n    spf: {all: "?all"}\n'
    )
    config = write(tmp_path, domains)
    code, out, _ = invoke("lint", "-c", config, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    spf018 = [f for f in doc["findings"] if f["rule"] == "SPF018"]
    assert {(f["domain"], f["silenced"]) for f in spf018} == {
        ("example.org", "migrating senders; ~all in March"),
        ("example.net", None),
    }
    assert doc["summary"]["silenced"] == 1
    code, out, _ = invoke("lint", "-c", config, "--strict")
    assert code == 1 and "example.net: ?all" in out and "example.org: ?all" not in out
    assert "1 silenced" in out
    # Without a reason the file does not load.
    config.write_text(
        config.read_text().replace(', reason: "migrating senders; ~all in March"', "")
    )
    code, out, err = invoke("lint", "-c", config)
    assert code == 1
    assert f"error: {config}:15:9: domains[0].silence[0].reason: required field is missing" in err


def test_json_output_carries_rule_position_rfc_fix_and_the_lookup_tree(tmp_path: Path) -> None:
    domains = "  - name: example.org\n    spf: {include: [_spf.example.org, _spf.example.org]}\n"
    config = write(tmp_path, domains)
    code, out, _ = invoke("lint", "-c", config, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["format_version"] == 1 and doc["summary"]["error"] >= 1
    finding = next(f for f in doc["findings"] if f["rule"] == "SPF014")
    assert finding["severity"] == "error"
    assert (finding["line"], finding["column"], finding["field"]) == (
        13,
        21,
        "domains[0].spf.include[0]",
    )
    assert finding["rfc"] == "RFC 7208 sections 5.2 and 6.1" and finding["fix"]
    (budget,) = [b for b in doc["spf"] if b["domain"] == "example.org"]
    assert budget["lookups"] == 3 and budget["void_lookups"] == 2
    assert [n["term"] for n in budget["tree"]] == [
        "mx",
        "include:_spf.example.org",
        "include:_spf.example.org",
    ]
    assert budget["tree"][1] == {
        "term": "include:_spf.example.org",
        "domain": "example.org",
        "cost": 1,
        "lookup": 2,
        "target": "_spf.example.org",
        "void": True,
        "note": "_spf.example.org has no SPF record",
    }


def test_reports_to_a_managed_domain_get_their_authorisation_record(tmp_path: Path) -> None:
    domains = (
        "  - name: example.org\n"
        "    dmarc: {p: none, rua: [dmarc@example.org]}\n"
        "  - name: example.net\n"
        "    dmarc: {p: none, rua: [dmarc@example.org], ruf: [fail@reports.example.com]}\n"
    )
    config = write(tmp_path, domains)
    root = tmp_path / "root"
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 2, out + err
    # example.com is not written by mailauth: a warning, at the ruf field.
    assert f"warning: {config}:15:53: domains[1].dmarc.ruf: DMARC008" in out
    code, out, err = invoke("apply", "-c", config, "--root", root, "--yes")
    assert code == 0, out + err
    zone = (root / "var/named/zone.example.org").read_text()
    (line,) = [row for row in zone.splitlines() if "._report._dmarc" in row]
    assert line.split()[0] == "example.net._report._dmarc" and line.endswith('"v=DMARC1"')
    code, out, _ = invoke("lint", "-c", config)
    assert code == 0
    assert "reports.example.com" in out and "dmarc@example.org in another" not in out


def test_lint_reports_what_keeps_the_model_from_building(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    shutil.copy(LINT_CASES / "SPF001-apex-twice.yaml", config)
    code, out, _ = invoke("lint", "-c", config)
    assert code == 1
    assert f"{config}:12:39: zones[0].records[1].value: error SPF001: example.org would have" in out
    assert out.count("SPF records") == 1  # build's own message about it is not repeated
    code, _, err = invoke("plan", "-c", config, "--root", tmp_path / "root")
    assert code == 1 and "2 SPF records" in err


def test_lint_refuses_a_bad_nameserver(tmp_path: Path) -> None:
    config = write(tmp_path, "  - name: example.org\n")
    code, _, err = invoke("lint", "-c", config, "--resolve", "--nameserver", "ns.example:53")
    assert code == 1 and "the name server must be an IP address" in err


def test_spf_budget_prints_every_tree(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    shutil.copy(LINT_CASES / "SPF011.yaml", config)
    code, out, _ = invoke("spf", "budget", "-c", config)
    assert code == 1
    assert "example.org: 11 DNS lookup(s), limit 10" in out
    assert "_spf.example.org: 6 DNS lookup(s), limit 10" in out


def test_an_include_of_another_configured_domain_is_counted_from_the_model(
    tmp_path: Path,
) -> None:
    domains = (
        '  - name: example.org\n    spf: {a: [mail.example.org], all: "~all"}\n'
        "  - name: example.net\n    spf: {mx: false, include: [example.org]}\n"
    )
    config = write(tmp_path, domains)
    code, out, _ = invoke("lint", "-c", config, "--format", "json")
    assert code == 0, out
    (net,) = [b for b in json.loads(out)["spf"] if b["domain"] == "example.net"]
    # include:example.org (1) + its mx (1) and a: (1), all known offline.
    assert (net["lookups"], net["complete"]) == (3, True)
    assert [c["term"] for c in net["tree"][0]["children"]] == ["a:mail.example.org", "mx"]


def test_validate_and_the_octodns_source_refuse_what_plan_refuses(tmp_path: Path) -> None:
    """No other door publishes a record that plan would stop: validate and octodns too."""
    from mailauth.compiler.octodns_source import MailauthSource, MailauthSourceError

    config = tmp_path / "mailauth.yaml"
    shutil.copy(LINT_CASES / "SPF011.yaml", config)
    code, out, err = invoke("validate", "-c", config)
    assert code == 1, out + err
    assert "SPF011" in err and "valid" not in out
    source = MailauthSource("mailauth", str(config))
    with pytest.raises(MailauthSourceError, match="SPF011"):
        source.list_zones()


def test_every_command_takes_the_root_a_key_file_is_adopted_under(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate, lint and spf budget read a key_file: under --root, as plan does; and a
    report with an error never ends with "0 errors"."""
    from mailauth.compiler.dkimkeys import generate_private_key, write_private_key

    monkeypatch.chdir(tmp_path)  # the default root, ./out, holds no key
    root = tmp_path / "staging"
    write_private_key(root / "etc/legacy/legacy.private", generate_private_key("rsa", 2048))
    config = write(
        tmp_path,
        "  - name: example.org\n"
        "    dkim: {selectors: [{name: legacy, key_file: /etc/legacy/legacy.private}]}\n",
        'targets:\n  opendkim: {socket: "inet:8891@127.0.0.1"}\n',
    )
    code, out, err = invoke("validate", "-c", config)
    assert code == 1 and "/etc/legacy/legacy.private" in err, out + err
    code, out, err = invoke("lint", "-c", config)
    assert code == 1 and "/etc/legacy/legacy.private" in out + err, out + err
    assert " 1 error," in out and " 0 errors" not in out, out
    code, out, err = invoke("lint", "-c", config, "--format", "json")
    assert code == 1 and json.loads(out)["summary"]["error"] == 1

    code, out, err = invoke("validate", "-c", config, "--root", root)
    assert code == 0, out + err
    assert "valid (1 domain," in out
    code, out, err = invoke("lint", "-c", config, "--root", root)
    assert code == 0, out + err
    assert " 0 errors," in out
    code, out, err = invoke("spf", "budget", "-c", config, "--root", root)
    assert code == 0, out + err
    code, out, err = invoke("plan", "-c", config, "--root", root, "--quiet")
    assert code == 2, out + err


def test_an_include_not_resolved_offline_makes_the_budget_unknown_a_warning(
    tmp_path: Path,
) -> None:
    """No SPF cache, no --resolve: the include may hold any number of lookups."""
    config = write(tmp_path, "  - name: example.org\n    spf: {include: [_spf.provider.example]}\n")
    code, out, _ = invoke("lint", "-c", config)
    assert code == 0, out
    assert "warning SPF023" in out and "the DNS lookup budget is unknown" in out
    assert "spf: example.org: lookup budget unknown (at least " in out
    code, out, _ = invoke("lint", "-c", config, "--strict")
    assert code == 1 and "error SPF023" in out, out
    code, out, _ = invoke("lint", "-c", config, "--format", "json")
    doc = json.loads(out)
    (budget,) = [b for b in doc["spf"] if b["domain"] == "example.org"]
    assert budget["budget_known"] is False
    code, out, err = invoke("plan", "-c", config, "--root", tmp_path / "root", "--strict")
    assert code == 1 and "SPF023" in err, out + err


def test_an_address_not_resolved_offline_leaves_the_budget_known(tmp_path: Path) -> None:
    """An `a:` name costs one lookup whatever it holds: the count is the real one."""
    config = write(tmp_path, "  - name: example.org\n    spf: {a: [relay.provider.example]}\n")
    code, out, _ = invoke("lint", "-c", config, "--strict")
    assert code == 0 and "SPF023" not in out, out
