"""Sizes and ranges that work but are likely a mistake: long records, wide trusted ranges.

SPF records have their own, lower, size warning (SPF021, over 450 octets).
"""

from __future__ import annotations

import ipaddress

from mailauth.compiler.lint.engine import Context

#: DKIM records past this many octets draw a warning (the schema refuses TXT values over
#: 4,000 octets outright: schema.models.MAX_TXT_OCTETS).
LONG_RECORD = 1024
#: Trusted ranges wider than these draw a warning.
WIDEST = {4: 16, 6: 48}


def check(ctx: Context) -> None:
    for dkim in ctx.inventory.dkim:
        size = len(dkim.text.encode("utf-8"))
        if size > LONG_RECORD:
            ctx.report(
                "DKIM011",
                dkim.path,
                f"{dkim.owner}: the DKIM record is {size} octets long, over {LONG_RECORD}",
                domain=dkim.domain,
            )
    lists: list[tuple[str, str, list[str]]] = [
        (name, key, list(getattr(settings, key)))
        for name, backend, settings in ctx.config.targets.configured()
        for key in backend.trusted_host_lists
    ]
    for target, key, hosts in lists:
        for index, host in enumerate(hosts):
            try:
                net = ipaddress.ip_network(host, strict=False)
            except ValueError:
                continue  # a host name
            widest = WIDEST[net.version]
            if net.prefixlen < widest:
                ctx.report(
                    "XREF006",
                    ("targets", target, key, index),
                    f"{host} trusts {net.num_addresses:,} addresses (wider than /{widest}): "
                    "mail from all of them is signed as your own, not verified",
                )
