"""One request, several calls: the clauses of a request, and the items a clause lists.

"Find the factorial of 5, 10 and 15" is three calls to one tool; "Get the weather in Paris. Also
book a table in Rome" is two calls to two tools. Asked to write parallel calls, a small model writes
one (measured: 9% right on BFCL parallel). So the request is split in words:

- `clauses()`: sentences and "also"-joined parts, each routed to a tool on its own;
- `follow_up()`: "Do the same for an investment of $5000", "then repeat with a time of 10 seconds":
  the previous call, with the values this clause states put in the parameters its words name;
- `frames()`: "stage 7 in easy mode and stage 3 in hard mode", "case number XY1234 in Los Angeles
  County Court, and case number GH5678 in Orange County Court": after the call's values the request
  says the same words again with other values; each such part is a call with those values;
- `repeated()`: "a recipe for 'Lasagne' for 4 people and another one for 'Caesar Salad' for 2
  people": the request says its frame again after an "and", so each part is routed and decoded as
  a step of its own, before any call is made (frames() works from a call that already mixes both);
- `expand()`: a call whose value sits in a list in the text ("Taylor Swift and Maroon 5") becomes one
  call per item; values listed in step ("20 and 15 minutes respectively") go together. Two values of
  one call in the same list ("between 1 and 1000") are a range, not items, unless the list goes on in
  groups of them ("side lengths 3 and 4, 5 and 12": a call per pair).
"""

from __future__ import annotations

import re
from typing import Any

from edgeagent_cli.core.agent.toolcall.ground import (
    SCALE,
    covered,
    name_words,
    names_place,
    number_of,
    numbers,
    stems,
    tokens,
    whole_phrase,
)

_CLAUSE = re.compile(
    r"(?<=[.?!])\s+(?=[A-Z\"'(])|(?<=\?)\s+(?=(?:and|or|also|then)\s)|;\s+|,?\s+and also\s+|,\s+also\s+|\s+Also,?\s+"
)
_JOINERS = {"and", "or", "&"}
# Words that are never an item of a list on their own ("deer and their impact", "a human and a chimp").
_FUNCTION_WORDS = set(
    "a an the this that these those their there his her its our your my you we they it i me us them "
    "to of in on at by for with from into about as is are was were be been also then".split()
)
_RANGE_WORDS = {"between", "from"}
# Words of a clause that only points at a tool: "Use the calculator.", "Please call the weather API."
_POINTING_WORDS = _FUNCTION_WORDS | set("use using call run please tool tools function api now just".split())
_ABBREVIATIONS = {
    "v",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "jr",
    "sr",
    "no",
    "inc",
    "ltd",
    "co",
    "corp",
    "etc",
    "e.g",
    "i.e",
}
Token = tuple[str, int, int]


def clauses(text: str) -> list[str]:
    """The request's sentences and also-joined parts, in order (the whole text when there is one).

    A full stop after an abbreviation ("Roe v. Wade", "U.S.", "Dr.") or an initial does not end a sentence;
    after a unit it does ("a distance of 600 m. Also ...").
    """
    parts: list[str] = []
    start = 0
    text = text.strip()
    for m in _CLAUSE.finditer(text):
        word = re.search(r"(\w+)\W*$", text[start : m.start()])
        if text[m.start() - 1 : m.start()] == "." and word and _abbreviation(word.group(1)):
            continue
        parts.append(text[start : m.start()].strip())
        start = m.end()
    parts.append(text[start:].strip())
    return [p for p in parts if re.search(r"\w", p)] or [text]


def _abbreviation(word: str) -> bool:
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _find(toks: list[Token], value: Any) -> tuple[int, int] | None:
    """Where a call's value is written in the text: token positions [i, j)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        for i, (tok, _, _) in enumerate(toks):
            number = number_of(tok)
            if number is not None and -number == float(value) and i > 0 and toks[i - 1][0] == "-":
                return i - 1, i + 1
            if number == float(value):
                return i, i + 1
            scale = SCALE.get(toks[i + 1][0].lower()) if number is not None and i + 1 < len(toks) else None
            if scale and number is not None and number * scale == float(value):  # "213 million"
                return i, i + 2
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
    if number_of(tok) is not None:
        return "number"
    return "title" if tok[:1].isupper() else "lower"


def _phrase_ends(toks: list[Token], k: int) -> bool:
    """Does a listed name end at token k: the text ends, or punctuation, a joiner or a function word
    (not "of") follows?"""
    if k >= len(toks):
        return True
    word = toks[k][0].lower()
    return not re.match(r"\w", word) or word in _JOINERS or (word in _FUNCTION_WORDS and word != "of")


def _separator(toks: list[Token], k: int, step: int) -> int | None:
    """Index past a list separator (`,` `and` `, and` `or`) starting at k, moving by step; None if none."""
    seen = 0
    while 0 <= k < len(toks) and (toks[k][0] == "," or toks[k][0].lower() in _JOINERS) and seen < 2:
        k += step
        seen += 1
    return k if seen else None


def _item(toks: list[Token], start: int, length: int, shape: str, step: int) -> tuple[int, int] | None:
    """An item beginning (step 1) or ending (step -1) at `start`, shaped like the value: a name is the
    run of capitalised words there ("Seattle and Los Angeles"), anything else `length` tokens."""
    if shape == "title":
        k = start
        while 0 <= k < len(toks) and abs(k - start) < 6:
            word = toks[k][0]
            if word[:1].isupper() or (k != start and number_of(word) is not None):
                k += step
            elif word == "." and k != start and _company_dot(toks, k):
                k += step  # "Google LLC., and": the abbreviation's full stop belongs to the name
            else:
                break
        length = abs(k - start)
        if length == 0:
            return None
    i, j = (start, start + length) if step > 0 else (start - length + 1, start + 1)
    if i < 0 or j > len(toks):
        return None
    words = [t for t, _, _ in toks[i:j]]
    dots = {n for n in range(i, j) if toks[n][0] == "." and _company_dot(toks, n)}
    if any(w == "," or w.lower() in _JOINERS or (not re.match(r"\w", w) and n + i not in dots)
           for n, w in enumerate(words)):  # fmt: skip
        return None
    if words[0].lower() in _FUNCTION_WORDS or words[-1].lower() in _FUNCTION_WORDS:
        return None
    if _shape(words[0]) != shape:
        return None
    return i, j


def _company_dot(toks: list[Token], k: int) -> bool:
    """A full stop that ends an abbreviation inside a name: "Inc.", "LLC.", "Corp." (not a sentence's)."""
    if k == 0 or toks[k][0] != ".":
        return False
    before = toks[k - 1][0]
    return before.lower() in _ABBREVIATIONS or (before.isupper() and 2 <= len(before) <= 4 and before.isalpha())


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
        if shape == "lower" and not _phrase_ends(toks, span[1]):
            break  # "10 units and height of 5": "height" heads a phrase of its own (a name ends with its capitals)
        found.append(span)
        k = span[1] + (1 if unit else 0)
    k = i - 1
    bare = False  # the unit only after the last item: "1, 5 and 10 years"
    while (prev := _separator(toks, k, -1)) is not None:
        end = prev - (1 if unit and not bare else 0)
        if unit and not bare and (end + 1 >= len(toks) or toks[end + 1][0] != unit):
            if len(found) == 1 and number_of(toks[prev][0]) is not None:
                bare, end = True, prev
            else:
                break
        span = _item(toks, end, length, shape, -1)
        if span is None:
            break
        found.insert(0, span)
        k = span[0] - 1
    if len(found) == 1 or (found[0][0] > 0 and toks[found[0][0] - 1][0].lower() in _RANGE_WORDS):
        return [value], None
    between = {t.lower() for t, _, _ in toks[found[0][1] : found[-1][0]]}
    if not between & _JOINERS:  # "Seattle, Washington", "December 13, 2019": a list ends with "and"/"or"
        return [value], None
    out: list[Any] = []
    for a, b in found:
        if isinstance(value, int | float):
            number = number_of(toks[a][0])
            out.append(int(number) if isinstance(value, int) and number is not None and number.is_integer() else number)
        else:
            out.append(text[toks[a][1] : toks[b - 1][2]])
    return out, (found[0][0], found[-1][1])


def expand(arguments: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """One call's arguments as one call per listed item (see module doc); [arguments] when nothing is listed."""
    lists: dict[str, list[Any]] = {}
    spans: dict[tuple[int, int], list[str]] = {}
    toks = tokens(text)
    anchors = {key: at for key, value in arguments.items() if (at := _find(toks, value)) is not None}
    listed = {key: items(text, value) for key, value in arguments.items()}
    for key, (found, span) in listed.items():
        if span is None:
            continue
        others = [at for other, at in anchors.items() if other != key and listed[other][1] != span]
        if any(a < span[1] and span[0] < b and (a, b) != anchors[key] for a, b in others):
            continue  # another argument's value is in the list: "from New York City and Los Angeles"
        lists[key] = found
        spans.setdefault(span, []).append(key)
    for keys in spans.values():
        if len({repr(arguments[k]) for k in keys}) > 1:  # two values in one list: a range, or pairs
            row = lists[keys[0]]
            m = len(keys)
            order = sorted(keys, key=lambda k: row.index(arguments[k]) if arguments[k] in row else len(row))
            in_step = [arguments[k] for k in order] == row[:m] and len(row) % m == 0 and len(row) > m
            for pos, key in enumerate(order):  # "3 and 4, 5 and 12": a call per pair, its values in order
                if in_step:
                    lists[key] = row[pos::m]
                else:
                    lists.pop(key, None)
    if not lists:
        return [arguments]
    groups = [[k for k in keys if k in lists] for keys in spans.values()]
    groups = [g for g in groups if g and len({len(lists[k]) for k in g}) == 1]
    if len(groups) > 1 and not re.search(r"\brespectively\b", text, re.IGNORECASE):
        # two lists of their own: every pair ("Lakers and Bulls in seasons 2018 and 2020": four calls)
        calls = [dict(arguments)]
        for group in groups:
            calls = [{**call, **{k: lists[k][i] for k in group}} for call in calls for i in range(len(lists[group[0]]))]
        return calls
    n = max(len(v) for v in lists.values())
    calls = []
    for k in range(n):
        args = dict(arguments)
        for key, values in lists.items():
            if len(values) == n:
                args[key] = values[k]
        calls.append(args)
    return calls


def follow_up(previous: dict[str, Any], clause: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The previous call's arguments with what the clause changes; None when it names no parameter.

    A number goes to the parameter whose name or description shares most words with the five words
    before it ("sample size of 150" -> sample_size); an enum value the clause writes goes to its parameter.
    """
    props = params.get("properties") or {}
    words = {k: stems(k) | stems(str(v.get("description") or "")) for k, v in props.items() if isinstance(v, dict)}
    changed = dict(previous)
    found = False
    toks = tokens(clause)
    for i, (tok, _, _) in enumerate(toks):
        value = number_of(tok)
        if value is None:
            continue
        before = stems(" ".join(t for t, _, _ in toks[max(0, i - 5) : i]))
        kinds = {"number", "integer", "float"}
        scored = [(len(before & words[k]), k) for k in words if (props[k].get("type") in kinds)]
        if not scored:
            continue
        score, key = max(scored)
        if score == 0:
            continue
        stated = numbers(clause[toks[i][1] :], "percent" in key.lower())
        number = stated[0] if stated else value
        if props[key].get("type") == "integer" and not number.is_integer():
            continue  # 1.3 is no value for a count
        changed[key] = int(number) if props[key].get("type") == "integer" else number
        found = True
    lowered = clause.lower()
    for key, schema in props.items():
        for option in (schema.get("enum") or []) if isinstance(schema, dict) else []:
            if isinstance(option, str) and whole_phrase(option.lower()).search(lowered):
                changed[key] = option
                found = True
    return changed if found and changed != previous else None


_ARTICLES = {"a", "an", "the"}
_PIECE_BREAK = {"and", "also", "plus", "then", "another"}
_PREPOSITIONS = {"in", "at", "for", "with", "from", "to", "on", "by", "near"}


def _value_at(toks: list[Token], i: int, like: Any, text: str) -> tuple[Any, int] | None:
    """The value shaped like `like` that starts at token i (after an article or a currency sign):
    (value, end index)."""
    while i < len(toks) and (toks[i][0].lower() in _ARTICLES or toks[i][0] in "$€£¥#'\""):
        i += 1
    if i >= len(toks):
        return None
    tok = toks[i][0]
    if isinstance(like, int | float) and not isinstance(like, bool):
        number = number_of(tok)
        if number is None or (isinstance(like, int) and not number.is_integer()):
            return None
        return (int(number) if isinstance(like, int) else number), i + 1
    if not isinstance(like, str) or not like.strip() or not re.match(r"\w", tok):
        return None
    if _shape(like.split()[0]) == "title":
        j = i
        while j < len(toks) and (toks[j][0][:1].isupper() or (j > i and number_of(toks[j][0]) is not None)):
            j += 1
        return (text[toks[i][1] : toks[j - 1][2]], j) if j > i else None
    n = len(tokens(like))
    if i + n > len(toks) or any(not re.match(r"\w", t) for t, _, _ in toks[i : i + n]):
        return None
    if _shape(tok) != _shape(like.split()[0]):
        return None
    return text[toks[i][1] : toks[i + n - 1][2]], i + n


def _frame(toks: list[Token], at: int, taken: set[int]) -> list[str]:
    """The words before a value that say what it is: "stage" (7), "depth of" (5); a function word
    alone only where the word before it is another value ("XY1234 in" -> "in")."""
    words = [
        k
        for k in range(at - 1, max(-1, at - 5), -1)
        if re.match(r"\w", toks[k][0]) and toks[k][0].lower() not in _ARTICLES
    ][:2]
    if not words:
        return []
    first = toks[words[0]][0].lower()
    if first in _FUNCTION_WORDS and len(words) > 1 and words[1] not in taken:
        return [toks[words[1]][0].lower(), first]
    return [first]


def frames(arguments: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """The call, then one call per later part of the text that repeats its frame with other values.

    A value's frame is the words before it ("stage" 7, "in" Los Angeles, "depth of" 5), or the value
    it follows ("Chicago, Illinois": the state comes after the city). The text after the call's first
    value, less the pieces that hold the call's own values, is cut into pieces at "and", "also", "another", ... and at a comma before a lower-case word
    ("the factorial of 5, the factorial of 7, and ..."). A piece that has the same words followed by
    a value of the same shape gives that parameter its value there; numbers no frame matched take the
    piece's other numbers in order when the counts agree, and a piece of numbers alone ("(45, 60) and
    (81, 27)") gives them to the call's numbers in order. Pieces add up to one call until a piece
    changes a parameter the call already changed ("another with entropy criterion, maximum depth of
    10"): that starts the next call. The other parameters keep the first call's values.
    """
    toks = tokens(text)
    anchors = {k: at for k, v in arguments.items() if isinstance(v, str | int | float) and (at := _find(toks, v))}
    if not anchors:
        return [arguments]
    taken = {k: key for key, (a, b) in anchors.items() for k in range(a, b)}
    end = min(b for _, b in anchors.values())
    order = sorted(anchors, key=lambda k: anchors[k][0])
    numeric = [k for k in order if isinstance(arguments[k], int | float) and not isinstance(arguments[k], bool)]
    breaks = [i for i in range(end, len(toks)) if _piece_break(toks, i)]
    calls = [arguments]
    current: dict[str, Any] = {}
    for n, start in enumerate(breaks):
        stop = breaks[n + 1] if n + 1 < len(breaks) else len(toks)
        if any(start < k < stop for k in taken):
            continue  # a piece of the call's own values ("... returned in a 'dictionary' format")
        changed = _piece(toks, text, arguments, anchors, order, numeric, taken, start + 1, stop)
        if changed.keys() & current.keys():
            calls.append({**arguments, **current})
            current = {}
        current.update(changed)
    if current:
        calls.append({**arguments, **current})
    out: list[dict[str, Any]] = []
    for call in calls:
        if call not in out:
            out.append(call)
    return out


_AND = re.compile(r",?\s+and\s+")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
# a quoted value, or a run of capitalised words after another word ("in Los Angeles County Court")
_NAMES = re.compile(r"'[^']+'|\"[^\"]+\"|(?<=[\w,;:] )[A-Z]\w*(?:\s+[A-Z]\w*)*")
_FRAME_STOP = {"a", "an", "the", "one", "another", "also", "for", "of", "to", "then"}


def repeated(text: str, params: dict[str, Any]) -> list[str]:
    """The text as one part per call when, after an "and", it says the words before it again with
    other values: "a recipe for 'Lasagne Bolognese' for serving 4 people and another one for 'Caesar
    Salad' for serving 2 people", "'Queens Hotel' in Berlin from March 10 to March 20 and for 'Royal
    Hotel' in Paris from April 5 to April 15". Decoded from the whole text, a small model takes some
    values from each half; from its own half, each call has only its own.

    The side after the "and" must be a frame again, not more of the same call: at least three words,
    starting lower-case ("and No Time To Die" is a list item); most of its words said before it;
    as many numbers and names as the side before it ("trait A has a value of 0.8 and trait B a value
    of 0.7" fills one list, "for Microsoft for the past 60 days and then for the past 120 days" is
    one company); every required number on each side; no required list of plain values for the
    repeated values to be items of; and no parameter named after the "and"
    that is not named before it ("atmospheric pressure of 1 atm and a gauge pressure of 2 atm",
    "dataset_A with the values 12, 24, 36 and dataset_B with ...": two parameters of one call).
    """
    props = params.get("properties") or {}
    if any(
        isinstance(props.get(k), dict) and props[k].get("type") == "array" and _scalar_items(props[k])
        for k in params.get("required") or []
    ):
        return [text]  # "the 1st move is e4 and the 2nd move is e5": both are items of one list
    for m in _AND.finditer(text):
        left, right = text[: m.start()].strip(), text[m.end() :].strip()
        if len(right.split()) < 3 or not right[:1].islower() or not (has_values(left) and has_values(right)):
            continue
        if covered(params, left) < 1 or covered(params, right) < 1:
            continue
        if any(len(pattern.findall(left)) != len(pattern.findall(right)) for pattern in (_DIGITS, _NAMES)):
            continue
        said = [w for w in _frame_words(right) if w not in _FRAME_STOP]
        before = set(_frame_words(left))
        shared = sum(w in before for w in said)
        if shared < 2 or 2 * shared < len(said):
            continue
        if _named(right, params) - _named(left, params):
            continue
        return [left, *repeated(right, params)]
    return [text]


def _scalar_items(schema: dict[str, Any]) -> bool:
    items = schema.get("items")
    return not isinstance(items, dict) or items.get("type") in {"string", "integer", "number", "float", None}


def _frame_words(text: str) -> list[str]:
    """The lower-case words of a text outside its quoted values."""
    return re.findall(r"\b[a-z]+\b", re.sub(r"'[^']*'|\"[^\"]*\"", " ", text))


def _named(text: str, params: dict[str, Any]) -> set[str]:
    """The parameters a text names: by the exact name ("dataset_B"), or by a word of the name that
    no other parameter has ("gauge" of gauge_pressure beside atm_pressure)."""
    props = list(params.get("properties") or {})
    said, lowered = stems(text), text.lower()
    out = set()
    for key in props:
        others = set().union(*(stems(k) for k in props if k != key))
        if re.search(rf"(?<!\w){re.escape(key.lower())}(?!\w)", lowered) or (stems(key) - others) & said:
            out.add(key)
    return out


def reach(arguments: dict[str, Any], text: str) -> int | None:
    """Where in the text the call's last value written there ends (a character offset), if any is."""
    toks = tokens(text)
    ends = [
        toks[found[1] - 1][2]
        for value in arguments.values()
        for one in (value if isinstance(value, list) else [value])
        if (found := _find(toks, one)) is not None
    ]
    return max(ends) if ends else None


def rest_after(text: str, at: int) -> str | None:
    """The text after the first piece break ("and", "also", "another", ...: see frames) at or after
    character `at`, when it writes a value: where the next of several calls would find its values."""
    toks = tokens(text)
    for i, (_tok, start, end) in enumerate(toks):
        if start >= at and _piece_break(toks, i):
            rest = text[end:].strip()
            return rest if has_values(rest) else None
    return None


def _piece_break(toks: list[Token], i: int) -> bool:
    word = toks[i][0]
    if word.lower() in _PIECE_BREAK:
        return True
    after = toks[i + 1][0] if i + 1 < len(toks) else ""
    return word == "," and (after in "$€£¥" or (after[:1].islower() and after.lower() not in _JOINERS))


def _piece(
    toks: list[Token],
    text: str,
    arguments: dict[str, Any],
    anchors: dict[str, tuple[int, int]],
    order: list[str],
    numeric: list[str],
    taken: dict[int, str],
    start: int,
    stop: int,
) -> dict[str, Any]:
    """The values one piece of the text (tokens start..stop) gives the call's parameters (see frames)."""
    changed: dict[str, Any] = {}
    used: set[int] = set()
    ends: dict[str, int] = {}  # where each value found in the piece ends
    unmatched = []
    piece = [t.lower() for t, _, _ in toks[start:stop]]
    for key in order:
        a = anchors[key]
        found = None
        follows = _follows(toks, a[0], taken)
        if follows is not None and follows in ends:
            k = ends[follows] + (1 if ends[follows] < stop and toks[ends[follows]][0] == "," else 0)
            found = _value_at(toks, k, arguments[key], text) if k < stop else None
            if found is not None and found[1] > stop:
                found = None
        if found is None:
            frame = _frame(toks, a[0], set(taken))
            alone = len(frame) == 2 and not _contains(piece, frame) and frame[1] in _PREPOSITIONS
            if alone and isinstance(arguments[key], str):
                frame = frame[1:]  # "with gini" ... "with entropy": the preposition alone will do
            for i in range(start, stop):
                words = [t.lower() for t, _, _ in toks[i - len(frame) + 1 : i + 1]]
                if not frame or i in used or words != frame:
                    continue
                found = _value_at(toks, i + 1, arguments[key], text)
                if found is not None:
                    used.update(range(i, found[1]))
                    break
        if found is not None and found[0] != arguments[key]:
            changed[key], ends[key] = found[0], found[1]
        elif found is not None:
            ends[key] = found[1]
        elif key in numeric:
            unmatched.append(key)
    rest = [k for k in range(start, stop) if k not in used and number_of(toks[k][0]) is not None]
    bare = all(number_of(w) is not None or not re.match(r"\w", w) or w in _JOINERS for w in piece)
    if unmatched and len(rest) == len(unmatched) and (used or (bare and unmatched == numeric and len(numeric) > 1)):
        for key, k in zip(unmatched, rest, strict=True):  # only where a frame was said again, or numbers alone
            number = number_of(toks[k][0]) or 0.0
            value = int(number) if isinstance(arguments[key], int) and number.is_integer() else number
            if value != arguments[key] or bare:
                changed[key] = value
    return changed


def _follows(toks: list[Token], at: int, taken: dict[int, str]) -> str | None:
    """The parameter whose value comes right before token `at` (a comma between): "Chicago, Illinois"."""
    k = at - 1 if at < 1 or toks[at - 1][0] != "," else at - 2
    return taken.get(k) if k >= 0 else None


def _contains(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


_VALUE = re.compile(r"\d|'[^']+'|\"[^\"]+\"|\[|\b[a-z]\s*[+*/^=]|(?<=[\w,;:] )[A-Z]|(?<=[\w,;:] )\w+[A-Z]")


def has_values(clause: str) -> bool:
    """Does the clause write any value a call could take: a number, a quoted string, a list, a formula,
    or a name (a capitalised word that does not start the sentence; "I" is no name)?
    "I need to find the intersection points of these two functions." writes none."""
    return bool(_VALUE.search(re.sub(r"\bI\b", "i", clause)))


def refer(arguments: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """A call made from words that write no value ("also find the nature of the offenses he committed")
    takes its values from the nearest earlier call with a parameter of the same name ("criminal_name":
    "John Doe"; "data": the list "these points" are); the words it was decoded from could only give it
    a phrase, or a list the model made up. Numbered parameters ("the time difference between the two
    cities": city_1, city_2) take the values of the earlier calls in turn, in the order they were made."""
    out = dict(arguments)
    done: set[str] = set()
    numbered: dict[str, list[str]] = {}
    for key in sorted(arguments):
        m = re.fullmatch(r"(.*?)_?(\d)", key)
        if m and m.group(1):
            numbered.setdefault(m.group(1), []).append(key)
    for base, keys in numbered.items():
        if len(keys) < 2:
            continue
        kind = type(arguments[keys[0]])
        found = list(
            dict.fromkeys(
                call[k]
                for call in reversed(earlier)
                for k in call
                if _alike(k, base) and type(call[k]) is kind and not isinstance(call[k], bool | list)
            )
        )
        if len(found) >= len(keys):
            out.update(zip(keys, found, strict=False))
            done.update(keys)
    for key, value in arguments.items():
        if key in done or isinstance(value, bool) or not isinstance(value, str | int | float | list):
            continue
        for call in earlier:
            same = [k for k in call if _alike(k, key)]
            if same and isinstance(call[same[0]], type(value)) and not isinstance(call[same[0]], bool):
                out[key] = call[same[0]]
                break
    return out


def _alike(key: str, other: str) -> bool:
    """Parameters that hold one kind of value: one name, one inside the other ("company" in
    "company_name"), or both a place ("location", "city")."""
    return (
        key == other
        or (min(len(key), len(other)) >= 4 and (key in other or other in key))
        or (names_place(key) and names_place(other))
    )


_SAME = re.compile(r"\bsame\s+([a-z]+)(?:\s+(?:and|or)\s+([a-z]+))?", re.I)


def same_as(arguments: dict[str, Any], clause: str, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """A clause that says "the same company", "for the same day", "the same platform and region" means
    the value an earlier call gave that parameter: each parameter a word after "same" names (a word of
    its name, to five letters; "day" names a date) takes its value from the nearest earlier call that
    has it. Left to the clause, the grammar can only give it a phrase ("company_name": "company.",
    "date": "New York")."""
    named = {w[:5] for m in _SAME.finditer(clause) for w in m.groups() if w}
    named |= {"date"} if "day" in named else set()
    out = dict(arguments)
    for key, value in arguments.items():
        if not named & {w[:5] for w in name_words(key)}:
            continue
        for call in earlier:
            if key in call and type(call[key]) is type(value):
                out[key] = call[key]
                break
    return out


def conform(calls: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls the splitting rules made, each still valid for the tool's schema: a value read from
    the text that is not one of a parameter's enum becomes the one option it names ("annual" ->
    "annually", "Quarterly" -> "quarterly"); a call that still does not fit is dropped."""
    from edgeagent_cli.core.agent.toolcall.schema import check_arguments

    props = params.get("properties") or {}
    out = []
    for call in calls:
        fixed = dict(call)
        for key, value in call.items():
            options = (props.get(key) or {}).get("enum") if isinstance(props.get(key), dict) else None
            if options and value not in options and isinstance(value, str):
                stem = value.lower()[:5]
                named = [o for o in options if isinstance(o, str) and o.lower()[:5] == stem and len(stem) >= 3]
                if len(named) == 1:
                    fixed[key] = named[0]
        if not check_arguments(fixed, params):
            out.append(fixed)
    return out


def restates(call: dict[str, Any], other: dict[str, Any]) -> bool:
    """Does `call` say nothing `other` does not? Each of its values is other's value for that parameter,
    or one it repeats from another of its own parameters (a value the text lacked: "book_id": "book",
    "branch_id": "book"). Then the step that made it only restated, or added to, the other's request
    ("... calculate the cosine similarity." "I want the result rounded to 2 decimal places.")."""

    def repeated(key: str, value: Any) -> bool:
        return not isinstance(value, bool) and any(k != key and v == value for k, v in call.items())

    return bool(call) and all(other.get(k) == v or repeated(k, v) for k, v in call.items())


def names_only(clause: str, tool: dict[str, Any]) -> bool:
    """The clause says which tool to use and nothing it should be used on ("Use the calculator.")."""
    fn = tool.get("function", tool)
    named = set(name_words(str(fn.get("name", ""))))
    words = re.findall(r"[\w']+", clause.lower())
    return bool(words) and all(w in _POINTING_WORDS or w in named for w in words)
