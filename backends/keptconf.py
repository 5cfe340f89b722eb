"""Keep the options a distribution's milter config sets, when mailauth writes that file.

opendkim.conf and opendmarc.conf are ``Name value`` files, one option a line, ``#``
comments. mailauth renders the options it owns from a template; the distribution's file
also sets options for reasons of its own (Debian's opendkim.conf points
``TrustAnchorFile`` at the DNSSEC root key of the dns-root-data package). Replacing the
file would silently drop them, so the file is merged instead:

* every option mailauth owns (``owned``: the ones its template can write, set or not) is
  mailauth's: its lines in the file on disk are dropped, the template's are written;
* every other option line of the file on disk is kept as it is written, byte for byte, in
  a section after mailauth's own, so the plan shows it as unchanged context;
* options that mailauth wrote from the file's ``extra_options`` last time (the edit's
  state, kept in the manifest) are mailauth's too: taking one out of mailauth.yaml takes it
  out of the file, rather than keeping it as the host's.

Comments and blank lines of the file on disk are not kept (the backup of the first apply
holds the distribution's file as it was); the kept section's title is mailauth's. The edit
runs again on every plan, on the file mailauth wrote, and gives the same bytes back.

Why not main.cf's in-place edit (postfix_maincf.py): main.cf is the host's file, which
mailauth edits and never owns. These files are mailauth's (its header says so, a removed
target deletes them), so they are written whole; only the distribution's options are
carried over.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from mailauth.backends.base import Edit, EditContext, Edited, EditError

#: The title of the kept section: the line before the options carried over.
KEPT_TITLE = "# Kept from the file this one replaced: options mailauth does not set."
_STATE_KEY = "extra_options"
_WS = " \t"
# What a line may hold to be copied: tab, printable text; no other control character.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def option_name(line: str) -> str | None:
    """The option a line sets (its first word), None for a blank or comment line."""
    body = line.strip(_WS + "\r\n")
    if not body or body.startswith("#"):
        return None
    return re.split(r"[ \t]", body, maxsplit=1)[0]


def kept_lines(
    text: str, mine: Collection[str], path: str, secret: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """The option lines of ``text`` that set none of ``mine`` (case-folded names), as
    written, and the notes for lines not copied (a control character in them).

    A line setting one of ``secret`` (case-folded) is an EditError: kept, it would be
    shown in every plan, and a plan never shows a secret."""
    kept: list[str] = []
    notes: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        name = option_name(line)
        if name is None or name.casefold() in mine:
            continue
        if name.casefold() in secret:
            raise EditError(
                f"{path}: line {number} sets {name}, a secret: mailauth keeps the options "
                "it does not set and shows them in its plans, so it stops here; move the "
                "line to a file of its own and name that file with Include"
            )
        line = line.rstrip("\r" + _WS)
        if _UNSAFE.search(line):
            notes.append(
                f"{path}: line {number} ({name}) holds a control character and is not kept; "
                "set the option again under extra_options if it is needed"
            )
            continue
        kept.append(line)
    return kept, notes


def merge_edit(
    generated: str,
    *,
    owned: Collection[str],
    extra: Collection[str],
    path: str,
    secret: Collection[str] = (),
) -> tuple[bytes, Edit]:
    """The content and the edit of a merged file: ``generated`` (mailauth's options,
    ``extra`` among them) followed by the options of the file on disk it does not own.
    ``secret`` names options whose value is a secret, never kept (see kept_lines).
    Returns (content when the file is absent, edit function)."""
    own = {name.casefold() for name in owned}
    secrets = {name.casefold() for name in secret}
    extra_names = sorted({name.casefold() for name in extra})
    content = generated.encode()

    def edit(current: bytes | None, ctx: EditContext) -> Edited:
        state = {_STATE_KEY: extra_names} if extra_names else None
        if current is None:
            return Edited(content, state=state)
        previous = ctx.state.get(_STATE_KEY, []) if isinstance(ctx.state, dict) else []
        mine = own | set(extra_names) | {str(n).casefold() for n in previous}
        text = current.decode("utf-8", "surrogateescape")
        kept, notes = kept_lines(text, mine, path, secrets)
        if not kept:
            return Edited(content, state=state, notes=tuple(notes))
        body = generated.rstrip("\n") + "\n\n" + KEPT_TITLE + "\n" + "\n".join(kept) + "\n"
        return Edited(body.encode("utf-8", "surrogateescape"), state=state, notes=tuple(notes))

    return content, edit
