"""Tools the agent can call: one shape for built-ins, Python-file tools and MCP tools.

A tool is a name, a description, a JSON schema for its arguments, a risk level and a function.
The risk level decides approval (see `policy.py`): reading is free, writing, shell-like and network
tools ask first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

READ, WRITE, SHELL, NETWORK = "read", "write", "shell", "network"
RISKS = (READ, WRITE, SHELL, NETWORK)

# OpenAI and most runtimes accept ^[a-zA-Z0-9_-]{1,64}$ as a function name.
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolError(Exception):
    """A tool ran and failed in a way the model should hear about (bad path, division by zero)."""


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    risk: str = READ
    source: str = "builtin"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _VALID_NAME.match(self.name):
            raise ValueError(f"invalid tool name {self.name!r}: use letters, digits, _ and -, at most 64")
        if self.risk not in RISKS:
            raise ValueError(f"tool {self.name}: risk must be one of {', '.join(RISKS)}, not {self.risk!r}")

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def __call__(self, arguments: dict[str, Any]) -> str:
        """Run the tool. What it prints goes to stderr, not into our output, and an exit() it calls
        is its failure, not the end of the chat."""
        import contextlib
        import sys

        try:
            with contextlib.redirect_stdout(sys.stderr):
                result = self.func(**arguments)
        except SystemExit as e:
            raise ToolError(f"the tool called exit({e.code})") from None
        return result if isinstance(result, str) else _to_text(result)


def _to_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


class Toolbox:
    """The tools of one chat session, by name; later sources may not shadow earlier names."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._closers: list[Callable[[], None]] = []
        for t in tools or []:
            self.add(t)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            other = self._tools[tool.name]
            raise ValueError(f"tool {tool.name!r} from {tool.source} clashes with one from {other.source}")
        self._tools[tool.name] = tool

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self._tools.values()]
