"""apply survives being killed at any moment, and two applies never interleave.

The scenario: a root holding an applied configuration (the slackbox example plus an
include-mode zone with a hand-kept serial file and a domain that will go away), and a new
configuration that touches nearly every kind of file (and directory: OpenDMARC's history
directory moves, so one directory is made and one removed): DMARC policy changed (both owned
zones and the fragment are updated, the hand-kept serial bumped), a zone and a domain added
(files created, named.conf updated), a domain removed (its fragment deleted), the manifest
rewritten, backups made.

The expected old and new trees come from two clean applies in other roots on the same day.
After any interruption every target file must be byte-identical to one of them (or absent
where it was absent), every backup must be an exact copy of the old file, and the next
normal apply must end in exactly the new tree, with the right modes, no temporary file
left, and a plan that exits 0.

Interruptions come three ways: deterministically before each file operation in turn
(the operations replaced by one that raises: the same disk state as a kill right there),
between a temp file's fsync and its rename, and by SIGKILL of the real command at
increasing delays after it printed its plan (plus a few during start-up). The full example
(keys, lock file, OpenDKIM, Postfix) is cut at every operation of a first apply too.

Temporary files (".NAME.mailauth-tmp-PID") left by a kill are removed by the next apply
(those of dead processes only), so the recovery checks demand that none remain.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import (
    EXAMPLES,
    allow_create,
    mailauth_argv,
    mailauth_env,
    run_mailauth,
    safe_directory,
)

from mailauth.backends.zonefile import find_serial
from mailauth.compiler import apply as apply_module
from mailauth.compiler import driver
from mailauth.compiler.apply import LOCK_NAME
from mailauth.compiler.fsio import KEY_TEMP, TEMP_MARK

Tree = dict[str, bytes]  # path relative to the root -> content

HAND_ZONE = "/var/named/hand.example.zone"
KILLS = 36  # SIGKILLs: 4 during start-up, 32 spread over the write phase
PLAN_MARK = b"Plan:"  # apply prints its plan (ending in this summary) just before writing
DONE_MARK = b"Applied under"  # ... and this once everything is written


# -- configurations --------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    """The example, narrowed to BIND: no keys to generate, so both trees are reproducible."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "slackbox" / "mailauth.yaml").read_text())
    doc["targets"] = {"bind": doc["targets"]["bind"]}
    doc.pop("keys", None)
    doc.setdefault("defaults", {}).setdefault("dkim", {})["selectors"] = []
    for domain in doc["domains"]:
        domain.pop("dkim", None)
    doc["zones"].append({"name": "hand.example", "mode": "include", "serial_file": HAND_ZONE})
    doc["domains"].append({"name": "hand.example"})
    return doc


#: OpenDMARC's history directory: made by apply (old, then moved: the old one is removed).
OLD_HISTORY = "/var/lib/opendmarc-old"
NEW_HISTORY = "/var/lib/opendmarc"


def _opendmarc(history: str) -> dict[str, Any]:
    return {"config": "/etc/opendmarc.conf", "history_file": f"{history}/opendmarc.dat"}


def old_config() -> dict[str, Any]:
    doc = _base()
    doc["domains"].append({"name": "gone.example"})  # an include fragment that will go
    doc["targets"]["opendmarc"] = _opendmarc(OLD_HISTORY)
    return doc


def new_config() -> dict[str, Any]:
    doc = _base()
    doc["defaults"].setdefault("dmarc", {})["p"] = "quarantine"
    doc["zones"].append({"name": "example.net", "mode": "zone", "ns": ["ns.slackbox.fr"]})
    doc["domains"] += [{"name": "example.net"}, {"name": "example.org"}]
    doc["targets"]["opendmarc"] = _opendmarc(NEW_HISTORY)
    return doc


def hand_zone(root: Path) -> str:
    return (
        "$ORIGIN hand.example.\n$TTL 3600\n"
        "@ IN SOA ns.slackbox.fr. hostmaster.hand.example. ( 2020010101 3600 600 86400 300 )\n"
        "@ IN NS ns.slackbox.fr.\n"
        f"$INCLUDE {root}/var/named/mailauth.hand.example.inc\n"
    )


# -- trees -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where mailauth keeps its own state under a root (from the config's ``state:``)."""

    backups: str
    lock: str

    def classify(self, rel: str) -> str:
        if rel == self.lock:
            return "lock"
        if rel.startswith(self.backups + "/"):
            return "backup"
        name = os.path.basename(rel)
        if TEMP_MARK in name or KEY_TEMP.match(name):
            return "temp"  # a key temp file (".NAME.<hex>.tmp") is a whole private key
        return "target"


def snapshot(root: Path, layout: Layout) -> dict[str, Tree]:
    """Every regular file under ``root``, by kind: target, backup, temp, lock."""
    kinds: dict[str, Tree] = {"target": {}, "backup": {}, "temp": {}, "lock": {}}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        kinds[layout.classify(rel)][rel] = path.read_bytes()
    return kinds


def modes(root: Path, tree: Tree) -> dict[str, int]:
    return {rel: (root / rel).stat().st_mode & 0o7777 for rel in tree}


@dataclass(frozen=True)
class Scenario:
    work: Path
    old_cfg: Path
    new_cfg: Path
    old_root: Path  # the applied old state, copied for every trial
    old: Tree
    new: Tree
    new_modes: dict[str, int]
    layout: Layout
    day: date  # the serials in ``new`` are of this day

    def fresh_root(self, name: str) -> Path:
        root = self.work / name
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(self.old_root, root, symlinks=True)
        # The hand-kept zone names its fragment by absolute path: point it at this root.
        (root / HAND_ZONE.lstrip("/")).write_text(
            (root / HAND_ZONE.lstrip("/")).read_text().replace(str(self.old_root), str(root))
        )
        return root

    def expected_new(self, root: Path) -> Tree:
        if datetime.now(UTC).date() != self.day:
            pytest.skip("the UTC date changed during the test: new serials differ; run again")
        return {
            k: v.replace(str(self.old_root).encode(), str(root).encode())
            for k, v in self.new.items()
        }

    def expected_old(self, root: Path) -> Tree:
        return {
            k: v.replace(str(self.old_root).encode(), str(root).encode())
            for k, v in self.old.items()
        }


def _apply_in_process(config: Path, root: Path) -> None:
    job = driver.open_job(config, root, None)
    assert driver.apply(job, lambda _plan: True) is not None


def _write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    with safe_directory("crash-") as work:
        old_cfg = _write_yaml(work / "old" / "mailauth.yaml", old_config())
        new_cfg = _write_yaml(work / "new" / "mailauth.yaml", new_config())
        state = driver.open_job(old_cfg, work, None).loaded.config.state
        layout = Layout(
            backups=state.backups.strip("/"), lock=f"{state.directory.strip('/')}/{LOCK_NAME}"
        )
        day = datetime.now(UTC).date()

        old_root = work / "old-root"
        (old_root / "var/named").mkdir(parents=True)
        (old_root / HAND_ZONE.lstrip("/")).write_text(hand_zone(old_root))
        _apply_in_process(old_cfg, old_root)
        shutil.rmtree(old_root / layout.backups)  # so every backup found later is new
        old = snapshot(old_root, layout)["target"]

        new_root = work / "new-root"
        shutil.copytree(old_root, new_root, symlinks=True)
        (new_root / HAND_ZONE.lstrip("/")).write_text(
            (new_root / HAND_ZONE.lstrip("/")).read_text().replace(str(old_root), str(new_root))
        )
        _apply_in_process(new_cfg, new_root)
        new = {
            k: v.replace(str(new_root).encode(), str(old_root).encode())
            for k, v in snapshot(new_root, layout)["target"].items()
        }
        new_modes = modes(new_root, new)

        changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
        created = [p for p in changed if p not in old]
        deleted = [p for p in changed if p not in new]
        # The scenario is only worth something if it moves many files in every way.
        assert len(changed) >= 7, changed
        assert created and deleted, (created, deleted)
        assert HAND_ZONE.lstrip("/") in changed

        yield Scenario(work, old_cfg, new_cfg, old_root, old, new, new_modes, layout, day)


# -- checks ----------------------------------------------------------------------------------

_TEMP_NAME = re.compile(rf"^\.(?P<name>.+){re.escape(TEMP_MARK)}(?P<pid>\d+)$")


def check_whole(s: Scenario, root: Path, when: str) -> str:
    """Each target wholly old or wholly new, backups exact; returns old/new/mixed."""
    kinds = snapshot(root, s.layout)
    old, new = s.expected_old(root), s.expected_new(root)
    got = kinds["target"]
    for rel in sorted(set(got) | set(old) | set(new)):
        have = got.get(rel)
        assert have in (old.get(rel), new.get(rel)), (
            f"{when}: {rel} is neither the old nor the new version "
            f"({len(have) if have is not None else 'absent'} bytes)"
        )
    backup_prefix = re.compile(rf"^{re.escape(s.layout.backups)}/[^/]+/")
    for rel, data in kinds["backup"].items():
        original = backup_prefix.sub("", rel)
        if TEMP_MARK in os.path.basename(original):
            continue  # a backup being written when the kill came
        assert old.get(original) == data, f"{when}: backup {rel} is not the old {original}"
    for rel in kinds["temp"]:
        match = _TEMP_NAME.match(os.path.basename(rel))
        assert match, f"{when}: odd temporary file {rel}"
        target = f"{os.path.dirname(rel)}/{match.group('name')}"
        assert target in new, f"{when}: temporary file {rel} of no target"
        # Created 0600, given the final mode just before the rename: never more open.
        mode = (root / rel).stat().st_mode & 0o777
        assert mode in (0o600, s.new_modes[target]), f"{when}: {rel} has mode {mode:o}"
    if got == old:
        return "old"
    if got == new:
        return "new"
    return "mixed"


# Files known to come out wrong after a cut; empty now that a hand-kept zone's serial bump
# is written before the fragment it watches (apply.write_order). A listed file that comes
# out right at every cut fails the test, so the list cannot go stale.
KNOWN_UNFIXED: set[str] = set()


def _bumped_further(got: bytes | None, want: bytes | None) -> bool:
    """Same zone text as expected, but with a serial above the expected one."""
    if got is None or want is None:
        return False
    got_span = find_serial(got.decode())
    want_span = find_serial(want.decode())
    if got_span is None or want_span is None or got_span.value <= want_span.value:
        return False
    masked = got.decode()[: got_span.start] + got.decode()[got_span.end :]
    return masked == want.decode()[: want_span.start] + want.decode()[want_span.end :]


def check_recovers(s: Scenario, root: Path, when: str, *, subprocess_cli: bool) -> set[str]:
    """The next apply completes the change exactly; plan then has nothing to do.

    Returns the files of ``KNOWN_UNFIXED`` that did not come out right.
    """
    if subprocess_cli:
        run_mailauth("apply", "-c", s.new_cfg, "--root", root, "--yes")
        run_mailauth("plan", "-c", s.new_cfg, "--root", root, expect=0)
    else:
        _apply_in_process(s.new_cfg, root)
        assert not driver.plan(driver.open_job(s.new_cfg, root, None)).has_work
    kinds = snapshot(root, s.layout)
    got, want = kinds["target"], s.expected_new(root)
    wrong = {p for p in set(got) | set(want) if got.get(p) != want.get(p)}
    hand = HAND_ZONE.lstrip("/")
    if hand in wrong and _bumped_further(got.get(hand), want.get(hand)):
        # Killed after the serial bump but before its fragment was written: the next run
        # sees the fragment change and bumps once more. A higher serial is the safe outcome.
        wrong.discard(hand)
    assert modes(root, got) == s.new_modes, f"{when}: file modes differ"
    unknown = sorted(wrong - KNOWN_UNFIXED)
    assert not unknown, f"{when}: after a new apply these files are not as expected: {unknown}"
    assert not kinds["temp"], f"{when}: temporary files left behind: {sorted(kinds['temp'])}"
    temp_dirs = sorted(str(p) for p in root.rglob(f"*{TEMP_MARK}*") if p.is_dir())
    assert not temp_dirs, f"{when}: temporary directories left behind: {temp_dirs}"
    history = root / NEW_HISTORY.lstrip("/")
    assert history.is_dir() and (history.stat().st_mode & 0o7777) == 0o750, when
    assert not (root / OLD_HISTORY.lstrip("/")).exists(), f"{when}: the old one stays"
    return wrong & KNOWN_UNFIXED


# -- interruption at every file operation (deterministic) -----------------------------------


class _Crash(BaseException):
    """Raised in place of a file operation: the process 'dies' right there."""


def _crashing(n: int, counter: list[int], real: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        if counter[0] == n:
            raise _Crash
        return real(*args, **kwargs)

    return wrapper


def test_interrupted_between_any_two_file_operations(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop apply before its 1st, 2nd, ... file operation, then recover: every cut point."""
    # Count the operations of one full apply.
    counter = [0]
    root = scenario.fresh_root("count")
    with monkeypatch.context() as m:
        m.setattr(apply_module, "write_atomic", _crashing(0, counter, apply_module.write_atomic))
        m.setattr(apply_module, "remove", _crashing(0, counter, apply_module.remove))
        for op in ("make_directory", "remove_directory"):
            m.setattr(apply_module, op, _crashing(0, counter, getattr(apply_module, op)))
        _apply_in_process(scenario.new_cfg, root)
    operations = counter[0]
    assert operations >= 10, operations

    known: list[int] = []

    for n in range(1, operations + 1):
        root = scenario.fresh_root(f"cut-{n}")
        counter = [0]
        with monkeypatch.context() as m:
            m.setattr(
                apply_module, "write_atomic", _crashing(n, counter, apply_module.write_atomic)
            )
            m.setattr(apply_module, "remove", _crashing(n, counter, apply_module.remove))
            for op in ("make_directory", "remove_directory"):
                m.setattr(apply_module, op, _crashing(n, counter, getattr(apply_module, op)))
            with pytest.raises(_Crash):
                _apply_in_process(scenario.new_cfg, root)
        check_whole(scenario, root, f"cut before operation {n}")
        if check_recovers(scenario, root, f"cut before operation {n}", subprocess_cli=False):
            known.append(n)
        shutil.rmtree(root)

    if KNOWN_UNFIXED and not known:
        pytest.fail(f"{sorted(KNOWN_UNFIXED)} came out right at every cut: remove KNOWN_UNFIXED")
    if known:
        pytest.xfail(
            f"known bug: {sorted(KNOWN_UNFIXED)} wrong after recovery from cuts {known} "
            "(hand-kept serial not bumped; see KNOWN_UNFIXED)"
        )


def test_interrupted_inside_a_write_leaves_only_a_temp_file(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Die after the temp file is written and synced but before the rename."""
    import mailauth.compiler.fsio as fsio

    for n in (1, 2, 5, 8):
        root = scenario.fresh_root(f"rename-{n}")
        counter = [0]
        with monkeypatch.context() as m:
            m.setattr(fsio.os, "replace", _crashing(n, counter, os.replace))
            with pytest.raises(_Crash):
                _apply_in_process(scenario.new_cfg, root)
        leftovers = list(root.rglob(f"*{TEMP_MARK}*"))
        assert leftovers, "the cut should leave a temp file (a backup's or a target's)"
        check_whole(scenario, root, f"cut before rename {n}")
        check_recovers(scenario, root, f"cut before rename {n}", subprocess_cli=False)
        shutil.rmtree(root)


# -- SIGKILL of the real command -------------------------------------------------------------


def _start_apply(s: Scenario, root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        mailauth_argv("apply", "-c", s.new_cfg, "--root", root, "--yes"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=mailauth_env(),
    )


def _wait_for_output(proc: subprocess.Popen[bytes], mark: bytes, timeout: float) -> bytes:
    """Read the child's output until ``mark`` shows (or it exits); returns what was read."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while mark not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    return seen


def _kill(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    code = proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()
    return code


def _time_one_apply(s: Scenario, name: str) -> tuple[float, float]:
    """(start-up until the plan is printed, the write phase until "Applied") of one apply."""
    root = s.fresh_root(name)
    started = time.monotonic()
    proc = _start_apply(s, root)
    out = _wait_for_output(proc, PLAN_MARK, 60)
    printed = time.monotonic()
    out += _wait_for_output(proc, DONE_MARK, 60)
    done = time.monotonic()
    assert proc.wait(60) == 0, out.decode(errors="replace")
    assert proc.stdout is not None
    proc.stdout.close()
    assert PLAN_MARK in out and DONE_MARK in out, out.decode(errors="replace")
    assert snapshot(root, s.layout)["target"] == s.expected_new(root)
    shutil.rmtree(root)
    return printed - started, done - printed


def test_sigkill_at_many_points_leaves_each_file_old_or_new(scenario: Scenario) -> None:
    # Where to aim: the median of three uninterrupted runs.
    timings = sorted(_time_one_apply(scenario, f"calibrate-{i}") for i in range(3))
    startup = timings[1][0]
    window = sorted(t[1] for t in timings)[1]

    outcomes: dict[str, int] = {"old": 0, "new": 0, "mixed": 0}
    for i in range(KILLS):
        root = scenario.fresh_root(f"kill-{i}")
        proc = _start_apply(scenario, root)
        if i % 9 == 0:
            # Some kills during start-up and planning: nothing may change.
            time.sleep(startup * (0.3 + 0.6 * i / KILLS))
            delay = "start-up"
        else:
            _wait_for_output(proc, PLAN_MARK, 60)
            # Increasing delays across (and a little past) the write phase.
            pause = window * 1.2 * i / KILLS
            time.sleep(pause)
            delay = f"{pause * 1000:.2f} ms after the plan"
        code = _kill(proc)
        when = f"kill {i} ({delay}, exit {code})"
        outcomes[check_whole(scenario, root, when)] += 1
        check_recovers(scenario, root, when, subprocess_cli=i % 9 == 4)
        shutil.rmtree(root)

    print(f"write phase {window * 1000:.1f} ms; outcomes {outcomes}")
    # The kills must really have landed inside the write phase, not only around it.
    assert outcomes["mixed"] >= 3, outcomes


# -- two applies at once ---------------------------------------------------------------------


def test_two_applies_started_together_are_serialised(scenario: Scenario) -> None:
    for attempt in range(3):
        root = scenario.fresh_root(f"pair-{attempt}")
        procs = [
            subprocess.Popen(
                mailauth_argv("apply", "-c", scenario.new_cfg, "--root", root, "--yes"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=mailauth_env(),
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=60)[0].decode(errors="replace") for p in procs]
        for proc, out in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out
        # Whoever got the lock second planned after the first had written: nothing to do.
        said = sorted(
            "applied" if "Applied under" in out else "nothing" if "No changes" in out else out
            for out in outputs
        )
        assert said == ["applied", "nothing"], outputs
        kinds = snapshot(root, scenario.layout)
        assert kinds["target"] == scenario.expected_new(root)
        assert not kinds["temp"]
        run_mailauth("plan", "-c", scenario.new_cfg, "--root", root, expect=0)
        shutil.rmtree(root)


def test_apply_waits_for_the_lock(scenario: Scenario) -> None:
    root = scenario.fresh_root("locked")
    lock = root / scenario.layout.lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = _start_apply(scenario, root)
        time.sleep(1.5)
        assert proc.poll() is None, "apply finished while another process held the lock"
        assert snapshot(root, scenario.layout)["target"] == scenario.expected_old(root)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert snapshot(root, scenario.layout)["target"] == scenario.expected_new(root)


# -- the full example, keys included: every cut of a first apply ----------------------------


def test_first_apply_of_the_example_with_keys_recovers_from_every_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are random, so there is no expected tree: the next apply must reach a state
    where plan is empty and DNS, the private key on disk and mailauth.lock agree."""
    from mailauth.compiler.dkimkeys import parse_dkim_txt, public_key_from_private
    from mailauth.compiler.lockfile import read_lock

    def operations_of(config: Path, root: Path, n: int) -> int:
        counter = [0]
        with monkeypatch.context() as m:
            for name in ("write_atomic", "remove", "write_private_key"):
                m.setattr(apply_module, name, _crashing(n, counter, getattr(apply_module, name)))
            if n:
                with pytest.raises(_Crash):
                    _apply_in_process(config, root)
            else:
                _apply_in_process(config, root)
        return counter[0]

    with safe_directory("keys-") as work:
        config = allow_create(
            shutil.copytree(EXAMPLES / "slackbox", tmp_path / "count") / "mailauth.yaml"
        )
        total = operations_of(config, work / "count", 0)
        assert total >= 8, total

        for n in range(1, total + 1):
            config = allow_create(
                shutil.copytree(EXAMPLES / "slackbox", tmp_path / f"c{n}") / "mailauth.yaml"
            )
            root = work / f"cut-{n}"
            operations_of(config, root, n)
            # What a SIGKILL between a key's temp file and its link leaves: a whole key
            # under a temp name. The recovering apply must remove it.
            for store in (root / "etc/opendkim/keys").glob("*"):
                if store.is_dir():
                    planted = store / ".01.private.00112233aabbccdd.tmp"
                    planted.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\n")
                    planted.chmod(0o600)
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
            backups = job.loaded.config.state.backups.strip("/")
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
            leftovers = [
                p
                for p in root.rglob("*")
                if (TEMP_MARK in p.name or KEY_TEMP.match(p.name))
                and not p.is_relative_to(root / backups)
            ]
            assert not leftovers, f"cut {n}: temporary files left behind: {leftovers}"
            shutil.rmtree(root)
