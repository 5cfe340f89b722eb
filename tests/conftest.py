"""Fixtures shared by every test; the helpers themselves live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, allow_create, copy_example, safe_directory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an end-to-end test (``-m e2e`` / ``-m "not e2e"``)."""
    e2e = REPO / "tests" / "e2e"
    for item in items:
        if e2e in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def safe_root() -> Iterator[Path]:
    """An empty output root under root-owned 0755 directories (OpenDKIM-safe), removed after."""
    with safe_directory("root-") as path:
        yield path


@pytest.fixture
def slackbox_config(tmp_path: Path) -> Path:
    """examples/slackbox copied to a temp dir; its mailauth.yaml. The roots these tests
    plan into start empty, so Postfix's main.cf may be created there (create: true)."""
    return allow_create(copy_example("slackbox", tmp_path / "config"))
