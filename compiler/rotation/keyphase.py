"""Rotation's part of the key phase (compiler/keys.py): states survive a new key, and a
revoked key is published with an empty ``p=``."""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping

from mailauth.compiler.build import KnownKey
from mailauth.compiler.lockfile import Lock


def keep_rotation(old: Lock, new: Lock, index: MutableMapping[tuple[str, str], KnownKey]) -> None:
    """Carry each entry's rotation state from ``old`` into ``new`` (a key made by apply
    for a selector `keys rotate` published keeps its ``published`` state), and mark the
    revoked keys in ``index`` so that the build publishes them revoked."""
    for ident, entry in old.items():
        if entry.state is None:
            continue
        made = new.get(ident)
        if made is not None and made.state is None:
            new[ident] = dataclasses.replace(
                made, state=entry.state, since=entry.since, until=entry.until
            )
        if entry.state == "revoked" and ident in index:
            index[ident] = dataclasses.replace(index[ident], revoked=True)
