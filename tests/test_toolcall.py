"""Tool-call text: the tolerant parser, type coercion, argument checks, grammar, BFCL's checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeagent_cli.core.agent import eval as bfcl
from edgeagent_cli.core.agent import toolcall
from edgeagent_cli.core.agent.toolcall import check_arguments, coerce, parse_calls

SHARED_BFCL = Path(__file__).resolve().parent / "data" / "bfcl"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        (
            '<tool_call>\n{"name": "calc", "arguments": {"expression": "1+1"}}\n</tool_call>',
            "calc",
            {"expression": "1+1"},
        ),
        ('{"name": "calc", "parameters": {"expression": "1+1"}}', "calc", {"expression": "1+1"}),
        (
            '<|tool_call|>[{"name": "calc", "arguments": {"expression": "1+1"}}]<|/tool_call|>',
            "calc",
            {"expression": "1+1"},
        ),
        (
            "<start_function_call>call:calc{expression:<escape>1+1<escape>}<end_function_call>",
            "calc",
            {"expression": "1+1"},
        ),
        ('calc(expression="1+1")', "calc", {"expression": "1+1"}),
        ('```json\n{"name": "calc", "arguments": "{\\"expression\\": \\"1+1\\"}"}\n```', "calc", {"expression": "1+1"}),
        (
            '{"type": "function", "function": {"name": "calc", "arguments": {"expression": "1+1"}}}',
            "calc",
            {"expression": "1+1"},
        ),
    ],
)
def test_parser_reads_calls_leaked_into_content(text: str, name: str, args: dict) -> None:
    calls = parse_calls(text)
    assert [(c.name, c.arguments) for c in calls] == [(name, args)]


def test_parser_reads_parallel_calls_and_leaves_prose_alone() -> None:
    calls = parse_calls('[get_weather(city="Paris"), get_time(tz="UTC")]')
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    two = '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>'
    assert [c.name for c in parse_calls(two)] == ["a", "b"]
    for prose in ["The capital of France is Paris.", "Use print(x) to show it.", "{not json", ""]:
        assert parse_calls(prose) == []


def test_coercion_bends_values_to_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "b": {"type": "boolean"},
            "s": {"type": "string"},
            "l": {"type": "array", "items": {"type": "integer"}},
        },
    }
    got = coerce({"n": "5", "x": "2.5", "b": "true", "s": 3, "l": "7"}, schema)
    assert got == {"n": 5, "x": 2.5, "b": True, "s": "3", "l": [7]}
    assert check_arguments(got, schema) == []
    errors = check_arguments({"n": "five", "zzz": 1}, {**schema, "required": ["s"]})
    assert any("missing required argument 's'" in e for e in errors)
    assert any("unknown argument 'zzz'" in e for e in errors)
    assert any("n: expected integer" in e for e in errors)


def test_grammar_compiles_for_every_bfcl_function_and_bounds_strings() -> None:
    import llama_cpp

    entries = bfcl.load_jsonl(SHARED_BFCL / "BFCL_v4_parallel_multiple.json")[:30]
    for entry in entries:
        tools, _ = bfcl.tools_for(entry)
        grammar = toolcall.call_grammar(tools)
        assert "char{0,300}" in grammar or "string" not in grammar
        llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
        first = tools[0]["function"]["name"]
        llama_cpp.LlamaGrammar.from_string(toolcall.call_grammar(tools, first), verbose=False)


def test_free_objects_and_arrays_are_bounded_tighter_on_a_retry() -> None:
    """BFCL multiple_9 on Gemma 3 270M: a "gradeDict" object without properties filled with made-up
    pairs until the token budget ran out. A free object's pairs and a free array's items are bounded
    (so the grammar closes), to the tight bounds when a call ran out of tokens and is decoded again."""
    import llama_cpp

    from edgeagent_cli.core.agent.toolcall.ground import grounded_grammar

    tool = {"name": "calculate_average", "parameters": {"type": "object", "required": ["grades"],
            "properties": {"grades": {"type": "object"}, "extra": {"type": "array"}}}}  # fmt: skip
    text = "The average grade for John: {'math':90, 'science':75}, extra 1 and 2"
    for grammar, pairs in ((grounded_grammar(tool, text), 15), (grounded_grammar(tool, text, max_items=4), 3)):
        assert grammar is not None
        assert f'("," space string ":" space value){{0,{pairs}}}' in grammar
        assert f'("," space value){{0,{pairs}}}' in grammar and ")*" not in grammar
        llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    assert '("," space string ":" space value){0,15}' in toolcall.call_grammar([tool])


def test_bfcl_types_and_dotted_names_are_mapped() -> None:
    entry = {
        "id": "simple_python_1",
        "function": [
            {
                "name": "math.factorial",
                "description": "d",
                "parameters": {
                    "type": "dict",
                    "properties": {
                        "n": {"type": "float"},
                        "t": {"type": "tuple", "items": {"type": "integer"}},
                        "a": {"type": "any"},
                    },
                    "required": ["n"],
                },
            }
        ],
    }
    tools, names = bfcl.tools_for(entry)
    fn = tools[0]["function"]
    assert fn["name"] == "math_factorial" and names["math_factorial"] == "math.factorial"
    assert fn["parameters"]["type"] == "object"
    assert fn["parameters"]["properties"]["n"]["type"] == "number"
    assert fn["parameters"]["properties"]["t"] == {"type": "array", "items": {"type": "integer"}}
    assert "type" not in fn["parameters"]["properties"]["a"]


def _entry(cat: str = "simple_python") -> dict:
    return {
        "id": f"{cat}_0",
        "function": [
            {
                "name": "area",
                "parameters": {
                    "type": "dict",
                    "properties": {"r": {"type": "float"}, "unit": {"type": "string"}},
                    "required": ["r"],
                },
            },
            {
                "name": "perimeter",
                "parameters": {"type": "dict", "properties": {"r": {"type": "integer"}}, "required": ["r"]},
            },
        ],
    }


def test_bfcl_checker_matches_the_ast_rules() -> None:
    truth = [{"area": {"r": [5.0], "unit": ["cm", ""]}}]
    ok = bfcl.check_entry(_entry(), [{"name": "area", "arguments": {"r": 5}}], truth)
    assert ok == (True, None)  # an int for a float; "" makes unit optional
    assert bfcl.check_entry(_entry(), [{"name": "area", "arguments": {"r": 5, "unit": "C.M"}}], truth)[0]  # normalised
    assert "unexpected parameter" in str(
        bfcl.check_entry(_entry(), [{"name": "area", "arguments": {"r": 5, "x": 1}}], truth)[1]
    )
    assert "wrong function" in str(bfcl.check_entry(_entry(), [{"name": "perimeter", "arguments": {"r": 5}}], truth)[1])
    assert "not one of" in str(bfcl.check_entry(_entry(), [{"name": "area", "arguments": {"r": 6}}], truth)[1])
    assert "missing parameter 'unit'" in str(
        bfcl.check_entry(_entry(), [{"name": "area", "arguments": {"r": 5}}], [{"area": {"r": [5.0], "unit": ["cm"]}}])[
            1
        ]
    )
    wrong_type = bfcl.check_entry(
        _entry(), [{"name": "perimeter", "arguments": {"r": 5.5}}], [{"perimeter": {"r": [5]}}]
    )
    assert "wrong type" in str(wrong_type[1])


def test_bfcl_checker_matches_parallel_calls_in_any_order_and_irrelevance_by_silence() -> None:
    truth = [{"area": {"r": [1.0]}}, {"area": {"r": [2.0]}}, {"perimeter": {"r": [3]}}]
    calls = [
        {"name": "perimeter", "arguments": {"r": 3}},
        {"name": "area", "arguments": {"r": 2.0}},
        {"name": "area", "arguments": {"r": 1}},
    ]
    assert bfcl.check_entry(_entry("parallel_multiple"), calls, truth) == (True, None)
    assert not bfcl.check_entry(_entry("parallel_multiple"), calls[:2], truth)[0]
    assert bfcl.check_entry(_entry("irrelevance"), [], None) == (True, None)
    assert not bfcl.check_entry(_entry("irrelevance"), calls[:1], None)[0]


def _first(accepted: Any) -> Any:
    """The first accepted value, inside dict answers too ({"name": ["John Doe"]} -> {"name": "John Doe"})."""
    if isinstance(accepted, dict):
        return {k: _first(v[0]) for k, v in accepted.items() if v and v[0] != ""}
    if isinstance(accepted, list) and accepted and all(isinstance(a, dict) for a in accepted):
        return [_first(a) for a in accepted]
    return accepted


def test_bfcl_checker_reads_dict_answers_key_by_key() -> None:
    """BFCL answers a dict parameter with accepted values per key, and a list of dicts dict by dict."""
    entry = {
        "id": "simple_python_0",
        "function": [
            {
                "name": "update",
                "parameters": {
                    "type": "dict",
                    "properties": {"info": {"type": "dict"}, "rows": {"type": "array", "items": {"type": "dict"}}},
                    "required": ["info"],
                },
            }
        ],
    }
    truth = [
        {"update": {"info": [{"name": ["John Doe"], "age": [30, ""]}], "rows": [[{"k": ["a"]}, {"k": ["b"]}], ""]}}
    ]
    ok = {"name": "update", "arguments": {"info": {"name": "john doe"}, "rows": [{"k": "a"}, {"k": "b"}]}}
    assert bfcl.check_entry(entry, [ok], truth) == (True, None)
    for info in ({"name": "Jane"}, {"age": 30}, {"name": "John Doe", "city": "x"}):
        assert not bfcl.check_entry(entry, [{"name": "update", "arguments": {"info": info}}], truth)[0]
    rows = {"info": {"name": "John Doe"}, "rows": [{"k": "b"}, {"k": "a"}]}
    assert not bfcl.check_entry(entry, [{"name": "update", "arguments": rows}], truth)[0]


def test_shared_bfcl_answers_pass_their_own_checker() -> None:
    """The first accepted value of every possible answer must pass: the checker is not too strict.

    Answers that name a parameter their function does not declare (a quirk of the data, which BFCL's
    own checker also rejects) are counted and must stay rare.
    """
    quirks = checked = 0
    for name in ["simple_python", "multiple", "parallel", "parallel_multiple"]:
        questions = {e["id"]: e for e in bfcl.load_jsonl(SHARED_BFCL / f"BFCL_v4_{name}.json")}
        for answer in bfcl.load_jsonl(SHARED_BFCL / "possible_answer" / f"BFCL_v4_{name}.json"):
            functions = {f["name"]: f["parameters"]["properties"] for f in questions[answer["id"]]["function"]}
            if any(
                k not in functions.get(fn, {}) for call in answer["ground_truth"] for fn, p in call.items() for k in p
            ):
                quirks += 1
                continue
            checked += 1
            calls = [
                {"name": fn, "arguments": {k: _first(v[0]) for k, v in params.items() if v and v[0] != ""}}
                for call in answer["ground_truth"]
                for fn, params in call.items()
            ]
            ok, why = bfcl.check_entry(questions[answer["id"]], calls, answer["ground_truth"])
            assert ok, (answer["id"], why, json.dumps(calls))
    assert checked >= 480 and quirks <= 20


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{"radius": 5}}', '{"radius": 5}}\n</tool_call>'),  # the arguments and the call's brace in one token
        ('{"radius": 5} }', '{"radius": 5}}\n</tool_call>'),  # the grammar's optional space
        ('{"radius": 5}', None),  # the arguments closed, the call's brace not yet begun
        ('{"a": {"b": 1}}', None),  # a nested object closed: the arguments are complete, nothing after
        ('{"a": {"b": 1}}}', '{"a": {"b": 1}}}\n</tool_call>'),
        ('{"a": "x}}', None),  # braces inside a string that goes on
    ],
)
def test_a_constrained_call_ends_once_the_closing_begins(text: str, want: str | None) -> None:
    from edgeagent_cli.core.agent.runtime.constrained import _closed
    from edgeagent_cli.core.agent.toolcall.grammar import CALL_END

    got = _closed(text.encode(), CALL_END)
    assert (got.decode() if got is not None else None) == want
