"""mailauth's errors: one hierarchy, printed in one place (compiler/cli.py).

:class:`MailauthError` is what a user can fix (the file, the host, an option): it carries
the problems found and the exit status. :class:`ConfigError` points at a file, a line, a
column and a field; :class:`PlanError` at a place in mailauth.yaml when it knows one;
:class:`TargetError` is a target that cannot do what the file asks. :class:`TargetBug`
is not the user's doing: a renderer failed in a way it never should, a mailauth bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

#: A place in mailauth.yaml, as the loader's source map keys it: ("targets", "bind").
Field = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input: ``where`` is ``file:line:col`` (or just ``file``)."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


def _rebuilt(cls: type[MailauthError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class MailauthError(Exception):
    """An error the user can fix: ``problems`` (each with its place) and/or a message.

    The CLI prints it (``error: ...`` per problem) and exits with ``exit_code``.
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str = "", problems: Sequence[Problem] = ()) -> None:
        self.problems = list(problems)
        self.message = message
        super().__init__(message or "\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields, whatever the subclass's __init__ takes: a forked child
        # (compiler/forked.py) sends its error to the parent pickled.
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


class ConfigError(MailauthError):
    """All the problems found in one input, reported together so a user fixes them in one go."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems=problems)


class PlanError(MailauthError):
    """The plan cannot be made (a path escapes --root, a file to edit is missing...).

    ``field`` is the place in mailauth.yaml the error comes from (``("targets", "bind")``),
    when known: the driver turns it into FILE:LINE:COL.
    """

    def __init__(self, message: str, field: Field | None = None) -> None:
        super().__init__(message)
        self.field = field


class TargetError(PlanError):
    """A target cannot render or edit its files for this config or this host."""


class TargetBug(Exception):
    """A renderer or an edit failed unexpectedly: a mailauth bug, never the user's mistake.

    Not a MailauthError: the CLI says it is a bug, names the target, exits with
    ``exit_code`` (EX_SOFTWARE, apart from a user error's 1) and shows the traceback of
    ``error`` under ``--debug``.
    """

    exit_code: ClassVar[int] = 70

    def __init__(self, target: str, stage: str, error: BaseException) -> None:
        self.target = target
        self.stage = stage
        self.error = error
        super().__init__(
            f"the {target} target failed to {stage} its files: {type(error).__name__}: {error}"
        )
