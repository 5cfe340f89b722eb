"""``mailauth import``'s writer, check and command, from ``Found`` objects built by hand
(the readers have their own tests): the written file validates, carries every note, a key
that DNS does not publish is refused, and the first plan changes no DNS record."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.article import DOMAINS, SELECTOR, Article, article_found, build_article
from support.cli import run_mailauth

from mailauth.compiler.importer.check import (
    DNS,
    FORMATTING,
    NEW,
    ORDER,
    OTHER,
    SERIAL,
    check_import,
    classify,
)
from mailauth.compiler.importer.command import Options, run_import, write_import
from mailauth.compiler.importer.found import AdoptedKey, Found, Note
from mailauth.compiler.importer.writer import _scalar, mismatches, render_config, render_lock
from mailauth.compiler.lockfile import read_lock
from mailauth.compiler.plan import FileChange, Plan
from mailauth.schema.errors import MailauthError
from mailauth.schema.loader import load_yaml_text
from mailauth.schema.validate import validate_document


@pytest.fixture(scope="module")
def article(tmp_path_factory: pytest.TempPathFactory) -> Article:
    return build_article(tmp_path_factory.mktemp("article"))


@pytest.fixture
def fresh(tmp_path: Path) -> Article:
    """An article root of the test's own (the import takes its files over)."""
    root = tmp_path / "root"
    root.mkdir()
    return build_article(root)


def _load(text: str, where: Path) -> object:
    return validate_document(load_yaml_text(text, str(where)), where).config


def test_written_config_validates_with_notes_and_comments(article: Article, tmp_path: Path) -> None:
    found = article_found(article)
    text = render_config(found, platform="rhel", sources=["/var/named/zone.slackbox.fr"])
    config = _load(text, tmp_path / "mailauth.yaml")
    domains = {d.name: d for d in config.domains}  # type: ignore[attr-defined]
    selector = domains["slackbox.fr"].dkim.selectors[0]
    assert selector.name == "01"  # quoted: YAML would read 01 as 1
    assert selector.key_file == "/etc/opendkim/keys/slackbox.fr/01.private"
    assert selector.public_key is None  # the lock holds it
    assert text.startswith("# yaml-language-server: $schema=")
    assert "imported by `mailauth import`" in text
    # The note is in the list at the top and at the target it concerns.
    top = text.split("\nversion: 1\n")[0]
    assert "UMask 002" in top
    targets = text.split("\ntargets:\n")[1]
    assert "# not-imported: UMask 002" in targets.split("  opendkim:")[0]
    assert "    # read from /var/named/zone.slackbox.fr:16\n    spf:" in text


def test_hostile_strings_are_quoted_and_read_back(tmp_path: Path) -> None:
    found = Found(
        domains={"example.org": {"dkim": {"selectors": [{"name": "2024", "algorithm": "rsa"}]}}},
        comments={"domains.example.org": "a comment\n# with: yaml {in} it"},
        notes=[Note("example.org", "raw", 'TXT "yes: no"', "odd\nlines")],
    )
    text = render_config(found, platform=None)
    config = _load(text, tmp_path / "mailauth.yaml")
    assert config.domains[0].dkim.selectors[0].name == "2024"  # type: ignore[attr-defined]
    assert '#   - raw: TXT "yes: no" (example.org): odd' in text


def test_lock_is_what_apply_would_write(article: Article, tmp_path: Path) -> None:
    lock = tmp_path / "mailauth.lock"
    lock.write_bytes(render_lock(article_found(article), article.root))
    entries = read_lock(lock)
    assert set(entries) == {(d, SELECTOR) for d in DOMAINS}
    entry = entries[("slackbox.fr", SELECTOR)]
    assert entry.public_key == article.keys["slackbox.fr"][1]
    assert entry.bits == 2048 and entry.fingerprint.startswith("sha256:")
    # Without the key file, from the public half alone: the same entry.
    assert render_lock(article_found(article), None) == lock.read_bytes()


def _mismatched(article: Article) -> Found:
    found = article_found(article)
    other = article.keys["unixbox.fr"][1]
    return dataclasses.replace(found, dns_keys={**found.dns_keys, ("slackbox.fr", SELECTOR): other})


def test_mismatch_is_commented_out_and_refused(article: Article, tmp_path: Path) -> None:
    found = _mismatched(article)
    [note] = mismatches(found)
    assert note.kind == "mismatch" and "01._domainkey.slackbox.fr" in note.what
    text = render_config(found, platform=None)
    assert "# REFUSED" in text
    assert "#   key_file: /etc/opendkim/keys/slackbox.fr/01.private" in text.replace(
        "#     ", "#   "
    )
    options = Options(root=article.root, config=tmp_path / "mailauth.yaml")
    echoed: list[str] = []
    with pytest.raises(MailauthError, match="never taken"):
        write_import(options, found, echoed.append)
    assert not options.config.exists() and not options.lock.exists()
    assert any("mismatch" in line for line in echoed)


def test_existing_files_need_force(fresh: Article, tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text("hand-written\n")
    options = Options(root=fresh.root, config=config)
    with pytest.raises(MailauthError, match="--force"):
        write_import(options, article_found(fresh), print)
    assert config.read_text() == "hand-written\n"
    config.unlink()
    (tmp_path / "mailauth.lock").write_text("{}")
    with pytest.raises(MailauthError, match=r"mailauth\.lock exists"):
        run_import(options, print)  # refused before anything is read
    write_import(dataclasses.replace(options, force=True), article_found(fresh), print)
    assert config.read_text().startswith("# yaml-language-server")
    assert read_lock(tmp_path / "mailauth.lock")


def test_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "mailauth.yaml").write_text("mine\n")
    result = run_mailauth(
        "import", "--root", tmp_path, "-c", "mailauth.yaml", expect=1, cwd=tmp_path
    )
    assert "exists; use --force" in result.stderr
    assert (tmp_path / "mailauth.yaml").read_text() == "mine\n"


def test_first_plan_changes_no_dns_record(fresh: Article, tmp_path: Path) -> None:
    zones = {d: fresh.zone_file(d).read_bytes() for d in DOMAINS}
    keys = {d: (fresh.root / fresh.key_file(d).lstrip("/")).read_bytes() for d in DOMAINS}
    options = Options(root=fresh.root, config=tmp_path / "mailauth.yaml")
    echoed: list[str] = []
    write_import(options, article_found(fresh), echoed.append)
    assert any("mailauth owns /var/named/zone.slackbox.fr" in line for line in echoed)
    assert any("not-imported: UMask 002" in line for line in echoed)
    result = check_import(options.config, fresh.root)
    assert result.entries[DNS] == [] and not result.dns_changed, result.summary()
    assert len([e for e in result.entries[SERIAL] if "SOA serial" in e]) == 2
    assert "create /etc/named/mailauth.zones.conf" in result.entries[NEW]
    assert "No DNS record changes." in result.summary()
    # Nothing on the host changed: the zone files and keys are as they were.
    assert {d: fresh.zone_file(d).read_bytes() for d in DOMAINS} == zones
    assert {d: (fresh.root / fresh.key_file(d).lstrip("/")).read_bytes() for d in DOMAINS} == keys
    manifest = json.loads((fresh.root / "var/lib/mailauth/manifest.json").read_text())
    assert "/var/named/zone.unixbox.fr" in manifest["targets"]["bind"]


def test_a_changed_record_is_listed(fresh: Article, tmp_path: Path) -> None:
    found = article_found(fresh)
    domains = dict(found.domains)
    domains["unixbox.fr"] = {**domains["unixbox.fr"], "spf": {"mx": True, "all": "-all"}}
    options = Options(root=fresh.root, config=tmp_path / "mailauth.yaml")
    write_import(options, dataclasses.replace(found, domains=domains), print)
    result = check_import(options.config, fresh.root)
    assert result.dns_changed
    [line] = result.entries[DNS]
    assert "unixbox.fr. TXT" in line and "-all" in line


def test_a_key_dns_lacks_is_noted(fresh: Article, tmp_path: Path) -> None:
    found = article_found(fresh)
    extra = AdoptedKey(
        "unixbox.fr", "old", fresh.key_file("unixbox.fr"), "rsa", "KeyTable:9", None, sign=False
    )
    found = dataclasses.replace(found, adopted=[*found.adopted, extra])
    text = render_config(found, platform=None)
    config = _load(text, tmp_path / "mailauth.yaml")
    unixbox = next(d for d in config.domains if d.name == "unixbox.fr")  # type: ignore[attr-defined]
    old = next(s for s in unixbox.dkim.selectors if s.name == "old")
    assert old.sign is False
    assert "DNS has no record for this selector" in text


def _readers(monkeypatch: pytest.MonkeyPatch, found: Found, calls: list[object]) -> None:
    """Stand-in readers (the real ones are tested in test_import_dns/test_import_mail):
    the DNS side's findings and the mail side's, as ``found`` splits into them."""
    dns = dataclasses.replace(found, targets={}, adopted=[], notes=[])
    mail = Found(targets=found.targets, adopted=found.adopted, notes=found.notes)

    def read_dns(root: Path, zones: list[Path], named_conf: Path | None, include: bool) -> Found:
        calls.append(("dns", root, zones, named_conf, include))
        return dns

    def read_live_dns(domains: list[str], server: str, port: int, timeout: float) -> Found:
        calls.append(("live", domains, server, port, timeout))
        return dns

    def read_mail(root: Path, **paths: Path | None) -> Found:
        calls.append(("mail", root, paths))
        return mail

    dns_side = types.ModuleType("dns_side")
    dns_side.read_dns = read_dns  # type: ignore[attr-defined]
    dns_side.read_live_dns = read_live_dns  # type: ignore[attr-defined]
    mail_side = types.ModuleType("mail_side")
    mail_side.read_mail = read_mail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mailauth.compiler.importer.dns_side", dns_side)
    monkeypatch.setitem(sys.modules, "mailauth.compiler.importer.mail_side", mail_side)


def test_command_with_check(
    fresh: Article, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    _readers(monkeypatch, article_found(fresh), calls)
    options = Options(
        root=fresh.root,
        zones=(Path("/var/named/zone.slackbox.fr"),),
        opendkim_conf=Path("/etc/opendkim.conf"),
        config=tmp_path / "mailauth.yaml",
        check=True,
        platform="rhel",
    )
    echoed: list[str] = []
    assert run_import(options, echoed.append) == 0
    assert calls[0] == ("dns", fresh.root, ["/var/named/zone.slackbox.fr"], None, False)
    assert calls[1][2]["opendkim_conf"] == Path("/etc/opendkim.conf")  # type: ignore[index]
    out = "\n".join(echoed)
    assert "/etc/opendkim.conf:10: not-imported: UMask 002" in out
    assert "DNS record changes: 0" in out and "No DNS record changes." in out
    assert "from: /var/named/zone.slackbox.fr, /etc/opendkim.conf" in options.config.read_text()


def test_command_check_fails_on_dns_change(
    fresh: Article, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = article_found(fresh)
    zones = [dict(found.zones[0], ttl=3600), found.zones[1]]
    _readers(monkeypatch, dataclasses.replace(found, zones=zones), [])
    options = Options(root=fresh.root, config=tmp_path / "mailauth.yaml", check=True)
    echoed: list[str] = []
    assert run_import(options, echoed.append) == 1
    assert "DNS would change" in "\n".join(echoed)


def test_from_dns_needs_a_nameserver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    _readers(monkeypatch, Found(domains={"example.org": {}}), calls)
    options = Options(root=tmp_path, from_dns=("example.org",), config=tmp_path / "m.yaml")
    with pytest.raises(MailauthError, match="--nameserver"):
        run_import(options, print)
    options = dataclasses.replace(options, nameserver="[::1]:5353")
    assert run_import(options, print) == 0
    assert calls[0] == ("live", ["example.org"], "::1", 5353, 3.0)
    with pytest.raises(MailauthError, match="port"):
        run_import(dataclasses.replace(options, nameserver="127.0.0.1:x", force=True), print)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_any_string_is_written_so_that_it_reads_back(text: str) -> None:
    for flow in (False, True):
        written = _scalar(text, flow=flow)
        wrapped = f"x: [{written}]\n" if flow else f"x: {written}\n"
        assert load_yaml_text(wrapped, "t.yaml").data == {"x": [text] if flow else text}


def test_notes_sit_where_they_belong(article: Article) -> None:
    found = article_found(article)
    notes = [
        Note("ftp.slackbox.fr.", "not-imported", "NAPTR record", "outside the schema"),
        Note("/var/named/zone.unixbox.fr:21", "not-imported", "$GENERATE", "not expanded"),
        Note("_dmarc.unixbox.fr.", "raw", "DMARC record", "does not parse"),
    ]
    text = render_config(dataclasses.replace(found, notes=notes), platform=None)
    # Each comment sits just above the entry it concerns (and all are listed at the top).
    assert "outside the schema\n  - name: slackbox.fr\n    mode: zone" in text
    assert "not expanded\n  - name: unixbox.fr\n    mode: zone" in text
    assert "does not parse\n  - name: unixbox.fr\n    mx:" in text


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_any_note_or_comment_keeps_the_file_valid(text: str) -> None:
    found = Found(
        domains={"example.org": {}},
        comments={"domains.example.org": text, "nowhere.at.all": text},
        notes=[Note(text or "x", "not-imported", text, text)],
    )
    written = render_config(found, platform=None, sources=[text])
    config = validate_document(load_yaml_text(written, "t.yaml"), Path("t.yaml")).config
    assert config.domains[0].name == "example.org"


def test_classify_sorts_file_changes(tmp_path: Path) -> None:
    plan = Plan(
        tmp_path,
        [
            FileChange("/etc/a", "update", b"# theirs\nA  1\nB\n", b"# ours\n\nA 1\nB\n"),
            FileChange("/etc/b", "update", b"A\nB\n", b"B\nA\n"),
            FileChange("/etc/c", "create", None, b"new\n"),
            FileChange("/etc/d", "update", b"a\n", b"b\n"),
            FileChange("/etc/e", "unchanged", b"same\n", b"same\n"),
        ],
    )
    result = classify(plan)
    assert result.entries[FORMATTING] == ["update /etc/a"]
    assert result.entries[ORDER] == ["update /etc/b"]
    assert result.entries[NEW] == ["create /etc/c"]
    assert result.entries[OTHER] == ["update /etc/d"]
    assert not result.dns_changed and result.entries[DNS] == []


def test_a_domain_only_the_signer_names_is_noted(article: Article, tmp_path: Path) -> None:
    found = article_found(article)
    extra = AdoptedKey("other.example", "s1", "/etc/opendkim/keys/o.private", "rsa", "KT:4")
    text = render_config(dataclasses.replace(found, adopted=[*found.adopted, extra]), platform=None)
    config = _load(text, tmp_path / "mailauth.yaml")
    other = next(d for d in config.domains if d.name == "other.example")  # type: ignore[attr-defined]
    assert other.dkim.selectors[0].key_file == "/etc/opendkim/keys/o.private"
    assert "changed: domain other.example (KT:4): only the signer's tables name it" in text
