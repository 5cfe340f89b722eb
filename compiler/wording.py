"""Counts in messages: "1 domain", "2 domains", never "1 domains" or "2 domain(s)"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1 (``plural``: irregular)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
