"""The import readers' shared ground: files read below the root, Notes, and settings
checked against the target's settings model before they are taken."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from mailauth.backends import platforms
from mailauth.compiler.importer.found import Found, Note, Yaml
from mailauth.compiler.importer.milter_tables import (
    Dataset,
    Option,
    content_lines,
    truth,
)
from mailauth.schema import strings
from mailauth.schema.targets import trusted_host

NoteKind = Literal["not-imported", "raw", "changed", "mismatch"]


class MailImportError(ValueError):
    """A file the user named explicitly cannot be read (absent, outside the root)."""


@dataclass(frozen=True)
class Signer:
    """A milter the import found (a signer or OpenDMARC): main.cf's milter lists are
    matched against its socket; ``where`` is the file (and line) that sets the socket."""

    target: str
    socket: str | None
    where: str


class MailFiles:
    """One import run: the root, and the findings and notes gathered so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.found = Found()

    # ------------------------------------------------------------------ files and notes

    def note(self, where: str, kind: NoteKind, what: str, why: str) -> None:
        self.found.notes.append(Note(where=where, kind=kind, what=what, why=why))

    def local(self, host_path: str) -> Path | None:
        """``host_path`` below the root, or None when it would lead out of it."""
        if not host_path.startswith("/"):
            return None
        parts = [p for p in host_path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        path = self.root.joinpath(*parts)
        try:
            path.resolve().relative_to(self.real_root)
        except ValueError:
            return None
        return path

    def read(self, host_path: str, where: str, what: str) -> str | None:
        """A file's text (None, with a Note, when it is absent or not below the root)."""
        path = self.local(host_path)
        if path is None:
            self.note(
                where,
                "not-imported",
                what,
                f"{host_path} is not an absolute path below the root, so it was not read",
            )
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.note(where, "not-imported", what, f"{host_path} cannot be read ({exc.strerror})")
            return None
        return data.decode("utf-8", "surrogateescape")

    def pick(self, given: str | None, usual: Iterable[str], what: str) -> str | None:
        """The host path to read: the given one (it must exist), else the first usual one
        that exists under the root, else None."""
        if given is not None:
            path = self.local(given)
            if path is None or not path.is_file():
                raise MailImportError(f"{what} {given}: no such file below {self.root}")
            return given
        for candidate in usual:
            path = self.local(candidate)
            if path is not None and path.is_file():
                return candidate
        return None

    # ------------------------------------------------------------------ settings

    def setting(
        self,
        model: type[BaseModel],
        values: dict[str, Any],
        field: str,
        value: Any,
        where: str,
        what: str,
    ) -> bool:
        """Set ``field`` if the settings model takes ``value``; else a Note (False)."""
        try:
            model.model_validate({field: value})
        except ValidationError as exc:
            reason = "; ".join(str(e["msg"]) for e in exc.errors())
            self.note(where, "not-imported", what, f"mailauth cannot take it: {reason}")
            return False
        values[field] = value
        return True

    def simple_settings(
        self,
        model: type[BaseModel],
        values: dict[str, Any],
        by: Mapping[str, Option],
        fields: Mapping[str, str],
        handled: set[str],
        path: str,
    ) -> None:
        """Options that map one to one onto a settings field (``fields``: folded option
        name -> field), each through the model's check; a Socket through the socket type
        first, since its spelling is what Postfix's milter lines must match."""
        for folded, field in fields.items():
            option = by.get(folded)
            if option is None:
                continue
            handled.add(folded)
            value: Any = option.value
            where = f"{path}:{option.line}"
            if folded == "socket":
                try:
                    value = strings.milter_socket(value)
                except ValueError as exc:
                    self.note(where, "not-imported", f"Socket {option.value}", str(exc))
                    continue
            self.setting(model, values, field, value, where, f"{option.name} {option.value}")

    def first(self, options: list[Option], path: str) -> dict[str, Option]:
        """Each option by its folded name: the first line, the others noted."""
        by_name: dict[str, Option] = {}
        for option in options:
            folded = option.name.casefold()
            if folded in by_name:
                kept = by_name[folded]
                self.note(
                    f"{path}:{option.line}",
                    "not-imported",
                    shown(option),
                    f"{option.name} is set again; the import took line {kept.line}: check "
                    "which one the daemon uses",
                )
                continue
            by_name[folded] = option
        return by_name

    def user_group(
        self, model: type[BaseModel], values: dict[str, Any], option: Option, path: str
    ) -> None:
        user, colon, group = option.value.partition(":")
        where = f"{path}:{option.line}"
        fields: dict[str, Any] = {"user": user}
        if colon:
            fields["group"] = group
        try:
            model.model_validate(fields)
        except ValidationError:
            self.note(
                where,
                "not-imported",
                f"UserID {option.value}",
                "not a user[:group] mailauth can write (a numeric id?)",
            )
            return
        values.update(fields)

    def syslog(
        self,
        values: dict[str, Any],
        by: Mapping[str, Option],
        path: str,
        *,
        success_too: bool = True,
    ) -> None:
        """``Syslog`` (default yes in the three daemons' stock files, no in OpenDKIM's
        code: the file's value counts) and ``SyslogSuccess``, which mailauth ties to it
        (``success_too``: the target writes both)."""
        syslog = by.get("syslog")
        on = truth(syslog.value) if syslog else False
        if syslog is not None and on is None:
            self.note(
                f"{path}:{syslog.line}",
                "not-imported",
                f"Syslog {syslog.value}",
                "not a yes/no value",
            )
            return
        values["syslog"] = bool(on)
        success = by.get("syslogsuccess")
        if not success_too:
            return
        if success is None and on:
            self.note(
                path,
                "changed",
                "SyslogSuccess",
                "not set; mailauth writes SyslogSuccess yes with Syslog yes",
            )
        if success is not None and truth(success.value) != on:
            self.note(
                f"{path}:{success.line}",
                "changed",
                f"SyslogSuccess {success.value}",
                "mailauth sets SyslogSuccess to the value of Syslog",
            )

    def hosts(self, dataset: Dataset, where: str, what: str) -> list[str] | None:
        """The entries of a host list data set, each checked; None when unreadable."""
        if dataset.kind == "inline":
            lines = [(0, item) for item in dataset.items]
            path = ""
        elif dataset.kind in ("file", "refile"):
            path = dataset.path
            text = self.read(path, where, what)
            if text is None:
                return None
            lines = list(content_lines(text))
        else:
            self.note(
                where,
                "not-imported",
                what,
                "only a file or an inline list of hosts can be imported",
            )
            return None
        hosts: list[str] = []
        for number, body in lines:
            at = f"{path}:{number}" if path else where
            for item in body.split() if path else [body]:
                try:
                    if item.startswith("!"):
                        raise ValueError("an exception (`!host`)")
                    hosts.append(trusted_host(item))
                except ValueError as exc:
                    self.note(at, "not-imported", item, f"mailauth cannot list it: {exc}")
        return hosts


def option_at(path: str, by: Mapping[str, Option], folded: str) -> str:
    """FILE:LINE of an option, or FILE when the file does not set it."""
    option = by.get(folded)
    return f"{path}:{option.line}" if option is not None else path


def default_of(model: type[BaseModel], field: str) -> Any:
    info = model.model_fields[field]
    if info.default_factory is not None:
        factory: Callable[[], Any] = info.default_factory  # type: ignore[assignment]
        return factory()
    return info.default


def trimmed(model: type[BaseModel], values: dict[str, Any], target: str) -> Yaml:
    """The settings that differ from the model's defaults, and always the paths a
    platform preset could fill differently."""
    preset = {f for column in platforms.PATHS.values() for f in column.get(target, {})}
    return {
        name: value
        for name, value in values.items()
        if name in preset or value != default_of(model, name)
    }


#: Options whose value is a secret or may hold key data: shown by name only in Notes.
_HIDDEN = frozenset({"ldapbindpassword", "keyfile", "keyfileed25519"})


def shown(option: Option) -> str:
    """An option line as a Note may show it: never a secret's or a key's value."""
    if option.name.casefold() in _HIDDEN:
        return option.name
    return f"{option.name} {option.value}"
