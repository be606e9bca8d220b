"""Our tool-call format, the Hermes/Qwen one that small models have seen most.

The system prompt lists each tool as JSON, and a call is
`<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`.
"""

from __future__ import annotations

import json
from typing import Any

from edgeagent_cli.core.agent.toolcall.call import CALL_CLOSE, CALL_OPEN, ToolCall


def system_prompt(tools: list[dict[str, Any]], extra: str = "") -> str:
    listing = "\n".join(json.dumps(_fn(t), ensure_ascii=False) for t in tools)
    return (
        (extra.strip() + "\n\n" if extra.strip() else "You are a helpful assistant.\n\n")
        + f"You have these tools:\n<tools>\n{listing}\n</tools>\n"
        + "To call a tool, reply with:\n<tool_call>\n"
        + '{"name": "<tool name>", "arguments": {<arguments as JSON>}}\n</tool_call>\n'
        + "When you have the tool results, or when no tool is needed, answer in plain text."
    )


def _fn(tool: dict[str, Any]) -> dict[str, Any]:
    return tool.get("function", tool)


def render_call(call: ToolCall) -> str:
    body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    return f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"


def call_prefix(name: str | None) -> str:
    """The text the prompt ends with before the grammar takes over (name fixed, or to be chosen)."""
    return f'{CALL_OPEN}\n{{"name": "{name}", "arguments": ' if name else f'{CALL_OPEN}\n{{"name": '
