"""The pipeline every front door uses: load -> build -> plan -> (apply).

The CLI and any other entry point (an octodns source, tests) go through here, so that
each of them sees the same model and the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from mailauth.compiler.apply import LOCK_FILE, write_plan
from mailauth.compiler.build import build_model
from mailauth.compiler.fsio import exclusive_lock
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


def model_for(job: Job) -> MailModel:
    return build_model(job.loaded)


def plan(job: Job, today: date | None = None) -> Plan:
    """What apply would do now. Reads only."""
    model = model_for(job)
    return compute_plan(
        model, job.loaded.config, job.root, job.targets, today or datetime.now(UTC).date()
    )


def apply(
    job: Job,
    confirm: Callable[[Plan], bool],
    now: datetime | None = None,
) -> Plan | None:
    """Plan again under the lock, ask, write. Returns the plan written, or None if declined."""
    moment = now or datetime.now(UTC)
    job.root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(host_path(job.root, LOCK_FILE)):
        current = plan(job, moment.date())
        if not current.pending:
            return current
        if not confirm(current):
            return None
        write_plan(current, moment)
        return current
