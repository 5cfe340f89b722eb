"""The tags of a DMARC record given as literal text (``dmarc.raw``), for the lint checks.

A raw record is published byte for byte, so the checks that read the structured fields
elsewhere must read the text instead. ``tag_list`` (compiler/dmarc_reports.py) already
splits a record the way receivers do; this module adds what a check needs before trusting
that split: whether the text reads as ``tag=value`` pairs at all, and the effective tags
(the first of each wins, RFC 7489 6.3 leaves repeats undefined).
"""

from __future__ import annotations

import re

from mailauth.compiler.dmarc_reports import tag_list

_TAG_NAME = re.compile(r"[a-z][a-z0-9_]*")


def unreadable(text: str) -> str | None:
    """Why ``text`` does not read as DMARC tags (``v=DMARC1`` first, then ``tag=value``
    pairs separated by ``;``); None when it does."""
    pairs = tag_list(text)
    if not pairs or pairs[0] != ("v", "DMARC1"):
        shown = f"{pairs[0][0]}={pairs[0][1]}" if pairs else text
        return f"its first tag is {shown!r}, not v=DMARC1 (a ';' missing?)"
    for part in text.split(";")[1:]:
        if not part.strip():
            continue
        name, eq, _ = part.partition("=")
        if not eq or not _TAG_NAME.fullmatch(name.strip().lower()):
            return f"{part.strip()!r} is no tag=value pair"
    return None


def effective_tags(text: str) -> dict[str, str]:
    """``{tag: value}`` as a receiver applies them: names lower-cased, the first of each."""
    tags: dict[str, str] = {}
    for name, value in tag_list(text):
        tags.setdefault(name, value)
    return tags


def tag_names(text: str) -> list[str]:
    """The tag names written in ``text``, lower-cased, each once."""
    return list(effective_tags(text))
