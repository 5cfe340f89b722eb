"""The pipeline every front door uses: load -> build -> plan -> (apply).

The CLI and any other entry point (an octodns source, tests) go through here, so that
each of them sees the same model and the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from mailauth.compiler.apply import LOCK_NAME, write_plan
from mailauth.compiler.build import build_model
from mailauth.compiler.fsio import exclusive_lock
from mailauth.compiler.keys import KeyPhase, resolve_keys
from mailauth.compiler.model import MailModel
from mailauth.compiler.plan import Plan, compute_plan, host_path, selected_targets
from mailauth.schema.validate import LoadedConfig, load_config


@dataclass(frozen=True)
class Job:
    """One run's inputs: the validated file, the output root and the targets in play."""

    loaded: LoadedConfig
    root: Path
    targets: tuple[str, ...]

    @property
    def config_dir(self) -> Path:
        return self.loaded.path.resolve().parent


def resolve_root(loaded: LoadedConfig, root: Path | None) -> Path:
    """--root, else ``root:`` from the file (relative to the file), else ./out."""
    if root is not None:
        return root.resolve()
    if loaded.config.root is not None:
        return (loaded.path.resolve().parent / loaded.config.root).resolve()
    return (Path.cwd() / "out").resolve()


def open_job(config: Path, root: Path | None, targets: Sequence[str] | None) -> Job:
    loaded = load_config(config)
    return Job(loaded, resolve_root(loaded, root), tuple(selected_targets(loaded.config, targets)))


SIGNERS = ("opendkim",)
DNS_TARGETS = ("bind", "octodns")


def has_signer(job: Job) -> bool:
    """Keys are made only where a signer will use them (never on a DNS-only CI runner)."""
    return any(t in SIGNERS for t in job.targets)


def _today() -> date:
    return datetime.now(UTC).date()


def prepare(
    job: Job, today: date, *, generate: bool, lenient: bool = False
) -> tuple[MailModel, KeyPhase]:
    """The key phase, then the model built on the keys it found.

    ``lenient`` (for validate) does not insist on keys a DNS target would need: whether
    the lock file is present is a question for plan, not for the file's validity.
    """
    keys = resolve_keys(
        job.loaded,
        job.root,
        signer=has_signer(job),
        generate=generate,
        today=today,
        dns=not lenient and any(t in DNS_TARGETS for t in job.targets),
    )
    model = build_model(job.loaded, keys.index)
    return model, keys


def model_for(job: Job, today: date | None = None, *, lenient: bool = False) -> MailModel:
    return prepare(job, today or _today(), generate=False, lenient=lenient)[0]


def _plan(job: Job, today: date, *, generate: bool, only_keys: bool = False) -> Plan:
    model, keys = prepare(job, today, generate=generate)
    targets = () if only_keys else job.targets
    result = compute_plan(model, job.loaded.config, job.root, targets, today, extra=keys.artifacts)
    result.notes = [*keys.notes, *(n for n in result.notes if not only_keys)]
    return result


def plan(job: Job, today: date | None = None) -> Plan:
    """What apply would do now. Reads only; keys that apply would create are placeholders."""
    return _plan(job, today or _today(), generate=False)


def apply(
    job: Job,
    confirm: Callable[[Plan], bool],
    now: datetime | None = None,
    *,
    only_keys: bool = False,
) -> Plan | None:
    """Plan again under the lock (making new keys), ask, write. None if declined."""
    moment = now or datetime.now(UTC)
    state = job.loaded.config.state
    # Every error the input can cause shows up here, before the root or the lock exist.
    _plan(job, moment.date(), generate=False, only_keys=only_keys)
    job.root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(host_path(job.root, state.directory.rstrip("/") + "/" + LOCK_NAME)):
        current = _plan(job, moment.date(), generate=True, only_keys=only_keys)
        if not current.pending:
            return current
        if not confirm(current):
            return None
        write_plan(current, moment, state.backups)
        return current
