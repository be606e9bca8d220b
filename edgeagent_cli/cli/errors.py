"""The one place where exceptions become messages and exit codes (`core.errors.ExitCode`).

Library exceptions users meet (network errors, a truncated GGUF, a full disk) are mapped to EdgeError
through a table keyed by exception type, so a user sees one line they can act on. Anything else is a
bug: a traceback only with EDGEAGENT_DEBUG=1, never with locals (tokens live there).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from edgeagent_cli import SCHEMA_VERSION
from edgeagent_cli.core.errors import EdgeError, ExitCode
from edgeagent_cli.core.results import Result

Mapper = Callable[[Any], EdgeError | None]
UNREACHABLE_HINT = "check the URL and that the server runs"


def _gguf(e: Any) -> EdgeError:
    return EdgeError(str(e), "the file is not a complete GGUF model", ExitCode.INTEGRITY)


def _unreachable(e: Any) -> EdgeError:
    return EdgeError(f"cannot reach the server: {e}", UNREACHABLE_HINT, ExitCode.UNREACHABLE)


def _permission(e: PermissionError) -> EdgeError:
    return EdgeError(f"permission denied: {e.filename}", "check the path's permissions")


def _os_error(e: OSError) -> EdgeError | None:
    if e.errno == errno.ENOSPC:
        return EdgeError(f"no space left on device: {e.filename or ''}", "free some disk space")
    return None


def error_table() -> list[tuple[type[BaseException], Mapper]]:
    """Exception type -> mapper, most specific first."""
    from edgeagent_cli.core.models.gguf import GGUFError
    from edgeagent_cli.core.util.http import transport_errors

    table: list[tuple[type[BaseException], Mapper]] = [(GGUFError, _gguf)]
    table += [(kind, _unreachable) for kind in transport_errors()]
    table += [(PermissionError, _permission), (OSError, _os_error)]
    return table


def translate(exc: BaseException) -> EdgeError | None:
    """Known third-party failures -> EdgeError with the right exit code; None for bugs."""
    for kind, mapper in error_table():
        if isinstance(exc, kind):
            return mapper(exc)
    return None


def report(err: EdgeError, json_mode: bool, prefix: str = "error: ") -> int:
    """One line on stderr; with --json, one document: the partial result (if any), `error` and `exit_code`."""
    line = prefix + _one_line(err.message)
    if err.hint:
        line += f" (hint: {_one_line(err.hint)})"
    sys.stderr.write(line + "\n")
    if json_mode:
        if isinstance(err.data, Result):
            data = err.data.to_dict()
        else:
            data = {"schema_version": SCHEMA_VERSION, **(err.data or {})}
        data["error"] = {"code": int(err.code), "message": err.message, "hint": err.hint}
        data["exit_code"] = int(err.code)
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    return int(err.code)


def _one_line(text: str) -> str:
    """Library messages carry newlines; the contract is one line."""
    return " ".join(str(text).split())


def _usage(e: Any, json_mode: bool) -> int:
    """A bad flag or value: Click's message in one line, and exit 2."""
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    ctx = getattr(e, "ctx", None)
    where = f"`{ctx.command_path} --help`" if ctx is not None else "--help"
    return report(EdgeError(message, f"see {where}", ExitCode.USAGE), json_mode)


def _bug(e: BaseException, json_mode: bool) -> int:
    mapped = translate(e)
    if mapped is not None:
        return report(mapped, json_mode)
    if os.environ.get("EDGEAGENT_DEBUG") == "1":
        import traceback

        traceback.print_exception(e)
    bug = EdgeError(f"internal error ({type(e).__name__})", "rerun with EDGEAGENT_DEBUG=1", ExitCode.FAILURE)
    return report(bug, json_mode, prefix="")


def interrupted(json_mode: bool) -> int:
    """Ctrl-C outside a long run: `interrupted` on stderr and exit 130 (with --json, the error document).
    Long runs raise Interrupted, an EdgeError carrying what was done so far."""
    return report(EdgeError("interrupted", code=ExitCode.INTERRUPTED), json_mode, prefix="")


def run(app: Any, argv: list[str]) -> int:
    import typer

    json_mode = "--json" in argv
    try:
        rv = app(args=argv, prog_name="edgeagent", standalone_mode=False)
        if rv == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into a returned 130, without a word
            return interrupted(json_mode)
        return rv if isinstance(rv, int) else 0
    except EdgeError as e:
        return report(e, json_mode, prefix="" if e.code == ExitCode.INTERRUPTED else "error: ")
    except typer.Exit as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except (typer.Abort, KeyboardInterrupt):
        return interrupted(json_mode)
    except typer.TyperException as e:
        return _usage(e, json_mode)
    except BrokenPipeError:
        return 0
    except SystemExit as e:  # a library or a user's tool called sys.exit: that is not our contract's exit code
        return _bug(RuntimeError(f"exit({e.code}) called"), json_mode)
    except Exception as e:
        return _bug(e, json_mode)
