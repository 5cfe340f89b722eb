"""How a plan is shown: coloured text for people, JSON for tools, Markdown for pull requests."""

from __future__ import annotations

import json
from typing import Any

from mailauth.compiler.plan import FileChange, Plan

PLAN_FORMAT_VERSION = 1

_SIGN = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}
_COLOUR = {"create": "32", "update": "33", "delete": "31"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _diff_lines(diff: str, colour: bool) -> str:
    if not colour:
        return diff
    out = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            out.append(_paint(line.rstrip("\n"), "1", True) + "\n")
        elif line.startswith("+"):
            out.append(_paint(line.rstrip("\n"), "32", True) + "\n")
        elif line.startswith("-"):
            out.append(_paint(line.rstrip("\n"), "31", True) + "\n")
        elif line.startswith("@@"):
            out.append(_paint(line.rstrip("\n"), "36", True) + "\n")
        else:
            out.append(line)
    return "".join(out)


def summary(plan: Plan) -> str:
    return (
        f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete, {plan.count('unchanged')} unchanged."
    )


def as_text(plan: Plan, *, colour: bool = False, diffs: bool = True) -> str:
    parts: list[str] = []
    for change in plan.pending:
        head = f"{_SIGN[change.op]} {change.op} {change.path}"
        parts.append(_paint(head, _COLOUR[change.op], colour) + "\n")
        if diffs:
            parts.append(_diff_lines(change.diff(), colour))
    for note in plan.notes:
        parts.append(f"note: {note}\n")
    if not plan.pending:
        parts.append("No changes: everything under the root is up to date.\n")
    parts.append(summary(plan) + "\n")
    if plan.reloads:
        parts.append("After apply, run: " + "; ".join(plan.reloads) + "\n")
    return "".join(parts)


def _change_json(change: FileChange) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": change.path, "operation": change.op, "secret": change.secret}
    if change.secret:
        entry["old_fingerprint"] = change.fingerprint(change.old)
        entry["new_fingerprint"] = change.fingerprint(change.new)
    elif change.op != "unchanged":
        entry["diff"] = change.diff()
    return entry


def as_json(plan: Plan) -> str:
    doc = {
        "format_version": PLAN_FORMAT_VERSION,
        "root": str(plan.root),
        "summary": {op: plan.count(op) for op in ("create", "update", "delete", "unchanged")},
        "changes": [_change_json(c) for c in plan.changes],
        "reload": plan.reloads,
        "notes": plan.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def as_markdown(plan: Plan) -> str:
    lines = ["### mailauth plan", "", summary(plan), ""]
    if plan.pending:
        lines += ["| operation | file |", "| --- | --- |"]
        lines += [f"| {c.op} | `{_cell(c.path)}` |" for c in plan.pending]
        lines.append("")
    for change in plan.pending:
        fence = "````" if "```" in change.diff() else "```"
        lines += [
            f"<details><summary>{change.op} <code>{_cell(change.path)}</code></summary>",
            "",
            f"{fence}diff",
            change.diff().rstrip("\n"),
            fence,
            "</details>",
            "",
        ]
    return "\n".join(lines) + "\n"
