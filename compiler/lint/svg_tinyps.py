"""Is an SVG file within the SVG Tiny Portable/Secure profile that BIMI logos must follow?

The checks are the ones receivers apply before they show a logo: the root is
``<svg version="1.2" baseProfile="tiny-ps">`` with a ``<title>``; there is no script
(``<script>`` or an ``on...`` event attribute), no ``<image>`` or ``<foreignObject>``, and no
reference outside the file (every ``href``/``xlink:href`` is a ``#fragment``).

The file is hostile input like mailauth.yaml: it is parsed with defusedxml, which refuses
entity declarations (a few hundred bytes of nested entities can expand to gigabytes) and
external references, before any element is looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# A CSS url() that is not a #fragment: a style can fetch from outside the file too.
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.IGNORECASE)
_FORBIDDEN = {"script": "a <script>", "image": "an <image>", "foreignObject": "a <foreignObject>"}


class SvgUnreadable(ValueError):
    """Not XML this checker will read: malformed, or with entities or external references."""


@dataclass(frozen=True)
class SvgProblem:
    """One way the file leaves the profile; ``line`` is unknown for ElementTree elements."""

    message: str


def _local(tag: str) -> tuple[str, str]:
    """``{ns}name`` -> ``(ns, name)``; no namespace -> ``("", name)``."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def parse(data: bytes) -> Element:
    """The document's root element; SvgUnreadable for anything not plain, safe XML."""
    try:
        root: Element = defusedxml.ElementTree.fromstring(data)
    except defusedxml.EntitiesForbidden:
        raise SvgUnreadable("it declares XML entities, which mailauth does not expand") from None
    except defusedxml.DefusedXmlException as exc:
        raise SvgUnreadable(f"it refers to something outside the file ({exc})") from None
    except ParseError as exc:
        line, column = exc.position
        raise SvgUnreadable(f"not well-formed XML at line {line}, column {column + 1}") from None
    return root


def check_root(root: Element) -> list[SvgProblem]:
    """Every way the parsed document leaves SVG Tiny PS, in document order."""
    problems: list[SvgProblem] = []
    ns, name = _local(root.tag)
    if (ns, name) != (SVG_NS, "svg"):
        problems.append(SvgProblem(f"the root element is <{name}>, not an SVG <svg> element"))
        return problems
    profile = root.get("baseProfile")
    if profile != "tiny-ps":
        problems.append(SvgProblem(f'baseProfile is {profile!r}, not "tiny-ps"'))
    version = root.get("version")
    if version != "1.2":
        problems.append(SvgProblem(f'version is {version!r}, not "1.2"'))
    titles = [c for c in root if _local(c.tag) == (SVG_NS, "title") and (c.text or "").strip()]
    if not titles:
        problems.append(SvgProblem("no <title> child of <svg> (receivers need the brand name)"))
    for element in root.iter():
        ens, ename = _local(element.tag)
        if ename in _FORBIDDEN and ens in (SVG_NS, ""):
            problems.append(SvgProblem(f"it holds {_FORBIDDEN[ename]} element"))
        if ename == "style" and _CSS_URL.search(element.text or ""):
            problems.append(SvgProblem("a <style> loads url(...) from outside the file"))
        for attribute, value in element.attrib.items():
            ans, aname = _local(attribute)
            if aname.lower().startswith("on") and ans in ("", SVG_NS):
                problems.append(SvgProblem(f"<{ename}> has an event handler {aname}= (a script)"))
            elif aname == "href" and ans in ("", XLINK_NS) and not value.strip().startswith("#"):
                problems.append(
                    SvgProblem(f"<{ename}> refers outside the file: href={value.strip()!r}")
                )
            elif _CSS_URL.search(value):
                problems.append(
                    SvgProblem(f"<{ename}> {aname}= loads url(...) from outside the file")
                )
    return problems


def check_svg(data: bytes) -> list[SvgProblem]:
    """Parse and check; SvgUnreadable when the file cannot be read as safe XML."""
    return check_root(parse(data))
