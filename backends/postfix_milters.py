"""Merge mailauth's milters into a host's ``smtpd_milters`` / ``non_smtpd_milters``.

A mail host often runs milters mailauth knows nothing about (clamav-milter, rspamd). Replacing
the whole list silently stops virus and spam scanning, so mailauth owns only its own *entries*
in these lists, and the manifest records which entries those are (`MilterOwnership`).

Postfix milter list syntax (postconf(5) ``smtpd_milters``, MILTER_README "Different settings
for different milter applications"):

- entries are separated by commas and/or whitespace;
- an entry is a socket (``inet:host:port``, ``unix:/path``, ``inet6:...``), a ``$name`` /
  ``${name}`` / ``$(name)`` reference to another parameter, or a brace group
  ``{ inet:host:port, connect_timeout=10s, default_action=accept }`` whose first element is
  the socket and the rest per-milter settings;
- ``non_smtpd_milters = $smtpd_milters`` is the usual idiom for "the same milters for local
  mail": such a reference is kept, and mailauth's milters are not listed a second time.

How the backend uses this
-------------------------

In ``PostfixBackend.render`` (edit mode), inside the ``edit`` function, where the current
main.cf is known::

    host = get_parameters(current_text)                      # postfix_maincf
    previous = MilterOwnership.from_json(manifest_entry)     # None on first apply
    plan = plan_milters(
        host, previous,
        smtpd=[postfix_address(m, target) for m in model.milters],
        non_smtpd=[...signer only, or the same list...],
        settings={"milter_default_action": <yaml value or None>,
                  "milter_protocol": <yaml value or None>},
    )
    text = set_parameters(current_text, plan.set)
    text = remove_parameters(text, plan.delete)   # to add to postfix_maincf (see below)
    manifest["postfix"]["milters"] = plan.ownership.to_json()
    notes += plan.notes

``plan.delete`` names parameters mailauth itself introduced and no longer needs: removing them
gives back the host's main.cf byte for byte. postfix_maincf has no remove function yet; until
it has, the backend may set them to the empty value (same meaning for Postfix, one extra line).
``PostfixTarget.milter_default_action``/``milter_protocol`` must become ``None`` by default
("keep the host's") for the settings rule of issue 12. Snippet mode: pass ``host={}``.

The module is pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MILTER_LISTS",
    "RECOMMENDED",
    "MilterEntry",
    "MilterOwnership",
    "MilterPlan",
    "SettingDecision",
    "decide_setting",
    "merge",
    "parse_milters",
    "plan_milters",
    "render_milters",
]

#: The list parameters whose entries mailauth shares with the host.
MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters")

#: What mailauth would choose where mailauth.yaml says nothing, and Postfix's own defaults
#: (postconf -d, Postfix 3.x), to know what a host that does not set a parameter runs with.
RECOMMENDED: Mapping[str, str] = {"milter_default_action": "accept", "milter_protocol": "6"}
_POSTFIX_DEFAULTS: Mapping[str, str] = {"milter_default_action": "tempfail", "milter_protocol": "6"}
_WHY: Mapping[str, Mapping[str, str]] = {
    "milter_default_action": {
        "tempfail": "mail is deferred, not lost, while a milter is down",
        "accept": "mail passes unsigned while a milter is down",
        "reject": "mail is rejected while a milter is down",
        "quarantine": "mail is held in the hold queue while a milter is down",
    },
}

_SEPARATORS = ", \t\r\n"
_REFERENCE_RE = re.compile(
    r"\$(?:\{([A-Za-z0-9_.-]+)[^}]*\}|\(([A-Za-z0-9_.-]+)[^)]*\)|([A-Za-z0-9_.-]+))$"
)


@dataclass(frozen=True)
class MilterEntry:
    """One entry of a milter list, with its text exactly as the host wrote it.

    ``address`` is the socket (for a brace group: its first element), or ``""`` for a
    ``$name`` reference, whose parameter name is in ``reference``.
    """

    text: str
    address: str
    reference: str | None = None


def _tokens(value: str) -> list[str]:
    """Split a list value like Postfix's mystrtokq(): separators outside braces only."""
    tokens: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in _SEPARATORS:
            i += 1
            continue
        start, depth = i, 0
        while i < n:
            ch = value[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth < 0:
                    raise ValueError(f"milter list: unexpected '}}' in {value!r}")
            elif ch in _SEPARATORS and depth == 0:
                break
            i += 1
        if depth > 0:
            raise ValueError(f"milter list: missing '}}' in {value!r}")
        tokens.append(value[start:i])
    return tokens


def _entry(token: str) -> MilterEntry:
    if token.startswith("{"):
        if not token.endswith("}"):
            raise ValueError(f"milter list: text after '}}' in {token!r}")
        inner = token[1:-1]
        parts = [p.strip(" \t\r\n") for p in inner.split(",")]
        address = parts[0] if parts else ""
        if not address or "=" in address:
            raise ValueError(f"milter list: group {token!r} does not start with a socket")
        return MilterEntry(text=token, address=address)
    ref = _REFERENCE_RE.match(token)
    if ref:
        return MilterEntry(text=token, address="", reference=next(g for g in ref.groups() if g))
    return MilterEntry(text=token, address=token)


def parse_milters(value: str) -> list[MilterEntry]:
    """The entries of a milter list value, in order. ValueError on unbalanced braces."""
    return [_entry(token) for token in _tokens(value)]


def render_milters(entries: Sequence[MilterEntry], *, style_of: str = "") -> str:
    """Join entries back into a value; commas unless ``style_of`` (the host's old value)
    separated several entries with whitespace only."""
    spaced = len(_tokens(style_of)) > 1 and "," not in _strip_groups(style_of)
    separator = " " if spaced else ", "
    return separator.join(entry.text for entry in entries)


def _strip_groups(value: str) -> str:
    """The value without brace groups, to see which separator the host uses between entries."""
    return re.sub(r"\{[^{}]*\}", "", value)


def merge(
    current_value: str,
    ours_before: Iterable[str],
    ours_now: Sequence[str],
    *,
    covered_by: Iterable[str] = (),
) -> str:
    """The new list value: the host's entries untouched and in place, ours as wanted now.

    - entries whose address is in ``ours_before`` and not in ``ours_now`` are removed;
    - an entry of ``ours_now`` already present (ours, or listed by the host) stays where it is,
      unless ours are out of the wanted order (signer before OpenDMARC), then ours move;
    - a missing one goes next to its neighbour in ``ours_now`` order, else where ours stood
      before, else at the end;
    - a ``$name`` reference with ``name`` in ``covered_by`` holds all of ours already (the
      ``non_smtpd_milters = $smtpd_milters`` idiom): nothing is added then.

    Unchanged lists come back as the very same string.
    """
    before = set(ours_before)
    wanted = list(dict.fromkeys(ours_now))
    entries = parse_milters(current_value)
    covered = set(covered_by)
    if any(e.reference in covered for e in entries if e.reference):
        wanted = []

    # Slots: ("host", entry) for theirs, ("ours", entry) for ours kept, ("gone", None) where
    # an entry of ours stood that is removed (it anchors the place for new ones).
    slots: list[tuple[str, MilterEntry | None]] = []
    for entry in entries:
        if entry.address and entry.address in before:
            slots.append(("ours", entry) if entry.address in wanted else ("gone", None))
        else:
            slots.append(("host", entry))

    present = [e.address for kind, e in slots if kind == "ours" and e is not None]
    if present != [a for a in wanted if a in present] or len(set(present)) != len(present):
        slots = [("gone", None) if kind == "ours" else (kind, e) for kind, e in slots]

    def index_of(address: str) -> int | None:
        for i, (kind, e) in enumerate(slots):
            if kind != "gone" and e is not None and e.address == address:
                return i
        return None

    for number, address in enumerate(wanted):
        if index_of(address) is not None:
            continue
        new = ("ours", MilterEntry(text=address, address=address))
        previous = index_of(wanted[number - 1]) if number else None
        if previous is not None:
            slots.insert(previous + 1, new)
            continue
        later = [i for a in wanted[number + 1 :] if (i := index_of(a)) is not None]
        gone = [i for i, (kind, _e) in enumerate(slots) if kind == "gone"]
        if later:
            slots.insert(min(later), new)
        elif gone:
            slots.insert(gone[0], new)
        else:
            slots.append(new)

    result = [e for kind, e in slots if kind != "gone" and e is not None]
    if [e.text for e in result] == [e.text for e in entries]:
        return current_value
    return render_milters(result, style_of=current_value)


@dataclass(frozen=True)
class MilterOwnership:
    """What the manifest records so the next run knows what in main.cf is mailauth's.

    ``entries``: per list parameter, the exact entries mailauth added (never one the host
    listed itself). ``settings``: per parameter mailauth set (a list it introduced, or a
    setting from mailauth.yaml), the host's value before, ``None`` if the host had none.
    """

    entries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    settings: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, keys sorted, for the manifest."""
        return {
            "entries": {k: list(v) for k, v in sorted(self.entries.items()) if v},
            "settings": dict(sorted(self.settings.items())),
        }

    @classmethod
    def from_json(cls, data: Any) -> MilterOwnership:
        """Read `to_json` output back; ValueError on anything else (a damaged manifest)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("manifest: postfix milters: expected an object")
        entries_raw = data.get("entries", {})
        settings_raw = data.get("settings", {})
        if not isinstance(entries_raw, dict) or not isinstance(settings_raw, dict):
            raise ValueError("manifest: postfix milters: malformed entries or settings")
        entries: dict[str, tuple[str, ...]] = {}
        for name, values in entries_raw.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"manifest: postfix milters: {name}: expected strings")
            entries[str(name)] = tuple(values)
        settings: dict[str, str | None] = {}
        for name, value in settings_raw.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"manifest: postfix milters: {name}: expected a string")
            settings[str(name)] = value
        return cls(entries=entries, settings=settings)


@dataclass(frozen=True)
class SettingDecision:
    """The value to set (``None``: leave the host's line alone) and a note for the plan."""

    value: str | None
    note: str | None = None


def decide_setting(name: str, host_value: str | None, configured: str | None) -> SettingDecision:
    """``milter_default_action`` / ``milter_protocol``: the host's value unless mailauth.yaml
    sets one; a note when the value in effect differs from what mailauth recommends."""
    recommended = RECOMMENDED.get(name)
    if configured is not None:
        note = None
        if host_value is not None and host_value != configured:
            note = f"{name}: mailauth.yaml sets {configured}, replacing the host's {host_value}"
        return SettingDecision(value=configured, note=note)
    effective = host_value if host_value is not None else _POSTFIX_DEFAULTS.get(name)
    if recommended is None or effective is None or effective == recommended:
        return SettingDecision(value=None)
    source = "host's value, kept" if host_value is not None else "Postfix default"
    why = _WHY.get(name, {}).get(effective)
    reason = f": {why}" if why else ""
    return SettingDecision(
        value=None,
        note=(
            f"{name} = {effective} ({source}){reason}; mailauth would use {recommended}. "
            f"Set it in mailauth.yaml to change it."
        ),
    )


@dataclass(frozen=True)
class MilterPlan:
    """main.cf changes: ``set`` for set_parameters, ``delete`` for parameters to remove."""

    set: dict[str, str]
    delete: tuple[str, ...]
    ownership: MilterOwnership
    notes: tuple[str, ...]


def plan_milters(
    host: Mapping[str, str],
    previous: MilterOwnership | None,
    *,
    smtpd: Sequence[str],
    non_smtpd: Sequence[str],
    settings: Mapping[str, str | None] | None = None,
) -> MilterPlan:
    """Decide main.cf's milter parameters from the host's current values (`get_parameters`).

    ``settings`` are single-valued parameters mailauth.yaml may set (``None``: not set), at
    least ``milter_default_action`` and ``milter_protocol``; others, such as
    ``milter_macro_daemon_name``, get the same keep-or-restore treatment.

    ``previous`` is what the last apply recorded. Passing empty lists and no settings undoes
    everything mailauth did: the host's entries stay, parameters mailauth introduced go.
    """
    previous = previous or MilterOwnership()
    settings = dict(settings or {})
    to_set: dict[str, str] = {}
    to_delete: list[str] = []
    entries: dict[str, tuple[str, ...]] = {}
    recorded: dict[str, str | None] = {}
    notes: list[str] = []

    for name, wanted in (("smtpd_milters", smtpd), ("non_smtpd_milters", non_smtpd)):
        introduced = name in previous.settings and previous.settings[name] is None
        current = host.get(name)
        before = previous.entries.get(name, ())
        covered = ("smtpd_milters",) if name == "non_smtpd_milters" else ()
        new = merge(current or "", before, wanted, covered_by=covered)
        present = {e.address for e in parse_milters(current or "")}
        theirs = present - set(before)
        mine = tuple(a for a in dict.fromkeys(wanted) if a not in theirs and a in _addresses(new))
        if mine:
            entries[name] = mine
        if current is None or introduced:
            if new:
                recorded[name] = None
            elif current is not None:
                to_delete.append(name)
                continue
        if current is None and not new:
            continue
        if new != current:
            to_set[name] = new

    others = (set(settings) | set(previous.settings)) - set(MILTER_LISTS) - set(RECOMMENDED)
    for name in [*RECOMMENDED, *sorted(others)]:
        configured = settings.get(name)
        had_before = name in previous.settings
        host_value = previous.settings[name] if had_before else host.get(name)
        decision = decide_setting(name, host_value, configured)
        if decision.note:
            notes.append(decision.note)
        if decision.value is not None:
            recorded[name] = host_value
            if host.get(name) != decision.value:
                to_set[name] = decision.value
        elif had_before:
            # mailauth.yaml no longer sets it: give the host its value back.
            if host_value is None:
                if name in host:
                    to_delete.append(name)
            elif host.get(name) != host_value:
                to_set[name] = host_value

    return MilterPlan(
        set=to_set,
        delete=tuple(to_delete),
        ownership=MilterOwnership(entries=entries, settings=recorded),
        notes=tuple(notes),
    )


def _addresses(value: str) -> set[str]:
    """The socket addresses listed in a value (references and groups by their socket)."""
    return {e.address for e in parse_milters(value) if e.address}
