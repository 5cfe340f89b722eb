"""``bimi:`` (Brand Indicators for Message Identification): the logo receivers may show.

mailauth publishes ``<selector>._bimi.<domain> TXT "v=BIMI1; l=<logo>; a=<authority>"``
(compiler/trust_records.py). The logo is an SVG (Tiny Portable/Secure profile) and the
authority evidence a Verified Mark Certificate, both fetched by receivers over HTTPS only.
``logo_file`` is a local copy of the logo that ``mailauth lint`` checks against the
profile (compiler/lint/check_bimi.py); it is never published.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mailauth.schema import strings
from mailauth.schema.uris import https_url


def logo_url(value: str) -> str:
    """The ``l=`` URL: https, and a path ending in ``.svg`` (BIMI logos are SVG only)."""
    url = https_url(value, "the BIMI logo")
    if not urlsplit(url).path.lower().endswith(".svg"):
        raise ValueError(f"{value!r}: the BIMI logo must be an SVG file (a path ending in .svg)")
    return url


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def _selector(value: str) -> str:
    """A BIMI selector: DNS labels of letters, digits and hyphens (the draft's selector)."""
    text = value.lower()
    if not _SELECTOR.fullmatch(text) or len(text) > 63:
        raise ValueError(
            f"{value!r} is not a valid BIMI selector: use letters, digits and hyphens, "
            "labels split by dots (not at a label's start or end)"
        )
    return text


class Bimi(BaseModel):
    """BIMI: the brand logo, and the certificate that vouches for it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    logo: Annotated[str, AfterValidator(logo_url)] = Field(
        description="the record's `l=`: the https:// URL of the logo, an SVG Tiny PS file "
        "(the path ends in .svg)"
    )
    authority: Annotated[str, AfterValidator(lambda v: https_url(v, "the BIMI authority"))] | (
        None
    ) = Field(
        default=None,
        description="the record's `a=`: the https:// URL of the Verified Mark Certificate "
        "(PEM) that vouches for the logo; null: left out (receivers that require one show "
        "no logo)",
    )
    selector: Annotated[str, AfterValidator(_selector)] = Field(
        default="default",
        description="the BIMI selector: the record is `<selector>._bimi.<domain>`; receivers "
        "look up `default` unless a message's BIMI-Selector header names another",
    )
    logo_file: Annotated[str, AfterValidator(lambda v: strings.local_file(v, "logo_file"))] | (
        None
    ) = Field(
        default=None,
        description="a local copy of the logo, relative to mailauth.yaml's directory, that "
        "`mailauth lint` checks against the SVG Tiny PS profile; never published; null: not "
        "checked",
    )
