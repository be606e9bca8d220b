"""Tool calls as text: the prompt format we control, the grammar that constrains it, and a tolerant parser.

Our format is the Hermes/Qwen one that small models have seen most: the system prompt lists each tool
as JSON, and a call is `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`. The grammar
is built from the tools' JSON schemas (llama.cpp GBNF via llama-cpp-python's schema converter), so
every call it lets through parses and has the schema's types. The parser also reads what other
models and servers leak into plain content: bare JSON, `<|tool_call|>[...]`, FunctionGemma's
`call:name{...}` and Python-style `name(a=1)`.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
# How a reply that is a call (in any model's format) begins: such text is held back, not streamed.
CALL_STARTS = (CALL_OPEN, "<|tool_call|>", "<start_function_call>", "{", "[", "```")
# Bounds that keep a constrained call finite: a small model inside an unbounded string can ramble
# until max_tokens and leave a call that never closes.
MAX_STRING = 300
MAX_ITEMS = 16
MAX_CALLS = 5
# When a call still runs out of tokens (a small model looping inside a string: "2022_2022_2022..."),
# it is generated again under these: a call that short always closes within the token budget.
TIGHT = {"max_calls": 1, "max_string": 48, "max_items": 4}


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""
    errors: list[str] = field(default_factory=list)

    def as_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}  # fmt: skip


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


# --- grammar ------------------------------------------------------------------------------------------
def bounded(schema: dict[str, Any], max_items: int = MAX_ITEMS) -> dict[str, Any]:
    """A copy of a JSON schema for the grammar: arrays bounded, objects closed, prose dropped.

Strings are bounded in the grammar text instead (`_bound_strings`): the schema converter spells
maxLength as N nested optionals, which makes a grammar of hundreds of kilobytes.
"""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in {"description", "title", "examples", "default"}}
    kind = out.get("type")
    if kind == "array":
        out["maxItems"] = min(int(out.get("maxItems", max_items)), max_items)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = bounded(out[key], max_items)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: bounded(v, max_items) for k, v in out["properties"].items()}
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(out.get(key), list):
            out[key] = [bounded(s, max_items) for s in out[key]]
    if kind == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def call_grammar(tools: list[dict[str, Any]], first: str | None = None, max_calls: int = MAX_CALLS,
                 max_string: int = MAX_STRING, max_items: int = MAX_ITEMS) -> str:
    """GBNF for one or more calls in our format, starting where `call_prefix(first)` ends.

    With `first`, the grammar starts inside that tool's arguments; without, at the tool's name.
    After each call the model may stop or open another call (parallel calls), up to `max_calls`.
    """
    from llama_cpp.llama_grammar import SchemaConverter

    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    named: list[str] = []
    args_rule: dict[str, str] = {}
    for i, tool in enumerate(tools):
        fn = _fn(tool)
        schema = bounded(fn.get("parameters") or {"type": "object", "properties": {}}, max_items)
        if schema.get("type") != "object":
            schema = {"type": "object", "properties": {}}
        schema = conv.resolve_refs(schema, f"tool{i}")
        args_rule[fn["name"]] = conv.visit(schema, f"args{i}")
        named.append(f'"\\"{_gbnf_escape(fn["name"])}\\", \\"arguments\\": " {args_rule[fn["name"]]}')
    close = r'"}\n' + CALL_CLOSE + '"'
    lines = [_bound_strings(conv.format_grammar().rstrip("\n"), max_string)]
    lines.append(f"named-call ::= {' | '.join(f'( {n} )' for n in named)}")
    more = rf'"\n{CALL_OPEN}\n{{\"name\": " named-call {close}'
    head = f"{args_rule[first]} {close}" if first else f"named-call {close}"
    lines.append(f"more-call ::= {more}")
    lines.append(f"root ::= {head} more-call{{0,{max(0, max_calls - 1)}}}")
    return "\n".join(lines) + "\n"


def _bound_strings(grammar: str, max_string: int) -> str:
    """Bound strings, and keep raw control characters out of them as JSON requires: a newline inside a
    value is how a small model carries `}}\n</tool_call>` into a string that never closes."""
    grammar = re.sub(r'"\\"" char\* "\\"" space', f'"\\"" char{{0,{max_string}}} "\\"" space', grammar)
    return grammar.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x00-\\x1F]')


def _gbnf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# --- parsing ------------------------------------------------------------------------------------------
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


# --- checking -----------------------------------------------------------------------------------------
_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                          "boolean": (bool,), "array": (list,), "object": (dict,)}  # fmt: skip


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Bend a value to the schema's type where the intent is plain ("5" -> 5, 5 -> "5", x -> [x])."""
    kind = schema.get("type")
    try:
        if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind == "number" and isinstance(value, str):
            return float(value) if "." in value or "e" in value.lower() else int(value)
        if kind == "boolean" and isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if kind == "array" and not isinstance(value, list):
            return [coerce(value, schema.get("items") or {})]
        if kind == "array":
            return [coerce(v, schema.get("items") or {}) for v in value]
        if kind == "object" and isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            props = schema["properties"]
            return {k: coerce(v, props.get(k) or {}) for k, v in value.items()}
    except (ValueError, TypeError):
        return value
    return value


def check_arguments(arguments: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """What is wrong with the arguments against the tool's schema; [] when they are fine."""
    props = schema.get("properties") or {}
    errors = [f"missing required argument {r!r}" for r in schema.get("required", []) if r not in arguments]
    for key, value in arguments.items():
        if key not in props:
            if props or schema.get("additionalProperties") is False:
                errors.append(f"unknown argument {key!r} (expected: {', '.join(props) or 'none'})")
            continue
        errors += _type_errors(key, value, props[key])
    return errors


def _type_errors(key: str, value: Any, schema: dict[str, Any]) -> list[str]:
    if "enum" in schema and value not in schema["enum"]:
        return [f"{key}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    types = _PY_TYPES.get(kind) if isinstance(kind, str) else None
    if types is None:
        return []
    if isinstance(value, bool) and kind in {"integer", "number"}:
        return [f"{key}: expected {kind}, got a boolean"]
    if not isinstance(value, types):
        return [f"{key}: expected {kind}, got {type(value).__name__}"]
    return []
