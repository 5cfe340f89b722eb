"""apply in batches (many files: one sync per step, compiler/fsio.Batch) survives any cut too.

Large plans are written in batches: the temporary files of a run of files first, one sync,
the renames, another sync. The crash-safety scenarios of test_crash_safety.py are replayed
here with batching switched on for every plan, and the process "dies" before each file
system call in turn (open, rename, link, unlink, and the sync that uses open): each file
must be old or new, every backup exact, and the next apply must finish the change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_crash_safety
from support import EXAMPLES, allow_create, safe_directory
from test_crash_safety import Scenario, _apply_in_process, check_recovers, check_whole

from mailauth.compiler import apply as apply_module
from mailauth.compiler import driver
from mailauth.compiler.fsio import TEMP_MARK

CALLS = ("open", "replace", "link", "unlink")

scenario = test_crash_safety.scenario  # the same old and new trees (a module fixture)


class _Cut(BaseException):
    """Raised in place of a file system call: the process 'dies' right there."""


def _cut_at(n: int, counter: list[int], real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        if counter[0] == n:
            raise _Cut
        return real(*args, **kwargs)

    return wrapper


def _apply_cut(monkeypatch: pytest.MonkeyPatch, config: Path, root: Path, n: int) -> int:
    """Apply with batching, dying before the ``n``-th call (0: never); returns the calls."""
    counter = [0]
    with monkeypatch.context() as m:
        m.setattr(apply_module, "BATCH_MIN", 1)
        # Counted from the moment apply starts writing (the plan before it only reads).
        real_write_plan = apply_module.write_plan

        def write_plan(*args: Any, **kwargs: Any) -> Any:
            for name in CALLS:
                m.setattr(os, name, _cut_at(n, counter, getattr(os, name)))
            return real_write_plan(*args, **kwargs)

        m.setattr(driver, "write_plan", write_plan)
        if n:
            with pytest.raises(_Cut):
                _apply_in_process(config, root)
        else:
            _apply_in_process(config, root)
    return counter[0]


def test_batched_apply_is_the_same_apply(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = scenario.fresh_root("batched")
    calls = _apply_cut(monkeypatch, scenario.new_cfg, root, 0)
    assert calls >= 10, calls
    assert check_whole(scenario, root, "uncut") == "new"
    check_recovers(scenario, root, "uncut", subprocess_cli=False)


def test_batched_apply_recovers_from_a_cut_before_any_call(
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = _apply_cut(monkeypatch, scenario.new_cfg, scenario.fresh_root("count"), 0)
    for n in range(1, total + 1):
        root = scenario.fresh_root(f"batch-cut-{n}")
        _apply_cut(monkeypatch, scenario.new_cfg, root, n)
        check_whole(scenario, root, f"cut before call {n}")
        check_recovers(scenario, root, f"cut before call {n}", subprocess_cli=False)
        shutil.rmtree(root)


def test_batched_first_apply_with_keys_recovers_from_every_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailauth.compiler.dkimkeys import parse_dkim_txt, public_key_from_private
    from mailauth.compiler.lockfile import read_lock

    with safe_directory("batch-keys-") as work:
        config = allow_create(
            shutil.copytree(EXAMPLES / "slackbox", tmp_path / "count") / "mailauth.yaml"
        )
        total = _apply_cut(monkeypatch, config, work / "count", 0)
        assert total >= 8, total
        for n in range(1, total + 1):
            config = allow_create(
                shutil.copytree(EXAMPLES / "slackbox", tmp_path / f"c{n}") / "mailauth.yaml"
            )
            root = work / f"cut-{n}"
            _apply_cut(monkeypatch, config, root, n)
            for key in root.rglob("*.private"):
                # A key file exists whole (it is linked into place) or not at all.
                assert key.stat().st_mode & 0o777 == 0o600
                public_key_from_private(key.read_bytes(), "rsa")
            _apply_in_process(config, root)
            job = driver.open_job(config, root, None)
            assert not driver.plan(job).pending, f"cut {n}: plan not empty after recovery"
            lock = read_lock(config.parent / "mailauth.lock")
            model = driver.model_for(job)
            store = job.loaded.config.keys
            for domain in model.domains:
                zone = model.zone(domain.zone)
                for key in domain.keys:
                    relative = store.file.format(domain=domain.name, selector=key.selector)
                    private = root / store.directory.strip("/") / relative
                    public = public_key_from_private(private.read_bytes(), key.algorithm)
                    owner = key.record_name.removesuffix("." + zone.name)
                    (record,) = zone.find(owner, "TXT")
                    assert parse_dkim_txt(record.value)["p"] == public.public_key_b64, f"cut {n}"
                    assert lock[(domain.name, key.selector)].public_key == public.public_key_b64
            backups = job.loaded.config.state.backups.strip("/")
            leftovers = [
                p for p in root.rglob(f"*{TEMP_MARK}*") if not p.is_relative_to(root / backups)
            ]
            assert not leftovers, f"cut {n}: temporary files left behind: {leftovers}"
            shutil.rmtree(root)
