"""Who may run which tool, and the audit log of every call.

Reading tools run freely. Writing, shell-like and network tools need approval: `--allow-tool NAME`
approves in advance, a terminal asks y/n, and without a terminal the call is refused with an error
that names the flag (nothing waits for input when stdin is not a terminal).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeagent_cli.core import paths
from edgeagent_cli.core.agent.tools import READ, Tool
from edgeagent_cli.core.errors import EdgeError, ExitCode

AUTO, FLAG, USER, DENIED = "auto", "flag", "user", "denied"


class Declined(Exception):
    """The user answered no at the prompt; the model hears about it and the chat goes on."""


class Approver:
    def __init__(
        self, allowed: set[str] | None = None, ask: Callable[[Tool, dict[str, Any]], bool] | None = None
    ) -> None:
        self.allowed = allowed or set()
        self.ask = ask

    def approve(self, tool: Tool, arguments: dict[str, Any]) -> str:
        """How the call was approved: auto (a read-only tool), flag (--allow-tool) or user (y at the prompt)."""
        if tool.risk == READ:
            return AUTO
        if tool.name in self.allowed or "all" in self.allowed:
            return FLAG
        if self.ask is None:
            raise EdgeError(
                f"tool {tool.name} ({tool.risk}) needs approval and there is no terminal to ask",
                f"rerun with --allow-tool {tool.name}",
                ExitCode.FAILURE,
            )
        if self.ask(tool, arguments):
            return USER
        raise Declined(f"the user declined to run {tool.name}")


def audit_path() -> Path:
    return paths.logs_dir() / "audit.jsonl"


def audit(
    tool: str,
    source: str,
    arguments: dict[str, Any],
    approved: str,
    result: str | None,
    error: str | None,
    seconds: float,
) -> None:
    """One JSON line per call, appended with O_APPEND so that concurrent sessions interleave whole lines."""
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tool": tool,
        "source": source,
        "arguments": arguments,
        "approved": approved,
        "ok": error is None,
        "result_bytes": len((result or "").encode()),
        "error": error,
        "seconds": round(seconds, 4),
        "pid": os.getpid(),
    }
    path = audit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
