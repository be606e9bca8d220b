"""One error type for expected failures, and the exit codes scripts rely on (README, "Commands")."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeagent_cli.core.results import Result


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    DOES_NOT_FIT = 4
    UNREACHABLE = 5
    INTEGRITY = 6
    GATE = 7
    INTERRUPTED = 130


class EdgeError(Exception):
    """A failure the user can act on: a message, a hint, and the exit code that scripts rely on.

    `data` carries a partial result that still belongs in the JSON document (pull's table when
    nothing fits, bench's figures when a gate fails).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        code: ExitCode = ExitCode.FAILURE,
        data: Result | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.data = data


def not_found(message: str, hint: str | None = None) -> EdgeError:
    return EdgeError(message, hint, ExitCode.NOT_FOUND)


def integrity(message: str, hint: str | None = None) -> EdgeError:
    return EdgeError(message, hint, ExitCode.INTEGRITY)


class Interrupted(EdgeError):
    """Ctrl-C in the middle of a long run: what was measured so far still belongs in the output.

    An EdgeError rather than a KeyboardInterrupt, so that it reaches our handler with its partial
    result (Typer turns a KeyboardInterrupt into a bare exit 130)."""

    def __init__(self, partial: Result, note: str) -> None:
        super().__init__(note, code=ExitCode.INTERRUPTED, data=partial)
        self.partial = partial
        self.note = note
