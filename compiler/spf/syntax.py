"""Reading an SPF record into terms, and saying what in it is malformed (RFC 7208 section 12).

A receiver that meets a malformed term stops with ``permerror`` and treats the domain as
if it had no SPF at all, so every complaint here is about a record that does not work.
The rule IDs are those of :mod:`mailauth.compiler.lint.rules`.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from dataclasses import dataclass, field

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
# Mechanisms that cost one of the ten DNS lookups (RFC 7208 section 4.6.4); `redirect=` too.
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MODIFIERS = ("redirect", "exp")
# Macro letters allowed in a domain-spec; c, r and t belong to the text of `exp` only.
_DOMAIN_MACRO_LETTERS = frozenset("slodiphv")
_EXP_ONLY_LETTERS = frozenset("crt")
_MACRO_BODY = re.compile(r"([A-Za-z])(\d*)(r?)([.\-+,/_=]*)", re.IGNORECASE)
_TERM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9_.\-]*)(.*)", re.DOTALL)
_CIDR_TAIL = re.compile(r"(?P<head>.*?)(?P<c4>/\d+)?(?P<c6>//\d+)?", re.DOTALL)
_TOPLABEL = re.compile(
    r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])"
)
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def is_spf(text: str) -> bool:
    """Whether a TXT value is an SPF record at all: ``v=spf1`` then a space or the end."""
    head = text[:7].lower()
    return head == "v=spf1" or head == "v=spf1 "


@dataclass(frozen=True)
class Term:
    """One mechanism or modifier, as written and as understood."""

    index: int  # 0 for the first term after v=spf1
    text: str
    modifier: bool
    qualifier: str  # "+", "-", "~" or "?"; "" for a modifier
    name: str  # lower case
    target: str | None = None  # domain-spec, network, or modifier value
    cidr4: int | None = None
    cidr6: int | None = None

    @property
    def costs_lookup(self) -> bool:
        if self.modifier:
            return self.name == "redirect"
        return self.name in LOOKUP_MECHANISMS


@dataclass(frozen=True)
class Issue:
    """Something malformed: the rule it breaks, the term (``None``: the record), a sentence."""

    rule: str
    term: Term | None
    message: str


@dataclass(frozen=True)
class Record:
    text: str
    terms: tuple[Term, ...]
    issues: tuple[Issue, ...] = field(default=())

    @property
    def mechanisms(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.modifier)

    def modifier(self, name: str) -> Term | None:
        """The first modifier called ``name`` (a second one is a syntax error)."""
        for term in self.terms:
            if term.modifier and term.name == name:
                return term
        return None

    @property
    def all_term(self) -> Term | None:
        """The first ``all``: evaluation never goes past it."""
        for term in self.terms:
            if not term.modifier and term.name == "all":
                return term
        return None

    @property
    def octets(self) -> int:
        return len(self.text.encode("utf-8"))


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Record:
    """The terms of ``text`` (which starts with ``v=spf1``) and every syntax issue found.

    Cached: the result is immutable, and thousands of domains often publish one record.
    """
    tokens = [t for t in text.split(" ") if t]
    issues: list[Issue] = []
    terms: list[Term] = []
    if not tokens or tokens[0].lower() != "v=spf1":
        issues.append(Issue("SPF002", None, "an SPF record starts with 'v=spf1'"))
        return Record(text, (), tuple(issues))
    seen_modifiers: dict[str, int] = {}
    for index, token in enumerate(tokens[1:]):
        term, found = _term(index, token)
        issues.extend(found)
        if term is None:
            continue
        terms.append(term)
        if term.modifier and term.name in MODIFIERS:
            seen_modifiers[term.name] = seen_modifiers.get(term.name, 0) + 1
            if seen_modifiers[term.name] == 2:
                issues.append(
                    Issue(
                        "SPF007",
                        term,
                        f"{term.name}= appears more than once; receivers answer permerror",
                    )
                )
    return Record(text, tuple(terms), tuple(issues))


def _term(index: int, token: str) -> tuple[Term | None, list[Issue]]:
    match = _TERM.fullmatch(token)
    if match is None:
        stub = Term(index, token, False, "+", "?")
        return None, [Issue("SPF002", stub, f"{token!r} is neither a mechanism nor a modifier")]
    qualifier, name, rest = match.groups()
    lname = name.lower()
    if rest.startswith("="):
        value = rest[1:]
        term = Term(index, token, True, "", lname, value)
        if qualifier:
            return term, [Issue("SPF002", term, f"{token!r}: a modifier takes no qualifier")]
        if lname in MECHANISMS:
            return term, [
                Issue(
                    "SPF002",
                    term,
                    f"{token!r}: {lname} is a mechanism, written {lname}:{value}, not {lname}=",
                )
            ]
        if lname in MODIFIERS:
            return term, _domain_spec_issues(term, value)
        issues = [_unknown_modifier(term)]
        issues += _macro_issues(term, value)
        return term, issues
    if lname not in MECHANISMS:
        stub = Term(index, token, False, qualifier or "+", lname, rest.lstrip(":") or None)
        return stub, [_unknown_mechanism(stub, lname)]
    return _mechanism(index, token, qualifier or "+", lname, rest)


def _unknown_mechanism(term: Term, name: str) -> Issue:
    close = difflib.get_close_matches(name, [*MECHANISMS, *MODIFIERS], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(MECHANISMS)}"
    return Issue("SPF002", term, f"{term.text!r}: unknown mechanism {name!r}{hint}")


def _unknown_modifier(term: Term) -> Issue:
    close = difflib.get_close_matches(term.name, list(MODIFIERS), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}=?)" if close else ""
    return Issue(
        "SPF008",
        term,
        f"{term.text!r}: unknown modifier {term.name}=; receivers ignore it{hint}",
    )


def _mechanism(
    index: int, token: str, qualifier: str, name: str, rest: str
) -> tuple[Term, list[Issue]]:
    if name == "all":
        term = Term(index, token, False, qualifier, name)
        if rest:
            return term, [Issue("SPF002", term, f"{token!r}: `all` takes no argument")]
        return term, []
    if name in ("include", "exists"):
        spec = rest[1:] if rest.startswith(":") else None
        term = Term(index, token, False, qualifier, name, spec)
        if not spec:
            return term, [
                Issue("SPF002", term, f"{token!r}: {name} needs a domain, as {name}:<domain>")
            ]
        return term, _domain_spec_issues(term, spec)
    if name in ("ip4", "ip6"):
        return _ip(index, token, qualifier, name, rest)
    if name == "ptr":
        spec = rest[1:] if rest.startswith(":") else None
        term = Term(index, token, False, qualifier, name, spec)
        if rest and not spec:
            return term, [Issue("SPF002", term, f"{token!r}: write ptr or ptr:<domain>")]
        return term, _domain_spec_issues(term, spec) if spec else []
    # a and mx: [":" domain-spec] [dual-cidr-length]
    match = _CIDR_TAIL.fullmatch(rest)
    assert match is not None  # every string matches (the head is a free .*?)
    head, c4, c6 = match.group("head"), match.group("c4"), match.group("c6")
    issues: list[Issue] = []
    spec = head[1:] if head.startswith(":") else None
    cidr4 = _cidr(c4[1:]) if c4 else None
    cidr6 = _cidr(c6[2:]) if c6 else None
    term = Term(index, token, False, qualifier, name, spec, cidr4, cidr6)
    if head and not spec:
        issues.append(
            Issue("SPF002", term, f"{token!r}: write {name}, {name}:<domain> or {name}/<prefix>")
        )
    elif spec:
        issues += _domain_spec_issues(term, spec)
    if c4 and (cidr4 is None or cidr4 > 32):
        issues.append(Issue("SPF003", term, f"{token!r}: an IPv4 prefix length is 0-32"))
    if c6 and (cidr6 is None or cidr6 > 128):
        issues.append(Issue("SPF003", term, f"{token!r}: an IPv6 prefix length is 0-128"))
    return term, issues


def _cidr(digits: str) -> int | None:
    """A prefix length as RFC 7208 writes it: no leading zero."""
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    return int(digits)


def _ip(index: int, token: str, qualifier: str, name: str, rest: str) -> tuple[Term, list[Issue]]:
    value = rest[1:] if rest.startswith(":") else ""
    network, slash, length = value.partition("/")
    term = Term(index, token, False, qualifier, name, value or None)
    if not value:
        return term, [Issue("SPF002", term, f"{token!r}: {name} needs a network, as {name}:<ip>")]
    if "%" in value:
        return term, [
            Issue(
                "SPF005",
                term,
                f"{token!r}: {name} takes a literal address; macros work only in domain names",
            )
        ]
    version, limit = (4, 32) if name == "ip4" else (6, 128)
    try:
        address = ipaddress.ip_address(network)
    except ValueError:
        return term, [
            Issue("SPF003", term, f"{token!r}: {network!r} is not an IPv{version} address")
        ]
    if address.version != version:
        return term, [
            Issue(
                "SPF003",
                term,
                f"{token!r}: {network} is an IPv{address.version} address; "
                f"write ip{address.version}:{value}",
            )
        ]
    prefix = _cidr(length) if slash else None
    if slash and (prefix is None or prefix > limit):
        return term, [Issue("SPF003", term, f"{token!r}: an {name} prefix length is 0-{limit}")]
    return Term(index, token, False, qualifier, name, value, prefix if version == 4 else None), []


def _macro_issues(term: Term, spec: str) -> list[Issue]:
    """Macro syntax (RFC 7208 section 7.1) anywhere in ``spec``."""
    issues: list[Issue] = []
    i = 0
    while i < len(spec):
        if spec[i] != "%":
            i += 1
            continue
        nxt = spec[i + 1 : i + 2]
        if nxt in ("%", "_", "-"):
            i += 2
            continue
        if nxt != "{":
            issues.append(
                Issue(
                    "SPF004",
                    term,
                    f"{term.text!r}: '%' starts a macro (%{{d}}) or an escape (%%, %_, %-); "
                    f"got {spec[i : i + 2]!r}",
                )
            )
            i += 1
            continue
        close = spec.find("}", i)
        if close < 0:
            issues.append(Issue("SPF004", term, f"{term.text!r}: '%{{' is never closed by '}}'"))
            break
        body = spec[i + 2 : close]
        match = _MACRO_BODY.fullmatch(body)
        if match is None:
            issues.append(
                Issue(
                    "SPF004",
                    term,
                    f"{term.text!r}: %{{{body}}} is not a macro (a letter, then digits, 'r' "
                    "and delimiters . - + , / _ =)",
                )
            )
        else:
            letter, digits = match.group(1).lower(), match.group(2)
            if letter in _EXP_ONLY_LETTERS:
                issues.append(
                    Issue(
                        "SPF004",
                        term,
                        f"{term.text!r}: the macro letter {letter!r} is allowed only in the "
                        "explanation text of exp=, not in a domain name",
                    )
                )
            elif letter not in _DOMAIN_MACRO_LETTERS:
                issues.append(
                    Issue("SPF004", term, f"{term.text!r}: {letter!r} is not a macro letter")
                )
            if digits and int(digits) == 0:
                issues.append(
                    Issue(
                        "SPF004",
                        term,
                        f"{term.text!r}: %{{{body}}}: the number of parts to keep must not be 0",
                    )
                )
        i = close + 1
    return issues


def _domain_spec_issues(term: Term, spec: str) -> list[Issue]:
    """A domain-spec: macros well formed, and ending in a real top label or a macro."""
    issues = _macro_issues(term, spec)
    bad = sorted({c for c in spec if not 0x21 <= ord(c) <= 0x7E})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return [*issues, Issue("SPF006", term, f"{term.text!r}: the domain holds {shown}")]
    if issues:
        return issues
    tail = re.split(r"%\{[^}]*\}|%[%_-]", spec)[-1]
    if tail == "":
        return []  # ends with a macro: the domain is only known at evaluation time
    literal = tail[:-1] if tail.endswith(".") else tail
    if "." not in literal:
        return [
            Issue(
                "SPF006",
                term,
                f"{term.text!r}: {spec!r} is not a fully qualified domain name (no dot)",
            )
        ]
    top = literal.rsplit(".", 1)[-1]
    if not _TOPLABEL.fullmatch(top):
        hint = "; it takes a domain name, not an address" if _looks_like_ip(spec) else ""
        return [
            Issue(
                "SPF006",
                term,
                f"{term.text!r}: {spec!r} does not end in a valid top-level label{hint}",
            )
        ]
    if "%" not in spec:
        labels = literal.split(".")
        if any(not label for label in labels):
            return [Issue("SPF006", term, f"{term.text!r}: {spec!r} has an empty label")]
        if any(not _LABEL.fullmatch(label) for label in labels):
            return [
                Issue(
                    "SPF006",
                    term,
                    f"{term.text!r}: {spec!r} has a label that is too long or holds "
                    "characters a host name cannot",
                )
            ]
        if len(literal) > 253:
            return [Issue("SPF006", term, f"{term.text!r}: a domain name has at most 253 octets")]
    return []


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def expand(spec: str, domain: str) -> str | None:
    """``spec`` with its macros expanded, when only ``%{d}`` (the current domain) is used.

    Macros about the sender (``%{i}``, ``%{s}``, ``%{l}``, ``%{h}``...) are known only while a
    message is checked: for those the answer is None.
    """
    out: list[str] = []
    i = 0
    while i < len(spec):
        char = spec[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        nxt = spec[i + 1 : i + 2]
        if nxt == "%":
            out.append("%")
            i += 2
            continue
        if nxt in ("_", "-"):
            return None  # spaces in a domain name: never a real target
        close = spec.find("}", i)
        if nxt != "{" or close < 0:
            return None
        match = _MACRO_BODY.fullmatch(spec[i + 2 : close])
        if match is None or match.group(1).lower() != "d":
            return None
        _, digits, reverse, delimiters = match.groups()
        parts = re.split("[" + re.escape(delimiters or ".") + "]", domain)
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :]
        out.append(".".join(parts))
        i = close + 1
    name = "".join(out).rstrip(".").lower()
    return name or None
