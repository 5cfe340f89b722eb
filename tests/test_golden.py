"""Golden output: each case's plan, on a fixed day, compared byte for byte with a stored tree.

``tests/golden/<case>/mailauth.yaml`` (with ``mailauth.lock`` beside it when the case has
one: public keys for a plan without a signer) is planned into an empty root (or one seeded
from ``tests/golden/<case>/before/``, for hand-kept files mailauth edits) with the date fixed to
2026-01-18. Every file the plan would create or update must equal
``tests/golden/<case>/expected/<path on the host>`` and every expected file must be
planned. Files the plan writes outside the root (beside the config, like the lock file)
live under ``expected/_beside_config/``.

Each case is also applied (real keys made where the plan shows placeholders): a plan made
right after must be empty, and every file written must be accepted by the program that
reads it (tests/support/consumers.py: named-checkzone, named-checkconf, ``opendkim -n``,
dkimpy-milter's parser, ``opendmarc -n``, ``postconf -n``, octodns).

Regenerate after a deliberate change with ``MAILAUTH_UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` and read the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import dns.zone
import pytest
import yaml
from support import consumers
from support.tools import require_binary

from mailauth.compiler import driver
from mailauth.compiler.plan import Plan

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "mailauth.yaml").is_file())
TODAY = date(2026, 1, 18)
NOON = datetime(2026, 1, 18, 12, 0, tzinfo=UTC)
BESIDE_CONFIG = "_beside_config"
LOCK = "mailauth.lock"
UPDATE = os.environ.get("MAILAUTH_UPDATE_GOLDEN") == "1"


def planned_files(plan: Plan, config_dir: Path) -> dict[str, bytes]:
    """Relative path in the expected tree -> the bytes the plan would leave there."""
    files: dict[str, bytes] = {}
    for change in plan.changes:
        if change.new is None:  # a delete: the file must not be in the expected tree
            continue
        if change.secret:
            content = f"(secret file, not compared: {change.op})\n".encode()
        else:
            content = change.new
        if getattr(change, "rooted", True):
            key = change.path.lstrip("/")
        else:
            key = f"{BESIDE_CONFIG}/{Path(change.path).relative_to(config_dir)}"
        files[key] = content
    return files


def stored_files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def hash_tree(folder: Path) -> dict[str, bytes]:
    return stored_files(folder)


def show_diff(name: str, expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(
        expected.decode("utf-8", "replace").splitlines(keepends=True),
        actual.decode("utf-8", "replace").splitlines(keepends=True),
        f"expected/{name}",
        f"planned/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def stage_case(case: str, tmp_path: Path) -> tuple[Path, Path]:
    """The case's config (and lock) in ``tmp_path/config``, its ``before`` tree as the root."""
    source = GOLDEN / case
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    config = config_dir / "mailauth.yaml"
    shutil.copyfile(source / "mailauth.yaml", config)
    if (source / LOCK).is_file():
        shutil.copyfile(source / LOCK, config_dir / LOCK)
    root = tmp_path / "root"
    root.mkdir()
    if (source / "before").is_dir():
        shutil.copytree(source / "before", root, dirs_exist_ok=True)
    return config, root


def plan_case(case: str, tmp_path: Path) -> tuple[dict[str, bytes], Path]:
    source = GOLDEN / case
    config, root = stage_case(case, tmp_path)
    config_dir = config.parent
    before = hash_tree(root)
    job = driver.open_job(config, root, None)
    plan = driver.plan(job, today=TODAY)
    assert hash_tree(root) == before, "plan changed files under the root"
    given = ["mailauth.yaml", *([LOCK] if (source / LOCK).is_file() else [])]
    assert sorted(p.name for p in config_dir.iterdir()) == sorted(given)
    return planned_files(plan, config_dir.resolve()), root


def test_there_are_golden_cases() -> None:
    """Every target has a case: the last three cover dkimpy_milter, opendmarc and octodns."""
    every = {"slackbox", "include-mode", "long-txt", "spf-full", "postfix-merge"}
    every |= {"dkimpy-dual", "opendmarc", "octodns"}
    assert every <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    actual, _ = plan_case(case, tmp_path)
    expected_dir = GOLDEN / case / "expected"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, content in actual.items():
            target = expected_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    expected = stored_files(expected_dir)
    problems: list[str] = []
    for name in sorted(set(expected) - set(actual)):
        problems.append(f"expected but not planned: {name}")
    for name in sorted(set(actual) - set(expected)):
        problems.append(f"planned but not expected: {name}\n" + show_diff(name, b"", actual[name]))
    for name in sorted(set(actual) & set(expected)):
        if actual[name] != expected[name]:
            problems.append(f"differs: {name}\n" + show_diff(name, expected[name], actual[name]))
    assert not problems, (
        f"golden case {case!r} does not match (MAILAUTH_UPDATE_GOLDEN=1 regenerates):\n\n"
        + "\n".join(problems)
    )


# --- the stored trees are not only stable but right ---------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_golden_applies_then_plans_empty(case: str, tmp_path: Path) -> None:
    """Applied, the case leaves nothing to do: a second plan is empty (exit status 0)."""
    config, root = stage_case(case, tmp_path)
    applied = driver.apply(driver.open_job(config, root, None), lambda _: True, NOON)
    assert applied is not None and applied.has_work
    again = driver.plan(driver.open_job(config, root, None), today=TODAY)
    left = [f"{c.op} {c.path}" for c in again.pending]
    left += [f"{d.op} directory {d.path}" for d in again.pending_dirs]
    assert not again.has_work, f"plan after apply is not empty: {left}"


@pytest.mark.parametrize("case", CASES)
def test_golden_consumers_accept_the_applied_tree(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What apply wrote (with real keys) is read without complaint by each consumer.

    octodns reads a provider's ``env/NAME`` secrets when it loads the config: they get a
    dummy value (octodns connects to no provider to validate).
    """
    config, root = stage_case(case, tmp_path)
    for name in re.findall(r"\benv/([A-Za-z_][A-Za-z0-9_]*)", config.read_text(encoding="utf-8")):
        monkeypatch.setenv(name, "golden-test-placeholder")
    host = consumers.host_milters(root / "etc/postfix/main.cf")
    assert driver.apply(driver.open_job(config, root, None), lambda _: True, NOON) is not None
    targets = consumers.declared_targets(config.read_text(encoding="utf-8"))
    problems = consumers.check_root(targets, root, tmp_path / "work", host)
    assert not problems, "\n".join(problems)


def _zone_files() -> list[tuple[str, Path]]:
    found = []
    for case in CASES:
        for path in sorted((GOLDEN / case / "expected").rglob("zone.*")):
            found.append((case, path))
        for path in sorted((GOLDEN / case / "expected" / "etc/bind").glob("db.*")):
            found.append((case, path))  # Debian's names (platform: debian)
    return found


@pytest.mark.parametrize(
    ("case", "path"), _zone_files(), ids=[f"{c}:{p.name}" for c, p in _zone_files()]
)
def test_golden_zone_loads_in_named_checkzone(case: str, path: Path) -> None:
    checkzone = require_binary("named-checkzone")
    zone = path.name.removeprefix("zone.").removeprefix("db.")
    result = subprocess.run(
        [checkzone, zone, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded serial 2026011801" in result.stdout


def test_long_txt_golden_holds_exactly_the_configured_values() -> None:
    """Parse the stored zone back with dnspython: each TXT joins to the configured text."""
    case = GOLDEN / "long-txt"
    config = yaml.safe_load((case / "mailauth.yaml").read_text(encoding="utf-8"))
    text = (case / "expected/var/named/zone.example.org").read_text(encoding="utf-8")
    zone = dns.zone.from_text(text, origin="example.org.", relativize=True, check_origin=True)
    records = config["zones"][0]["records"]
    txt = [r for r in records if r["type"] == "TXT"]
    assert len(txt) >= 10
    for record in txt:
        rdataset = zone.find_rdataset(record["name"], "TXT")
        values = {b"".join(rdata.strings) for rdata in rdataset}
        assert record["value"].encode("utf-8") in values, record["name"]
        assert all(len(s) <= 255 for rdata in rdataset for s in rdata.strings)
    key = config["defaults"]["dkim"]["selectors"][0]["public_key"]
    (dkim,) = list(zone.find_rdataset("big._domainkey", "TXT"))
    assert len(dkim.strings) == 3
    assert b"".join(dkim.strings) == f"v=DKIM1; k=rsa; p={key}".encode()
    (straddle_rdata,) = list(zone.find_rdataset("straddle", "TXT"))
    straddle = straddle_rdata.strings
    assert [len(s) for s in straddle] == [255, 5]


def test_include_mode_golden_bumps_only_the_serial() -> None:
    case = GOLDEN / "include-mode"
    before = (case / "before/var/named/db.example.org").read_text().splitlines()
    after = (case / "expected/var/named/db.example.org").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [
        (
            "            2026011502  ; serial (YYYYMMDDnn)",
            "            2026011801  ; serial (YYYYMMDDnn)",
        )
    ]
