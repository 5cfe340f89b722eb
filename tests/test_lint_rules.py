"""Every lint rule fires, with its ID and position, on a broken file, and not once fixed.

Each ``tests/lint/<RULE>[-case].yaml`` starts with comment lines:

    # expect: SPF011 at 23:11          the rule and the line:column it must report
    # expect: DKIM009 in DKIM009.lock  (or the file it must name, for another file)
    # fixed: "old text" => "new text"  an edit of the YAML that makes the rule go away

Files the case needs (an SPF cache, a lock file) sit beside it under the names its YAML
gives. The fixed variant is the passing input of the rule; the broken one the failing.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailauth.compiler.lint.command import lint_file
from mailauth.compiler.lint.docs import render_rules_md
from mailauth.compiler.lint.engine import Finding
from mailauth.compiler.lint.rules import RULES

HERE = Path(__file__).parent / "lint"
REPO = Path(__file__).resolve().parents[1]
CASES = sorted(p.stem for p in HERE.glob("*.yaml"))
# These need live DNS answers (--resolve); tests/test_spf_flatten.py covers them.
RESOLVE_ONLY = {"SPF027", "SPF028"}
# These need a policy applied before under --root: tests/test_mta_sts.py covers them.
APPLIED_ONLY = {"STS003", "STS006"}
# Needs the host's main.cf and certificate under --root; tests/test_dane.py covers it.
ROOT_FILES = {"DANE002"}
_EXPECT = re.compile(
    r"# expect: (?P<rule>[A-Z]+\d{3}) (?:at (?P<line>\d+):(?P<col>\d+)|in (?P<file>\S+))"
)
_FIXED = re.compile(r"# fixed: (?P<old>\".*\") => (?P<new>\".*\")$")


@dataclass(frozen=True)
class Expect:
    rule: str
    line: int | None
    column: int | None
    file: str | None

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        if self.file is not None:
            return Path(finding.where).name == self.file and finding.line is None
        return (finding.line, finding.column) == (self.line, self.column)

    def __str__(self) -> str:
        where = self.file if self.file else f"{self.line}:{self.column}"
        return f"{self.rule} at {where}"


def read_case(name: str) -> tuple[list[Expect], str, str, str]:
    text = (HERE / f"{name}.yaml").read_text()
    expects = []
    for match in _EXPECT.finditer(text):
        line, col = match.group("line"), match.group("col")
        expects.append(
            Expect(
                match.group("rule"),
                int(line) if line else None,
                int(col) if col else None,
                match.group("file"),
            )
        )
    fixed = _FIXED.search(text.splitlines()[len(expects) + 1])
    assert expects and fixed is not None, f"{name}: no `# expect:` or `# fixed:` header"
    return expects, json.loads(fixed.group("old")), json.loads(fixed.group("new")), text


def copy_case(name: str, text: str, dest: Path) -> Path:
    """The case and its companion files (SPF cache, lock file) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for other in HERE.iterdir():
        if other.suffix != ".yaml":
            shutil.copy(other, dest / other.name)
    config = dest / f"{name}.yaml"
    config.write_text(text)
    return config


def describe(findings: list[Finding]) -> str:
    return "\n".join(
        f"  {f.rule} at {f.line}:{f.column} ({f.where}): {f.message}" for f in findings
    )


@pytest.mark.parametrize("name", CASES)
def test_rule_fires_with_its_id_and_position(name: str, tmp_path: Path) -> None:
    expects, _, _, text = read_case(name)
    report, problems = lint_file(copy_case(name, text, tmp_path), root=tmp_path / "root")
    assert not problems, problems
    for expect in expects:
        hits = [f for f in report.findings if expect.matches(f)]
        assert hits, f"{name}: expected {expect}, got:\n{describe(report.findings)}"
        for hit in hits:
            assert hit.silenced is None
            assert hit.severity == RULES[expect.rule].severity
            assert hit.fix and hit.rfc == RULES[expect.rule].rfc
            assert hit.field != "(document)" or expect.file is not None


@pytest.mark.parametrize("name", CASES)
def test_rule_stays_quiet_once_fixed(name: str, tmp_path: Path) -> None:
    expects, old, new, text = read_case(name)
    header_end = text.index("\n", text.index("# fixed:")) + 1
    body = text[header_end:]
    assert body.count(old) == 1, f"{name}: the fix must match the YAML exactly once"
    fixed_text = text[:header_end] + body.replace(old, new)
    report, problems = lint_file(copy_case(name, fixed_text, tmp_path), root=tmp_path / "root")
    assert not problems, problems
    rules = {e.rule for e in expects}
    left = [f for f in report.findings if f.rule in rules]
    assert not left, f"{name}: still fires after the fix:\n{describe(left)}"


def test_every_rule_has_a_broken_file() -> None:
    covered = {e.rule for name in CASES for e in read_case(name)[0]}
    missing = sorted(set(RULES) - covered - RESOLVE_ONLY - APPLIED_ONLY - ROOT_FILES)
    assert not missing, f"rules without a tests/lint case: {missing}"
    assert not covered - set(RULES), "a case expects a rule that does not exist"


def test_rules_have_stable_ids_and_complete_text() -> None:
    for rule_id, rule in RULES.items():
        assert re.fullmatch(r"(SPF|DKIM|DMARC|STS|XREF|TLS|BIMI|DANE|LINT)\d{3}", rule_id)
        assert rule.severity in ("error", "warning", "info")
        assert rule.title and rule.rfc and rule.fix.endswith(".") and rule.why


def test_docs_rules_md_is_generated_from_the_rules() -> None:
    """docs/rules.md lists every rule; regenerate: python -m mailauth.compiler.lint.docs."""
    on_disk = (REPO / "docs" / "rules.md").read_text()
    assert on_disk == render_rules_md(), "docs/rules.md is stale; regenerate it"
    for rule_id in RULES:
        assert f"### {rule_id}: " in on_disk
