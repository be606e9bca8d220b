"""Tool calls as text: the call (call), our prompt format (prompt), the grammar that constrains it
(grammar), a tolerant parser for every format models use (parse), and arguments checked against a
tool's JSON schema (schema)."""

from edgeagent_cli.core.agent.toolcall.call import CALL_CLOSE, CALL_OPEN, CALL_STARTS, ToolCall
from edgeagent_cli.core.agent.toolcall.grammar import TIGHT, bounded, call_grammar
from edgeagent_cli.core.agent.toolcall.parse import echoes, parse_calls, unique
from edgeagent_cli.core.agent.toolcall.prompt import (
    call_prefix,
    call_system_prompt,
    render_call,
    system_prompt,
    tool_line,
)
from edgeagent_cli.core.agent.toolcall.schema import check_arguments, coerce

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "CALL_STARTS",
    "TIGHT",
    "ToolCall",
    "bounded",
    "call_grammar",
    "call_prefix",
    "call_system_prompt",
    "check_arguments",
    "coerce",
    "echoes",
    "parse_calls",
    "render_call",
    "system_prompt",
    "tool_line",
    "unique",
]
