"""DKIM rules (RFC 6376, RFC 8301, RFC 8463): selectors, key sizes, hashes, flags, the lock."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from mailauth.compiler.dmarc_reports import tag_list
from mailauth.compiler.keys import PENDING_KEY, lock_path
from mailauth.compiler.lint.engine import Context
from mailauth.compiler.lint.inventory import DkimSite
from mailauth.schema.loader import PathKey
from mailauth.schema.models import DkimSelector

_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)


def check(ctx: Context) -> None:
    for site in ctx.inventory.dkim:
        _selector(ctx, site)
        _record(ctx, site)
    _per_domain(ctx)
    _lock(ctx)
    _age(ctx)


def _selector_path(site: DkimSite, field: str | None = None) -> PathKey:
    if site.kind == "domain" and field is not None:
        return (*site.path, field)
    return site.path


def _selector(ctx: Context, site: DkimSite) -> None:
    labels = site.selector.split(".")
    if not all(_LDH.fullmatch(label) for label in labels):
        ctx.report(
            "DKIM001",
            _selector_path(site, "name"),
            f"{site.owner}: selector {site.selector!r} is not letters, digits and hyphens",
            domain=site.domain,
        )
    if len(site.owner) > 253:
        ctx.report(
            "DKIM002",
            _selector_path(site, "name"),
            f"{site.owner[:40]}...: the record name is {len(site.owner)} octets; DNS names "
            "stop at 253",
            domain=site.domain,
        )


def _bits_path(ctx: Context, site: DkimSite) -> PathKey:
    if site.kind != "domain":
        return site.path
    selector = _config_selector(ctx, site)
    if selector is not None and selector.public_key is not None:
        return (*site.path, "public_key")
    if selector is not None and selector.bits is not None:
        return (*site.path, "bits")
    return site.path


def _config_selector(ctx: Context, site: DkimSite) -> DkimSelector | None:
    """The selector of mailauth.yaml that ``site.path`` names."""
    node: Any = ctx.config
    try:
        for part in site.path:
            node = node[part] if isinstance(part, int) else getattr(node, str(part))
    except (AttributeError, IndexError, TypeError):
        return None
    return node if isinstance(node, DkimSelector) else None


def _record(ctx: Context, site: DkimSite) -> None:
    key = site.key
    pending = not site.text or (key is not None and key.public_key == PENDING_KEY)
    if pending:
        # No key yet (apply makes it): judge the size the configuration asks for.
        if key is not None and key.algorithm == "rsa":
            _rsa_size(ctx, site, key.bits)
        if not site.text:
            return
    tags = dict(tag_list(site.text))
    version = tags.get("v")
    kind = tags.get("k", "rsa").lower()
    public = "".join(tags.get("p", "").split()) if "p" in tags else None
    if version is not None and version != "DKIM1":
        _malformed(ctx, site, f"v={version}: a DKIM key record says v=DKIM1")
    hashes = [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()]
    if hashes and "sha256" not in hashes:
        ctx.report(
            "DKIM006",
            site.path,
            f"{site.owner}: h={tags['h']} allows only SHA-1, which verifiers must refuse",
            domain=site.domain,
        )
    flags = [f.strip().lower() for f in tags.get("t", "").split(":")]
    if "y" in flags:
        ctx.report(
            "DKIM008",
            _selector_path(site, "testing"),
            f"{site.owner}: t=y: receivers treat failed signatures as unsigned",
            domain=site.domain,
        )
    if public is None:
        _malformed(ctx, site, "no p= tag (the public key)")
        return
    if public == "" or public == PENDING_KEY:
        return  # revoked, or made by apply: nothing to measure yet
    if kind not in ("rsa", "ed25519"):
        _malformed(ctx, site, f"k={kind}: verifiers know rsa and ed25519")
        return
    try:
        der = base64.b64decode(public, validate=True)
    except (binascii.Error, ValueError):
        _malformed(ctx, site, "p= is not base64")
        return
    if kind == "ed25519":
        if len(der) != 32:
            _malformed(ctx, site, f"an Ed25519 p= is 32 raw octets in base64 (got {len(der)})")
        return
    bits = _rsa_bits(der)
    if bits is None:
        _malformed(ctx, site, "p= does not hold an RSA public key (SubjectPublicKeyInfo)")
        return
    _rsa_size(ctx, site, bits)


def _rsa_bits(der: bytes) -> int | None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def _rsa_size(ctx: Context, site: DkimSite, bits: int) -> None:
    path = _bits_path(ctx, site)
    if bits < 1024:
        ctx.report(
            "DKIM003",
            path,
            f"{site.owner}: an RSA key of {bits} bits; verifiers refuse keys under 1024 bits",
            domain=site.domain,
        )
    elif bits < 2048:
        ctx.report(
            "DKIM004",
            path,
            f"{site.owner}: an RSA key of {bits} bits; use at least 2048",
            domain=site.domain,
        )
    elif bits > 4096:
        ctx.report(
            "DKIM005",
            path,
            f"{site.owner}: an RSA key of {bits} bits; verifiers need only handle up to 4096",
            domain=site.domain,
        )


def _malformed(ctx: Context, site: DkimSite, why: str) -> None:
    path = site.path if site.kind != "domain" else _bits_path(ctx, site)
    ctx.report("DKIM010", path, f"{site.owner}: {why}", domain=site.domain)


def _per_domain(ctx: Context) -> None:
    config = ctx.config
    for index, domain in enumerate(config.domains):
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        path: PathKey = (
            ("domains", index, "dkim")
            if domain.dkim is not None
            else (
                "defaults",
                "dkim",
            )
        )
        if not dkim.selectors:
            continue
        signing = [s for s in dkim.selectors if s.sign]
        if not signing:
            ctx.report(
                "XREF005",
                (*path, "selectors"),
                f"{domain.name}: every selector has sign: false, so no mail is signed",
                domain=domain.name,
            )
        elif all(s.algorithm == "ed25519" for s in signing):
            ctx.report(
                "DKIM007",
                (*path, "selectors"),
                f"{domain.name}: signs with Ed25519 only; receivers that know only RSA see "
                "unsigned mail",
                domain=domain.name,
            )


def _lock(ctx: Context) -> None:
    config = ctx.config
    used: set[tuple[str, str]] = set()
    for domain in config.domains:
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        used |= {(domain.name, s.name) for s in dkim.selectors}
    configured = {d.name for d in config.domains}
    for (domain, selector), entry in sorted(ctx.lock.items()):
        if (domain, selector) in used or entry.removed:
            continue  # a removed key (compiler/rotation/) only stops its selector coming back
        ctx.report(
            "DKIM009",
            (),
            f"{selector}._domainkey.{domain}: mailauth.lock holds a key "
            f"({entry.algorithm}-{entry.bits}, created {entry.created}) that no selector uses",
            domain=domain if domain in configured else None,
            where=str(lock_path(ctx.loaded)),
        )


def _age(ctx: Context) -> None:
    """DKIM012: an active key older than ``rotation.every`` (only with a clock: lint)."""
    from mailauth.compiler.rotation.states import keys_of, parse_stamp, policy, seconds

    now = ctx.now
    if now is None:
        return
    config = ctx.config
    for index, domain in enumerate(config.domains):
        rule = policy(config, domain)
        views = keys_of(config, ctx.lock, domain)
        waiting = {v.algorithm for v in views if v.state == "published"}
        base: PathKey = (
            ("domains", index, "dkim") if domain.dkim is not None else ("defaults", "dkim")
        )
        for si, view in enumerate(views):
            if view.state != "active" or view.created is None or view.algorithm in waiting:
                continue
            age = now - parse_stamp(view.created)
            if age < seconds(rule.every):
                continue
            ctx.report(
                "DKIM012",
                (*base, "selectors", si),
                f"{view.selector}._domainkey.{domain.name}: the key is {age.days} days old, "
                f"older than rotation.every ({rule.every})",
                domain=domain.name,
            )
