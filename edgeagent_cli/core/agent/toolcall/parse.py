"""A tolerant reader of tool calls in a model's text, in every format models and servers produce.

Besides our `<tool_call>` format it reads what other models and servers leak into plain content:
bare JSON, `<|tool_call|>[...]`, FunctionGemma's `call:name{...}` and Python-style `name(a=1)`.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from edgeagent_cli.core.agent.toolcall.call import ToolCall

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_PHI = re.compile(r"<\|tool_call\|>\s*(.*?)\s*(?:<\|/tool_call\|>|$)", re.DOTALL)
_GEMMA = re.compile(r"<start_function_call>\s*call:([\w.\-]+)\s*(\{.*?\})\s*(?:<end_function_call>|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json|python|tool_call)?\s*(.*?)\s*```$", re.DOTALL)


def parse_calls(text: str) -> list[ToolCall]:
    """Every tool call found in a model's text, in order; [] when the text is a plain answer."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    for pattern in (_TAGGED, _PHI):
        bodies = pattern.findall(stripped)
        if bodies:
            return [c for b in bodies for c in _json_calls(b)]
    gemma = _GEMMA.findall(stripped)
    if gemma:
        return [ToolCall(name, _gemma_args(body)) for name, body in gemma]
    if stripped.startswith(("{", "[")):
        calls = _json_calls(stripped)
        if calls:
            return calls
    return _python_calls(stripped)


def _json_calls(body: str) -> list[ToolCall]:
    try:
        value, _ = json.JSONDecoder().raw_decode(body.strip())
    except ValueError:
        return []
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("function"), dict):  # OpenAI shape leaked as text
            item = item["function"]
        name = item.get("name")
        args = item.get("arguments", item.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {}
        if isinstance(name, str) and isinstance(args, dict):
            calls.append(ToolCall(name, args))
    return calls


def _gemma_args(body: str) -> dict[str, Any]:
    """FunctionGemma: {key:<escape>text<escape>,n:3}."""
    out: dict[str, Any] = {}
    for m in re.finditer(r"(\w+):(?:<escape>(.*?)<escape>|([^,}]*))", body.strip("{}"), re.DOTALL):
        key, text, raw = m.group(1), m.group(2), m.group(3)
        out[key] = text if text is not None else _literal(raw.strip())
    return out


def _literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _python_calls(text: str) -> list[ToolCall]:
    """`name(a=1, b="x")` or `[f(a=1), g(b=2)]`, the style BFCL's prompting models answer in."""
    if not re.match(r"^\[?\s*[A-Za-z_][\w.]*\s*\(", text):
        return []
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return []
    nodes = tree.body.elts if isinstance(tree.body, ast.List | ast.Tuple) else [tree.body]
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call) or node.args:
            return []
        try:
            args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError:
            return []
        calls.append(ToolCall(ast.unparse(node.func), args))
    return calls


def unique(calls: list[ToolCall]) -> list[ToolCall]:
    """Drop echoes: a call whose arguments are all already in an earlier call to the same tool.

    Genuine parallel calls differ in some value ("Paris" and "Rome"); a small model that has made its
    call tends to make it again, whole or with an argument left out.
    """
    kept: list[ToolCall] = []
    for c in calls:
        if not any(echoes(c, k) for k in kept):
            kept.append(c)
    return kept


def echoes(later: ToolCall, earlier: ToolCall) -> bool:
    if later.name != earlier.name:
        return False
    return all(k in earlier.arguments and earlier.arguments[k] == v for k, v in later.arguments.items())
