"""Targets: one module per program mailauth writes files for, registered by name here.

The registry is the one list of targets: the ``targets:`` schema (schema/models.py), the
planner and the build all read it, so a target is its module plus its line below. The
order is the order targets are planned in (DNS first, the MTA last).
"""

from __future__ import annotations

from typing import Any

from mailauth.backends.base import (
    Artifact,
    Backend,
    EditContext,
    Edited,
    EditError,
    MissingHostFile,
)
from mailauth.backends.bind import BindBackend
from mailauth.backends.dkimpy_milter import DkimpyMilterBackend
from mailauth.backends.mta_sts import MtaStsBackend
from mailauth.backends.octodns import OctodnsBackend
from mailauth.backends.opendkim import OpenDkimBackend
from mailauth.backends.opendmarc import OpenDmarcBackend
from mailauth.backends.postfix import PostfixBackend

REGISTRY: dict[str, Backend[Any]] = {
    BindBackend.name: BindBackend(),
    OctodnsBackend.name: OctodnsBackend(),
    OpenDkimBackend.name: OpenDkimBackend(),
    DkimpyMilterBackend.name: DkimpyMilterBackend(),
    OpenDmarcBackend.name: OpenDmarcBackend(),
    PostfixBackend.name: PostfixBackend(),
    MtaStsBackend.name: MtaStsBackend(),
}

__all__ = [
    "REGISTRY",
    "Artifact",
    "Backend",
    "EditContext",
    "EditError",
    "Edited",
    "MissingHostFile",
]
