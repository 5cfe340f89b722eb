"""The DNS lookup budget of an SPF record, counted as a receiver counts it (RFC 7208 4.6.4).

A receiver may make at most 10 DNS lookups for the terms ``include``, ``a``, ``mx``,
``ptr``, ``exists`` and the ``redirect`` modifier, across every record it is sent to; the
11th is a ``permerror``, whichever term asks for it, the last one included. ``all``,
``ip4``, ``ip6`` and ``exp`` cost nothing. Lookups that find nothing ("void lookups") may
happen at most twice. An ``mx`` whose name has more than 10 MX hosts is a permerror too.

The count is the worst case: every term is tried, as for a sender that matches none of
them. Evaluation stops at the first ``all``, so terms after it are not counted, and
``redirect=`` is followed only when the record has no ``all``.

The result is a tree: one node per lookup, numbered in the order a receiver makes them,
with the records followed beneath their ``include``/``redirect``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailauth.compiler.spf.dnsview import DnsView, addresses
from mailauth.compiler.spf.syntax import expand, parse
from mailauth.schema.names import norm

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_LIMIT = 10
# Safety stops for absurd trees (loops are detected; these bound diamonds and depth).
MAX_DEPTH = 20
MAX_NODES = 500
# Syntax problems of a followed record that make the whole evaluation a permerror.
_FATAL_SYNTAX = frozenset({"SPF002", "SPF003", "SPF004", "SPF005", "SPF006", "SPF007"})


@dataclass
class Node:
    """One lookup (or the record at the root)."""

    term: str
    domain: str
    top: int | None  # index of the top-level term of the checked record it comes from
    number: int | None = None  # the n-th counted lookup
    void: bool = False
    note: str = ""
    target: str | None = None  # the name looked up, when known
    record: str | None = None  # the record followed (include / redirect)
    free_terms: int = 0  # ip4/ip6/all terms of the followed record: no lookup
    children: list[Node] = field(default_factory=list)

    @property
    def cost(self) -> int:
        """Counted lookups of this node and everything under it."""
        return (1 if self.number is not None else 0) + sum(c.cost for c in self.children)


@dataclass(frozen=True)
class RuleHit:
    """A problem met while counting: the rule, the top-level term it comes from, a sentence.

    check_spf turns each into a lint Finding, once it knows where the term is written."""

    rule: str
    top: int | None
    message: str


@dataclass
class Budget:
    domain: str
    text: str
    root: Node
    lookups: int = 0
    voids: int = 0
    over: Node | None = None  # the lookup past the limit
    void_over: Node | None = None  # the void lookup past the limit
    findings: list[RuleHit] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    #: include/redirect targets whose record was not known, so not followed: each may
    #: hold any number of lookups, and the budget is unknown (a subset of ``unresolved``).
    unknown: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unresolved

    @property
    def known(self) -> bool:
        """Every include and redirect was followed: the lookup count is the real one."""
        return not self.unknown


def count(
    domain: str,
    text: str,
    view: DnsView,
    *,
    own: Callable[[str], bool] = lambda name: False,
) -> Budget:
    """The lookup tree of ``text``, the SPF record of ``domain``.

    ``own(name)`` says whether a record is one mailauth publishes (its own syntax is
    checked where it is defined; here only third-party records are).
    """
    root = Node(norm(domain), norm(domain), None, record=text)
    budget = Budget(norm(domain), text, root)
    _Walker(budget, view, own).record(norm(domain), text, root, (norm(domain),), None)
    return budget


class _Walker:
    def __init__(self, budget: Budget, view: DnsView, own: Callable[[str], bool]) -> None:
        self.budget = budget
        self.view = view
        self.own = own
        self.nodes = 0

    def problem(self, rule: str, top: int | None, message: str) -> None:
        finding = RuleHit(rule, top, message)
        if finding not in self.budget.findings:
            self.budget.findings.append(finding)

    def unresolved(self, what: str) -> None:
        if what not in self.budget.unresolved:
            self.budget.unresolved.append(what)

    def unfollowed(self, target: str) -> None:
        """An include/redirect target whose record is not known: the budget is unknown."""
        self.unresolved(target)
        if target not in self.budget.unknown:
            self.budget.unknown.append(target)

    def lookup(self, node: Node) -> None:
        self.budget.lookups += 1
        node.number = self.budget.lookups
        if self.budget.lookups == LOOKUP_LIMIT + 1:
            self.budget.over = node

    def void(self, node: Node, why: str) -> None:
        self.budget.voids += 1
        node.void = True
        node.note = why
        if self.budget.voids == VOID_LIMIT + 1:
            self.budget.void_over = node

    def record(
        self, domain: str, text: str, parent: Node, stack: tuple[str, ...], top: int | None
    ) -> None:
        parsed = parse(text)
        if top is not None and not self.own(domain):
            for issue in parsed.issues:
                if issue.rule in _FATAL_SYNTAX:
                    self.problem(issue.rule, top, f"in the record of {domain}: {issue.message}")
        for term in parsed.terms:
            if term.modifier:
                continue
            if term.name == "all":
                break
            if term.name in ("ip4", "ip6"):
                parent.free_terms += 1
                continue
            if not term.costs_lookup:
                continue
            self.nodes += 1
            node = Node(term.text, domain, top if top is not None else term.index)
            parent.children.append(node)
            self.lookup(node)
            self.mechanism(term.name, term.target, node, domain, stack)
        else:
            redirect = parsed.modifier("redirect")
            if redirect is not None and redirect.target:
                node = Node(redirect.text, domain, top if top is not None else redirect.index)
                parent.children.append(node)
                self.lookup(node)
                self.follow(redirect.target, node, domain, stack, "redirect")

    def mechanism(
        self, name: str, spec: str | None, node: Node, domain: str, stack: tuple[str, ...]
    ) -> None:
        if name == "include":
            assert spec is not None
            self.follow(spec, node, domain, stack, "include")
            return
        target = _target(spec, domain)
        node.target = target
        if target is None:
            node.note = "the name depends on the message (a macro): looked up per message"
            if name != "exists":
                self.unresolved(node.term)
            return
        if name == "ptr":
            node.note = "PTR lookups depend on the client address"
            return
        if name == "exists":
            found = self.view.lookup(target, "a")
            if found == []:
                self.void(node, f"{target} has no A record: void lookup")
            return
        if name == "a":
            found = addresses(self.view, target)
            if found is None:
                node.note = f"{target}: not resolved"
                self.unresolved(target)
            elif not found:
                self.void(node, f"{target} has no address: void lookup")
            else:
                node.note = f"{len(found)} address(es)"
            return
        hosts = self.view.lookup(target, "mx")
        if hosts is None:
            node.note = f"{target}: MX not resolved"
            self.unresolved(target)
        elif not hosts:
            self.void(node, f"{target} has no MX record: void lookup")
        elif len(hosts) > MX_LIMIT:
            node.note = f"{len(hosts)} MX hosts"
            self.problem(
                "SPF015",
                node.top,
                f"{node.term} in the record of {domain}: {target} has {len(hosts)} MX hosts; "
                f"receivers look up at most {MX_LIMIT} and answer permerror beyond",
            )
        else:
            node.note = f"MX: {len(hosts)} host(s)"

    def follow(self, spec: str, node: Node, domain: str, stack: tuple[str, ...], kind: str) -> None:
        target = _target(spec, domain)
        node.target = target
        if target is None:
            node.note = "the name depends on the message (a macro): not followed"
            self.unresolved(node.term)
            return
        if target in stack:
            chain = " -> ".join([*stack, target])
            node.note = "loop"
            self.problem(
                "SPF013",
                node.top,
                f"{node.term} (in the record of {domain}) comes back to a record already "
                f"being evaluated ({chain}); receivers answer permerror",
            )
            return
        if len(stack) > MAX_DEPTH or self.nodes > MAX_NODES:
            node.note = "not followed further (tree too large)"
            self.unfollowed(target)
            return
        records = self.view.lookup(target, "txt")
        if records is None:
            node.note = "third-party record not resolved"
            self.unfollowed(target)
            return
        if not records:
            self.void(node, f"{target} has no SPF record")
            self.problem(
                "SPF014",
                node.top,
                f"{kind} target {target} (from the record of {domain}) has no SPF record; "
                "receivers answer permerror",
            )
            return
        if len(records) > 1:
            node.note = f"{len(records)} SPF records"
            self.problem(
                "SPF001",
                node.top,
                f"{target} publishes {len(records)} SPF records; receivers answer permerror",
            )
            return
        node.record = records[0]
        self.record(target, records[0], node, (*stack, target), node.top)


def _target(spec: str | None, domain: str) -> str | None:
    if not spec:
        return domain
    return expand(spec, domain)


def render(budget: Budget) -> list[str]:
    """The tree as text lines: lookup number, term, what it costs and finds."""
    width = max(len(f"#{budget.lookups}"), 3)
    head = (
        f"{budget.domain}: {budget.lookups} DNS lookup(s), limit {LOOKUP_LIMIT}; "
        f"{budget.voids} void, limit {VOID_LIMIT}"
    )
    if budget.unresolved:
        head += f"; not resolved: {', '.join(budget.unresolved)} (counts are a minimum)"
    if budget.unknown:
        head += "; the lookup budget is unknown"
    lines = [head]
    if budget.root.free_terms:
        lines.append(f"{'':>{width}}  ({budget.root.free_terms} ip4/ip6 term(s): no lookup)")

    def walk(node: Node, prefix: str, last: bool, depth: int) -> None:
        number = f"#{node.number}" if node.number is not None else ""
        branch = ("`-- " if last else "|-- ") if depth else ""
        notes: list[str] = []
        inside = node.cost - (1 if node.number is not None else 0)
        if inside:
            notes.append(f"1 + {inside} inside = {node.cost}")
        if node.free_terms:
            notes.append(f"{node.free_terms} ip4/ip6 term(s)")
        if node.note:
            notes.append(node.note)
        if node is budget.over:
            notes.append(f"<- lookup {LOOKUP_LIMIT + 1}: over the limit, permerror")
        if node is budget.void_over:
            notes.append(f"<- void lookup {VOID_LIMIT + 1}: over the limit, permerror")
        rows.append((f"{number:>{width}}  {prefix}{branch}{node.term}", "; ".join(notes)))
        child_prefix = prefix + (("    " if last else "|   ") if depth else "")
        for index, child in enumerate(node.children):
            walk(child, child_prefix, index == len(node.children) - 1, depth + 1)

    rows: list[tuple[str, str]] = []
    for child in budget.root.children:
        walk(child, "", False, 0)
    column = min(max((len(left) for left, _ in rows), default=0), 56) + 2
    for left, notes in rows:
        lines.append(f"{left:<{column}}({notes})" if notes else left)
    return lines


def as_dict(node: Node) -> dict[str, object]:
    """The tree for JSON output."""
    entry: dict[str, object] = {"term": node.term, "domain": node.domain, "cost": node.cost}
    if node.number is not None:
        entry["lookup"] = node.number
    if node.target is not None:
        entry["target"] = node.target
    if node.void:
        entry["void"] = True
    if node.note:
        entry["note"] = node.note
    if node.free_terms:
        entry["free_terms"] = node.free_terms
    if node.children:
        entry["children"] = [as_dict(c) for c in node.children]
    return entry
