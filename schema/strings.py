"""One checked type per context a string from mailauth.yaml is written into.

A value is checked for the place it ends up in, not for where it came from: a path is
written into opendkim.conf, named.conf and KeyTable lines, so it may hold none of the
separators of those formats; a milter socket is one socket, parsed; an SOA contact is a
DNS name built by dnspython, never pasted text. Each check returns the normalised value or
raises ValueError with a sentence for the user (pydantic positions it).

Every pattern is applied with ``re.fullmatch``: ``$`` also matches before a trailing
newline, and ``"opendkim\\n"`` must not pass as a user name.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Collection

import dns.exception
import dns.name

from mailauth.schema import names

# Characters a path may hold. Each format mailauth writes paths into has its own
# separators (space and tab in opendkim.conf and KeyTable, ':' in KeyTable, ',' in
# dataset lists and smtpd_milters, '#' for comments, '"' and '\\' in named.conf, '$' in
# main.cf, '=' in milter specs); none of them is here.
_PATH_CHARS = "A-Za-z0-9._+@%~/-"
_PATH_RE = re.compile(f"[{_PATH_CHARS}]+")


def _foreign_chars(value: str, allowed: str) -> str | None:
    bad = sorted(set(re.sub(f"[{allowed}]", "", value)))
    return " ".join(repr(c) for c in bad) if bad else None


def _path_text(value: str, what: str) -> str:
    """The characters of a path: printable, and none that a generated format splits on."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    names.safe_text(value, what=what, forbid="")
    bad = _foreign_chars(value, _PATH_CHARS)
    if bad:
        raise ValueError(
            f"{what} {value!r} holds {bad}; a path may only hold letters, digits and "
            "'. _ + @ % ~ / -' (other characters separate values in the files it is written to)"
        )
    return value


def host_path(value: str, what: str = "path") -> str:
    """An absolute path on the mail host, without ``..`` components."""
    _path_text(value, what)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path on the mail host")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r}: '..' is not allowed in a path")
    return value


def local_file(value: str, what: str = "path") -> str:
    """A path relative to the directory of mailauth.yaml that stays inside it."""
    _path_text(value, what)
    if value.startswith("/"):
        raise ValueError(
            f"{value!r}: {what} is relative to the directory of mailauth.yaml; "
            "an absolute path is not allowed"
        )
    parts = value.split("/")
    if ".." in parts:
        raise ValueError(f"{value!r}: '..' is not allowed; {what} stays beside mailauth.yaml")
    if value.endswith("/") or all(p in ("", ".") for p in parts):
        raise ValueError(f"{value!r}: {what} must name a file")
    return value


def path_template(
    value: str, fields: Collection[str], samples: dict[str, str], what: str = "template"
) -> str:
    """A relative file name with ``{field}`` placeholders: each of ``fields``, nothing else.

    Every field is required: without it, two zones (or two keys) would share one file.

    ``samples`` are typical values of the fields (domain names hold no '/'); the template
    is checked after filling them in, so the result can be neither absolute nor hold '..'.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    names.safe_text(value, what=what, forbid="")
    allowed = ", ".join("{" + f + "}" for f in fields)
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a valid template ({exc}); write '{{' and '}}' only around {allowed}"
        ) from None
    literal = ""
    seen: set[str] = set()
    for text, field, spec, conversion in parsed:
        literal += text
        if field is None:
            continue
        seen.add(field)
        if field not in fields or spec or conversion:
            shown = (
                "{"
                + field
                + ("!" + conversion if conversion else "")
                + (":" + spec if spec else "")
                + "}"
            )
            raise ValueError(f"{value!r}: {shown} is not a field here; use {allowed}")
    if "{" in literal or "}" in literal:
        raise ValueError(f"{value!r}: braces are only allowed around {allowed}")
    missing = [f for f in fields if f not in seen]
    if missing:
        raise ValueError(f"{what} must contain {' and '.join('{' + f + '}' for f in missing)}")
    filled = value.format(**samples)
    _path_text(filled, what)
    if filled.startswith("/"):
        raise ValueError(f"{value!r}: {what} is relative to its directory; remove the leading '/'")
    parts = filled.split("/")
    if ".." in parts:
        raise ValueError(f"{value!r}: '..' is not allowed; {what} stays inside its directory")
    if filled.endswith("/") or any(p in ("", ".") for p in parts):
        raise ValueError(f"{value!r}: {what} must name a file (no empty or '.' parts)")
    return value


# ----------------------------------------------------------------------------- SOA RNAME

_LOCAL_PART = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")


def rname(value: str) -> str:
    """The SOA contact as a DNS name in presentation form (``hostmaster\\.x.example.org.``).

    Written as ``local@domain`` (dots of the local part are escaped in the zone) or as a
    domain name. The text comes out of dnspython's Name, so nothing but labels can reach
    the zone file.
    """
    if not isinstance(value, str):
        raise ValueError("rname must be text, such as hostmaster@example.org")
    text = value.strip()
    names.safe_text(text, what="rname", forbid="")
    local, at, domain = text.partition("@")
    if at:
        if not _LOCAL_PART.fullmatch(local):
            raise ValueError(
                f"{value!r}: the part before '@' may only hold letters, digits and '. _ + -' "
                "(no dot at its start or end)"
            )
        labels = [local]
    else:
        labels, domain = [], text
    try:
        host = names.domain_name(domain)
    except ValueError as exc:
        raise ValueError(f"rname {value!r}: {exc}") from None
    labels += host.split(".")
    try:
        name = dns.name.Name([label.encode("ascii") for label in [*labels, ""]])
    except dns.exception.DNSException as exc:
        raise ValueError(f"rname {value!r} is not a valid DNS name: {exc}") from None
    return name.to_text()


# ----------------------------------------------------------------------------- milter socket

_INET = re.compile(r"(?P<kind>inet6?):(?P<port>[0-9]{1,5})@(?P<host>[^@]+)")


def _socket_host(host: str, kind: str, value: str) -> str:
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None:
        if "%" in bare:
            raise ValueError(f"{value!r}: an IPv6 zone index ('%...') is not allowed")
        if kind == "inet" and address.version == 6:
            raise ValueError(f"{value!r}: an IPv6 address takes inet6:PORT@ADDRESS")
        if kind == "inet6" and address.version == 4:
            raise ValueError(f"{value!r}: an IPv4 address takes inet:PORT@ADDRESS")
        return host if bare != host else str(address)
    if bare != host:
        raise ValueError(f"{value!r}: only an IPv6 address goes in brackets")
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        raise ValueError(
            f"{value!r}: the host must be an IP address or a host name (one socket only)"
        )
    return host.lower().rstrip(".")


_LDH = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LDH}(?:\.{_LDH})*\.?")


def single_label_host(value: str) -> str:
    """A host name of one label (``localhost``): letters, digits and inner hyphens."""
    if not re.fullmatch(_LDH, value):
        raise ValueError(f"{value!r} is not a host name")
    return value.lower()


def milter_socket(value: str) -> str:
    """Exactly one milter socket: ``inet:PORT@HOST``, ``inet6:PORT@HOST`` or ``local:/path``.

    ``unix:/path`` is read as ``local:/path``. Postfix puts the socket into a comma- and
    space-separated list (smtpd_milters), so anything beyond one socket is refused here.
    """
    if not isinstance(value, str):
        raise ValueError("a milter socket must be text, such as inet:8891@127.0.0.1")
    names.safe_text(value, what="socket", forbid="")
    usage = "use inet:PORT@HOST, inet6:PORT@HOST or local:/path (one socket)"
    found = _INET.fullmatch(value)
    if found:
        port = int(found.group("port"))
        if not 0 < port < 65536:
            raise ValueError(f"{value!r}: port must be 1-65535")
        host = _socket_host(found.group("host"), found.group("kind"), value)
        return f"{found.group('kind')}:{port}@{host}"
    kind, colon, path = value.partition(":")
    if colon and kind in ("local", "unix"):
        try:
            host_path(path, "socket path")
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        return "local:" + path
    raise ValueError(f"{value!r} is not a milter socket: {usage}")


# ----------------------------------------------------------------------------- config values

_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_UMASK = re.compile(r"[0-7]{3,4}")
_AUTHSERV = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_MACRO = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def user_name(value: str) -> str:
    """A Unix user or group name, as opendkim.conf's ``UserID user:group`` takes it."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid user or group name (lower-case letters, digits, "
            "'_' and '-', starting with a letter or '_')"
        )
    return value


def umask(value: str) -> str:
    """A file mode mask: three or four octal digits (quote it: ``umask: "007"``)."""
    if not isinstance(value, str) or not _UMASK.fullmatch(value):
        raise ValueError(f'{value!r} is not a umask: write three or four octal digits, as "007"')
    return value


def authserv_id(value: str) -> str:
    """An authserv-id: a host name, or HOSTNAME for gethostname() (no separators)."""
    if not isinstance(value, str) or not _AUTHSERV.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid authserv-id: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def macro_value(value: str) -> str:
    """A Postfix macro value dkimpy-milter compares with (``daemon_name|VALUE``)."""
    if not isinstance(value, str) or not _MACRO.fullmatch(value):
        raise ValueError(f"{value!r}: use letters, digits, '_', '.' and '-' only")
    return value


# C1 controls and the Unicode line separators: names.safe_text stops at C0 and DEL.
_WIDE_CONTROL = re.compile("[\x80-\x9f\u2028\u2029]")


def milter_conf_value(value: str) -> str:
    """A value for a ``Name value`` line of opendkim.conf or opendmarc.conf.

    One line (no control character: a newline would start a second option), no ``#``
    (the rest of the line would be a comment), and no white space at either end (the
    daemon trims it, so the value read would not be the value written).
    """
    if not isinstance(value, str):
        raise ValueError("an option value must be text (quote numbers and yes/no)")
    names.safe_text(value, forbid="#")
    if _WIDE_CONTROL.search(value):
        raise ValueError(f"{value!r} holds a control or line-separator character; remove it")
    if not value.strip(_WS):
        raise ValueError("an option value may not be empty")
    if value != value.strip(_WS):
        raise ValueError(f"{value!r} has leading or trailing white space; remove it")
    return value


def plain_ip(value: str) -> str:
    """An IP address without an IPv6 zone index (``%eth0`` may hold any character)."""
    text = str(value).strip()
    if "%" in text:
        raise ValueError(f"{value!r}: an IPv6 zone index ('%...') is not allowed here")
    return text


_PARAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_WS = " \t\n\v\f\r"


def postfix_name(value: str) -> str:
    """A main.cf parameter name (letters, digits, '_', '.', '-')."""
    if not isinstance(value, str) or not _PARAM_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Postfix parameter name: use letters, digits, '_', '.', '-'"
        )
    return value


def postfix_value(value: str) -> str:
    """A main.cf value that Postfix reads back exactly as written.

    One line (no control characters), no leading or trailing white space (Postfix drops
    it), valid UTF-8 text (Postfix reads bytes; non-ASCII is kept as its UTF-8).
    """
    if not isinstance(value, str):
        raise ValueError("a Postfix parameter value must be text")
    names.safe_text(value, forbid="")
    if value != value.strip(_WS):
        raise ValueError(
            f"{value!r} has leading or trailing white space, which Postfix drops; remove it"
        )
    if "  " in value:
        raise ValueError(
            f"{value!r} holds a run of spaces, which Postfix reads as one; write one space"
        )
    if "$" in _POSTFIX_MACRO.sub("", value):
        raise ValueError(
            f"{value!r} holds a '$' that is not a parameter reference, which stops Postfix "
            "(fatal: macro processing error); write $name, ${name}, ${name?text}, "
            "${name:text}, or $$ for a '$'"
        )
    return value


# $$, $name, ${name}, $(name), ${name?text}, ${name:text}: what Postfix expands without
# complaint (nested references are refused, which is stricter than Postfix).
_POSTFIX_MACRO = re.compile(
    r"\$(?:\$|[A-Za-z0-9_]+|\{[A-Za-z0-9_]+(?:[?:][^{}()$]*)?\}"
    r"|\([A-Za-z0-9_]+(?:[?:][^{}()$]*)?\))"
)
