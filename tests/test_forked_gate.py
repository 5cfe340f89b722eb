"""Large plans run the policy rules in a forked child (compiler/forked.py): same plan, same errors.

Plans of many zones (driver.PARALLEL_MIN) check the rules in a child process while the
files are planned; here the threshold is lowered so that small plans take that path, and
each result is compared with the plan made in one process.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from support import EXAMPLES, seed_postfix

from mailauth.compiler import driver
from mailauth.compiler.forked import Forked
from mailauth.compiler.plan import Plan, PlanError
from mailauth.schema.errors import ConfigError

DAY = date(2026, 3, 14)

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
domains:
  - name: example.org
    spf: {all: "?all"}
"""


def _shape(result: Plan) -> list[tuple[str, str, bytes | None]]:
    return [(c.path, c.op, c.new) for c in result.changes]


def _both(job: driver.Job, monkeypatch: pytest.MonkeyPatch) -> tuple[Plan, Plan]:
    alone = driver.plan(job, DAY)
    with monkeypatch.context() as m:
        m.setattr(driver, "PARALLEL_MIN", 0)
        beside = driver.plan(job, DAY)
    return alone, beside


def test_the_example_plans_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_postfix(tmp_path / "root")  # the host's main.cf, which mailauth edits
    job = driver.open_job(EXAMPLES / "slackbox" / "mailauth.yaml", tmp_path / "root", None)
    alone, beside = _both(job, monkeypatch)
    assert _shape(beside) == _shape(alone)
    assert beside.notes == alone.notes


def test_warnings_come_back_as_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG)
    job = driver.open_job(config, tmp_path / "root", None)
    alone, beside = _both(job, monkeypatch)
    assert any("SPF018" in note for note in alone.notes)
    assert beside.notes == alone.notes


def test_an_error_of_the_rules_is_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG)
    job = replace(driver.open_job(config, tmp_path / "root", None), strict=True)
    with pytest.raises(ConfigError) as alone:
        driver.plan(job, DAY)
    monkeypatch.setattr(driver, "PARALLEL_MIN", 0)
    with pytest.raises(ConfigError) as beside:
        driver.plan(job, DAY)
    assert beside.value.problems == alone.value.problems
    assert any("SPF018" in p.message for p in beside.value.problems)

    # The rules' error comes first even when planning the files fails too, as it does
    # when the rules run before the files are planned.
    def broken(*args: object, **kwargs: object) -> Plan:
        raise PlanError("planning failed")

    monkeypatch.setattr(driver, "compute_plan", broken)
    with pytest.raises(ConfigError):
        driver.plan(job, DAY)


def test_any_other_failure_in_the_child_shows_as_it_would_here() -> None:
    calls: list[int] = []

    def fails() -> int:
        calls.append(1)
        raise ValueError("from the function")

    with pytest.raises(ValueError, match="from the function"):
        Forked(fails).result()
    assert calls == [1]  # the child's attempt is not counted here: it ran in the child

    assert Forked(lambda: {"a": [1, 2]}).result() == {"a": [1, 2]}


def test_with_the_fast_paths_off_the_rules_run_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAILAUTH_PURE (schema/fastpaths.py) keeps the rules in this process, same plan."""
    from mailauth.schema import fastpaths

    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG)
    job = driver.open_job(config, tmp_path / "root", None)
    with monkeypatch.context() as m:
        m.setattr(driver, "PARALLEL_MIN", 0)
        beside = driver.plan(job, DAY)

    def no_fork(fn: object) -> None:
        raise AssertionError("forked with the fast paths off")

    monkeypatch.setattr(fastpaths, "FAST", False)
    monkeypatch.setattr(driver, "PARALLEL_MIN", 0)
    monkeypatch.setattr(driver, "Forked", no_fork)
    here = driver.plan(job, DAY)
    assert _shape(here) == _shape(beside)
    assert here.notes == beside.notes
