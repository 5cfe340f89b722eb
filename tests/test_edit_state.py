"""Per-file edit state in the manifest: an edit gets back what it recorded last time.

main.cf and master.cf are the host's files; mailauth owns entries in them, not the files.
The manifest keeps, per edited file, the record its edit returned (`Edited.state`), and the
next plan hands it back as `EditContext.state`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailauth.backends import Artifact, EditContext, Edited, MissingHostFile
from mailauth.compiler import driver
from mailauth.compiler.apply import write_plan
from mailauth.compiler.plan import PlanError, compute_plan

DAY = date(2026, 1, 18)


@pytest.fixture
def job(tmp_path: Path) -> driver.Job:
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        "version: 1\nzones:\n  - name: example.org\n    mode: include\n"
        "domains:\n  - name: example.org\n    dkim: {selectors: []}\n"
    )
    return driver.open_job(config, tmp_path / "root", None)


def _plan(job: driver.Job, *artifacts: tuple[str, Artifact]):  # type: ignore[no-untyped-def]
    model = driver.model_for(job, DAY)
    return compute_plan(model, job.loaded.config, job.root, job.targets, DAY, extra=artifacts)


def _manifest(job: driver.Job) -> dict[str, object]:
    path = job.root / "var/lib/mailauth/manifest.json"
    return dict(json.loads(path.read_text()))


def test_state_comes_back_and_notes_reach_the_plan(job: driver.Job) -> None:
    seen: list[object] = []

    def edit(current: bytes | None, ctx: EditContext) -> Edited:
        seen.append(ctx.state)
        count = (ctx.state or {}).get("runs", 0) + 1
        return Edited((current or b"") + b"x\n", state={"runs": count}, notes=("edited",))

    shared = ("postfix", Artifact(path="/etc/shared.cf", edit=edit, owned=False))
    (job.root / "etc").mkdir(parents=True)
    (job.root / "etc/shared.cf").write_text("host\n")
    first = _plan(job, shared)
    assert seen == [None]
    assert "edited" in first.notes
    write_plan(first, datetime.now(UTC), "/var/backups/mailauth")
    assert _manifest(job)["state"] == {"postfix": {"/etc/shared.cf": {"runs": 1}}}
    _plan(job, shared)
    assert seen == [None, {"runs": 1}]


def test_no_state_no_key_and_a_dropped_record_goes(job: driver.Job) -> None:
    def keep(current: bytes | None, ctx: EditContext) -> Edited:
        return Edited(current, state={"mine": True})

    (job.root / "etc").mkdir(parents=True)
    (job.root / "etc/shared.cf").write_text("host\n")
    # "bind" is a target of this run: a record it no longer returns is dropped, whereas
    # targets left out of a run (--target) keep theirs.
    write_plan(
        _plan(job, ("bind", Artifact(path="/etc/shared.cf", edit=keep, owned=False))),
        datetime.now(UTC),
        "/var/backups/mailauth",
    )
    assert "state" in _manifest(job)

    def plain(current: bytes | None, ctx: EditContext) -> bytes:
        assert ctx.state == {"mine": True}
        return current or b""

    result = _plan(job, ("bind", Artifact(path="/etc/shared.cf", edit=plain, owned=False)))
    manifest = next(c for c in result.changes if c.path.endswith("manifest.json"))
    assert manifest.new is not None and b'"state"' not in manifest.new


def test_an_absent_file_can_stay_absent(job: driver.Job) -> None:
    def nothing(current: bytes | None, ctx: EditContext) -> Edited:
        return Edited(None)

    result = _plan(job, ("postfix", Artifact(path="/etc/absent.cf", edit=nothing, owned=False)))
    # Not a change at all (no "unchanged" line for a file that is not there), but watched:
    # apply plans again if it appears meanwhile.
    assert not [c for c in result.changes if c.path == "/etc/absent.cf"]
    assert result.absent == [job.root / "etc/absent.cf"]
    assert driver.unchanged_since(result)
    (job.root / "etc").mkdir(parents=True)
    (job.root / "etc/absent.cf").write_text("appeared\n")
    assert not driver.unchanged_since(result)


def test_a_missing_host_file_says_what_to_copy_where(job: driver.Job) -> None:
    def needs(current: bytes | None, ctx: EditContext) -> bytes:
        raise MissingHostFile("/etc/postfix/main.cf", "or set targets.postfix.create: true")

    with pytest.raises(PlanError) as caught:
        _plan(job, ("postfix", Artifact(path="/etc/postfix/main.cf", edit=needs, owned=False)))
    assert caught.value.message == (
        f"{job.root}/etc/postfix/main.cf does not exist: copy the host's /etc/postfix/main.cf "
        "there, or set targets.postfix.create: true; mailauth edits this file and never "
        "invents it"
    )
