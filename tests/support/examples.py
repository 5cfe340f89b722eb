"""The repository's examples, copied where a test may write beside them."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def copy_example(name: str, dest: Path) -> Path:
    """examples/NAME copied to ``dest/NAME``; returns the copied mailauth.yaml.

    A copy, because apply may write beside the config (the lock file of public keys).
    """
    target = dest / name
    shutil.copytree(EXAMPLES / name, target)
    return target / "mailauth.yaml"
