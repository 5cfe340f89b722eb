"""Edit Postfix master.cf text in place, with `postconf -M` / `postconf -P` semantics.

A signer that signs only tagged mail (dkimpy-milter: ``{daemon_name}`` = ORIGINATING) signs
nothing until the submission services carry ``-o milter_macro_daemon_name=ORIGINATING``. That
is a master.cf edit on a file the host owns, so it must leave every other byte alone: comments,
the distribution's commented templates, other services, the host's SASL settings.

master.cf as Postfix reads it (master(5), postconf(1) "-M", "-P"; checked with postconf 3.7):

- An entry starts with a non-whitespace character in column 0; a physical line starting with
  whitespace continues it. Blank lines and ``#`` comment lines are skipped *without* ending
  the entry (Debian's ``relay`` service has a commented option line after its own).
- The entry is split on whitespace, with ``{ ... }`` grouping (Postfix >= 3.0). Eight fields:
  service, type, private, unpriv, chroot, wakeup, maxproc, command; then the command's args.
- A service is identified by name *and* type (``smtp/inet`` and ``smtp/unix`` are two).
- ``-o name=value`` (or ``-o { name = value }`` when the value has whitespace) overrides a
  main.cf parameter for that service; the last one wins. ``-oname=value`` glued together is
  left alone as an opaque argument (postconf itself misreads it).

`postconf -P` rewrites the whole entry in its own layout and moves interior comments; here only
the option's own text changes, so the plan diff is one line and removal gives the bytes back.

How the backend uses this
-------------------------

A master.cf artifact (``owned=False``, path ``/etc/postfix/master.cf`` beside main.cf) whose
edit function does, when the model has a signer that signs tagged mail only::

    previous = MasterOwnership.from_json(manifest_entry)          # None on first apply
    edit = apply_signing_tag(current_text, tag=signer.submission_daemon_name,
                             services=target.signing_services,    # default: DEFAULT_SERVICES
                             cleanup=target.sign_local_mail,
                             previous=previous, main_cf=get_parameters(main_cf_text))
    manifest["postfix"]["master_cf"] = edit.ownership.to_json(); notes += edit.notes

With no such signer (or mailauth removed), ``undo(current_text, previous)`` gives the host's
file back. Snippet mode writes ``postconf_commands(host_text, edit.text)`` (or, without a host
file, from Debian's stock master.cf in tests/fixtures/debian) into the script.

The module is pure: no I/O.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailauth.backends.postfix_maincf import POSTFIX_WS as _WS
from mailauth.backends.postfix_maincf import is_ignorable, split_lines

__all__ = [
    "DEBIAN_STANDARD",
    "DEFAULT_SERVICES",
    "MasterCfError",
    "MasterEdit",
    "MasterOwnership",
    "OwnedOption",
    "Service",
    "apply_signing_tag",
    "ensure_service",
    "get_service",
    "parse_master",
    "postconf_commands",
    "remove_service",
    "remove_service_option",
    "render_entry",
    "set_service_option",
    "undo",
]

#: The services that carry the signing tag unless mailauth.yaml says otherwise.
DEFAULT_SERVICES: tuple[str, ...] = ("submission/inet", "submissions/inet")

#: Debian's standard columns for the submission services (commented out in the package's
#: master.cf): private, unpriv, chroot, wakeup, maxproc, command. Only the options a service
#: cannot work without are added; SASL and restrictions stay as the host has them.
DEBIAN_STANDARD: Mapping[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "submission/inet": (
        ("n", "-", "y", "-", "-", "smtpd"),
        (("syslog_name", "postfix/submission"),),
    ),
    "submissions/inet": (
        ("n", "-", "y", "-", "-", "smtpd"),
        (("syslog_name", "postfix/submissions"), ("smtpd_tls_wrappermode", "yes")),
    ),
}

# Names one listener may go by (/etc/services): the host's service under another name is the
# same port, and a second entry for it would fail to bind.
_ALIASES: Mapping[str, frozenset[str]] = {
    "submission": frozenset({"submission", "587"}),
    "submissions": frozenset({"submissions", "smtps", "ssmtp", "465"}),
    "smtp": frozenset({"smtp", "25"}),
}
_TEMPLATE_NAMES: Mapping[str, tuple[str, ...]] = {
    "submissions": ("submissions", "smtps"),
}
_PORTS = {"submission": "587", "submissions": "465"}

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_SERVICE_RE = re.compile(r"[^\s#{}/]+")
_TYPES = frozenset({"inet", "unix", "unix-dgram", "fifo", "pass"})
_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f{}]")


class MasterCfError(ValueError):
    """master.cf text Postfix would refuse, or an edit that cannot be made as asked."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Pos:
    line: int  # physical line index (0-based)
    col: int


@dataclass(frozen=True)
class _Token:
    text: str
    start: _Pos
    end: _Pos  # exclusive


@dataclass(frozen=True)
class _Option:
    name: str
    value: str
    flag: _Token  # the "-o"
    setting: _Token  # "name=value" or "{ name = value }"


@dataclass(frozen=True)
class Service:
    """One master.cf entry. ``fields`` are the eight columns; ``args`` what follows the
    command (options included); ``options`` the ``-o`` overrides in order. ``first_line`` and
    ``last_line`` are 1-based physical lines (interior comments included)."""

    name: str
    type: str
    fields: tuple[str, ...]
    args: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    first_line: int
    last_line: int
    _tokens: tuple[_Token, ...] = field(repr=False, compare=False, default=())
    _options: tuple[_Option, ...] = field(repr=False, compare=False, default=())

    @property
    def key(self) -> str:
        """``name/type``, the key postconf -M and -P use."""
        return f"{self.name}/{self.type}"

    def option(self, name: str) -> str | None:
        """The value in effect for ``-o name=...`` (the last one), or None."""
        found = [value for key, value in self.options if key == name]
        return found[-1] if found else None

    def entry(self) -> str:
        """The entry on one line, as ``postconf -M`` shows it."""
        return render_entry(self.name, self.type, self.fields[2:], self.options, self._plain())

    def _plain(self) -> tuple[str, ...]:
        """Args that are not ``-o`` options (pipe's ``flags=... argv=...``, ``-v``)."""
        skip = {id(o.flag) for o in self._options} | {id(o.setting) for o in self._options}
        return tuple(t.text for t in self._tokens[8:] if id(t) not in skip)


def _tokenize(lines: list[str], indices: list[int]) -> list[_Token]:
    """Tokens of one entry across its physical lines, braces grouping (mystrtokq)."""
    tokens: list[_Token] = []
    depth = 0
    pieces: list[str] = []
    start: _Pos | None = None
    for li in indices:
        body = lines[li].rstrip("\n")
        col = 0
        while col < len(body):
            ch = body[col]
            if start is None:
                if ch in _WS:
                    col += 1
                    continue
                start, pieces = _Pos(li, col), []
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth < 0:
                    raise MasterCfError(f"master.cf line {li + 1}: unexpected '}}'")
            elif ch in _WS and depth == 0:
                tokens.append(_Token("".join(pieces), start, _Pos(li, col)))
                start = None
                col += 1
                continue
            pieces.append(ch)
            col += 1
        if start is not None:
            if depth == 0:
                tokens.append(_Token("".join(pieces), start, _Pos(li, len(body))))
                start = None
            else:
                pieces.append(" ")
    if start is not None:
        raise MasterCfError(f"master.cf line {start.line + 1}: missing '}}'")
    return tokens


def _options(tokens: Sequence[_Token]) -> list[_Option]:
    options: list[_Option] = []
    i = 8
    while i < len(tokens):
        if tokens[i].text == "-o" and i + 1 < len(tokens):
            setting = tokens[i + 1]
            raw = setting.text
            if raw.startswith("{") and raw.endswith("}"):
                raw = raw[1:-1]
            name, sep, value = raw.partition("=")
            if sep and name.strip(_WS):
                options.append(_Option(name.strip(_WS), value.strip(_WS), tokens[i], setting))
                i += 2
                continue
        i += 1
    return options


def _parse(text: str) -> tuple[list[str], list[Service]]:
    lines = split_lines(text)
    groups: list[list[int]] = []
    for index, line in enumerate(lines):
        if is_ignorable(line):
            continue
        if line[0] in _WS:
            if groups:
                groups[-1].append(index)
            continue  # Postfix ignores text before the first entry
        groups.append([index])
    services: list[Service] = []
    for group in groups:
        tokens = _tokenize(lines, group)
        if len(tokens) < 8:
            raise MasterCfError(
                f"master.cf line {group[0] + 1}: bad field count ({len(tokens)}, need 8): "
                f"{lines[group[0]].strip()!r}"
            )
        options = _options(tokens)
        services.append(
            Service(
                name=tokens[0].text,
                type=tokens[1].text,
                fields=tuple(t.text for t in tokens[:8]),
                args=tuple(t.text for t in tokens[8:]),
                options=tuple((o.name, o.value) for o in options),
                first_line=group[0] + 1,
                last_line=group[-1] + 1,
                _tokens=tuple(tokens),
                _options=tuple(options),
            )
        )
    return lines, services


def parse_master(text: str) -> list[Service]:
    """The services of master.cf text, in file order. MasterCfError for an entry Postfix
    refuses (fewer than eight fields, unbalanced braces)."""
    return _parse(text)[1]


def get_service(text: str, service: str, type_: str) -> Service | None:
    """The entry for ``service/type``, or None. MasterCfError if it is defined twice."""
    found = [s for s in parse_master(text) if s.name == service and s.type == type_]
    if len(found) > 1:
        lines = ", ".join(str(s.first_line) for s in found)
        raise MasterCfError(
            f"master.cf: {service}/{type_} is defined more than once (lines {lines})"
        )
    return found[0] if found else None


# --------------------------------------------------------------------------- rendering


def _check_option(name: str, value: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise MasterCfError(f"invalid Postfix parameter name {name!r}")
    bad = _BAD_CHAR_RE.search(value)
    if bad:
        raise MasterCfError(f"-o {name}: value may not contain {bad.group()!r}")
    if value != value.strip(_WS):
        raise MasterCfError(f"-o {name}: value {value!r} has leading or trailing whitespace")


def _setting(name: str, value: str) -> str:
    """``name=value``, or the braced form Postfix needs when the value has whitespace."""
    if any(ch in _WS for ch in value):
        return f"{{ {name} = {value} }}"
    return f"{name}={value}"


def render_entry(
    service: str,
    type_: str,
    fields: Sequence[str],
    options: Sequence[tuple[str, str]] = (),
    args: Sequence[str] = (),
    *,
    folded: bool = False,
) -> str:
    """One entry, columns aligned as in Debian's master.cf. ``fields`` are the six columns
    after the type (private ... command). One line, or ``folded`` with one option a line."""
    if not _SERVICE_RE.fullmatch(service) or type_ not in _TYPES:
        raise MasterCfError(f"invalid service {service!r}/{type_!r}")
    if len(fields) != 6 or any(not f or any(c in _WS + "#{}" for c in f) for f in fields):
        raise MasterCfError(f"{service}/{type_}: need six non-empty columns, got {fields!r}")
    for name, value in options:
        _check_option(name, value)
    cols = [f"{service:<9}", f"{type_:<5}", *(f"{f:<7}" for f in fields[:5]), fields[5]]
    head = " ".join([*cols, *args])
    settings = [f"-o {_setting(n, v)}" for n, v in options]
    if folded:
        return head + "".join(f"\n  {s}" for s in settings)
    return " ".join([head, *settings])


# --------------------------------------------------------------------------- edits


def _find(lines: list[str], services: list[Service], service: str, type_: str) -> Service | None:
    found = [s for s in services if s.name == service and s.type == type_]
    if len(found) > 1:
        raise MasterCfError(
            f"master.cf: {service}/{type_} is defined more than once "
            f"(lines {', '.join(str(s.first_line) for s in found)})"
        )
    return found[0] if found else None


def _last_real_line(lines: list[str], entry: Service) -> int:
    """Index of the entry's last physical line that is not a comment or blank line."""
    for index in range(entry.last_line - 1, entry.first_line - 2, -1):
        if not is_ignorable(lines[index]):
            return index
    return entry.first_line - 1


def _indent(lines: list[str], entry: Service) -> str:
    for index in range(entry.last_line - 1, entry.first_line - 1, -1):
        line = lines[index]
        if not is_ignorable(line):
            return line[: len(line) - len(line.lstrip(" \t"))]
    return "  "


def set_service_option(text: str, service: str, type_: str, name: str, value: str) -> str:
    """``postconf -P service/type/name=value``: replace the option's text where it stands
    (the last one, which is in effect), or add a ``-o`` line at the end of the entry.
    Unchanged text when the value is already in effect. MasterCfError if there is no such
    service."""
    _check_option(name, value)
    lines, services = _parse(text)
    entry = _find(lines, services, service, type_)
    if entry is None:
        raise MasterCfError(f"master.cf has no {service}/{type_} service to set -o {name} on")
    existing = [o for o in entry._options if o.name == name]
    if existing:
        last = existing[-1]
        if last.value == value:
            return text
        start, end = last.setting.start, last.setting.end
        new = lines[start.line][: start.col] + _setting(name, value) + lines[end.line][end.col :]
        return "".join([*lines[: start.line], new, *lines[end.line + 1 :]])
    after = _last_real_line(lines, entry)
    if not lines[after].endswith("\n"):
        lines[after] += "\n"
    added = f"{_indent(lines, entry)}-o {_setting(name, value)}\n"
    return "".join([*lines[: after + 1], added, *lines[after + 1 :]])


def remove_service_option(text: str, service: str, type_: str, name: str) -> str:
    """``postconf -PX service/type/name``: remove every ``-o name=...`` of the entry; a
    continuation line left empty goes too. Unchanged text when there is none (or no such
    service, like postconf, which only warns)."""
    lines, services = _parse(text)
    entry = _find(lines, services, service, type_)
    if entry is None:
        return text
    targets = [o for o in entry._options if o.name == name]
    if not targets:
        return text
    tokens = list(entry._tokens)
    touched: set[int] = set()
    for option in reversed(targets):
        position = next(i for i, t in enumerate(tokens) if t is option.flag)
        flag, setting = option.flag, option.setting
        before = tokens[position - 1]
        after = tokens[position + 2] if position + 2 < len(tokens) else None
        if before.end.line == flag.start.line:
            start = before.end  # eat the whitespace in front
            end = setting.end
        else:
            start = flag.start  # keep the line's indentation
            same_line = after is not None and after.start.line == setting.end.line
            end = after.start if after is not None and same_line else setting.end
        new = lines[start.line][: start.col] + lines[end.line][end.col :]
        lines[start.line : end.line + 1] = [new] + [""] * (end.line - start.line)
        touched.add(start.line)
    kept = [
        line
        for index, line in enumerate(lines)
        if not (index in touched and index != entry.first_line - 1 and not line.strip(_WS))
    ]
    out = "".join(kept)
    if text.endswith("\n") and not out.endswith("\n"):
        out += "\n"
    return out


def _template_block(lines: list[str], names: Sequence[str], type_: str) -> int | None:
    """Index of the last line of a commented template (``#submission inet ...`` and its
    commented ``-o`` lines), or None."""
    heads = [re.compile(rf"#\s*{re.escape(n)}\s+{re.escape(type_)}(\s|$)") for n in names]
    for head in heads:
        for index, line in enumerate(lines):
            if head.match(line):
                last = index
                for follow in range(index + 1, len(lines)):
                    body = lines[follow]
                    if not re.match(r"#[ \t]", body):
                        break
                    if re.match(r"#[ \t]+-o\s", body):
                        last = follow
                return last
    return None


def ensure_service(
    text: str,
    service: str,
    type_: str,
    fields: Sequence[str],
    options: Sequence[tuple[str, str]] = (),
    *,
    template_names: Sequence[str] = (),
) -> str:
    """``postconf -M`` for a service that may be missing: an existing entry keeps its columns
    and gets ``options`` set; a missing one is written (one ``-o`` a line) after its commented
    template (``#service type ...``, or one of ``template_names``), else at the end."""
    lines, services = _parse(text)
    if _find(lines, services, service, type_) is not None:
        for name, value in options:
            text = set_service_option(text, service, type_, name, value)
        return text
    entry = render_entry(service, type_, fields, options, folded=True) + "\n"
    where = _template_block(lines, [service, *template_names], type_)
    if where is None:
        prefix = "".join(lines)
        if prefix and not prefix.endswith("\n"):
            prefix += "\n"
        return prefix + entry
    if not lines[where].endswith("\n"):
        lines[where] += "\n"
    return "".join([*lines[: where + 1], entry, *lines[where + 1 :]])


def remove_service(text: str, service: str, type_: str) -> str:
    """``postconf -MX service/type``: drop the entry's lines (trailing comments stay)."""
    lines, services = _parse(text)
    entry = _find(lines, services, service, type_)
    if entry is None:
        return text
    last = _last_real_line(lines, entry)
    return "".join([*lines[: entry.first_line - 1], *lines[last + 1 :]])


# --------------------------------------------------------------------------- ownership


@dataclass(frozen=True)
class OwnedOption:
    """An option mailauth set: ``previous`` is the host's value before (None: none)."""

    service: str  # "name/type"
    name: str
    value: str
    previous: str | None


@dataclass(frozen=True)
class MasterOwnership:
    """What the manifest records about master.cf: services mailauth created, options it set."""

    created: tuple[str, ...] = ()
    options: tuple[OwnedOption, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "created": list(self.created),
            "options": [
                {"service": o.service, "name": o.name, "value": o.value, "previous": o.previous}
                for o in self.options
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> MasterOwnership:
        """Read `to_json` output back; ValueError for a damaged manifest."""
        if data is None:
            return cls()
        try:
            created = tuple(_key(k) for k in data.get("created", []))
            options = tuple(
                OwnedOption(
                    service=_key(o["service"]),
                    name=_str(o["name"]),
                    value=_str(o["value"]),
                    previous=None if o["previous"] is None else _str(o["previous"]),
                )
                for o in data.get("options", [])
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"manifest: postfix master.cf: malformed ({exc})") from None
        return cls(created=created, options=options)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _key(value: Any) -> str:
    name, sep, type_ = _str(value).rpartition("/")
    if not sep or not name or type_ not in _TYPES:
        raise TypeError(f"expected service/type, got {value!r}")
    return f"{name}/{type_}"


def _split_key(key: str) -> tuple[str, str]:
    name, _sep, type_ = key.rpartition("/")
    return name, type_


def undo(text: str, ownership: MasterOwnership | None) -> str:
    """The host's master.cf back: options mailauth set return to their previous value (only
    where they still hold ours), services it created go if nothing else was added to them."""
    if ownership is None:
        return text
    for owned in reversed(ownership.options):
        service, type_ = _split_key(owned.service)
        entry = get_service(text, service, type_)
        if entry is None or entry.option(owned.name) != owned.value:
            continue
        if owned.previous is None:
            text = remove_service_option(text, service, type_, owned.name)
        else:
            text = set_service_option(text, service, type_, owned.name, owned.previous)
    for key in ownership.created:
        service, type_ = _split_key(key)
        entry = get_service(text, service, type_)
        if entry is not None and not entry.options:
            text = remove_service(text, service, type_)
    return text


@dataclass(frozen=True)
class MasterEdit:
    """An edited master.cf, what to record in the manifest, and notes for the plan."""

    text: str
    ownership: MasterOwnership
    notes: tuple[str, ...] = ()


def _matching(services: list[Service], name: str, type_: str) -> list[Service]:
    """Existing services listening where ``name`` would: same name, an alias, or a
    ``host:name`` variant (``127.0.0.1:submission``)."""
    names = _ALIASES.get(name, frozenset({name}))
    return [s for s in services if s.type == type_ and s.name.rpartition(":")[2] in names]


def apply_signing_tag(
    text: str,
    tag: str = "ORIGINATING",
    services: Sequence[str] = DEFAULT_SERVICES,
    *,
    cleanup: bool = False,
    previous: MasterOwnership | None = None,
    main_cf: Mapping[str, str] | None = None,
    option: str = "milter_macro_daemon_name",
) -> MasterEdit:
    """Give ``services`` (``name/type``) the signing tag ``-o option=tag``.

    What mailauth set last time (``previous``) is undone first, so the result depends only on
    the host's own file: applying twice changes nothing. A service already listening under
    another name (``smtps`` for ``submissions``, ``127.0.0.1:submission``) is tagged instead
    of creating a second listener; a missing one is created from Debian's standard line, after
    its commented template. ``cleanup`` also tags ``cleanup/unix`` so that mail from local
    ``sendmail`` (non_smtpd_milters) is signed. ``main_cf`` (effective parameters) lets the
    notes say what the host still lacks (SASL, a TLS certificate).
    """
    text = undo(text, previous)
    _lines, parsed = _parse(text)
    created: list[str] = []
    owned: list[OwnedOption] = []
    notes: list[str] = []
    tagged: list[Service] = []

    def set_owned(service: str, type_: str, name: str, value: str) -> None:
        nonlocal text
        entry = get_service(text, service, type_)
        previous_value = entry.option(name) if entry is not None else None
        text = set_service_option(text, service, type_, name, value)
        owned.append(OwnedOption(f"{service}/{type_}", name, value, previous_value))

    wanted = list(dict.fromkeys(services))
    if cleanup and "cleanup/unix" not in wanted:
        wanted.append("cleanup/unix")
    for key in wanted:
        name, _sep, type_ = key.rpartition("/")
        if not name or type_ not in _TYPES:
            raise MasterCfError(
                f"signing service {key!r}: expected name/type, e.g. submission/inet"
            )
        existing = _matching(parsed, name, type_)
        if not existing:
            standard = DEBIAN_STANDARD.get(key)
            if standard is None:
                raise MasterCfError(
                    f"master.cf has no {key} service, and mailauth knows no standard line for it"
                )
            fields, extra = standard
            smtp = _matching(parsed, "smtp", "inet")
            if smtp and len(fields) == 6:
                # Run like the host's own smtpd: same chroot, so unix: milter paths agree.
                fields = (*fields[:2], smtp[0].fields[4], *fields[3:])
            text = ensure_service(
                text, name, type_, fields, template_names=_TEMPLATE_NAMES.get(name, ())
            )
            created.append(key)
            for option_name, value in extra:
                set_owned(name, type_, option_name, value)
            port = _PORTS.get(name)
            notes.append(
                f"master.cf: created {key}{f' (port {port})' if port else ''} "
                "from Debian's standard line"
            )
            entry = get_service(text, name, type_)
            assert entry is not None
            existing = [entry]
        for entry in existing:
            set_owned(entry.name, entry.type, option, tag)
            tagged.append(entry)

    if main_cf is not None:
        notes.extend(_host_notes(text, tagged, main_cf))
    return MasterEdit(
        text=text,
        ownership=MasterOwnership(created=tuple(created), options=tuple(owned)),
        notes=tuple(notes),
    )


def _host_notes(text: str, tagged: list[Service], main_cf: Mapping[str, str]) -> list[str]:
    """What the tagged submission services still need from the admin."""
    notes: list[str] = []
    by_key = {s.key: s for s in parse_master(text)}
    for old in tagged:
        entry = by_key.get(old.key)
        if entry is None or entry.fields[7] != "smtpd":
            continue
        sasl = entry.option("smtpd_sasl_auth_enable") or main_cf.get("smtpd_sasl_auth_enable", "no")
        if sasl.lower() != "yes":
            notes.append(
                f"master.cf: {entry.key} has no SASL authentication (smtpd_sasl_auth_enable): "
                "users cannot log in to send; set up SASL (e.g. Dovecot) for it"
            )
        wrapper = entry.option("smtpd_tls_wrappermode") or main_cf.get("smtpd_tls_wrappermode")
        has_cert = any(
            entry.option(p) or main_cf.get(p)
            for p in ("smtpd_tls_cert_file", "smtpd_tls_chain_files", "smtpd_tls_eccert_file")
        )
        if wrapper == "yes" and not has_cert:
            notes.append(
                f"master.cf: {entry.key} uses TLS wrapper mode but main.cf names no certificate "
                "(smtpd_tls_cert_file or smtpd_tls_chain_files)"
            )
    return notes


# --------------------------------------------------------------------------- snippet mode


def postconf_commands(before: str, after: str, *, config_dir: str | None = None) -> list[str]:
    """``postconf -M`` / ``-MX`` / ``-P`` / ``-PX`` commands that turn master.cf ``before``
    into ``after`` as Postfix reads it (layout aside), shell-quoted."""
    command = ["postconf"] + (["-c", config_dir] if config_dir is not None else [])
    old = {s.key: s for s in parse_master(before)}
    new = {s.key: s for s in parse_master(after)}
    out: list[list[str]] = []
    for key, entry in new.items():
        was = old.get(key)
        if was is None or was.fields != entry.fields or was._plain() != entry._plain():
            out.append([*command, "-M", f"{key}={entry.entry()}"])
            continue
        old_opts, new_opts = dict(was.options), dict(entry.options)
        changes = [(n, v) for n, v in new_opts.items() if old_opts.get(n) != v]
        if any(any(c in _WS for c in v) for _n, v in changes):
            out.append([*command, "-M", f"{key}={entry.entry()}"])  # -P refuses whitespace
            continue
        out.extend([*command, "-P", f"{key}/{n}={v}"] for n, v in changes)
        out.extend([*command, "-PX", f"{key}/{n}"] for n in old_opts if n not in new_opts)
    out.extend([*command, "-MX", key] for key in old if key not in new)
    return [shlex.join(argv) for argv in out]
