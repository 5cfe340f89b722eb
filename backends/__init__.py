"""Targets: one module per program mailauth writes files for, registered by name here."""

from __future__ import annotations

from mailauth.backends.base import Artifact, Backend, EditContext, EditError
from mailauth.backends.bind import BindBackend

REGISTRY: dict[str, Backend] = {
    BindBackend.name: BindBackend(),
}

__all__ = ["REGISTRY", "Artifact", "Backend", "EditContext", "EditError"]
