"""BIMI rules: the DMARC policy a logo needs, and the SVG Tiny PS profile of the logo.

Receivers show a BIMI logo only for mail that passes DMARC under an enforcing policy. A
policy of ``p=none`` makes the record useless: an error (BIMI001), like any record
receivers would not use. ``pct`` below 100 and ``sp=none`` are stages of a DMARC ramp-up
that admins pass through on purpose, with the BIMI record ready for the day it ends:
warnings (BIMI002, BIMI003). The DMARC record checked is the one mailauth publishes for
the domain (defaults merged), and findings point at the DMARC tag to change.

``logo_file`` is read relative to mailauth.yaml's directory, and must stay inside it
(a symbolic link out is refused), then checked by compiler/lint/svg_tinyps.py.
"""

from __future__ import annotations

from pathlib import Path

from mailauth.compiler.dmarc_tags import effective_tags, unreadable
from mailauth.compiler.lint.engine import Context
from mailauth.compiler.lint.inventory import DmarcSite
from mailauth.compiler.lint.svg_tinyps import SvgUnreadable, check_svg
from mailauth.schema.bimi import Bimi
from mailauth.schema.loader import PathKey

#: Larger than any logo (the BIMI group asks for under 32 KiB): not read further.
MAX_LOGO_BYTES = 1 << 20


def check(ctx: Context) -> None:
    sites = {s.domain: s for s in ctx.inventory.dmarc if s.kind == "domain"}
    built = {d.name: d for d in ctx.model.domains}
    for index, domain in enumerate(ctx.config.domains):
        bimi = domain.bimi
        if bimi is None or domain.name not in built:
            continue
        owner = f"{bimi.selector}._bimi.{domain.name}"
        site = sites.get(domain.name)
        if site is None or not site.raw or unreadable(site.text) is None:
            _check_policy(ctx, owner, domain.name, index, site, built[domain.name].dmarc)
        # else DMARC014 says the policy checks were skipped
        if bimi.logo_file is not None:
            _check_logo(ctx, bimi, index, domain.name)


def _check_policy(
    ctx: Context, owner: str, name: str, index: int, site: DmarcSite | None, text: str
) -> None:
    """BIMI001-003: the DMARC record published for the domain enforces its policy."""
    tags = effective_tags(text)

    def at(tag: str) -> PathKey:
        return site.tag_path(tag) if site is not None else ("domains", index, "bimi")

    policy = tags.get("p", "none").lower()
    if policy not in ("quarantine", "reject"):
        ctx.report(
            "BIMI001",
            at("p"),
            f"{owner}: the DMARC policy of {name} is p={policy}; receivers show "
            "the logo only under p=quarantine or p=reject",
            domain=name,
        )
    pct = tags.get("pct")
    if pct is not None and pct.isdigit() and int(pct) < 100:
        ctx.report(
            "BIMI002",
            at("pct"),
            f"{owner}: the DMARC policy of {name} applies to pct={pct}% of mail; "
            "BIMI needs it applied to all",
            domain=name,
        )
    if tags.get("sp", "").lower() == "none":
        ctx.report(
            "BIMI003",
            at("sp"),
            f"{owner}: the DMARC subdomain policy of {name} is sp=none; BIMI needs "
            "subdomains enforced too",
            domain=name,
        )


def _check_logo(ctx: Context, bimi: Bimi, index: int, domain: str) -> None:
    assert bimi.logo_file is not None
    path = ("domains", index, "bimi", "logo_file")
    shown = bimi.logo_file
    data = _read(ctx, bimi.logo_file)
    if isinstance(data, str):
        ctx.report("BIMI005", path, f"{domain}: {shown}: {data}", domain=domain)
        return
    try:
        problems = check_svg(data)
    except SvgUnreadable as exc:
        ctx.report("BIMI005", path, f"{domain}: {shown}: {exc}", domain=domain)
        return
    for problem in problems:
        ctx.report("BIMI004", path, f"{domain}: {shown}: {problem.message}", domain=domain)


def _read(ctx: Context, name: str) -> bytes | str:
    """The file's bytes, or why it cannot be read (a message)."""
    base = Path(ctx.loaded.path).resolve().parent
    target = (base / name).resolve()
    if not target.is_relative_to(base):
        return "it leads outside the directory of mailauth.yaml (a symbolic link?)"
    try:
        with target.open("rb") as handle:
            data = handle.read(MAX_LOGO_BYTES + 1)
    except FileNotFoundError:
        return "no such file beside mailauth.yaml"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if len(data) > MAX_LOGO_BYTES:
        return f"larger than {MAX_LOGO_BYTES} bytes: not a logo"
    return data
