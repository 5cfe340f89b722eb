"""The pipeline's shape: one input reader, a pure build, one error boundary (issue 13)."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailauth.backends import REGISTRY
from mailauth.compiler import driver, inputs, verify
from mailauth.compiler.build import build_model
from mailauth.compiler.cli import app
from mailauth.compiler.lockfile import render_lock
from mailauth.compiler.spf.cache import render_cache
from mailauth.compiler.spf.dnsview import Answers
from mailauth.schema.errors import ConfigError, MailauthError, PlanError, TargetError

REPO = Path(__file__).resolve().parents[1]

FLATTENING = """\
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
    spf:
      include: [_spf.provider.example]
      flatten: [_spf.provider.example]
    dmarc: {p: none, rua: [dmarc@example.org]}
targets:
  bind:
    directory: /var/named
    zone_file: "zone.{zone}"
"""

PROVIDER: Answers = {"_spf.provider.example": {"txt": ["v=spf1 ip4:198.51.100.0/24 -all"]}}


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"NO_COLOR": "1"}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def flattening(tmp_path: Path) -> Path:
    config = tmp_path / "mailauth.yaml"
    config.write_text(FLATTENING)
    (tmp_path / "mailauth.spf.json").write_bytes(render_cache(PROVIDER))
    return config


# --- build is pure --------------------------------------------------------------------------


def test_build_model_reads_no_file(
    flattening: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the inputs, build opens, stats and lists nothing: not even the SPF cache."""
    job = driver.open_job(flattening, tmp_path / "root", None)
    model, keys = driver.prepare(job, driver._today(), generate=False)
    apex = [r.value for r in model.zone("example.org").records if r.name == "@"]
    assert "ip4:198.51.100.0/24" in " ".join(apex)  # the cache was used

    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"build read the disk: {args!r}")

    for module, name in (
        (builtins, "open"),
        (os, "open"),
        (os, "stat"),
        (os, "lstat"),
        (os, "listdir"),
        (os, "scandir"),
    ):
        monkeypatch.setattr(module, name, refuse)
    again = build_model(job.loaded, keys.index, job.inputs.spf_cache)
    monkeypatch.undo()
    assert again == model


def test_build_imports_no_linter() -> None:
    code = (
        "import sys, mailauth.compiler.build; "
        "print([m for m in sys.modules if m.startswith('mailauth.compiler.lint')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"


# --- one input reader -----------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path | object]:
    """Every call of the input reader, whoever makes it."""
    calls: list[Path | object] = []
    real = inputs.read_inputs

    def counting(config: Any, root: Path | None) -> inputs.Inputs:
        calls.append(config)
        return real(config, root)

    monkeypatch.setattr(inputs, "read_inputs", counting)
    monkeypatch.setattr(driver, "read_inputs", counting)
    return calls


def _fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "DnsLookup", lambda servers, timeout: lambda n, t: verify.Answer())


ENTRIES: dict[str, Callable[[Path, Path], tuple[str, ...]]] = {
    "validate": lambda c, r: ("validate", "-c", str(c)),
    "plan": lambda c, r: ("plan", "-c", str(c), "--root", str(r)),
    "apply": lambda c, r: ("apply", "-c", str(c), "--root", str(r), "--yes"),
    "lint": lambda c, r: ("lint", "-c", str(c)),
    "spf budget": lambda c, r: ("spf", "budget", "-c", str(c)),
    "verify": lambda c, r: ("verify", "-c", str(c), "--root", str(r), "--nameserver", "127.0.0.1"),
}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_every_command_reads_the_inputs_once(
    entry: str,
    flattening: Path,
    tmp_path: Path,
    reads: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_dns(monkeypatch)
    code, out, err = cli(*ENTRIES[entry](flattening, tmp_path / "root"))
    assert code in (0, 2), out + err
    assert reads == [flattening]


def test_the_octodns_source_reads_the_inputs_once(
    flattening: Path, tmp_path: Path, reads: list[object]
) -> None:
    pytest.importorskip("octodns")
    from mailauth.compiler.octodns_source import MailauthSource

    source = MailauthSource("mailauth", str(flattening), root=str(tmp_path / "root"))
    assert source.list_zones() == ["example.org."]
    source.model()
    assert reads == [flattening]


def test_only_the_driver_runs_the_key_phase() -> None:
    callers = sorted(
        str(path.relative_to(REPO))
        for folder in ("compiler", "backends", "schema")
        for path in (REPO / folder).rglob("*.py")
        if "resolve_keys(" in path.read_text() and path.name != "keys.py"
    )
    assert callers == ["compiler/driver.py"]


def test_apply_reads_again_only_when_a_file_changed_under_its_lock(
    flattening: Path, tmp_path: Path, reads: list[object]
) -> None:
    job = driver.open_job(flattening, tmp_path / "root", None)
    assert driver.apply(job, lambda _plan: True) is not None
    assert len(reads) == 1


def test_the_checksum_covers_the_bytes_the_plan_was_made_from(
    flattening: Path, tmp_path: Path
) -> None:
    """An edit after the plan was made changes the next checksum, never this one: the
    checksum digests what was read once (inputs.py), not the files as they are later."""
    job = driver.open_job(flattening, tmp_path / "root", None)
    result = driver.plan(job)
    before = driver.checksum(job, result)
    flattening.write_text(FLATTENING + "# an edit after the plan\n")
    (flattening.parent / "mailauth.lock").write_bytes(render_lock({}))
    assert driver.checksum(job, result) == before
    again = driver.open_job(flattening, tmp_path / "root", None)
    assert again.loaded.sha256 != job.loaded.sha256
    assert again.inputs.lock.sha256 is not None and job.inputs.lock.sha256 is None


# --- one error boundary ---------------------------------------------------------------------


def test_errors_are_one_hierarchy() -> None:
    from mailauth.compiler.checksum import ChecksumMismatch
    from mailauth.compiler.plan import PlanError as FromPlan

    assert FromPlan is PlanError
    for kind in (ConfigError, PlanError, TargetError, ChecksumMismatch, verify.DnsError):
        assert issubclass(kind, MailauthError)
    assert TargetError("x", ("targets", "bind")).field == ("targets", "bind")


def _broken_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    def render(model: object, target: object) -> Any:
        raise RuntimeError("boom in the renderer")

    monkeypatch.setattr(REGISTRY["bind"], "render", render)


def test_a_renderer_that_raises_is_a_bug_not_a_user_error(
    flattening: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_renderer(monkeypatch)
    code, out, err = cli("plan", "-c", flattening, "--root", tmp_path / "root")
    assert code == 70, out + err
    assert "a mailauth bug" in err and "bind" in err and "boom in the renderer" in err
    assert "--debug shows the traceback" in err
    assert "Traceback" not in err and "nothing was written" not in err


def test_debug_shows_the_renderers_traceback(
    flattening: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_renderer(monkeypatch)
    code, out, err = cli("--debug", "plan", "-c", flattening, "--root", tmp_path / "root")
    assert code == 70, out + err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: boom in the renderer" in err and "a mailauth bug" in err


def test_a_renderer_value_error_stays_a_target_error(
    flattening: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def render(model: object, target: object) -> Any:
        raise ValueError("the zone cannot be written so")

    monkeypatch.setattr(REGISTRY["bind"], "render", render)
    code, _, err = cli("plan", "-c", flattening, "--root", tmp_path / "root")
    assert code == 1
    assert "targets.bind: the zone cannot be written so" in err and "bug" not in err


def test_verify_returns_a_report_and_prints_nothing(
    flattening: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fake_dns(monkeypatch)
    job = driver.open_job(flattening, tmp_path / "root", None)
    report = verify.run_verify(job, "127.0.0.1")
    assert isinstance(report, verify.VerifyReport) and not report.in_sync
    assert capsys.readouterr() == ("", "")
    with pytest.raises(MailauthError, match="--nameserver"):
        verify.run_verify(job, "dns.example.org")
    assert capsys.readouterr() == ("", "")


def test_verify_says_nothing_was_checked_when_the_file_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(FLATTENING.replace("p: none", "p: nothing"))
    code, out, err = cli("verify", "-c", config, "--nameserver", "127.0.0.1")
    assert code == 1 and out == ""
    assert err.endswith("error: 1 error; nothing was checked.\n"), err
