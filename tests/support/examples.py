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


def allow_create(config: Path) -> Path:
    """Let a copied example create main.cf (``targets.postfix.create: true``).

    For tests of plan/apply mechanics on an empty root, which stands for no host in
    particular; a root that mirrors a host gets the host's main.cf instead (seed_postfix).
    """
    text = config.read_text()
    marker = "  postfix:\n"
    assert text.count(marker) == 1, f"{config}: no single targets.postfix block"
    config.write_text(text.replace(marker, marker + "    create: true\n"))
    return config
