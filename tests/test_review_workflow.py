"""The review workflow: plans for pull requests, apply exactly what was reviewed.

* ``plan --format json`` follows the documented, versioned schema (docs/plan-format.md),
  with record-level DNS changes; ``--format markdown`` is a pull-request comment.
* No secret reaches any output, in any format.
* The plan checksum: printed by plan, accepted by ``apply --checksum`` while nothing
  changed, refused (writing nothing) after an edit of the config, the lock or the disk.
* Terminal niceties: summary table, colours and NO_COLOR, --quiet, --out, key progress.
* The Git kit: examples/ci/pr-flow.sh runs the whole flow; the GitHub workflow and the
  pre-commit hook are well-formed and agree with what mailauth prints.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from support import REPO, allow_create, copy_example, mailauth_env, require_module, run_mailauth
from typer.testing import CliRunner

from mailauth.backends.bind import HEADER as BIND_HEADER
from mailauth.compiler import cli as cli_module
from mailauth.compiler import driver
from mailauth.compiler.checksum import ChecksumMismatch, check_realised
from mailauth.compiler.cli import app
from mailauth.compiler.plan import FileChange, Plan
from mailauth.compiler.report import (
    CHECKSUM_MARKER,
    KeyProgress,
    _cell,
    _code,
    as_json,
    as_markdown,
    as_text,
    dns_changes,
)

FIRST = datetime(2026, 1, 18, 9, 0, 0, tzinfo=UTC)
ZONES = ("/var/named/zone.slackbox.fr", "/var/named/zone.unixbox.fr")
CHECKSUM = re.compile(r"^Plan checksum: (sha256:[0-9a-f]{64})$", re.M)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"NO_COLOR": "1", **(env or {})}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def tree(*paths: Path) -> dict[str, str]:
    """Every file and directory under ``paths``: content hash, mode and mtime."""
    found: dict[str, str] = {}
    for base in paths:
        if base.is_file():
            info = base.stat()
            digest = hashlib.sha256(base.read_bytes()).hexdigest()
            found[str(base)] = f"{digest} {info.st_mtime_ns}"
            continue
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            info = path.stat()
            if path.is_dir():
                found[str(path)] = f"dir {stat.S_IMODE(info.st_mode):o}"
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path)] = f"{digest} {stat.S_IMODE(info.st_mode):o} {info.st_mtime_ns}"
    return found


def set_policy(config: Path, policy: str) -> None:
    text = config.read_text()
    assert text.count("  dmarc:\n    p: none\n") == 1
    config.write_text(text.replace("  dmarc:\n    p: none\n", f"  dmarc:\n    p: {policy}\n"))


def plan_checksum(config: Path, root: Path) -> str:
    code, out, err = cli("plan", "-c", config, "--root", root, "--quiet")
    assert code in (0, 2), err
    found = CHECKSUM.search(out)
    assert found is not None, out
    return found.group(1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def applied(slackbox_config: Path, root: Path) -> Path:
    job = driver.open_job(slackbox_config, root, None)
    assert driver.apply(job, lambda _plan: True, now=FIRST) is not None
    return slackbox_config


def private_keys(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(root.rglob("*.private"))]


def key_fragments(key: bytes, public: list[str]) -> list[str]:
    """Pieces of a key file that must never be printed: 32 characters of each PEM line.

    An RSA key file holds the modulus too, which is public (the DNS record carries it):
    a piece that also occurs in a public key is not a secret and is skipped.
    """
    lines = [line.decode() for line in key.splitlines() if line and not line.startswith(b"-")]
    assert len(lines) > 10, "not a PEM RSA key"
    pieces = [line[i : i + 32] for line in lines for i in (0, 32) if len(line) >= i + 32]
    secret = [p for p in pieces if not any(p in pub for pub in public)]
    assert len(secret) > len(pieces) // 2, "most of a private key is private"
    return secret


# --- JSON -----------------------------------------------------------------------------------


def documented_schema() -> dict[str, object]:
    text = (REPO / "docs/plan-format.md").read_text()
    block = re.search(r"```json schema\n(.*?)\n```", text, re.S)
    assert block is not None, "docs/plan-format.md lost its JSON Schema block"
    schema: dict[str, object] = json.loads(block.group(1))
    return schema


def test_json_plan_follows_the_documented_schema(applied: Path, root: Path, tmp_path: Path) -> None:
    jsonschema = require_module("jsonschema")
    schema = documented_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    fresh = allow_create(copy_example("slackbox", tmp_path / "fresh"))
    set_policy(applied, "reject")
    # An update with keys on disk; a first plan, with placeholders for the keys.
    for config, where in ((applied, root), (fresh, tmp_path / "fresh-root")):
        code, out, err = cli("plan", "-c", config, "--root", where, "--format", "json")
        assert code == 2, err
        doc = json.loads(out)
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], errors
        assert doc["format_version"] == 1 and doc["kind"] == "mailauth-plan"
        assert doc["pending"] is True


def test_the_documented_example_follows_the_documented_schema() -> None:
    jsonschema = require_module("jsonschema")
    text = (REPO / "docs/plan-format.md").read_text()
    example = re.search(r"## Example\n.*?```json\n(.*?)\n```", text, re.S)
    assert example is not None
    jsonschema.validate(json.loads(example.group(1)), documented_schema())


def test_json_lists_record_level_dns_changes(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, err = cli("plan", "-c", applied, "--root", root, "--format", "json")
    assert code == 2, err
    records = json.loads(out)["dns"]
    dmarc = [r for r in records if r["type"] == "TXT"]
    assert [(r["zone"], r["name"], r["operation"]) for r in dmarc] == [
        ("slackbox.fr", "_dmarc.slackbox.fr.", "update"),
        ("unixbox.fr", "_dmarc.unixbox.fr.", "update"),
    ]
    for record, path in zip(dmarc, ZONES, strict=True):
        assert record["old"] == {"ttl": 86400, "values": ["v=DMARC1; p=none; sp=quarantine"]}
        assert record["new"] == {"ttl": 86400, "values": ["v=DMARC1; p=reject; sp=quarantine"]}
        assert record["files"] == [path]
    assert sorted(r["type"] for r in records) == ["SOA", "SOA", "TXT", "TXT"], "serials move"


def test_record_changes_create_and_delete(applied: Path, root: Path) -> None:
    text = applied.read_text()
    blog = "      - {name: blog, type: CNAME, value: slackbox.fr.}\n"
    assert text.count(blog) == 1
    applied.write_text(text.replace(blog, "      - {name: ftp, type: A, value: 192.0.2.21}\n"))
    plan = driver.plan(driver.open_job(applied, root, None))
    changes = {(c.name, c.type): c for c in dns_changes(plan)}
    assert set(changes) == {
        ("blog.slackbox.fr.", "CNAME"),
        ("ftp.slackbox.fr.", "A"),
        ("slackbox.fr.", "SOA"),
    }
    blog_change, ftp = changes[("blog.slackbox.fr.", "CNAME")], changes[("ftp.slackbox.fr.", "A")]
    assert blog_change.operation == "delete" and blog_change.new is None
    assert blog_change.old is not None and blog_change.old.values == ("slackbox.fr.",)
    assert ftp.operation == "create" and ftp.old is None
    assert ftp.new is not None and ftp.new.values == ("192.0.2.21",)


def test_bind_and_octodns_changes_are_listed_once(applied: Path, root: Path) -> None:
    text = applied.read_text()
    applied.write_text(
        text.replace("targets:\n", "targets:\n  octodns:\n    directory: /etc/octodns/mailauth\n")
    )
    job = driver.open_job(applied, root, None)
    assert driver.apply(job, lambda _plan: True, now=FIRST) is not None
    set_policy(applied, "quarantine")
    plan = driver.plan(driver.open_job(applied, root, None))
    dmarc = [c for c in dns_changes(plan) if c.type == "TXT"]
    assert [c.name for c in dmarc] == ["_dmarc.slackbox.fr.", "_dmarc.unixbox.fr."]
    for change, zone in zip(dmarc, ("slackbox.fr", "unixbox.fr"), strict=True):
        assert change.files == (
            f"/var/named/zone.{zone}",
            f"/etc/octodns/mailauth/{zone}.yaml",
        ), "one entry for both targets: octodns's escaped ';' read back as ';'"
        assert change.new is not None
        assert change.new.values == ("v=DMARC1; p=quarantine; sp=quarantine",)


def test_unreadable_zone_file_is_left_to_the_file_diff() -> None:
    change = FileChange(
        "/var/named/zone.x", "update", (BIND_HEADER + "$ORIGIN x.\n@ IN ((\n").encode(), b"x"
    )
    assert dns_changes(Plan(Path("/r"), [change])) == []


# --- Markdown -------------------------------------------------------------------------------


def zone_change(txt: str) -> FileChange:
    def zone(value: str) -> bytes:
        return (
            f"{BIND_HEADER}$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns. h. 1 2 3 4 5\n"
            f"@ IN NS ns.example.net.\n@ IN TXT {value}\n"
        ).encode()

    return FileChange("/var/named/zone.example.org", "update", zone('"old"'), zone(txt))


def test_markdown_escapes_table_cells() -> None:
    nasty = '"v=spf1 | `tick` <script>x</script> -all"'
    plan = Plan(Path("/r"), [zone_change(nasty)])
    out = as_markdown(plan, checksum="sha256:" + "a" * 64)
    row = next(line for line in out.splitlines() if line.startswith("| update | example.org"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 6, row  # the value's "|" did not open a seventh column
    assert "``v=spf1 \\| `tick` <script>x</script> -all``" in cells[5]
    assert _code("a`b") == "``a`b``" and _code("`x") == "`` `x ``"
    assert _cell("a|b*c_<d>\nnext") == "a\\|b\\*c\\_\\<d\\> next"


def test_markdown_comment_shape(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, err = cli("plan", "-c", applied, "--root", root, "--format", "markdown")
    assert code == 2, err
    assert out.startswith("### mailauth plan\n")
    assert "| operation | file | lines |" in out
    for zone in ZONES:
        assert f"| update | `{zone}` | +2 -2 |" in out
        assert f"<details><summary>update <code>{zone}</code></summary>" in out
    assert "| update | slackbox.fr | `_dmarc.slackbox.fr.` | TXT |" in out
    assert out.count("```diff") == 2 and out.count("</details>") == 2
    checksum = plan_checksum(applied, root)
    assert f"<!-- {CHECKSUM_MARKER}: {checksum} -->" in out


def test_markdown_cuts_huge_diffs() -> None:
    big = FileChange("/etc/big", "create", None, ("line\n" * 10_000).encode())
    out = as_markdown(Plan(Path("/r"), [big]))
    assert len(out) < 20_000 and "diff cut at" in out


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_in_any_format(applied: Path, root: Path, tmp_path: Path) -> None:
    """Keys on disk, a key still to make (a placeholder), then the apply that makes it."""
    text = applied.read_text()
    applied.write_text(
        text.replace(
            "  - name: unixbox.fr\n    mx:",
            "  - name: news.slackbox.fr\n    mx: [{host: mail.slackbox.fr, priority: 10}]\n"
            "  - name: unixbox.fr\n    mx:",
        )
    )
    set_policy(applied, "reject")
    outputs: list[str] = []
    for fmt in ("text", "json", "markdown"):
        code, out, err = cli("plan", "-c", applied, "--root", root, "--format", fmt)
        assert code == 2, err
        outputs += [out, err]
        target = tmp_path / f"plan.{fmt}"
        code, out, err = cli(
            "plan", "-c", applied, "--root", root, "--format", fmt, "--out", target
        )
        outputs += [out, err, target.read_text()]
    doc = json.loads(outputs[5])  # the JSON plan on stdout
    secrets = [c for c in doc["changes"] if c["secret"]]
    assert [c["path"] for c in secrets] == ["/etc/opendkim/keys/news.slackbox.fr/01.private"]
    assert not {"diff", "old_sha256", "new_sha256"} & set(secrets[0])
    assert secrets[0]["new_fingerprint"] == "(made by apply)" and "placeholder" in secrets[0]
    checksum = plan_checksum(applied, root)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--checksum", checksum)
    assert code == 0, err
    outputs += [out, err]
    keys = private_keys(root)
    assert len(keys) == 3, "the new domain's key was made"
    lock = applied.parent / "mailauth.lock"
    # A secret file that changes (no target replaces keys today; any future one must not
    # leak either): every format shows fingerprints only.
    swap = FileChange("/etc/secret", "update", keys[0], keys[1], mode=0o600, secret=True)
    plan = Plan(root, [swap])
    outputs += [as_text(plan), as_json(plan, checksum="sha256:" + "0" * 64), as_markdown(plan)]
    assert "sha256:" in outputs[-1]
    public = [e["public_key"] for e in json.loads(lock.read_text())["keys"]]
    fragments = [f for key in keys for f in key_fragments(key, public)]
    for output in outputs:
        assert "PRIVATE KEY" not in output
        leaked = [f for f in fragments if f in output]
        assert leaked == [], f"private key material in an output: {leaked[:3]}"


# --- the checksum ---------------------------------------------------------------------------


def test_plan_prints_one_checksum_in_every_format(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    checksum = plan_checksum(applied, root)
    code, out, _ = cli("plan", "-c", applied, "--root", root)
    assert code == 2 and f"Plan checksum: {checksum}\n" in out
    assert (
        json.loads(cli("plan", "-c", applied, "--root", root, "--format", "json")[1])["checksum"]
        == checksum
    )
    markdown = cli("plan", "-c", applied, "--root", root, "--format", "markdown")[1]
    assert f"<!-- {CHECKSUM_MARKER}: {checksum} -->" in markdown
    assert plan_checksum(applied, root) == checksum, "the same inputs give the same checksum"


def test_checksum_does_not_depend_on_the_root_directory(
    applied: Path, root: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "staging"
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
    assert plan_checksum(applied, root) == plan_checksum(applied, copy)


def test_apply_with_the_reviewed_checksum_writes(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    checksum = plan_checksum(applied, root)
    bare = checksum.removeprefix("sha256:").upper()  # how a human might paste it
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--checksum", bare)
    assert code == 0, err
    assert "Applied under" in out
    assert "p=reject" in (root / ZONES[0].lstrip("/")).read_text()
    assert cli("plan", "-c", applied, "--root", root)[0] == 0


def test_first_apply_with_checksum_makes_the_keys(slackbox_config: Path, root: Path) -> None:
    """The reviewed plan had placeholders; apply fills in the keys and nothing else changes."""
    checksum = plan_checksum(slackbox_config, root)
    code, _, err = cli(
        "apply", "-c", slackbox_config, "--root", root, "--yes", "--checksum", checksum
    )
    assert code == 0, err
    assert len(private_keys(root)) == 2
    assert "01._domainkey" in (root / ZONES[0].lstrip("/")).read_text()
    assert cli("plan", "-c", slackbox_config, "--root", root)[0] == 0


def _edit_config(config: Path, root: Path) -> None:
    text = config.read_text()
    assert text.count("    p: reject\n") == 1
    config.write_text(text.replace("    p: reject\n", "    p: quarantine\n"))


def _comment_config(config: Path, root: Path) -> None:
    config.write_text(config.read_text() + "# reviewed? not this line\n")


def _edit_lock(config: Path, root: Path) -> None:
    lock = config.parent / "mailauth.lock"
    doc = json.loads(lock.read_text())
    doc["keys"][0]["created"] = "2020-01-01"
    lock.write_text(json.dumps(doc, indent=2) + "\n")


def _edit_disk(config: Path, root: Path) -> None:
    main_cf = root / "etc/postfix/main.cf"
    main_cf.write_text(main_cf.read_text() + "# a hand edit on the host\n")


def _edit_unplanned_managed_file(config: Path, root: Path) -> None:
    key_table = root / "etc/opendkim/KeyTable"
    key_table.write_text(key_table.read_text() + "# stray\n")


@pytest.mark.parametrize(
    "edit",
    [_edit_config, _comment_config, _edit_lock, _edit_disk, _edit_unplanned_managed_file],
    ids=lambda f: f.__name__.strip("_"),
)
def test_stale_checksum_is_refused_and_writes_nothing(
    applied: Path, root: Path, edit: object
) -> None:
    set_policy(applied, "reject")
    checksum = plan_checksum(applied, root)
    assert callable(edit)
    edit(applied, root)
    before = tree(root, applied.parent)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--checksum", checksum)
    assert code == 1
    assert "changed since it was reviewed" in err and "Nothing was written" in err
    assert f"reviewed checksum {checksum}" in err
    assert "Applied" not in out
    assert tree(root, applied.parent) == before


def test_stale_checksum_on_a_fresh_root_creates_nothing(slackbox_config: Path, root: Path) -> None:
    checksum = plan_checksum(slackbox_config, root)
    set_policy(slackbox_config, "reject")
    code, _, err = cli(
        "apply", "-c", slackbox_config, "--root", root, "--yes", "--checksum", checksum
    )
    assert code == 1 and "changed since it was reviewed" in err
    assert not root.exists(), "not even the root or the apply lock"
    assert not (slackbox_config.parent / "mailauth.lock").exists()


@pytest.mark.parametrize(
    "given",
    ["nope", "sha256:", "sha256:12ab", "cut", "sha256:" + "g" * 64, "sha512:" + "a" * 64],
)
def test_a_malformed_checksum_has_its_own_message(applied: Path, root: Path, given: str) -> None:
    set_policy(applied, "reject")
    if given == "cut":  # a paste that lost its last character
        given = plan_checksum(applied, root)[:-1]
    before = tree(root, applied.parent)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--checksum", given)
    assert code == 1, out + err
    assert "is not a plan checksum" in err and "64 hexadecimal digits" in err, err
    assert "changed since it was reviewed" not in err
    assert tree(root, applied.parent) == before


def test_the_checksum_is_the_confirmation_and_a_retry_is_already_applied(
    applied: Path, root: Path
) -> None:
    """CI applies a reviewed plan without --yes, and a retried job succeeds."""
    set_policy(applied, "reject")
    checksum = plan_checksum(applied, root)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--checksum", checksum)
    assert code == 0, out + err
    assert "Applied under" in out
    assert "p=reject" in (root / ZONES[0].lstrip("/")).read_text()
    assert (root / "var/lib/mailauth/applied-checksum").read_text() == checksum + "\n"
    before = tree(root, applied.parent)
    for _ in range(2):
        code, out, err = cli("apply", "-c", applied, "--root", root, "--checksum", checksum)
        assert code == 0, out + err
        assert out.startswith(f"Already applied: {checksum} ") and "Applied under" not in out
        assert tree(root, applied.parent) == before
    # The next change: that old checksum is stale, not "already applied".
    text = applied.read_text()
    applied.write_text(text.replace("  dmarc:\n    p: reject\n", "  dmarc:\n    p: quarantine\n"))
    code, out, err = cli("apply", "-c", applied, "--root", root, "--checksum", checksum)
    assert code == 1 and "changed since it was reviewed" in err, out + err
    # An apply without a checksum that writes leaves no earlier review describing the root.
    applied.write_text(text)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--quiet")
    assert code == 0 and "No changes" in out, out + err
    applied.write_text(text.replace("  dmarc:\n    p: reject\n", "  dmarc:\n    p: quarantine\n"))
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--quiet")
    assert code == 0 and "Applied under" in out, out + err
    assert not (root / "var/lib/mailauth/applied-checksum").exists()


def test_the_realised_plan_must_match_the_reviewed_one(slackbox_config: Path, root: Path) -> None:
    reviewed = driver.plan(driver.open_job(slackbox_config, root, None))
    check_realised(reviewed, reviewed)
    keyed = [i for i, c in enumerate(reviewed.changes) if c.placeholder is not None]
    plain = next(i for i, c in enumerate(reviewed.changes) if c.path == ZONES[0])
    # A new key's bytes, and the zone carrying its public half, may differ from the review...
    filled = list(reviewed.changes)
    filled[keyed[0]] = replace(filled[keyed[0]], placeholder=None, new=b"key bytes")
    filled[plain] = replace(filled[plain], new=b"zone with the real key")
    check_realised(reviewed, Plan(reviewed.root, filled))
    # ...but nothing else may.
    other = next(i for i, c in enumerate(reviewed.changes) if c.path == "/etc/postfix/main.cf")
    for bad in (replace(filled[other], new=b"x"), replace(filled[other], mode=0o600)):
        changed = list(filled)
        changed[other] = bad
        with pytest.raises(ChecksumMismatch, match="does not match the reviewed plan"):
            check_realised(reviewed, Plan(reviewed.root, changed))
    with pytest.raises(ChecksumMismatch, match="not the same files"):
        check_realised(reviewed, Plan(reviewed.root, filled[:-1]))


# --- terminal output ------------------------------------------------------------------------


def test_text_has_a_summary_table_and_dns_records(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, _ = cli("plan", "-c", applied, "--root", root)
    assert code == 2
    table = out[out.index("Summary:") :]
    assert re.search(r"^  operation\s+file\s+lines$", table, re.M)
    for zone in ZONES:
        assert re.search(rf"^  update\s+{re.escape(zone)}\s+\+2 -2$", table, re.M)
    assert "DNS records: 0 to add, 4 to change, 0 to remove." in out
    assert re.search(
        r'^  ~\s+_dmarc\.slackbox\.fr\.\s+TXT\s+"v=DMARC1; p=none; sp=quarantine"\s+'
        r'"v=DMARC1; p=reject; sp=quarantine"$',
        out,
        re.M,
    )
    assert "\x1b[" not in out


def test_colours_and_no_color(applied: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(applied, "reject")
    plan = driver.plan(driver.open_job(applied, root, None))
    coloured = as_text(plan, colour=True)
    assert "\x1b[32m+" in coloured and "\x1b[31m-" in coloured
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert cli_module._colour(no_color=False) is True
    assert cli_module._colour(no_color=True) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli_module._colour(no_color=False) is False
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
    assert cli_module._colour(no_color=False) is True


def test_quiet_prints_only_the_summary_and_checksum(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, _ = cli("plan", "-c", applied, "--root", root, "--quiet")
    assert code == 2
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0] == "Plan: 0 to create, 2 to update, 0 to delete, 8 unchanged."
    assert CHECKSUM.match(lines[1])
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes", "--quiet")
    assert code == 0, err
    assert "---" not in out and "@@" not in out, "no diffs when quiet"
    assert "Applied under" in out


def test_out_writes_the_plan_to_a_file(applied: Path, root: Path, tmp_path: Path) -> None:
    set_policy(applied, "reject")
    for fmt in ("text", "json", "markdown"):
        target = tmp_path / f"plan-{fmt}"
        code, out, _ = cli("plan", "-c", applied, "--root", root, "--format", fmt, "--out", target)
        assert code == 2
        assert out.startswith(f"Wrote the plan to {target}.")
        assert target.read_text() == cli("plan", "-c", applied, "--root", root, "--format", fmt)[1]
    code, _, err = cli("plan", "-c", applied, "--root", root, "--out", tmp_path / "no/such/dir/x")
    assert code == 1 and "--out" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_for_many_keys() -> None:
    term = FakeTerminal()
    bar = KeyProgress(term)
    for done in (1, 2, 3):
        bar(done, 3, f"s{done}._domainkey.example.org")
    shown = term.getvalue()
    assert "\rGenerating DKIM keys [" in shown and "3/3 s3._domainkey.example.org" in shown
    assert shown.endswith("\n") and shown.count("\r") == 3
    few = FakeTerminal()
    KeyProgress(few)(1, 2, "s1")
    assert few.getvalue() == "", "two keys are quick: no bar"
    pipe = io.StringIO()
    KeyProgress(pipe)(1, 5, "s1")
    assert pipe.getvalue() == "", "no bar in a log"
    quiet = FakeTerminal()
    KeyProgress(quiet, enabled=False)(1, 5, "s1")
    assert quiet.getvalue() == ""


def test_apply_reports_key_progress(slackbox_config: Path, root: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    job = driver.open_job(slackbox_config, root, None)
    driver.apply(job, lambda _plan: True, now=FIRST, progress=lambda *a: calls.append(a))
    assert calls == [
        (1, 2, "01._domainkey.slackbox.fr"),
        (2, 2, "01._domainkey.unixbox.fr"),
    ]


# --- the Git kit ----------------------------------------------------------------------------


def fake_mailauth(bin_dir: Path) -> None:
    """A ``mailauth`` command on PATH that runs this checkout with this Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "mailauth"
    entry = "import sys; from mailauth.compiler.cli import main; sys.argv[0] = 'mailauth'; main()"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{entry}" "$@"\n')
    script.chmod(0o755)


def test_local_pull_request_flow(slackbox_config: Path, root: Path, tmp_path: Path) -> None:
    """examples/ci/pr-flow.sh: plan -> Markdown -> apply with the checksum -> empty plan."""
    fake_mailauth(tmp_path / "bin")
    env = mailauth_env({"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    work = tmp_path / "work"
    flow = [
        "bash", str(REPO / "examples/ci/pr-flow.sh"),
        "-c", str(slackbox_config), "--root", str(root), "--work", str(work),
    ]  # fmt: skip

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(flow, env=env, capture_output=True, text=True, timeout=120)

    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("1. validate", "2. plan", "3. review", "4. merge", "5. plan again"):
        assert f"== {step}" in done.stdout
    comment = (work / "plan.md").read_text()
    checksum = re.search(rf"<!-- {CHECKSUM_MARKER}: (sha256:[0-9a-f]{{64}}) -->", comment)
    assert checksum is not None and checksum.group(1) in done.stdout
    assert "Applied under" in done.stdout
    assert "No changes" in done.stdout or "0 to create, 0 to update" in done.stdout
    assert len(private_keys(root)) == 2

    set_policy(slackbox_config, "reject")  # the next pull request
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "p=reject" in (root / ZONES[0].lstrip("/")).read_text()
    done = run()
    assert done.returncode == 0 and "Nothing to do" in done.stdout


def test_github_workflow_is_well_formed_and_matches_the_comment(applied: Path, root: Path) -> None:
    path = REPO / "examples/ci/github/mailauth.yml"
    doc = yaml.safe_load(path.read_text())
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = doc["jobs"]
    plan_runs = " ".join(s.get("run", "") for s in jobs["plan"]["steps"])
    apply_runs = " ".join(s.get("run", "") for s in jobs["apply"]["steps"])
    assert "--format markdown --out plan.md" in plan_runs.replace("\\\n", "").replace("  ", " ")
    assert "gh pr comment" in plan_runs
    assert '--checksum "$CHECKSUM"' in apply_runs
    assert "pull_request" in jobs["plan"]["if"] and "push" in jobs["apply"]["if"]
    # The jq pattern that reads the checksum back finds it in what mailauth comments.
    pattern = re.search(r'capture\("(.*?)"\)', apply_runs)
    assert pattern is not None
    set_policy(applied, "reject")
    markdown = cli("plan", "-c", applied, "--root", root, "--format", "markdown")[1]
    found = re.search(pattern.group(1).replace("(?<", "(?P<"), markdown)
    assert found is not None and found.group("c") == plan_checksum(applied, root)


def test_pre_commit_hook_runs_mailauth_validate(applied: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "mailauth-validate"]
    assert hook["entry"] == "mailauth validate" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("mailauth.yaml") and files.search("dns/mailauth.lock")
    assert not files.search("other.yaml")
    # As the hook runs it: in the repository, ./mailauth.yaml, lock present, no keys here.
    assert (applied.parent / "mailauth.lock").exists()
    done = run_mailauth(*hook["entry"].split()[1:], cwd=applied.parent)
    assert "valid" in done.stdout


def test_every_example_carries_the_schema_modeline() -> None:
    examples = sorted((REPO / "examples").glob("*/mailauth.yaml"))
    assert examples
    for example in examples:
        first = example.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match is not None, f"{example}: first line is not the modeline: {first!r}"
        target = (example.parent / match.group(1)).resolve()
        assert target == REPO / "schema/mailauth.schema.json", example
