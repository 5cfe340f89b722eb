"""What plan and apply call: errors stop them, warnings become notes of the plan."""

from __future__ import annotations

from collections.abc import Mapping

from mailauth.compiler.build import KnownKey
from mailauth.compiler.lint.engine import lint
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import ConfigError
from mailauth.schema.validate import LoadedConfig


def policy_gate(
    loaded: LoadedConfig,
    model: MailModel,
    keys: Mapping[tuple[str, str], KnownKey],
    *,
    strict: bool = False,
) -> list[str]:
    """Run the rules offline; raise ConfigError on errors, return the warnings as notes.

    ``strict`` turns warnings into errors. Findings silenced in mailauth.yaml are left out;
    info findings are for ``mailauth lint`` only.
    """
    report = lint(loaded, model, keys)
    if strict:
        report = report.strict()
    if report.errors:
        raise ConfigError([f.as_problem() for f in report.errors])
    # The loader already warns about pct (printed by the CLI); do not say it twice.
    already = {w.where for w in loaded.warnings}
    return [
        f"warning: {f.where}: {f.field}: {f.headline()}"
        for f in report.warnings
        if not (f.rule == "DMARC003" and f.where in already)
    ]
