"""Whether a private key file that mailauth finds on disk is safe to hand to a signer.

The generated opendkim.conf sets ``RequireSafeKeys yes`` (opendkim.conf(5)): OpenDKIM then
refuses, at start, a key file that users other than its owner can read or write, and one
below a directory that others can write (they could swap the key). An adopted key
(``key_file:``, or a key someone put in the key store) that breaks the rule would pass
plan and apply and stop the signer later; this module finds it first, so the error names
the file, the line of mailauth.yaml and the command that fixes it.

The rule is OpenDKIM's modes rule, made stricter where mailauth cannot know the host (see
``dkimkeys.check_key_path_safe`` for OpenDKIM's exact rule, which tests compare with the
real daemon): OpenDKIM accepts group bits when the group holds nobody but the signer, but
under a staging ``--root`` the host's groups are not this machine's, so any group bit on
the key, and group write on a directory, is refused. Owners are not judged: OpenDKIM
wants the key owned by root or by the user it runs as, and that user (Debian's
``/etc/dkimkeys`` belongs to ``opendkim``) is the target's business, not the key
phase's. The keys mailauth writes itself are 0600 in 0700 (or 0750) directories, so they
pass.

:func:`path_facts` does the I/O, once, when the inputs are read (compiler/inputs.py);
:func:`unsafe_key` is pure and judges those facts in the key phase.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Node:
    """One component on the way to a key file, as stat() saw it."""

    path: Path
    mode: int


def path_facts(root: Path, where: Path) -> tuple[Node, ...]:
    """``root``, every directory below it on the way to ``where``, and ``where`` itself.

    ``where`` is the key file under ``root``. The path is resolved first, as OpenDKIM
    resolves a key path with realpath(): with ``--root /`` a trusted directory link such
    as ``/var/run`` is judged by its target. Below a staging root there is no link
    (fsio.check_path refuses them). ``root`` stands for ``/`` of the host, so it is judged
    too. A component that cannot be examined ends the list early.
    """
    real = Path(os.path.realpath(where))
    base = Path(os.path.realpath(root))
    try:
        below = real.relative_to(base).parts
    except ValueError:  # not under the root after all: judge the whole real path
        base, below = Path("/"), real.relative_to("/").parts
    nodes: list[Node] = []
    current = base
    for part in ("", *below):
        current = current / part if part else current
        try:
            st = os.stat(current)
        except OSError:
            break
        nodes.append(Node(current, st.st_mode))
    return tuple(nodes)


def unsafe_key(nodes: tuple[Node, ...]) -> list[str]:
    """Why a signer would refuse the key at the end of ``nodes``, each with its fix; [] if safe.

    ``nodes`` as :func:`path_facts` gives them; an empty list, or one that does not end in
    a regular file, says nothing (reading the key reports a missing or odd file).
    """
    if not nodes or not stat.S_ISREG(nodes[-1].mode):
        return []
    reasons: list[str] = []
    *parents, key = nodes
    quoted = shlex.quote(str(key.path))
    loose = stat.S_IMODE(key.mode) & 0o077
    if loose:
        who = " and ".join(
            w for w, bits in (("its group", 0o070), ("other users", 0o007)) if loose & bits
        )
        reasons.append(
            f"{key.path} is mode {stat.S_IMODE(key.mode):04o}: {who} can read or write "
            f"the private key; run `chmod 0600 {quoted}`"
        )
    for node in parents:
        if not stat.S_ISDIR(node.mode):
            continue
        open_to = node.mode & (stat.S_IWGRP | stat.S_IWOTH)
        if open_to:
            who = " and ".join(
                w
                for w, bit in (("its group", stat.S_IWGRP), ("other users", stat.S_IWOTH))
                if open_to & bit
            )
            sticky = " (the sticky bit does not count)" if node.mode & stat.S_ISVTX else ""
            reasons.append(
                f"{node.path} is writable by {who}{sticky}, who could swap the key below "
                f"it; run `chmod go-w {shlex.quote(str(node.path))}`"
            )
    return reasons
