"""The benchmark keeps working: its generator and its table, at a tiny size.

Only the shape of the output is checked, never a timing (benchmarks/ prints figures; they
are not pass/fail).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.tools import require_module

from mailauth.schema.validate import load_config

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

ROWS = (
    "| validate |",
    "| plan, nothing on disk |",
    "| apply --yes --quiet, from scratch (makes all keys) |",
    "| apply's floor: the same files and directories, created bare |",
    "| plan, nothing changed |",
    "| plan, one domain changed |",
    "| octodns-sync dry run, target holds the same records |",
    "| octodns-sync dry run, target empty |",
    "| plan (nothing changed) / octodns dry run (same records) |",
    "| plan (one changed) / plan (nothing changed) |",
    "| peak memory of a mailauth run (max RSS) |",
    "| RSA-2048 (",
    "| Ed25519 (",
    "| `mailauth --help` |",
    "| `octodns-sync --help` |",
    "Targets (issue 8):",
)


def test_generated_configuration_is_valid(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import generate
    finally:
        sys.path.remove(str(BENCHMARKS))
    loaded = load_config(generate.write(tmp_path, 5, changed=2))
    config = loaded.config
    assert [d.name for d in config.domains] == [generate.domain_name(i) for i in range(5)]
    assert len(config.zones) == 6  # the provider's zone and one per domain
    assert config.domains[2].dmarc is not None and config.domains[2].dmarc.p == "reject"
    assert len(config.defaults.dkim.selectors) == 2


def test_run_prints_the_table(tmp_path: Path) -> None:
    require_module("octodns")
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--sizes", "20", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "| step | 20 domains |" in out
    for row in ROWS:
        assert row in out, f"missing row {row!r} in:\n{out}"
