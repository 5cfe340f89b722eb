"""SPF, DMARC and DKIM record texts read back into mailauth.yaml's fields.

A text becomes fields only when compiler.records rebuilds exactly the same text from them:
that is what makes the first plan after an import change no record. A text that parses
but would come back different is kept verbatim where the schema allows it (SPF and DMARC
``raw``), and otherwise reported, never changed silently.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mailauth.compiler.records import dkim_text, dmarc_text, spf_text
from mailauth.schema.models import Dmarc, Spf


class Unparsed(ValueError):
    """The text does not map onto the schema's fields; the message says which term."""


@dataclass
class Parsed:
    """Fields for mailauth.yaml, and whether they rebuild the very same text."""

    fields: dict[str, Any]
    exact: bool
    why: str = ""  # when not exact: what differs
    extra: dict[str, Any] = field(default_factory=dict)


def is_spf(text: str) -> bool:
    """``v=spf1`` alone or followed by a space (RFC 7208 4.5), in any case."""
    low = text.lower()
    return low == "v=spf1" or low.startswith("v=spf1 ")


def is_dmarc(text: str) -> bool:
    return text.replace(" ", "").upper().startswith("V=DMARC1")


def _spf_fields(text: str) -> dict[str, Any]:
    terms = text.split()
    if not terms or terms[0].lower() != "v=spf1":
        raise Unparsed("it does not start with v=spf1")
    fields: dict[str, Any] = {}
    lists = ("ip4", "ip6", "include", "exists")
    for term in terms[1:]:
        name, sep, rest = term.partition(":")
        if term in ("-all", "~all", "?all", "+all"):
            if "all" in fields:
                raise Unparsed("it has two 'all' terms")
            fields["all"] = term
        elif sep and name in lists and rest:
            fields.setdefault(name, []).append(rest)
        elif term.startswith("redirect=") and "redirect" not in fields:
            fields["redirect"] = term.removeprefix("redirect=")
        elif term in ("a", "mx"):
            if term in fields:
                raise Unparsed(f"it has the term {term!r} twice")
            fields[term] = True
        elif term[:2] in ("a:", "a/") or term[:3] in ("mx:", "mx/"):
            mech = "a" if term.startswith("a") else "mx"
            spec = term[len(mech) :].removeprefix(":")
            if fields.get(mech) is True:
                raise Unparsed(f"it has both {mech!r} and {term!r}")
            fields.setdefault(mech, []).append(spec)
        else:
            raise Unparsed(f"the term {term!r} has no field in mailauth.yaml")
    fields.setdefault("mx", False)
    fields.setdefault("all", None)
    return fields


def parse_spf(text: str) -> Parsed:
    """The ``spf:`` fields of an SPF record; raises Unparsed when no field set holds it.

    The fields are those that differ from the schema's defaults, plus ``mx`` and ``all``
    always (the two a reader looks for first).
    """
    fields = _spf_fields(text)
    try:
        model = Spf.model_validate(fields)
    except ValidationError as exc:
        raise Unparsed(_first_error(exc)) from None
    rebuilt = spf_text(model)
    out = {
        key: value
        for key, value in model.model_dump(exclude={"raw", "flatten"}).items()
        if key in ("mx", "all")
        or value != Spf.model_fields[key].get_default(call_default_factory=True)
    }
    if rebuilt != text:
        return Parsed(out, False, f"mailauth would write it as {rebuilt!r} (its own term order)")
    return Parsed(out, True)


_DMARC_WORDS = {"p", "sp", "np", "adkim", "aspf", "fo", "psd"}


def parse_dmarc(text: str) -> Parsed:
    """The ``dmarc:`` fields of a DMARC record; raises Unparsed for a tag the schema lacks."""
    tags = [part.strip() for part in text.split(";")]
    if tags and tags[-1] == "":
        tags.pop()
    if not tags or tags[0].replace(" ", "") != "v=DMARC1":
        raise Unparsed("it does not start with v=DMARC1")
    fields: dict[str, Any] = {}
    for tag in tags[1:]:
        key, eq, value = (s.strip() for s in tag.partition("="))
        if not eq or key in fields:
            raise Unparsed(f"the tag {tag!r} is malformed or repeated")
        if key in _DMARC_WORDS:
            fields[key] = value
        elif key in ("rua", "ruf"):
            fields[key] = [uri.strip() for uri in value.split(",")]
        elif key == "pct" and value.isdigit():
            fields[key] = int(value)
        elif key == "t" and value in ("y", "n"):
            fields[key] = value == "y"
        else:
            raise Unparsed(f"the tag {tag!r} has no field in mailauth.yaml")
    try:
        model = Dmarc.model_validate(fields)
    except ValidationError as exc:
        raise Unparsed(_first_error(exc)) from None
    rebuilt = dmarc_text(model)
    out = model.model_dump(exclude_defaults=True)
    out["p"] = model.p
    if rebuilt != text:
        return Parsed(out, False, f"mailauth would write it as {rebuilt!r}")
    return Parsed(out, True)


def parse_dkim(text: str) -> Parsed:
    """A DKIM key record: ``fields`` are a selector's (algorithm, bits, testing) and
    ``extra["p"]`` the public key; raises Unparsed when it is no key record."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key in tags:
            raise Unparsed(f"the tag {part.strip()!r} is malformed or repeated")
        tags[key] = "".join(value.split())
    if tags.get("v", "DKIM1") != "DKIM1" or "p" not in tags:
        raise Unparsed("it is no DKIM key record (v=DKIM1 ... p=...)")
    algorithm = tags.get("k", "rsa")
    if algorithm not in ("rsa", "ed25519"):
        raise Unparsed(f"k={algorithm} is not a key type mailauth knows")
    p = tags["p"]
    fields: dict[str, Any] = {"algorithm": algorithm}
    if algorithm == "rsa" and p:
        bits = rsa_bits(p)
        if bits is not None:
            fields["bits"] = bits
    testing = tags.get("t") == "y"
    if testing:
        fields["testing"] = True
    rebuilt = dkim_text(algorithm, p, testing=testing)
    others = sorted(set(tags) - {"v", "k", "p", "t"})
    if tags.get("t", "y") != "y":
        others.append("t")
    if others:
        why = f"the tags {', '.join(others)} have no field in mailauth.yaml"
        return Parsed(fields, False, why, {"p": p})
    if rebuilt != text:
        return Parsed(fields, False, f"mailauth would write it as {rebuilt!r}", {"p": p})
    return Parsed(fields, True, extra={"p": p})


def rsa_bits(p: str) -> int | None:
    """The modulus size of a base64 SubjectPublicKeyInfo RSA key; None if it is none."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(p, validate=True))
    except (ValueError, TypeError):
        return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])
