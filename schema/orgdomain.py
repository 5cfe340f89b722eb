"""Organisational domains, from the Public Suffix List.

DMARC judges alignment, reads ``sp``, and decides whether a report address is in another
organisation by the *organisational domain* of a name (RFC 7489 section 3.2): the longest
public suffix the name ends in, plus one more label of the name. Which suffixes are public
(``co.uk``, ``gov.br``, ``github.io``...) cannot be guessed from the name: taking the last
two labels makes ``example.co.uk`` and ``other.co.uk`` one organisation, and
``mail.example.co.uk`` a different one from ``example.co.uk``. Receivers use the list,
so mailauth does too: the ``publicsuffixlist`` package, which carries its own copy of it
(nothing is fetched at run time; a newer package brings a newer list).

Names are compared as ``names.norm`` leaves them (lower case, no final dot) and must be
in A-label form (punycode), as mailauth.yaml's names are. A name the list does not know
falls under its default rule: its last label is the public suffix (``corp.internal`` is
the organisation of ``mail.corp.internal``).
"""

from __future__ import annotations

from functools import cache

from publicsuffixlist import PublicSuffixList

from mailauth.schema.names import norm


@cache
def _list() -> PublicSuffixList:
    # Built on first use (it parses the whole list), then shared by every caller.
    return PublicSuffixList()


def is_public_suffix(name: str) -> bool:
    """Whether ``name`` is itself a public suffix (``co.uk``, ``org``), so no organisation."""
    return bool(_list().is_public(norm(name)))


def organizational_domain(name: str) -> str:
    """The organisational domain of ``name`` (RFC 7489 section 3.2), normalised.

    ``mail.example.co.uk`` -> ``example.co.uk``. A name that is a public suffix itself
    has no label to add; it is returned as it is (the organisation of a public suffix
    operator's own record, as ``psd=y`` declares one).
    """
    name = norm(name)
    found: str | None = _list().privatesuffix(name)
    return found if found is not None else name
