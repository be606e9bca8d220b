"""MCP servers over stdio, through the official `mcp` SDK (major version 2, pinned in pyproject).

The SDK is async and the agent loop is not, so each server gets a private event loop on a daemon
thread; `list_tools` and `call_tool` cross over with `run_coroutine_threadsafe`. The server process
lives as long as the chat session. It is started as the leader of its own process group (a small
launcher calls setsid, then execs the command), and `close()` kills that group: a server that never
answers, or leaves children behind, cannot outlive the chat or keep its stderr open.
Risk levels come from the server's tool annotations: readOnlyHint -> read, openWorldHint -> network,
anything else -> write, so an unknown MCP tool asks before it runs.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent.tools import NETWORK, READ, WRITE, Tool, ToolError
from edgeagent_cli.core.errors import EdgeError, ExitCode

START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 120.0
# Runs in the child: record its PID, lead a new process group, become the server.
LAUNCHER = """import os, sys
open(sys.argv[1], "w").write(str(os.getpid()))
try:
    os.setsid()
except OSError:  # already the leader of its own group
    pass
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as e:
    sys.stderr.write(f"cannot run {sys.argv[2]}: {e.strerror}\\n")
    os._exit(127)
"""


class MCPServer:
    def __init__(self, command_line: str) -> None:
        try:
            argv = shlex.split(command_line)
        except ValueError as e:
            raise EdgeError(
                f"invalid --mcp command {command_line!r}: {e}", "quote it as a shell would", ExitCode.USAGE
            ) from e
        if not argv:
            raise EdgeError("empty --mcp command", code=ExitCode.USAGE)
        if shutil.which(argv[0]) is None:
            raise EdgeError(
                f"MCP server {command_line!r} did not start: no such command {argv[0]!r}",
                "give the server's command line",
                ExitCode.FAILURE,
            )
        self.command_line = command_line
        self.argv = argv
        self._pidfile = Path(tempfile.mkstemp(prefix="edgeagent-mcp-", suffix=".pid")[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mcp:{argv[0]}", daemon=True)
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._ready: Future[Any] = Future()
        self._runner: Future[Any] | None = None

    def start(self) -> MCPServer:
        self._thread.start()
        self._runner = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        try:
            self._ready.result(timeout=START_TIMEOUT_S)
        except Exception as e:
            self.close()
            raise EdgeError(
                f"MCP server {self.command_line!r} did not start: {_describe(e)}",
                "run the command by hand to see its error",
                ExitCode.FAILURE,
            ) from None
        return self

    async def _serve(self) -> None:
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters

        self._stop = asyncio.Event()
        try:
            params = StdioServerParameters(command=sys.executable, args=self._launch_args())
            async with Client(params, read_timeout_seconds=CALL_TIMEOUT_S) as client:
                self._client = client
                self._ready.set_result(True)
                await self._stop.wait()
        except BaseException as e:  # the SDK raises exception groups from its task group
            if not self._ready.done():
                self._ready.set_exception(e)

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def tools(self) -> list[Tool]:
        result = self._call(self._client.list_tools(), START_TIMEOUT_S)
        return [self._tool(t) for t in result.tools]

    def _tool(self, t: Any) -> Tool:
        ann = t.annotations
        risk = WRITE
        if ann is not None and ann.open_world_hint:
            risk = NETWORK
        elif ann is not None and ann.read_only_hint:
            risk = READ
        schema = dict(t.input_schema or {"type": "object", "properties": {}})

        def call(**arguments: Any) -> str:
            return self.call(t.name, arguments)

        return Tool(t.name, t.description or t.name, schema, call, risk=risk, source=f"mcp:{self.argv[0]}")

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        try:
            result = self._call(self._client.call_tool(name, arguments), CALL_TIMEOUT_S)
        except TimeoutError as e:
            raise ToolError(f"MCP tool {name} timed out after {CALL_TIMEOUT_S:.0f} s") from e
        text = "\n".join(getattr(block, "text", None) or f"[{block.type}]" for block in result.content)
        if result.is_error:
            raise ToolError(text or f"MCP tool {name} failed")
        if not text and result.structured_content is not None:
            import json

            text = json.dumps(result.structured_content)
        return text

    def _launch_args(self) -> list[str]:
        if not hasattr(os, "setsid"):  # Windows: no process groups to lead
            return ["-c", "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])", *self.argv]
        return ["-c", LAUNCHER, str(self._pidfile), *self.argv]

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._kill_group()
        if self._runner is not None:
            try:
                self._runner.result(timeout=5)
            except Exception:  # noqa: S110 - best effort: the process group is gone already
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _kill_group(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after a second; nothing of it is left running."""
        try:
            pid = int(self._pidfile.read_text() or 0)
        except (OSError, ValueError):
            pid = 0
        finally:
            self._pidfile.unlink(missing_ok=True)
        if pid <= 1 or not hasattr(os, "killpg"):
            return
        try:
            if os.getpgid(pid) != pid:  # not the group we made: never signal someone else's group
                return
        except (ProcessLookupError, PermissionError):
            return
        for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 1.0)):
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(pid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                time.sleep(0.05)


def _describe(e: BaseException) -> str:
    while getattr(e, "exceptions", None):  # an ExceptionGroup from the SDK's task group
        e = e.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def connect(command_line: str) -> tuple[MCPServer, list[Tool]]:
    server = MCPServer(command_line).start()
    try:
        return server, server.tools()
    except Exception as e:
        server.close()
        raise EdgeError(f"MCP server {command_line!r}: cannot list tools: {_describe(e)}") from None
