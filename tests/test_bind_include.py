"""Include mode reads the zone it includes into (issue 12, item 4).

The golden include-mode case, planned onto variants of its hand-kept zone: a record mailauth
generates that the zone already holds, or a missing ``$INCLUDE``, is an error naming the
zone file and line (and where in mailauth.yaml the file is named); a TTL clash is a note; a
missing zone file says what to copy under the root. ``zone_file`` reads and checks the zone
without bumping its serial.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from mailauth.compiler import driver
from mailauth.compiler.plan import Plan
from mailauth.schema.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden" / "include-mode"
DAY = date(2026, 1, 18)
ZONE = "/var/named/db.example.org"
HAND = (GOLDEN / "before" / ZONE.lstrip("/")).read_text()
INCLUDE = "$INCLUDE /var/named/mailauth.example.org.inc\n"
# Where the golden mailauth.yaml names the hand-kept zone: zones[0].serial_file.
SERIAL_FILE_LINE = next(
    i + 1
    for i, line in enumerate((GOLDEN / "mailauth.yaml").read_text().splitlines())
    if line.strip().startswith("serial_file:")
)


def _plan(tmp_path: Path, zone: str | None, config_edit: str | None = None) -> Plan:
    config = tmp_path / "mailauth.yaml"
    text = (GOLDEN / "mailauth.yaml").read_text()
    if config_edit is not None:
        text = text.replace("    serial_file: /var/named/db.example.org", config_edit)
    config.write_text(text)
    root = tmp_path / "root"
    (root / "var/named").mkdir(parents=True)
    if zone is not None:
        (root / ZONE.lstrip("/")).write_text(zone)
    return driver.plan(driver.open_job(config, root, None), today=DAY)


def _refusal(tmp_path: Path, zone: str | None, config_edit: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        _plan(tmp_path, zone, config_edit)
    return str(caught.value)


def _line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def test_the_golden_zone_passes_and_its_serial_is_bumped(tmp_path: Path) -> None:
    plan = _plan(tmp_path, HAND)
    change = next(c for c in plan.changes if c.path == ZONE)
    assert change.op == "update" and change.new is not None
    assert b"2026011801" in change.new


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ('@ IN TXT "v=spf1 a -all"', "an SPF record"),
        ('_dmarc IN TXT "v=DMARC1; p=none"', "a DMARC record"),
        ('mail2026._domainkey IN TXT "v=DKIM1; p=abc"', "a DKIM key"),
        ('example.net._report._dmarc IN TXT "v=DMARC1"', "a DMARC report authorisation"),
        ("@ IN MX 5 other.example.net.", "MX records"),
    ],
)
def test_a_record_mailauth_generates_is_refused_with_file_and_line(
    tmp_path: Path, record: str, kind: str
) -> None:
    zone = HAND.replace(INCLUDE, f"{record}\n{INCLUDE}")
    message = _refusal(tmp_path, zone)
    line = _line_of(zone, record)
    assert f"{ZONE}:{line}: " in message
    assert f"mailauth generates {kind} for " in message
    # Positioned in mailauth.yaml too: the field that names the hand-kept zone.
    assert re.search(rf"mailauth.yaml:{SERIAL_FILE_LINE}:\d+: zones\[0\]\.serial_file", message)
    assert not (tmp_path / "root/var/named/mailauth.example.org.inc").exists()


def test_a_txt_that_is_not_spf_at_the_apex_is_fine(tmp_path: Path) -> None:
    zone = HAND.replace(INCLUDE, f'@ IN TXT "google-site-verification=x"\n{INCLUDE}')
    _plan(tmp_path, zone)


def test_a_missing_include_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, HAND.replace(INCLUDE, ""))
    assert f"{ZONE}: no $INCLUDE of /var/named/mailauth.example.org.inc" in message
    assert "add the line `$INCLUDE /var/named/mailauth.example.org.inc`" in message


def test_a_relative_include_needs_bind_directory(tmp_path: Path) -> None:
    relative = HAND.replace(INCLUDE, "$INCLUDE mailauth.example.org.inc\n")
    assert "BIND's directory is not known" in _refusal(tmp_path, relative)
    config = tmp_path / "two"
    config.mkdir()
    text = (
        (GOLDEN / "mailauth.yaml")
        .read_text()
        .replace("    named_conf: null", "    named_conf: null\n    named_directory: /var/named")
    )
    (config / "mailauth.yaml").write_text(text)
    root = config / "root"
    (root / "var/named").mkdir(parents=True)
    (root / ZONE.lstrip("/")).write_text(relative)
    driver.plan(driver.open_job(config / "mailauth.yaml", root, None), today=DAY)


def test_a_ttl_clash_is_a_note(tmp_path: Path) -> None:
    zone = HAND.replace(INCLUDE, f"mx1 300 IN A 192.0.2.26\n{INCLUDE}")
    plan = _plan(tmp_path, zone)
    line = _line_of(zone, "mx1 300")
    assert any(n.startswith(f"{ZONE}:{line}: mx1.example.org. A has TTL 300") for n in plan.notes)


def test_a_missing_zone_file_says_what_to_copy(tmp_path: Path) -> None:
    message = _refusal(tmp_path, None)
    assert (
        f"{tmp_path}/root{ZONE} does not exist: copy the host's {ZONE} there, or unset "
        "zones[].serial_file" in message
    )


def test_zone_file_is_checked_and_never_edited(tmp_path: Path) -> None:
    plan = _plan(tmp_path, HAND, "    zone_file: /var/named/db.example.org")
    change = next(c for c in plan.changes if c.path == ZONE)
    assert change.op == "unchanged"
    (tmp_path / "again").mkdir()
    message = _refusal(
        tmp_path / "again",
        HAND.replace(INCLUDE, f'_dmarc IN TXT "v=DMARC1; p=none"\n{INCLUDE}'),
        "    zone_file: /var/named/db.example.org",
    )
    assert f"{ZONE}:" in message and "zones[0].zone_file" in message


def test_serial_file_and_zone_file_together_are_refused(tmp_path: Path) -> None:
    message = _refusal(
        tmp_path,
        HAND,
        "    serial_file: /var/named/db.example.org\n    zone_file: /var/named/db.example.org",
    )
    assert "set serial_file or zone_file, not both" in message


def test_a_latin_1_comment_in_the_hand_kept_zone_is_kept(tmp_path: Path) -> None:
    zone = HAND.replace("kept by hand", "tenue \xe0 la main")
    config = tmp_path / "mailauth.yaml"
    shutil.copy(GOLDEN / "mailauth.yaml", config)
    root = tmp_path / "root"
    (root / "var/named").mkdir(parents=True)
    (root / ZONE.lstrip("/")).write_bytes(zone.encode("latin-1"))
    plan = driver.plan(driver.open_job(config, root, None), today=DAY)
    change = next(c for c in plan.changes if c.path == ZONE)
    assert change.new is not None and b"tenue \xe0 la main" in change.new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("42", "43"),  # a counter keeps counting
        ("1999999999", "2000000000"),  # ten digits but no date (month 99): a counter
        ("2026011502", "2026011801"),  # a date from before today: today's first
        ("2026011807", "2026011808"),  # already today: the next one
    ],
)
def test_the_hand_kept_serial_moves_forward_in_its_own_scheme(
    tmp_path: Path, old: str, new: str
) -> None:
    plan = _plan(tmp_path, HAND.replace("2026011502", old))
    change = next(c for c in plan.changes if c.path == ZONE)
    assert change.new is not None
    assert f" {new}  ; serial" in change.new.decode()


def test_a_serial_that_would_wrap_is_refused(tmp_path: Path) -> None:
    message = _refusal(tmp_path, HAND.replace("2026011502", "4294967295"))
    assert f"{ZONE}: the SOA serial 4294967295 cannot be increased" in message
    assert "RFC 1982" in message
    assert re.search(rf"mailauth.yaml:{SERIAL_FILE_LINE}:\d+: zones\[0\]\.serial_file", message)
