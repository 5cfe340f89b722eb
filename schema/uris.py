"""URIs that go into a TXT record's tag list: ``mailto:`` report addresses and ``https:`` URLs.

TLS-RPT (RFC 8460 section 3) and BIMI records are tag lists: ``;`` ends a tag, ``,``
separates TLS-RPT's report URIs and BIMI's ``l=``/``a=`` values may not hold one unencoded,
and ``!`` introduces a size limit in DMARC-style URIs. A URI that holds any of them, a
space or a quote would change what the record says, so it is refused here rather than
escaped: the admin writes ``%2C``, as both specifications ask.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mailauth.schema import names

# RFC 3986 characters, less the ones that break a tag list (`,` `;` `!`), less the quote
# and backslash of the zone file's string, less `%` (allowed only as a %HH escape below).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@$&'()*+=%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The local part of an address: RFC 5322 atext and dots, less `!` (a DMARC-style size
# suffix), `%` and `?` (mailto: header fields), which no report address needs.
_LOCAL_PART = re.compile(r"[A-Za-z0-9.#$&'*+/=^_`{|}~-]+")


def _uri_chars(value: str, what: str) -> None:
    for char in value:
        if not _URI_CHARS.fullmatch(char):
            shown = {",": "a comma", ";": "a semicolon", "!": "an exclamation mark"}.get(
                char, repr(char)
            )
            raise ValueError(
                f"{value!r}: {what} holds {shown}, which would break the record; "
                "percent-encode it (`,` is %2C, `;` %3B, `!` %21)"
            )
    if _BAD_ESCAPE.search(value):
        raise ValueError(f"{value!r}: `%` starts a %HH escape in a URI (write %25 for `%`)")


def https_url(value: str, what: str = "URL") -> str:
    """An absolute ``https://host/...`` URL with a domain-name host and nothing that
    would break a tag list; the host is lower-cased."""
    text = value.strip()
    _uri_chars(text, what)
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise ValueError(f"{value!r}: {what} must be an https:// URL")
    if "@" in parts.netloc:
        raise ValueError(f"{value!r}: {what} may not hold a user name (`user@` before the host)")
    host = parts.hostname or ""
    try:
        host = names.domain_name(host)
    except ValueError:
        raise ValueError(
            f"{value!r}: {what} needs a fully qualified host name (not {host!r})"
        ) from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r}: {what} has an invalid port") from None
    netloc = host if port is None else f"{host}:{port}"
    rest = text[len(parts.scheme) + 3 + len(parts.netloc) :]
    return f"https://{netloc}{rest}"


def mailto_uri(value: str, what: str = "address") -> str:
    """``mailto:local@domain``; a bare address gets its ``mailto:``."""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, host = text.rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local):
        raise ValueError(
            f"{value!r}: {what} must be mailto:user@domain, the user part letters, digits "
            "and . _ + - (no , ; ! % ? or spaces)"
        )
    try:
        host = names.domain_name(host)
    except ValueError as exc:
        raise ValueError(f"{value!r}: {what}: {exc}") from None
    return f"mailto:{local}@{host}"
