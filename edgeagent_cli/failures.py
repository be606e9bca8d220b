"""The one place where exceptions become messages and exit codes (CLI-CONTRACT.md, "Exit codes").

Library exceptions users meet (network errors, Hub 401/404) are mapped to EdgeError here, so a
user sees one line they can act on. Anything else is a bug: a traceback only with EDGEAGENT_DEBUG=1.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from edgeagent_cli import SCHEMA_VERSION
from edgeagent_cli.errors import EdgeError, ExitCode


def report(err: EdgeError, json_mode: bool) -> int:
    line = f"error: {err.message}"
    if err.hint:
        line += f" (hint: {err.hint})"
    sys.stderr.write(line + "\n")
    if json_mode:
        doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, **(err.data or {})}
        doc["error"] = {"code": int(err.code), "message": err.message, "hint": err.hint}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    return int(err.code)


def translate(exc: BaseException) -> EdgeError | None:
    """Known third-party failures -> EdgeError with the right exit code; None for bugs."""
    from edgeagent_cli.core.gguf import GGUFError

    if isinstance(exc, GGUFError):
        return EdgeError(str(exc), "the file is not a complete GGUF model", ExitCode.INTEGRITY)
    name = type(exc).__name__
    module = type(exc).__module__
    if module.startswith(("httpx", "httpcore")) and name in {"ConnectError", "ConnectTimeout", "ReadTimeout",
                                                          "RemoteProtocolError", "ReadError", "PoolTimeout"}:  # fmt: skip
        return EdgeError(f"cannot reach the server: {exc}", "check the URL and that the server runs", ExitCode.UNREACHABLE)
    if isinstance(exc, ConnectionError):
        return EdgeError(f"cannot reach the server: {exc}", "check the URL and that the server runs", ExitCode.UNREACHABLE)
    if isinstance(exc, PermissionError):
        return EdgeError(f"permission denied: {exc.filename}", "check the path's permissions")
    if isinstance(exc, OSError) and exc.errno == 28:
        return EdgeError(f"no space left on device: {exc.filename or ''}", "free some disk space")
    return None


def run(app: Any, argv: list[str]) -> int:
    import typer

    json_mode = "--json" in argv
    try:
        rv = app(args=argv, prog_name="edgeagent", standalone_mode=False)
        if rv == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into a returned 130, without a word
            sys.stderr.write("interrupted\n")
        return rv if isinstance(rv, int) else 0
    except EdgeError as e:
        return report(e, json_mode)
    except typer.Exit as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as e:  # usage errors: bad flag or value
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
    except BrokenPipeError:
        return 0
    except Exception as e:
        mapped = translate(e)
        if mapped is not None:
            return report(mapped, json_mode)
        if os.environ.get("EDGEAGENT_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        else:
            sys.stderr.write(f"internal error ({type(e).__name__}), rerun with EDGEAGENT_DEBUG=1\n")
        return int(ExitCode.FAILURE)
