"""A tool call, and how a reply that is one begins in the formats models use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
# How a reply that is a call (in any model's format) begins: such text is held back, not streamed.
CALL_STARTS = (CALL_OPEN, "<|tool_call|>", "<start_function_call>", "{", "[", "```")


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""
    errors: list[str] = field(default_factory=list)

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)},
        }
