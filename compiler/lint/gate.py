"""What plan and apply call: errors stop them, warnings become notes of the plan."""

from __future__ import annotations

from collections.abc import Mapping

from mailauth.compiler.build import KnownKey
from mailauth.compiler.inputs import Inputs
from mailauth.compiler.lint.engine import lint
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import ConfigError


def policy_gate(
    inputs: Inputs,
    model: MailModel,
    keys: Mapping[tuple[str, str], KnownKey],
    *,
    strict: bool = False,
) -> list[str]:
    """Run the rules offline; raise ConfigError on errors, return the warnings as notes.

    ``strict`` turns warnings into errors. Findings silenced in mailauth.yaml are left out;
    info findings are for ``mailauth lint`` only.
    """
    loaded = inputs.loaded
    cache = inputs.spf_cache.answers()
    report = lint(
        loaded,
        model,
        keys,
        lock=inputs.lock.entries,
        cache=cache,
        mta_sts_applied=inputs.mta_sts_applied,
        served=inputs.served,
    )
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
