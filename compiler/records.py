"""The text of the mail authentication records, built from validated policy objects."""

from __future__ import annotations

from mailauth.schema.models import Dmarc, Spf


def spf_text(spf: Spf) -> str:
    """``v=spf1 ...`` with cheap terms first (ip4/ip6 cost no DNS lookup), ``all`` last."""
    if spf.raw is not None:
        return " ".join(spf.raw.split())
    terms = ["v=spf1"]
    terms += [f"ip4:{net}" for net in spf.ip4]
    terms += [f"ip6:{net}" for net in spf.ip6]
    for mechanism, setting in (("a", spf.a), ("mx", spf.mx)):
        if setting is True:
            terms.append(mechanism)
        elif isinstance(setting, list):
            for spec in setting:
                sep = "" if spec.startswith("/") else ":"
                terms.append(f"{mechanism}{sep}{spec}")
    terms += [f"include:{spec}" for spec in spf.include]
    terms += [f"exists:{spec}" for spec in spf.exists]
    if spf.redirect is not None:
        terms.append(f"redirect={spf.redirect}")
    if spf.all is not None:
        terms.append(spf.all)
    return " ".join(terms)


def dmarc_text(dmarc: Dmarc) -> str:
    """``v=DMARC1; p=...`` with tags in a fixed order so the record never churns.

    A ``raw`` record comes back byte for byte (not even its spaces are touched): it is what
    an imported record that mailauth would write differently becomes, and the first plan
    after an import must not change it.
    """
    if dmarc.raw is not None:
        return dmarc.raw
    tags = [("v", "DMARC1"), ("p", dmarc.p)]
    if dmarc.sp is not None:
        tags.append(("sp", dmarc.sp))
    if dmarc.np is not None:
        tags.append(("np", dmarc.np))
    if dmarc.adkim is not None:
        tags.append(("adkim", dmarc.adkim))
    if dmarc.aspf is not None:
        tags.append(("aspf", dmarc.aspf))
    if dmarc.pct is not None:
        tags.append(("pct", str(dmarc.pct)))
    if dmarc.fo is not None:
        tags.append(("fo", dmarc.fo))
    if dmarc.rua:
        tags.append(("rua", ",".join(dmarc.rua)))
    if dmarc.ruf:
        tags.append(("ruf", ",".join(dmarc.ruf)))
    if dmarc.psd is not None:
        tags.append(("psd", dmarc.psd))
    if dmarc.t is not None:
        tags.append(("t", "y" if dmarc.t else "n"))
    return "; ".join(f"{k}={v}" for k, v in tags)


def dkim_text(algorithm: str, public_key: str, *, testing: bool = False) -> str:
    """The DKIM key record (RFC 6376 3.6.1; ``k=ed25519`` from RFC 8463)."""
    tags = ["v=DKIM1", f"k={algorithm}"]
    if testing:
        tags.append("t=y")
    tags.append("p=" + "".join(public_key.split()))
    return "; ".join(tags)
