"""The grammar that constrains a call in our format, built from the tools' JSON schemas.

llama.cpp GBNF via llama-cpp-python's schema converter: every call it lets through parses and has the
schema's types.
"""

from __future__ import annotations

import re
from typing import Any

from edgeagent_cli.core.agent.toolcall.call import CALL_CLOSE, CALL_OPEN

# Bounds that keep a constrained call finite: a small model inside an unbounded string can ramble
# until max_tokens and leave a call that never closes.
MAX_STRING = 300
MAX_ITEMS = 16
MAX_CALLS = 5
CALL_END = "}\n" + CALL_CLOSE  # what follows a call's arguments: forced once they close
# When a call still runs out of tokens (a small model looping inside a string: "2022_2022_2022..."),
# it is generated again under these: a call that short always closes within the token budget.
TIGHT = {"max_calls": 1, "max_string": 48, "max_items": 4}


def bounded(schema: dict[str, Any], max_items: int = MAX_ITEMS) -> dict[str, Any]:
    """A copy of a JSON schema for the grammar: arrays bounded, objects closed, prose dropped.

    Strings are bounded in the grammar text instead (`_bound_free`): the schema converter spells
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


def call_grammar(
    tools: list[dict[str, Any]],
    first: str | None = None,
    max_calls: int = MAX_CALLS,
    max_string: int = MAX_STRING,
    max_items: int = MAX_ITEMS,
) -> str:
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
    close = _literal(CALL_END)
    lines = [_bound_free(conv.format_grammar().rstrip("\n"), max_string, max_items)]
    lines.append(f"named-call ::= {' | '.join(f'( {n} )' for n in named)}")
    more = rf'"\n{CALL_OPEN}\n{{\"name\": " named-call {close}'
    head = f"{args_rule[first]} {close}" if first else f"named-call {close}"
    lines.append(f"more-call ::= {more}")
    lines.append(f"root ::= {head} more-call{{0,{max(0, max_calls - 1)}}}")
    return "\n".join(lines) + "\n"


def _bound_free(grammar: str, max_string: int, max_items: int) -> str:
    """Bound what the schema leaves free: strings, the pairs of an object without properties and the
    items of an array without a schema (Gemma 3 270M filled a free "gradeDict" with made-up pairs
    until the token budget ran out). And keep raw control characters out of strings as JSON requires:
    a newline inside a value is how a small model carries `}}\n</tool_call>` into a string that never
    closes."""
    grammar = re.sub(r'"\\"" char\* "\\"" space', f'"\\"" char{{0,{max_string}}} "\\"" space', grammar)
    more = max(0, max_items - 1)
    grammar = grammar.replace(
        '("," space string ":" space value)* )? "}" space',
        f'("," space string ":" space value){{0,{more}}} )? "}}" space',
    )
    grammar = grammar.replace(
        '( value ("," space value)* )? "]" space', f'( value ("," space value){{0,{more}}} )? "]" space'
    )
    return grammar.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x00-\\x1F]')


def _literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + _gbnf_escape(text).replace("\n", "\\n") + '"'


def _gbnf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _fn(tool: dict[str, Any]) -> dict[str, Any]:
    return tool.get("function", tool)
