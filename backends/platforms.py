"""The one table of where each distribution keeps the files mailauth writes.

``platform:`` in mailauth.yaml picks a column of this table; it fills every path the file
leaves unset, under ``keys:`` and under each target, so ``platform: debian`` and nothing
else puts zone files in /etc/bind and keys in /etc/dkimkeys. A path the file sets wins.

``rhel`` is what the settings models default to (the layout of the article mailauth grew
from: Rocky Linux with EPEL); tests/test_platforms.py checks that its column equals those
defaults, so a config without ``platform:`` means what it always meant. ``debian`` was read
from the Debian 12 packages (bind9, opendkim, opendmarc, dkimpy-milter):

* BIND: ``/etc/bind`` holds the configuration and the zones an admin writes (``db.*``);
  ``options { directory "/var/cache/bind"; }`` is where named keeps dynamic and secondary
  data, and where a relative ``$INCLUDE`` starts. mailauth's zone statements go to
  ``/etc/bind/named.conf.mailauth``, to include from ``named.conf.local``.
* Keys: ``/etc/dkimkeys`` (opendkim:opendkim 0700), the directory the package made for them.
* OpenDKIM and OpenDMARC run from ``/run/opendkim`` and ``/run/opendmarc``
  (/usr/lib/tmpfiles.d); OpenDMARC's file names the public suffix list of the
  ``publicsuffix`` package.
* dkimpy-milter: its unit reads ``/etc/dkimpy-milter/dkimpy-milter.conf`` and writes its pid
  to ``/run/dkimpy-milter``, as the Red Hat column already says.

This module lives with the backends because it names targets (nothing outside backends/
does). It imports nothing from mailauth, so the schema may import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

Platform = Literal["rhel", "debian"]
PLATFORMS: tuple[str, ...] = get_args(Platform)
DEFAULT: Platform = "rhel"

#: The section a column fills besides the targets: the key store (``keys:``).
KEYS = "keys"

Column = Mapping[str, Mapping[str, str | None]]

PATHS: Mapping[str, Column] = {
    "rhel": {
        KEYS: {"directory": "/etc/opendkim/keys"},
        "bind": {
            "directory": "/var/named",
            "zone_file": "zone.{zone}",
            "named_conf": "/etc/named/mailauth.zones.conf",
            "named_directory": None,
        },
        "opendkim": {
            "config": "/etc/opendkim.conf",
            "directory": "/etc/opendkim",
            "pid_file": "/run/opendkim/opendkim.pid",
        },
        "dkimpy_milter": {
            "config": "/etc/dkimpy-milter/dkimpy-milter.conf",
            "directory": "/etc/dkimpy-milter",
            "pid_file": "/run/dkimpy-milter/dkimpy-milter.pid",
        },
        "opendmarc": {
            "config": "/etc/opendmarc.conf",
            "pid_file": "/run/opendmarc/opendmarc.pid",
            "public_suffix_list": None,
        },
    },
    "debian": {
        KEYS: {"directory": "/etc/dkimkeys"},
        "bind": {
            "directory": "/etc/bind",
            "zone_file": "db.{zone}",
            "named_conf": "/etc/bind/named.conf.mailauth",
            "named_directory": "/var/cache/bind",
        },
        "opendkim": {
            "config": "/etc/opendkim.conf",
            "directory": "/etc/opendkim",
            "pid_file": "/run/opendkim/opendkim.pid",
        },
        "dkimpy_milter": {
            "config": "/etc/dkimpy-milter/dkimpy-milter.conf",
            "directory": "/etc/dkimpy-milter",
            "pid_file": "/run/dkimpy-milter/dkimpy-milter.pid",
        },
        "opendmarc": {
            "config": "/etc/opendmarc.conf",
            "pid_file": "/run/opendmarc/opendmarc.pid",
            "public_suffix_list": "/usr/share/publicsuffix/public_suffix_list.dat",
        },
    },
}


def column(platform: str) -> Column:
    """The paths of ``platform`` (one of PLATFORMS), per section."""
    return PATHS[platform]


def _filled(section: object, preset: Mapping[str, str | None]) -> object:
    """A section of mailauth.yaml with the preset's paths where it sets none; anything
    that is not a mapping is left for validation to refuse."""
    if not isinstance(section, dict):
        return section
    return {**preset, **section}


def with_preset(data: Any, default_targets: Sequence[str]) -> Any:
    """mailauth.yaml's data (before validation) with the platform's paths filled in.

    Only keys the file leaves out are added, so what the file says wins and every value
    still passes its field's checks. Without ``targets:``, the targets that are on by
    default (``default_targets``) are filled as if written with no settings. The data is
    copied, never changed; anything malformed is returned as it is, for validation to
    report with its position.
    """
    if not isinstance(data, dict):
        return data
    platform = data.get("platform", DEFAULT)
    if platform == DEFAULT or not isinstance(platform, str) or platform not in PATHS:
        return data  # the models' own defaults; an unknown platform is refused by them
    paths = PATHS[platform]
    out = dict(data)
    out[KEYS] = _filled(data.get(KEYS, {}), paths[KEYS])
    targets = data.get("targets", {name: {} for name in default_targets})
    if isinstance(targets, dict):
        targets = {
            name: _filled(settings, paths[name]) if name in paths else settings
            for name, settings in targets.items()
        }
    out["targets"] = targets
    return out
