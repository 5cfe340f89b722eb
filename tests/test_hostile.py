"""The hostile-input corpus (issue 11): every case refused cleanly or accepted safely.

Cases live in tests/hostile/*.yaml (see tests/hostile/README.md). Each runs the real
command line in child processes, in its own staging root with a sentinel directory beside
it; tests/support/hostile.py stages and judges it. The cases selected for this run are
started together on a small thread pool (each is independent), and each test waits for
its own.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import pytest
from support import forkcli, require_binary
from support.hostile import Case, load_cases, run_case

CASES = load_cases()
_REPORT_LOCK = threading.Lock()
_BY_NAME = {case.name: case for case in CASES}
CONSUMERS = (
    "named-checkzone",
    "named-checkconf",
    "postconf",
    "opendkim",
    "opendmarc",
    "dkimpy-milter",
)


@cache
def _pool() -> ThreadPoolExecutor:
    workers = int(os.environ.get("MAILAUTH_HOSTILE_WORKERS", str((os.cpu_count() or 2) + 1)))
    return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="hostile")


@pytest.fixture(scope="session")
def hostile_runs(request: pytest.FixtureRequest) -> dict[str, Future[list[str]]]:
    """Every selected case, started at once; name -> future of its problems."""
    for name in CONSUMERS:
        require_binary(name)  # a missing judge skips (fails under CI=true), never passes
    selected = [
        _BY_NAME[item.callspec.id]
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_hostile_case"
    ]
    futures = {case.name: _pool().submit(run_case, case) for case in selected}

    def stop() -> None:
        _pool().shutdown(wait=True, cancel_futures=True)
        forkcli.shutdown()

    request.addfinalizer(stop)
    return futures


def test_corpus_is_large_and_covers_both_outcomes() -> None:
    assert len(CASES) >= 150
    assert {case.expect for case in CASES} >= {"refused", "accepted"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case(case: Case, hostile_runs: dict[str, Future[list[str]]]) -> None:
    future = hostile_runs.get(case.name) or _pool().submit(run_case, _BY_NAME[case.name])
    problems = future.result()
    report = os.environ.get("MAILAUTH_HOSTILE_REPORT")
    if report:  # one JSON line per case, for triage after a merge
        line = {"name": case.name, "group": case.group, "expect": case.expect, "problems": problems}
        with _REPORT_LOCK, open(report, "a") as handle:
            handle.write(json.dumps(line) + "\n")
    assert not problems, f"{case.name} ({case.expect}: {case.why}):\n" + "\n".join(problems)
