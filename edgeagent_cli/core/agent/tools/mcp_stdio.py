"""MCP servers over stdio, through the official `mcp` SDK (major version 2, pinned in pyproject).

The SDK is async and the agent loop is not, so each server gets a private event loop on a daemon
thread; `list_tools` and `call_tool` cross over with `run_coroutine_threadsafe`. The server process
lives as long as the chat session and is stopped by `close()` (the SDK terminates its process tree).
Risk levels come from the server's tool annotations: readOnlyHint -> read, openWorldHint -> network,
anything else -> write, so an unknown MCP tool asks before it runs.
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from concurrent.futures import Future
from typing import Any

from edgeagent_cli.core.agent.tools import NETWORK, READ, WRITE, Tool, ToolError
from edgeagent_cli.core.errors import EdgeError, ExitCode

START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 120.0


class MCPServer:
    def __init__(self, command_line: str) -> None:
        argv = shlex.split(command_line)
        if not argv:
            raise EdgeError("empty --mcp command", code=ExitCode.USAGE)
        self.command_line = command_line
        self.argv = argv
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
            params = StdioServerParameters(command=self.argv[0], args=self.argv[1:])
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

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._runner is not None:
            try:
                self._runner.result(timeout=10)
            except Exception:  # noqa: S110 - best effort: the process is going away either way
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


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
