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


def report(err: EdgeError, json_mode: bool) -> int:
    line = f"error: {err.message}"
    if err.hint:
        line += f" (hint: {err.hint})"
    sys.stderr.write(line + "\n")
    if json_mode:
        data = (
            err.data.to_dict()
            if isinstance(err.data, Result)
            else {"schema_version": SCHEMA_VERSION, **(err.data or {})}
        )
        data["error"] = {"code": int(err.code), "message": err.message, "hint": err.hint}
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    return int(err.code)


def _usage(e: Any, json_mode: bool) -> int:
    """A bad flag or value: Click's own message, and exit 2."""
    show = getattr(e, "show", None)
    if show:
        show()
    else:
        sys.stderr.write(f"error: {e}\n")
    code = int(getattr(e, "exit_code", ExitCode.USAGE))
    if json_mode and code == ExitCode.USAGE:
        doc = {"schema_version": SCHEMA_VERSION, "error": {"code": code, "message": str(e), "hint": "see --help"}}
        sys.stdout.write(json.dumps(doc) + "\n")
    return code


def _bug(e: Exception, json_mode: bool) -> int:
    mapped = translate(e)
    if mapped is not None:
        return report(mapped, json_mode)
    if os.environ.get("EDGEAGENT_DEBUG") == "1":
        import traceback

        traceback.print_exc()
    else:
        sys.stderr.write(f"internal error ({type(e).__name__}), rerun with EDGEAGENT_DEBUG=1\n")
    return int(ExitCode.FAILURE)


def interrupted() -> int:
    sys.stderr.write("interrupted\n")
    return int(ExitCode.INTERRUPTED)


def run(app: Any, argv: list[str]) -> int:
    import typer

    json_mode = "--json" in argv
    try:
        rv = app(args=argv, prog_name="edgeagent", standalone_mode=False)
        if rv == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into a returned 130, without a word
            return interrupted()
        return rv if isinstance(rv, int) else 0
    except EdgeError as e:
        return report(e, json_mode)
    except typer.Exit as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except (typer.Abort, KeyboardInterrupt):
        return interrupted()
    except typer.TyperException as e:
        return _usage(e, json_mode)
    except BrokenPipeError:
        return 0
    except Exception as e:
        return _bug(e, json_mode)
