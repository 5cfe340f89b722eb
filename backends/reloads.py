"""The command that makes a daemon take its new files: ``reload`` when that is enough.

A restart drops the milter's socket for a moment (Postfix then applies
``milter_default_action`` to the mail in flight) and loses what the daemon keeps in memory;
a reload on a signal does neither. So the hint after apply says ``systemctl reload`` when
every change is one the daemon re-reads on its signal, and ``systemctl restart`` only when
some change is read at start only.

OpenDKIM and OpenDMARC (Debian's units: ``ExecReload=/bin/kill -USR1 $MAINPID``) re-read
their configuration file on SIGUSR1, and with it every data set it names (KeyTable,
SigningTable, TrustedHosts... are opened and, when flat files, read into memory whenever a
configuration is loaded). They do so only when started with a configuration file, which
Debian's units are: with no ``-x``, OpenDKIM loads ``/etc/opendkim.conf`` when readable and
counts it as its configuration file for reloads. A few settings are read once at start and
never again (opendkim(8) and opendmarc(8), "OPERATION"/"SIGNALS"): the socket, the user,
the pid file, the umask, the restart policy... A change to one of those needs a restart.
On a reload the daemon reads as its own user (UserID), no longer as root: the configs and
tables mailauth writes are world-readable (0644), and the keys must be readable by that
user (``keys.owner``) for signing anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

#: Chooses a file's reload command from its content before (None: the file is new) and
#: after the change (``Artifact.reload_choice``).
ReloadChoice = Callable[[bytes | None, bytes], str]

_SYSTEMCTL_RELOAD = "systemctl reload "
_SYSTEMCTL_RESTART = "systemctl restart "


def conf_values(data: bytes) -> dict[str, str]:
    """The settings of a milter configuration file (OpenDKIM, OpenDMARC): one ``Name value``
    per line, ``#`` comments. Names are case-insensitive for both daemons; the value is the
    rest of the line with its blanks collapsed. A name given twice keeps its last value."""
    values: dict[str, str] = {}
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *value = line.split(None, 1)
        values[name.lower()] = " ".join(" ".join(value).split())
    return values


def signal_reload(unit: str, read_at_start: Iterable[str]) -> ReloadChoice:
    """``systemctl reload UNIT`` for a configuration file whose change the daemon re-reads on
    its reload signal; ``systemctl restart UNIT`` when the file is new (the running daemon,
    if any, has another configuration: what it would keep from that one is unknown) or when
    a setting in ``read_at_start`` (those a reload does not re-read) is set, changed or
    removed."""
    restart = frozenset(name.lower() for name in read_at_start)

    def choose(old: bytes | None, new: bytes) -> str:
        if old is None:
            return _SYSTEMCTL_RESTART + unit
        before, after = conf_values(old), conf_values(new)
        if any(before.get(name) != after.get(name) for name in restart):
            return _SYSTEMCTL_RESTART + unit
        return _SYSTEMCTL_RELOAD + unit

    return choose


def merge_restarts(commands: Sequence[str]) -> list[str]:
    """``commands`` once each, where a ``systemctl restart U`` takes the place of a
    ``systemctl reload U`` of the same unit (a restart reads every file a reload would): one
    file of a daemon that needs a restart makes the whole daemon restart, once, at the
    place of the first command that named it."""
    restarted = {c[len(_SYSTEMCTL_RESTART) :] for c in commands if c.startswith(_SYSTEMCTL_RESTART)}
    out: list[str] = []
    for command in commands:
        if command.startswith(_SYSTEMCTL_RELOAD):
            unit = command[len(_SYSTEMCTL_RELOAD) :]
            if unit in restarted:
                command = _SYSTEMCTL_RESTART + unit
        if command not in out:
            out.append(command)
    return out
