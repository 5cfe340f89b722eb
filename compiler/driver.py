"""The pipeline behind the commands: load -> build -> plan -> (apply).

plan, apply and the octodns source go through here, so that each of them sees the same
model and the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from mailauth.backends import REGISTRY
from mailauth.compiler.apply import LOCK_NAME, sweep_key_temps, write_plan
from mailauth.compiler.build import build_model
from mailauth.compiler.checksum import check, check_realised, parse, plan_checksum
from mailauth.compiler.forked import Forked, can_fork
from mailauth.compiler.fsio import (
    UnsafePath,
    check_path,
    exclusive_lock,
    read_checked,
    remove,
    write_atomic,
)
from mailauth.compiler.hostdirs import still_as_seen
from mailauth.compiler.inputs import Inputs, read_inputs
from mailauth.compiler.keys import KeyPhase, resolve_keys
from mailauth.compiler.lint.gate import policy_gate
from mailauth.compiler.model import MailModel
from mailauth.compiler.plan import (
    APPLIED_NAME,
    FileChange,
    Plan,
    PlanError,
    check_claims,
    compute_plan,
    host_path,
    model_key_files,
    read_under,
    render_all,
    selected_targets,
)
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.validate import LoadedConfig, dotted


@dataclass(frozen=True)
class Job:
    """One run: its inputs (read once, compiler/inputs.py), the targets in play, --strict."""

    inputs: Inputs
    targets: tuple[str, ...]
    strict: bool = False  # --strict: lint warnings stop plan and apply like errors

    @property
    def loaded(self) -> LoadedConfig:
        return self.inputs.loaded

    @property
    def root(self) -> Path:
        return self.inputs.root

    @property
    def config_dir(self) -> Path:
        return self.loaded.path.resolve().parent


def open_job(config: Path, root: Path | None, targets: Sequence[str] | None) -> Job:
    """Read the inputs (the only place a run reads them) and choose the targets."""
    inputs = read_inputs(config, root)
    return Job(inputs, tuple(selected_targets(inputs.loaded.config, targets)))


SIGNERS = tuple(name for name, b in REGISTRY.items() if b.needs_private_keys)
#: From this many zones on, plan runs the policy rules in a forked child (compiler/forked.py).
PARALLEL_MIN = 1000
DNS_TARGETS = tuple(name for name, b in REGISTRY.items() if b.needs_public_keys)


def located(job: Job, exc: PlanError) -> ConfigError | PlanError:
    """A PlanError that knows its field, as a ConfigError naming FILE:LINE:COL."""
    if exc.field is None:
        return exc
    where = job.loaded.source.where(exc.field)
    return ConfigError([Problem(where, dotted(exc.field), exc.message)])


def check_render(job: Job, model: MailModel, keys: KeyPhase) -> None:
    """The checks of plan that need no disk: every selected target renders, every path is
    absolute, free of '..' and claimed once. validate runs them, so that a file validate
    calls valid does not then fail plan for its own content."""
    try:
        config = job.loaded.config
        configured = [t for t in job.targets if config.targets.settings(t) is not None]
        pairs = [*render_all(model, config, configured), *keys.artifacts]
        check_claims(job.root, job.loaded.config, pairs, model_key_files(model))
    except PlanError as exc:
        raise located(job, exc) from None


def has_signer(job: Job) -> bool:
    """Keys are made only where a signer will use them (never on a DNS-only CI runner)."""
    return any(t in SIGNERS for t in job.targets)


def _today() -> date:
    return datetime.now(UTC).date()


def prepare(
    job: Job,
    today: date,
    *,
    generate: bool,
    lenient: bool = False,
    signer: bool | None = None,
    dns: bool | None = None,
    safe_keys: bool | None = None,
    progress: Callable[[str], None] | None = None,
    count: Callable[[int], None] | None = None,
) -> tuple[MailModel, KeyPhase]:
    """The key phase, then the model built on the keys it found: every command's way
    from the inputs to a model (none runs the key phase on its own).

    ``lenient`` (for validate) does not insist on keys a DNS target would need: whether
    the lock file is present is a question for plan, not for the file's validity.
    ``signer`` and ``dns`` override what the targets say (verify and lint check DNS
    without a signer). ``safe_keys`` (default: as ``signer``) checks the keys on disk as
    the signer will (lint does, though it builds without a signer).
    """
    keys = resolve_keys(
        job.inputs,
        signer=has_signer(job) if signer is None else signer,
        generate=generate,
        today=today,
        dns=(not lenient and any(t in DNS_TARGETS for t in job.targets)) if dns is None else dns,
        lenient=lenient,
        safe_keys=safe_keys,
        progress=progress,
        count=count,
    )
    model = build_model(job.loaded, keys.index, job.inputs.spf_cache, keys.tlsa)
    return model, keys


def model_for(job: Job, today: date | None = None, *, lenient: bool = False) -> MailModel:
    return prepare(job, today or _today(), generate=False, lenient=lenient)[0]


def checked_model(
    job: Job, today: date | None = None, *, lenient: bool = False
) -> tuple[MailModel, list[str]]:
    """The model, after the policy rules: what validate and the octodns source publish from.

    An error stops here as it stops plan, so nothing a plan would refuse can reach DNS by
    another door; the warnings come back as notes.
    """
    model, keys = prepare(job, today or _today(), generate=False, lenient=lenient)
    checks = policy_gate(job.inputs, model, keys.index, strict=job.strict)
    check_render(job, model, keys)
    return model, checks


def _plan(
    job: Job,
    today: date,
    *,
    generate: bool,
    only_keys: bool = False,
    progress: Callable[[str], None] | None = None,
    count: Callable[[int], None] | None = None,
) -> Plan:
    model, keys = prepare(job, today, generate=generate, progress=progress, count=count)

    # The policy rules (docs/rules.md): an error stops here, warnings become notes.
    def gate() -> list[str]:
        return [] if only_keys else policy_gate(job.inputs, model, keys.index, strict=job.strict)

    # With many zones the rules run in a child process while the files are planned here.
    beside = Forked(gate) if len(model.zones) >= PARALLEL_MIN and can_fork() else None
    checks = gate() if beside is None else []
    targets = () if only_keys else job.targets
    try:
        result = compute_plan(
            model, job.loaded.config, job.root, targets, today, extra=keys.artifacts
        )
    except BaseException as exc:
        if beside is not None:
            beside.result()  # an error of the rules comes first, as when they ran first
        if isinstance(exc, PlanError):
            raise located(job, exc) from None
        raise
    if beside is not None:
        checks = beside.result()
    # Removed keys' private files, archived by then (rotation/archive.py): deleted.
    result.changes += [FileChange(p, "delete", old, None, secret=True) for p, old in keys.deletes]
    result.notes = [*keys.notes, *checks, *(n for n in result.notes if not only_keys)]
    result.inputs = dict(keys.read)
    return result


def _read_now(base: Path, path: Path) -> bytes | PlanError | None:
    """``path`` as plan reads it (no symlink, no FIFO, at most READ_LIMIT bytes)."""
    try:
        read = read_under(base, path)
    except PlanError as exc:
        return exc
    return None if read is None else read[0]


def unchanged_since(result: Plan) -> bool:
    """Every file ``result`` was computed from still holds what it read (or is still absent)."""
    for change in result.changes:
        where = change.location(result.root)
        base = result.root if change.rooted else where.parent
        if _read_now(base, where) != change.old:
            return False
    if not all(still_as_seen(result.root, d) for d in result.directories):
        return False
    if any(_read_now(result.root, path) is not None for path in result.absent):
        return False
    return all(_read_now(result.root, path) == data for path, data in result.inputs.items())


def _state_file(job: Job, name: str) -> Path:
    """A file of state.directory under the root, refused if a symlink leads to it
    (fsio.check_path)."""
    state = job.loaded.config.state
    path = host_path(job.root, state.directory.rstrip("/") + "/" + name)
    try:
        check_path(job.root, path)
    except UnsafePath as exc:
        raise located(job, PlanError(str(exc), ("state", "directory"))) from None
    return path


def _lock_file(job: Job) -> Path:
    """The apply lock under the root."""
    return _state_file(job, LOCK_NAME)


def last_applied(job: Job) -> str | None:
    """The reviewed checksum the last apply --checksum that wrote on this root applied."""
    path = _state_file(job, APPLIED_NAME)
    try:
        read = read_checked(job.root, path)
    except (UnsafePath, PlanError):
        return None
    if read is None:
        return None
    return read[0].decode("ascii", "replace").strip() or None


def _record_applied(job: Job, applied: str | None) -> None:
    """After a write: remember the reviewed checksum just applied (None: an apply without
    one, after which no earlier review describes the root any more)."""
    path = _state_file(job, APPLIED_NAME)
    if applied is not None:
        write_atomic(path, (applied + "\n").encode("ascii"), 0o644)
    elif path.exists():
        remove(path)


def _already_applied(job: Job, reviewed: Plan, expected: str) -> bool:
    """apply --checksum run again: nothing left to do, and ``expected`` is the checksum
    this root last had applied (the plan's own checksum differs: the files it covers now
    hold the new bytes)."""
    if reviewed.has_work or last_applied(job) != expected:
        return False
    return checksum(job, reviewed) != expected


def reread(job: Job) -> Job:
    """``job`` with its files read again (the config stays as loaded)."""
    return replace(job, inputs=job.inputs.reread())


def plan(job: Job, today: date | None = None) -> Plan:
    """What apply would do now. Reads only; keys that apply would create are placeholders."""
    return _plan(job, today or _today(), generate=False)


def checksum(job: Job, result: Plan) -> str:
    """The checksum of a plan made without keys (``plan``); see compiler/checksum.py."""
    inputs = job.inputs
    return plan_checksum(
        result,
        config_dir=inputs.loaded.path.parent,
        config_sha256=inputs.loaded.sha256,
        lock_sha256=inputs.lock.sha256,
        targets=job.targets,
    )


KeyProgress = Callable[[int, int, str], None]


def apply(
    job: Job,
    confirm: Callable[[Plan], bool],
    now: datetime | None = None,
    *,
    only_keys: bool = False,
    expect_checksum: str | None = None,
    progress: KeyProgress | None = None,
) -> Plan | None:
    """Plan (making new keys), take the lock, ask, write. None if declined.

    The plan is made before the lock is taken, so that every error shows before anything
    exists on disk; under the lock it is used only if none of the files it was made from
    changed meanwhile (``unchanged_since``), and made again otherwise.

    With ``expect_checksum`` (from a reviewed ``plan``), refuses with ChecksumMismatch,
    writing nothing, unless the plan is still exactly the reviewed one. ``progress`` is
    called as (done, total, record name) while new keys are generated.
    """
    moment = now or datetime.now(UTC)
    state = job.loaded.config.state
    made: list[str] = []
    total = 0

    def counted(n: int) -> None:
        nonlocal total
        total = n
        made.clear()

    def on_key(name: str) -> None:
        made.append(name)
        if progress is not None:
            progress(len(made), total, name)

    def realised(job: Job) -> Plan:
        return _plan(
            job, moment.date(), generate=True, only_keys=only_keys, progress=on_key, count=counted
        )

    if expect_checksum is None:
        # Every error the input can cause shows up here, before the root or the lock
        # exist. The plan is made once, with the new keys (in memory): under the lock it is
        # kept if no file it was made from has changed since, else made again from the
        # files read again.
        current = realised(job)
        job.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(_lock_file(job)):
            if not unchanged_since(current):
                current = realised(reread(job))
            return _confirm_and_write(job, current, confirm, moment, state.backups, None)
    # A reviewed plan (made without keys) must still be exactly the one reviewed, or,
    # when the same apply runs again (a retried CI job), already be on disk.
    expected = parse(expect_checksum)
    reviewed = _plan(job, moment.date(), generate=False, only_keys=only_keys)
    if _already_applied(job, reviewed, expected):
        reviewed.already_applied = expected
        return reviewed
    check(expected, checksum(job, reviewed))
    job.root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(_lock_file(job)):
        job = reread(job)  # another apply may have run meanwhile
        reviewed = _plan(job, moment.date(), generate=False, only_keys=only_keys)
        if _already_applied(job, reviewed, expected):  # that one, with this checksum
            reviewed.already_applied = expected
            return reviewed
        check(expected, checksum(job, reviewed))
        current = realised(job)
        check_realised(reviewed, current)
        return _confirm_and_write(job, current, confirm, moment, state.backups, expected)


def _confirm_and_write(
    job: Job,
    current: Plan,
    confirm: Callable[[Plan], bool],
    moment: datetime,
    backups: str,
    reviewed: str | None,
) -> Plan | None:
    """Ask (unless there is nothing to do), then write; None if declined. Under the lock.

    Key temp files a killed apply left are removed first, whatever the answer. After the
    writes, the reviewed checksum (``apply --checksum``) is recorded in state.directory.
    """
    sweep_key_temps(current)
    if not current.has_work:
        return current
    if not confirm(current):
        return None
    write_plan(current, moment, backups)
    _record_applied(job, reviewed)
    return current
