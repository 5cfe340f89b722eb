"""The mail side of ``mailauth import``: the signers', OpenDMARC's and Postfix's files on a
host (under ``root``), read into the shapes of mailauth.yaml (`Found`).

Rules this reader keeps, so that the first plan after an import changes nothing by surprise:

* a value goes into ``targets:`` only as the daemon reads it; what mailauth cannot say is
  a `Note` with FILE:LINE, never dropped or bent silently;
* target settings are written only where they differ from the settings model's defaults,
  except the paths a ``platform:`` preset fills (``config``, ``directory``, ``pid_file``,
  ``public_suffix_list``): those are always written, so the file means the same whatever
  platform the writer picks;
* keys are adopted where they lie (``key_file:``); the public half is read from the key
  file under ``root`` and nothing of the private key is ever printed or noted;
* files are read below ``root`` only: a path (or symlink) leading out of it is not read;
* ``keys.directory`` is set only when every adopted key lies below one platform's key
  directory (/etc/opendkim/keys, /etc/dkimkeys), so keys made later land beside them.

Each daemon has its reader (mail_opendkim, mail_dkimpy, mail_opendmarc, mail_postfix), the
key tables theirs (signer_tables), the line parsers theirs (milter_tables); this module
finds the files and runs them in order: Postfix last, since it needs the milters' sockets.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from os import PathLike
from pathlib import Path

from mailauth.backends import platforms
from mailauth.backends.postfix import PostfixTarget
from mailauth.compiler.importer.found import Found
from mailauth.compiler.importer.mail_dkimpy import read_dkimpy
from mailauth.compiler.importer.mail_files import MailFiles, MailImportError, Signer
from mailauth.compiler.importer.mail_opendkim import read_opendkim
from mailauth.compiler.importer.mail_opendmarc import read_opendmarc
from mailauth.compiler.importer.mail_postfix import read_postfix
from mailauth.schema.targets import KeyStore

__all__ = ["MailImportError", "read_mail"]


def _usual(target: str, field: str) -> list[str]:
    """The places the platform presets put a target's file, Red Hat's first."""
    seen: list[str] = []
    for name in platforms.PLATFORMS:
        value = platforms.column(name)[target].get(field)
        if value and value not in seen:
            seen.append(value)
    return seen


_MAIN_CF = str(PostfixTarget.model_fields["main_cf"].default)


def _key_store(files: MailFiles) -> None:
    """``keys.directory``: the platform key directory all adopted keys sit under, so
    keys mailauth makes later land beside them; otherwise left to the defaults."""
    paths = [key.key_file for key in files.found.adopted]
    if not paths:
        return
    for platform in platforms.PLATFORMS:
        directory = platforms.column(platform)[platforms.KEYS]["directory"]
        if directory and all(p.startswith(directory.rstrip("/") + "/") for p in paths):
            files.found.keys = {"directory": directory}
            return


def _host(path: str | PathLike[str] | None) -> str | None:
    """A path given on the command line as a host path: absolute, from the host's ``/``."""
    if path is None:
        return None
    text = os.fspath(path)
    return text if text.startswith("/") else "/" + text


def read_mail(
    root: Path,
    *,
    opendkim_conf: str | PathLike[str] | None,
    dkimpy_conf: str | PathLike[str] | None,
    opendmarc_conf: str | PathLike[str] | None,
    main_cf: str | PathLike[str] | None,
    master_cf: str | PathLike[str] | None,
) -> Found:
    """What the host under ``root`` runs for mail: signers, OpenDMARC, Postfix's milters.

    Each path is a host path (``/etc/opendkim.conf``; a relative one starts at the host's
    ``/``, as the DNS side reads them) read below ``root``; None looks in
    the usual places of every platform, and a file found nowhere is simply not imported.
    A path given but absent is a `MailImportError`. Whatever cannot be imported as it is,
    is a `Note` in the result.
    """
    files = MailFiles(root)
    opendkim_conf, dkimpy_conf, opendmarc_conf, main_cf, master_cf = (
        _host(p) for p in (opendkim_conf, dkimpy_conf, opendmarc_conf, main_cf, master_cf)
    )
    milters: list[Signer] = []
    readers: list[tuple[str | None, list[str], str, Callable[[MailFiles, str], Signer | None]]] = [
        (opendkim_conf, _usual("opendkim", "config"), "opendkim.conf", read_opendkim),
        (dkimpy_conf, _usual("dkimpy_milter", "config"), "dkimpy-milter.conf", read_dkimpy),
        (opendmarc_conf, _usual("opendmarc", "config"), "opendmarc.conf", read_opendmarc),
    ]
    for given, usual, what, read in readers:
        path = files.pick(given, usual, what)
        if path is not None:
            signer = read(files, path)
            if signer is not None:
                milters.append(signer)
    main_path = files.pick(main_cf, [_MAIN_CF], "main.cf")
    if main_path is not None:
        beside = posixpath.join(posixpath.dirname(main_path), "master.cf")
        master_path = files.pick(master_cf, [beside], "master.cf")
        read_postfix(files, main_path, master_path, milters)
    _key_store(files)
    KeyStore.model_validate(files.found.keys)
    return files.found
