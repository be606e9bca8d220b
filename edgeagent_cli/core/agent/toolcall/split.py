"""One request, several calls: the clauses of a request, and the items a clause lists.

"Find the factorial of 5, 10 and 15" is three calls to one tool; "Get the weather in Paris. Also
book a table in Rome" is two calls to two tools. Asked to write parallel calls, a small model writes
one (measured: 9% right on BFCL parallel). So the request is split in words:

- `clauses()`: sentences and "also"-joined parts, each routed to a tool on its own;
- `expand()`: a call whose value sits in a list in the text ("Taylor Swift and Maroon 5") becomes one
  call per item; values listed in step ("20 and 15 minutes respectively") go together. Two values of
  one call in the same list ("between 1 and 1000") are a range, not items.
"""

from __future__ import annotations

import re
from typing import Any

from edgeagent_cli.core.agent.toolcall.ground import tokens

_CLAUSE = re.compile(r"(?<=[.?!])\s+(?=[A-Z\"'(])|;\s+|,?\s+and also\s+|,\s+also\s+|\s+Also,?\s+")
_JOINERS = {"and", "or", "&"}
_RANGE_WORDS = {"between", "from"}
Token = tuple[str, int, int]


def clauses(text: str) -> list[str]:
    """The request's sentences and also-joined parts, in order (the whole text when there is one)."""
    parts = [p.strip() for p in _CLAUSE.split(text.strip())]
    return [p for p in parts if re.search(r"\w", p)] or [text]


def _number(tok: str) -> float | None:
    try:
        return float(tok.replace(",", ""))
    except ValueError:
        return None


def _find(toks: list[Token], value: Any) -> tuple[int, int] | None:
    """Where a call's value is written in the text: token positions [i, j)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        for i, (tok, _, _) in enumerate(toks):
            if _number(tok) == float(value):
                return i, i + 1
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    want = [t for t, _, _ in tokens(value)]
    words = [t.lower() for t, _, _ in toks]
    for i in range(len(toks) - len(want) + 1):
        if words[i : i + len(want)] == [w.lower() for w in want]:
            return i, i + len(want)
    return None


def _shape(tok: str) -> str:
    if _number(tok) is not None:
        return "number"
    return "title" if tok[:1].isupper() else "lower"


def _separator(toks: list[Token], k: int, step: int) -> int | None:
    """Index past a list separator (`,` `and` `, and` `or`) starting at k, moving by step; None if none."""
    seen = 0
    while 0 <= k < len(toks) and (toks[k][0] == "," or toks[k][0].lower() in _JOINERS) and seen < 2:
        k += step
        seen += 1
    return k if seen else None


def _item(toks: list[Token], start: int, length: int, shape: str, step: int) -> tuple[int, int] | None:
    """An item of `length` tokens beginning (step 1) or ending (step -1) at `start`, shaped like the value."""
    i, j = (start, start + length) if step > 0 else (start - length + 1, start + 1)
    if i < 0 or j > len(toks):
        return None
    words = [t for t, _, _ in toks[i:j]]
    if any(w == "," or w.lower() in _JOINERS or not re.match(r"\w", w) for w in words):
        return None
    if _shape(words[0]) != shape:
        return None
    return i, j


def items(text: str, value: Any) -> tuple[list[Any], tuple[int, int] | None]:
    """The list a value is written in ("5, 10 and 15" for 10), with the list's token span.

    A number may carry its unit on each item ("20 minutes and 15 minutes").
    """
    toks = tokens(text)
    at = _find(toks, value)
    if at is None:
        return [value], None
    i, j = at
    length, shape = j - i, _shape(toks[i][0])
    unit = ""
    if shape == "number" and j < len(toks) and re.match(r"[^\W\d]", toks[j][0]) and toks[j][0].lower() not in _JOINERS:
        unit = toks[j][0]
    found = [(i, j)]
    k = j + (1 if unit else 0)
    while (nxt := _separator(toks, k, 1)) is not None and (span := _item(toks, nxt, length, shape, 1)):
        if unit and (span[1] >= len(toks) or toks[span[1]][0] != unit):
            break
        found.append(span)
        k = span[1] + (1 if unit else 0)
    k = i - 1
    while (prev := _separator(toks, k, -1)) is not None:
        end = prev - (1 if unit else 0)
        if unit and (end + 1 >= len(toks) or toks[end + 1][0] != unit):
            break
        span = _item(toks, end, length, shape, -1)
        if span is None:
            break
        found.insert(0, span)
        k = span[0] - 1
    if len(found) == 1 or (found[0][0] > 0 and toks[found[0][0] - 1][0].lower() in _RANGE_WORDS):
        return [value], None
    out: list[Any] = []
    for a, b in found:
        if isinstance(value, int | float):
            number = _number(toks[a][0])
            out.append(int(number) if isinstance(value, int) and number is not None and number.is_integer() else number)
        else:
            out.append(text[toks[a][1] : toks[b - 1][2]])
    return out, (found[0][0], found[-1][1])


def expand(arguments: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """One call's arguments as one call per listed item (see module doc); [arguments] when nothing is listed."""
    lists: dict[str, list[Any]] = {}
    spans: dict[tuple[int, int], list[str]] = {}
    for key, value in arguments.items():
        found, span = items(text, value)
        if span is not None:
            lists[key] = found
            spans.setdefault(span, []).append(key)
    for keys in spans.values():
        if len(keys) > 1:  # two parameters in one list: a range or a pair, not items
            for key in keys:
                lists.pop(key, None)
    if not lists:
        return [arguments]
    n = max(len(v) for v in lists.values())
    calls = []
    for k in range(n):
        args = dict(arguments)
        for key, values in lists.items():
            if len(values) == n:
                args[key] = values[k]
        calls.append(args)
    return calls
