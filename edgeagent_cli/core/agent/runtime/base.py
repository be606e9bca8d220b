"""The runtime interface: a model turn with tools, in-process or over an endpoint.

`chat` and `eval` call `turn()` and never know whether llama.cpp runs in this process
(`local.LocalRuntime`) or behind an OpenAI-compatible server (`endpoint.EndpointRuntime`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgeagent_cli.core.agent.toolcall import ToolCall

OnText = Callable[[str], None]


@dataclass
class Reply:
    """One model turn: a plain answer, or tool calls (already parsed and type-coerced)."""

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    raw: str = ""
    finish: str = "stop"  # stop | length | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    model: str = ""
    route: dict[str, Any] | None = None
    malformed: str | None = None  # the model tried to call a tool and the text did not parse


class Runtime(Protocol):
    name: str

    def turn(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: str = "auto",
        on_text: OnText | None = None,
    ) -> Reply: ...

    def close(self) -> None: ...
