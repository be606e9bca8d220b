"""Argument values grounded in the request: what a tiny model may write into a call.

A 135M model under a JSON-schema grammar writes well-formed calls with made-up values ("unit": "m",
"city": "Paris" for a question about Rome). Most values a request needs are in its words: of the
public BFCL entries' required string values 94% are spans of the question, and 85% of the numbers
appear in it. So a call's grammar offers, per parameter:

- a string: any contiguous run of the request's words (a chain of GBNF rules, linear in its length)
  that neither begins nor ends with a function word (a place's begins as a name), or the schema's enum;
- a number: the numbers the request contains (with 5% also as 0.05, "1.2 million" also as 1200000,
  number words), or the numbers and default the parameter's own description gives;
- with no such candidate, the plain type: the way out when the schema needs a value the text lacks.

An optional parameter is offered only when the request mentions it (a word of its name, or one of its
enum values); left in, a small model fills every optional parameter, mostly wrongly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from edgeagent_cli.core.agent.toolcall.grammar import MAX_ITEMS, MAX_STRING

# Words, numbers (1.5, 1,000, 1e-9, 6.022e23), and every other non-space character on its own.
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+(?!\w|\.\d))?|[^\W\d_]+|\S")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+(?!\w|\.\d))?")
SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
_MONEY_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "bn": 1e9}  # only after a currency sign: "$1.2M", not "50 m/s"
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "hundred": 100, "dozen": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "twice": 2, "double": 2, "half": 0.5,
}  # fmt: skip
_STRING_KINDS = {"string"}
_NOT_NAMES = {"with", "from", "into", "that", "this", "have", "type", "value", "name", "data", "number", "list"}
_NUMBER_KINDS = {"number", "integer", "float"}


_CLOSING = re.compile(r"[.,?!;:)\]}]+")
# Words no value begins or ends with, written in lower case ("to Tokyo", "the", "nature and"), and "also"
# in either case (a clause's "Also, ..."): none of BFCL's 893 public string answers does. A small model that picks a parameter's span often stops at one.
FUNCTION_WORDS = set(
    "the a an to of in on at for with by from and or is are was be that this it as into also Also".split()
)
# Parameters that name a place ("location", "start_city", "country"). Their values are names: of BFCL's
# 223 public answers to one, 217 begin with a capital and 4 with a house number before one ("123 Main
# Street"); 2 are lower case ("downtown"). A small model picking a span often takes a word near the place
# instead ("decade", "tomorrow", "2020", "store").
PLACE_WORDS = set(
    "location locations city cities country countries place destination destinations origin origins town towns "
    "region regions venue venues".split()
)  # not "places": decimal_places


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) for each word, number and punctuation mark."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def numbers(text: str, percent_whole: bool = False, repeats: bool = False) -> list[float]:
    """The numbers a text states, in order of appearance, without repeats (unless `repeats`).

    "5%" is 0.05, or 5 for a parameter that is itself a percentage (`percent_whole`); "$1.2M" and
    "3 million" are 1200000 and 3000000 only: offered "1" too, a greedy model stops after the "1".
    """
    out: list[float] = []
    lowered = text.lower()
    for m in _NUMBER.finditer(lowered):
        value = float(m.group().replace(",", ""))
        after = lowered[m.end() : m.end() + 12]
        scale = re.match(r"\s?([a-z]+)\b", after)
        money = m.start() > 0 and lowered[m.start() - 1] in "$€£¥"
        attached = re.match(r"([a-z]+)\b", after)
        if after.startswith("%") or after.lstrip().startswith("percent"):
            out.append(value if percent_whole else value / 100)
        elif scale and scale.group(1) in SCALE:
            out.append(value * SCALE[scale.group(1)])
        elif money and attached and attached.group(1) in _MONEY_SCALE:
            out.append(value * _MONEY_SCALE[attached.group(1)])
        else:
            out.append(value)
    for word in re.findall(r"[a-z]+", lowered):
        if word in _WORDS:
            out.append(float(_WORDS[word]))
    if repeats:
        return out
    seen: set[float] = set()
    return [v for v in out if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


# Units as the words a parameter's description spells them with: "80 kg" is a weight "in kilograms".
_UNITS = {
    "kg": "kilograms", "g": "grams", "lb": "pounds", "lbs": "pounds", "ft": "feet", "foot": "feet", "m": "meters",
    "cm": "centimeters", "km": "kilometers", "mi": "miles", "s": "seconds", "sec": "seconds", "min": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "yr": "years", "yrs": "years", "c": "celsius", "f": "fahrenheit",
}  # fmt: skip


# What a result is asked "in" ("the speed in km/h", "the distance in miles"): the units above, spelled
# either way, one or many, and the rates and scales that have no abbreviation there.
_UNIT_WORDS = (
    set(_UNITS) | set(_UNITS.values()) | {w.rstrip("s") for w in _UNITS.values()}
    | set("km/h kph mph m/s ft/s inch inches yard yards liter liters litre litres gallon gallons joule joules watt "
          "watts kelvin degree degrees radian radians metric imperial".split())
)  # fmt: skip
_ASKED_IN = re.compile(r"\bin ([a-zA-Z/]+)\b(?!/)")


def stems(text: str) -> set[str]:
    """Content words cut to five letters (calculate/calculation), camelCase and snake_case split, units
    spelled out ("kg" -> "kilog")."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ")
    words = [_UNITS.get(w, w) for w in re.findall(r"[a-z]+", text.lower())]
    return {w[:5] for w in words if len(w) > 2} - {"the", "and", "for", "with", "from"}


_PHRASE_ENDS = {"and", "or", "but", "when", "while", "then", "if", "where", "which", "that", "is", "are", "was", "were"}


def _beside(toks: list[tuple[str, int, int]], k: int) -> list[str]:
    """The words that say what the number at token k is: up to three before it within its phrase
    ("initial investment of $2000", not "... tall and" of "tall and weighs 80"), and the unit right
    after it ("6 feet"); a comma, another number and its unit, or a word such as "and" or "when" ends
    the phrase."""
    words: list[str] = []
    i = k - 1
    if i >= 0 and toks[i][0] in "$€£¥":
        i -= 1
    while i >= 0 and len(words) < 3:
        tok = toks[i][0]
        if not tok[:1].isalpha() or tok.lower() in _PHRASE_ENDS or (i > 0 and number_of(toks[i - 1][0]) is not None):
            break  # ... or the unit of the number before ("5 years ago for $500,000": not years)
        words.append(tok)
        i -= 1
    after = toks[k + 1][0] if k + 1 < len(toks) else ""
    if after[:1].isalpha() and after.lower() not in _PHRASE_ENDS:
        words.append(after)
    return words


def number_of(tok: str) -> float | None:
    """The number one token writes ("1,500" is 1500), if it is one."""
    try:
        return float(tok.replace(",", ""))
    except ValueError:
        return None


def stated_twice(text: str, value: Any) -> bool:
    """Does the request write this value in two places ("5% for 5 years", "from Paris ... in Paris")?"""
    return _times(text, value) >= 2


def _times(text: str, value: Any) -> int:
    """How often the request writes a string (as a whole word or phrase) or a number."""
    if isinstance(value, str):
        return len(whole_phrase(value).findall(text))
    return max(numbers(text, whole, repeats=True).count(value) for whole in (False, True))


def whole_phrase(value: str) -> re.Pattern[str]:
    """The string as a whole word or phrase of a text."""
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")


def read_back(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A decoded call's values read back against the request: list items as often as it writes them
    (as_often) and only from their group (grouped), a function as its expression (defined), a date
    whole (dated), no value running on into another's (apart), a place with its region (placed), two
    numbers each where the other parameter's words are (matched), numbered parameters in the order the
    request writes their values (in_order), a range's ends in its order (ranged), the unit the request
    asks for (measured), and an initial velocity of 0 for what starts from rest (at_rest)."""
    values = grouped(as_often(arguments, text), params, text)
    values = apart(dated(defined(values, params, text), params, text))
    values = ranged(in_order(matched(placed(values, params, text), params, text), text), text)
    return at_rest(measured(values, params, text), params, text)


def measured(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """An optional unit parameter the call left out takes the unit the request asks for: the one unit
    it writes after "in" ("the speed in km/h", "the distance in miles"), or else, when the
    parameter's description names another parameter ("The unit of measurement for the radius"), the
    word the request writes right after that parameter's number: "a radius of 4 inches" is unit
    "inches" (BFCL's answers want it whenever it is not the default). Not a function word, and one of
    the enum when there is one."""
    props = params.get("properties") or {}
    out = dict(arguments)
    toks = tokens(text)
    asked = {m.group(1) for m in _ASKED_IN.finditer(text) if m.group(1).lower() in _UNIT_WORDS}
    for key, schema in props.items():
        if key in out or key in (params.get("required") or []) or not isinstance(schema, dict):
            continue
        if schema.get("type") != "string" or not {"unit", "units"} & set(name_words(key)):
            continue
        enum = {str(v).lower(): v for v in schema.get("enum") or []}
        if len(asked) == 1:  # as the enum or the description's quotes spell it: "in mile" is 'miles'
            unit = next(iter(asked))
            spelled = {str(v).lower().rstrip("s"): v for v in enum.values() or _quoted(schema.get("description") or "")}
            if unit.lower().rstrip("s") in spelled or not enum:
                out[key] = spelled.get(unit.lower().rstrip("s"), unit)
                continue
        described = set(re.findall(r"[a-z]+", str(schema.get("description") or "").lower()))
        for other, value in arguments.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not set(name_words(other)) <= described:
                continue
            k = _token_written(toks, text, value)
            if k is None or k + 1 >= len(toks) or text[toks[k][2] : toks[k + 1][1]] not in ("", " "):
                continue
            word = toks[k + 1][0]
            if word.isalpha() and word not in FUNCTION_WORDS and (not enum or word.lower() in enum):
                out[key] = enum.get(word.lower(), word)
                break
    return out


def leftover(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """The one call a request makes takes the number it writes in digits that no argument took, for
    the one optional numeric parameter it left out: "the number of times interest applied per time
    period is 4" is n 4, "violent crime in San Francisco in 2020" is year 2020. Such a parameter is not
    in the grammar unless the request writes a word of its name, and BFCL's answers want the value
    whenever the request gives it. A number counts as taken when an argument has its value (5% as
    0.05 or 5) or it is written inside a string argument ("Apollo 11", "3x^2 + 2x")."""
    props = params.get("properties") or {}
    absent = {
        k: schema
        for k, schema in props.items()
        if k not in arguments and k not in (params.get("required") or []) and isinstance(schema, dict)
    }
    said = stems(text)
    out = dict(arguments)
    for key, schema in absent.items():
        named = [v for v in schema.get("enum") or [] if isinstance(v, str) and stems(v) and stems(v) <= said]
        if len(named) == 1:
            out[key] = named[0]
    left = [k for k, schema in absent.items() if schema.get("type") in _NUMBER_KINDS]
    if len(left) != 1:
        return out
    taken: set[float] = set()
    spans: list[tuple[int, int]] = []  # where the request writes a string argument
    for value in arguments.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                spans += [(f.start(), f.end()) for f in re.finditer(re.escape(item), text)]
            elif _is_number(item):
                taken.add(float(item))
    unused: list[float] = []
    for m in _NUMBER.finditer(text):
        written = text[m.start() : m.end() + 12]
        forms = {*numbers(written)[:1], *numbers(written, percent_whole=True)[:1]}
        if forms & taken or any(a <= m.start() < b for a, b in spans):
            continue
        unused += [n for n in numbers(written)[:1] if n not in unused]
    if len(unused) != 1 or (props[left[0]].get("type") == "integer" and not unused[0].is_integer()):
        return out
    value = unused[0]
    return {**out, left[0]: int(value) if props[left[0]].get("type") == "integer" else value}


_AT_REST = re.compile(r"\b(?:from|at) rest\b|\bdropped\b", re.I)
_INITIAL_GIVEN = re.compile(r"\binitial (?:velocity|speed)\b[^.?!]*?\d", re.I)


def at_rest(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """An object that starts "from rest" (or is "dropped") has an initial velocity or speed of 0, when
    the request writes no initial velocity: "started from rest, accelerated at a rate of 9.8 m/s^2"
    is initial_velocity 0, where a small model takes one of the numbers it sees."""
    if not _AT_REST.search(text) or _INITIAL_GIVEN.search(text):
        return arguments
    props = params.get("properties") or {}
    out = dict(arguments)
    for key, schema in props.items():
        words = set(name_words(key))
        if "initial" in words and words & {"velocity", "speed"} and (schema or {}).get("type") in _NUMBER_KINDS:
            if key in out or key in (params.get("required") or []):
                out[key] = 0.0 if schema.get("type") == "float" else 0
    return out


_QUANTITY_OF = re.compile(r"(-?\d+(?:\.\d+)?)\s+(?:[a-zA-Z]+\s+){0,2}?of\s+(\S.*)")


def apart(arguments: dict[str, Any]) -> dict[str, Any]:
    """A string value that runs on into another parameter's value ends before it: "Marriott in Los
    Angeles" with location "Los Angeles" is hotel_name "Marriott", "London 2022/08/16" with date
    "2022/08/16" is location "London". Of BFCL's 869 public string answers, one holds another
    parameter's string value ("Golden Gate Bridge in San Francisco", where "Golden Gate Bridge" is
    also accepted). Not where the two make one name ("San Francisco" with "Francisco"). And a string
    that opens with another parameter's number, as a quantity of it, is what it measures: "100 grams
    of water" with mass 100 is substance "water" (none of BFCL's 1,362 public string answers opens
    with another of its parameters' numbers)."""
    out = dict(arguments)
    quantities = {float(v) for v in arguments.values() if isinstance(v, int | float) and not isinstance(v, bool)}
    for key, value in arguments.items():
        m = _QUANTITY_OF.match(value) if isinstance(value, str) else None
        if m and float(m.group(1)) in quantities:
            out[key] = m.group(2)
            continue
        for part in arguments.values():
            if not isinstance(value, str) or not isinstance(part, str) or not part or not value.endswith(" " + part):
                continue
            words = value[: -len(part)].split()
            if words and words[-1][:1].isupper() and part[:1].isupper():
                continue  # one name
            while words and (words[-1] in FUNCTION_WORDS or not words[-1].strip(",.;:-")):
                words.pop()
            if words:
                out[key] = " ".join(words).rstrip(",;:")
                break
    return out


def matched(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """Two numbers the request writes once each, swapped when each is written beside the other
    parameter's words: "6 feet tall and weighs 80 kg" is height 6 ("The height of the person in
    feet") and weight 80 ("The weight ... in kilograms"), whichever way the model put them (see
    _beside for the words that go with a number)."""
    props = params.get("properties") or {}
    toks = tokens(text)
    near: dict[str, set[str]] = {}  # parameter -> the words beside where its value is written
    for key, value in arguments.items():
        schema = props.get(key)
        if not isinstance(schema, dict) or schema.get("type") not in _NUMBER_KINDS or isinstance(value, bool):
            continue
        k = _token_written(toks, text, value) if isinstance(value, int | float) else None
        if k is not None:
            near[key] = stems(" ".join(_beside(toks, k)))
    about = {key: stems(f"{key} {props[key].get('description') or ''}") for key in near}
    out = dict(arguments)
    keys = list(near)
    for n, one in enumerate(keys):
        for two in keys[n + 1 :]:
            kept = len(near[one] & about[one]) + len(near[two] & about[two])
            crossed = len(near[two] & about[one]), len(near[one] & about[two])
            fits = all(
                props[a].get("type") != "integer" or float(out[b]).is_integer() for a, b in ((one, two), (two, one))
            )
            if min(crossed) > 0 and sum(crossed) > kept and fits:
                out[one], out[two] = out[two], out[one]
                near[one], near[two] = near[two], near[one]
    return out


# ", Germany" after "Berlin": a run of capitalised words after the comma, all of it, that no comma
# follows and no "and" with a name alone ("Berlin, Paris and Rome" lists three places), unless another
# place with its region follows ("San Francisco, California, and Chicago, Illinois")
_RUN = r"[A-Z][\w.]*(?:\s+[A-Z][\w.]*)*(?![\w.]|\s+[A-Z])"
_REGION = re.compile(rf",\s+((?!I\b){_RUN})(?:(?=,?\s+and\s+{_RUN},\s+[A-Z])|(?!\s*,)(?!\s+and\s+{_RUN}(?!,)))")


def placed(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A location that the request writes with its region ("in Berlin, Germany from March 10") is that
    whole phrase, when the model took only the place: BFCL's answers accept "Berlin, Germany" wherever
    they accept a place the request writes so, and often only that. Not for a parameter that is a city
    ("city": "Tokyo" of "Tokyo, Japan"), nor for items of a list ("Philadelphia, Washington D.C., and
    Atlanta")."""
    out = dict(arguments)
    for key, value, about in _free_strings(arguments, params):
        if "location" not in about.lower() or "city" in key.lower() or "," in value or not value[:1].isupper():
            continue  # a place is a name: not "tomorrow", "here"
        found = re.search(rf"(?<!, ){re.escape(value.strip())}(?=,)", text)
        region = _REGION.match(text, found.end()) if found else None
        if region is not None:
            out[key] = f"{value.strip()}, {region.group(1).rstrip('.')}"
    return out


def in_order(arguments: dict[str, Any], text: str) -> dict[str, Any]:
    """Parameters numbered 1 and 2 (temperature1, temperature2; city_1, city_2) take the values the
    request writes first and second: "20 kg at 30 degrees mixed with 15 kg at 60 degrees" is
    temperature1 30, not 60. Only values the request writes once are reordered."""
    out = dict(arguments)
    for key in arguments:
        m = re.fullmatch(r"(.*?)(_?)1", key)
        other = f"{m.group(1)}{m.group(2)}2" if m else None
        if other is None or other not in out:
            continue
        one, two = _written_at(text, out[key]), _written_at(text, out[other])
        if one is not None and two is not None and two < one:
            out[key], out[other] = out[other], out[key]
    return out


# The two ends of a range, as parameter names say them, and as a request writes one.
_ENDS = (("lower", "upper"), ("start", "end"), ("min", "max"), ("low", "high"), ("begin", "end"), ("initial", "final"))
_RANGE = re.compile(r"\b(?:from|between)\s+(-?\d+(?:\.\d+)?)\b[^\d-]{0,24}?\b(?:to|and)\s+(-?\d+(?:\.\d+)?)")


def ranged(arguments: dict[str, Any], text: str) -> dict[str, Any]:
    """A pair of parameters for a range's ends (lower_limit and upper_limit, start_x and end_x) takes
    the request's one range in its order ("from -2 to 2", "between 1 and 5 degrees"), when the call
    gave the pair only that range's numbers (SmolLM2 gave lower_limit 2, upper_limit 2)."""
    ranges = _RANGE.findall(text)
    if len(ranges) != 1:
        return arguments
    ends = (float(ranges[0][0]), float(ranges[0][1]))
    out = dict(arguments)
    for key, value in arguments.items():
        words = name_words(key)
        for first, last in _ENDS:
            if first not in words:
                continue
            other = "_".join(last if w == first else w for w in words)
            pair = next((k for k in arguments if k != key and name_words(k) == name_words(other)), None)
            if pair is None or not all(_is_number(v) and float(v) in ends for v in (value, arguments[pair])):
                continue
            out[key], out[pair] = (_like(value, ends[0]), _like(arguments[pair], ends[1]))
    return out


def _like(value: Any, number: float) -> int | float:
    """The number as the type the call gave that parameter, when it is one (5.0 for 5; 5.5 stays)."""
    return int(number) if isinstance(value, int) and number.is_integer() else number


def _token_written(toks: list[tuple[str, int, int]], text: str, value: Any) -> int | None:
    """The index among the request's tokens of where it writes the value, when it writes it once."""
    at = _written_at(text, value)
    return next((i for i, (_, start, _) in enumerate(toks) if start == at), None) if at is not None else None


def _written_at(text: str, value: Any) -> int | None:
    """Where the request writes a string or number, when it writes it exactly once."""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "" or _times(text, value) != 1:
        return None
    if isinstance(value, str):
        found = whole_phrase(value).search(text)
        return found.start() if found else None
    for tok, start, _end in tokens(text):
        try:
            if float(tok.replace(",", "")) == float(value):
                return start
        except ValueError:
            continue
    return None


_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def grouped(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A list of numbers ends where the request's group of them does: inside the brackets its first
    item is written in ("group1 (12.4, 15.6, 11.2) and group2 (10.5, 9.8)"), before another list
    parameter's name written after it ("dataset_A with the values 12, 24, 36 and dataset_B with
    15, 30"), and without a number that is part of a date ("46.603354,1.8883340 on December 13,
    2019"). A small model under a list grammar runs on into the numbers that follow."""
    props = params.get("properties") or {}
    toks = tokens(text)
    dates = [(a, b) for a, b, *_ in _date_phrases(text)]
    out = dict(arguments)
    for key, value in arguments.items():
        if not isinstance(value, list) or len(value) < 2 or not all(_is_number(v) for v in value):
            continue
        at = [[start for tok, start, _ in toks if number_of(tok) == float(v)] for v in value]
        if not all(at):
            continue
        first = at[0][0]
        start, end = 0, len(text)
        depth: list[tuple[str, int]] = []
        for i, ch in enumerate(text):
            if ch in _BRACKETS:
                depth.append((ch, i))
            elif depth and ch == _BRACKETS[depth[-1][0]]:
                opened = depth.pop()[1]
                if opened < first < i and i < end:
                    start, end = opened, i
        for other in props:
            named = text.find(other, first)
            if other != key and (props[other] or {}).get("type") == "array" and named > 0:
                end = min(end, named)
        kept = [
            v for v, places in zip(value, at, strict=True)
            if any(start <= where < end and not any(a <= where < b for a, b in dates) for where in places)
        ]  # fmt: skip
        if kept and len(kept) < len(value):
            out[key] = kept
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_often(arguments: dict[str, Any], text: str) -> dict[str, Any]:
    """Each list's items no more often than the request writes them (once when it does not): a small
    model under a list grammar often writes its last item again until the list's bound ("91, 91, 91,
    ...", "Biking Trails" eight times)."""
    out = dict(arguments)
    for key, value in arguments.items():
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            continue
        kept: list[Any] = []
        for item in value:
            if kept.count(item) < max(_times(text, item) if item != "" else 1, 1):
                kept.append(item)
        out[key] = kept
    return out


_DEFINED = re.compile(r"(?<![\w.])([a-zA-Z])(\s*\(\s*[a-z]\s*\))?\s*=\s*")
_EXPRESSION_END = re.compile(r"\s+(?:from|at|to|for|with|using|over|between|on|in|and|where)\b|[,;?]|\.(?:\s|$)|$")
_MATHS = re.compile(r"function|equation|expression|formula|polynomial", re.I)


def _free_strings(arguments: dict[str, Any], params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, value, name and description) of each argument that is a string parameter without an enum."""
    props = params.get("properties") or {}
    out = []
    for key, value in arguments.items():
        schema = props.get(key)
        if isinstance(schema, dict) and isinstance(value, str) and schema.get("type") == "string":
            if "enum" not in schema:
                out.append((key, value, f"{key} {schema.get('description') or ''}"))
    return out


def defined(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A function's value is the expression, not the name it is given: for "the curve y = x^3" or
    "f(x) = 3x^2" a parameter described as a function takes "x^3", where the model wrote "y", "f" or
    "y = x^3". And a function the request writes applied ("of sin(x)") is that, where the model wrote
    its name ("sin"), unless the request defines it there ("f(x) = 3x^2")."""
    out = dict(arguments)
    for key, value, about in _free_strings(arguments, params):
        if not _MATHS.search(about):
            continue
        applied = (
            re.search(rf"\b{re.escape(value)}\([^()]*\)(?!\s*=)", text)
            if re.fullmatch(r"[A-Za-z_]\w*", value)
            else None
        )
        if applied:
            out[key] = applied.group()
            continue
        for m in _DEFINED.finditer(text):
            head = m.group().strip()  # "f(x) =", "y="
            written = value.startswith(head) and text.startswith(value, m.start())  # "y=3x+2" at this place
            if value.strip() in (m.group(1), head.rstrip("= ")) or written:
                rest = text[m.end() :]
                expression = rest[: _EXPRESSION_END.search(rest).start()].strip()  # type: ignore[union-attr]
                if expression and not _NUMBER.fullmatch(expression):
                    out[key] = expression
                break
    return out


_MONTHS = "january february march april may june july august september october november december".split()
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATES = (
    re.compile(rf"\b{_MONTH}\s*(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),  # May 18th, 2022
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b", re.I),  # 18 May 2022
)
_FORMATS = {
    "yyyy-mm-dd": "{y}-{m}-{d}",
    "mm-dd-yyy": "{m}-{d}-{y}",  # also "MM-DD-YYY", as BFCL's descriptions write it
    "mm/dd/yyyy": "{m}/{d}/{y}",
    "dd-mm-yyyy": "{d}-{m}-{y}",
}


def _date_phrases(text: str) -> list[tuple[int, int, str, str, str]]:
    """(start, end, year, month, day) of each date the text writes with a month name."""
    out = []
    for k, pattern in enumerate(_DATES):
        for m in pattern.finditer(text):
            month, day = (m.group(1), m.group(2)) if k == 0 else (m.group(2), m.group(1))
            number = next(i for i, name in enumerate(_MONTHS) if name.startswith(month.lower().rstrip(".")[:3])) + 1
            out.append((m.start(), m.end(), m.group(3), f"{number:02d}", f"{int(day):02d}"))
    return out


def dated(arguments: dict[str, Any], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A date parameter whose value is a piece of one date the request writes ("2019" of "December 13,
    2019", "May 18" of "May 18th 2022") takes that whole date, in the format its description names
    (YYYY-MM-DD when it names none). Date parameters that all hold the same piece of as many dates
    ("2022", "2022" of "from March 10, 2022 to March 20, 2022") take them in order."""
    phrases = _date_phrases(text)
    out = dict(arguments)
    shared: dict[tuple[int, ...], list[tuple[str, str]]] = {}  # the dates a piece is in -> the parameters
    for key, value, about in _free_strings(arguments, params) if phrases else []:
        description = about.lower()
        if "date" not in description:
            continue
        piece = value.strip().rstrip(".,")
        holding = tuple(k for k, p in enumerate(phrases) if piece and piece.lower() in text[p[0] : p[1]].lower())
        if holding:
            shared.setdefault(holding, []).append((key, description))
    for dates, keys in shared.items():
        if len(dates) != len(keys):
            continue  # a year that two dates share, for one parameter: which one?
        for k, (key, description) in zip(dates, keys, strict=True):
            _, _, y, m, d = phrases[k]
            pattern = next((f for name, f in _FORMATS.items() if name in description), _FORMATS["yyyy-mm-dd"])
            out[key] = pattern.format(y=y, m=m, d=d)
    return out


def _number_literal(value: float, integer: bool) -> str | None:
    if value.is_integer():
        return str(int(value))
    return None if integer else repr(value)


def name_words(name: str) -> list[str]:
    """The words of a parameter's or tool's name, snake_case and camelCase split, in lower case."""
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())


def names_place(key: str) -> bool:
    """Does the parameter's name say it holds a place (a word of PLACE_WORDS)?"""
    return any(w in PLACE_WORDS for w in name_words(key))


def echoes_name(key: str, value: Any) -> bool:
    """A value that is a word of its own parameter's name ("team": "team", "propertyType": "property"):
    none of BFCL's 893 public string answers is, but a small model picking a span often takes the word
    that names what it looks for."""
    return isinstance(value, str) and value in name_words(key)


# Verbs a request opens with to say what to do ("Search for famous sculptures", "Find lawsuits").
COMMANDS = set(
    "search find get calculate compute show tell give list book order play fetch retrieve provide generate create "
    "determine identify predict estimate convert check look locate recommend suggest plan schedule send buy analyze "
    "analyse compare translate update delete remove add set make display draw plot solve evaluate".split()
)


def commands(value: Any, text: str) -> bool:
    """A value that is the verb the request opens with ("Search" of "Search for lawsuits against
    Apple"): the command, not its object. None of BFCL's public string answers begins a request."""
    first = re.match(r"\W*([A-Za-z]+)", text)
    return isinstance(value, str) and first is not None and value == first.group(1) and value.lower() in COMMANDS


def _mentions(text: str, name: str) -> bool:
    """Does the request use a word of the parameter's name? Words match on their first five letters
    (acceleration/accelerating, unit/units, decimal_places/decimals)."""
    said = [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4]
    parts = name_words(name)
    return any(len(part) >= 4 and part not in _NOT_NAMES and w.startswith(part[:5]) for part in parts for w in said)


def _said(text: str, values: list[Any]) -> list[Any]:
    """The values (an enum, or those a description quotes) that the request writes."""
    lowered = f" {text.lower()} "
    return [
        v
        for v in values
        if isinstance(v, str) and v.strip() and whole_phrase(v.lower().replace("_", " ")).search(lowered)
    ]


def _named(text: str, values: list[Any]) -> list[Any]:
    """The enum values that the request names a word of ("allows camping and has scenic views" ->
    "Camping", "Scenic View"; not "Trails"), words matching on their first five letters."""
    said = [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3]
    return [
        v
        for v in values
        if isinstance(v, str)
        and any(w.startswith(part[:5]) for part in re.findall(r"[a-z]+", v.lower()) if len(part) >= 3 for w in said)
    ]


def _quoted(description: str) -> list[str]:
    """Values a description offers in quotes: "Can be 'list' or 'dictionary'. Default is 'list'."."""
    return [a or b for a, b in re.findall(r"'([^'\n]{1,40})'|\"([^\"\n]{1,40})\"", description)]


def _gbnf(text: str) -> str:
    """A GBNF literal for the text as it appears inside a JSON string."""
    return _quoted_gbnf(json.dumps(text, ensure_ascii=False)[1:-1])


def _literal(value: Any) -> str:
    """A GBNF literal for the value written as JSON."""
    return _quoted_gbnf(json.dumps(value, ensure_ascii=False))


def _quoted_gbnf(written: str) -> str:
    return '"' + written.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _span(name: str, begin: list[int]) -> str:
    return f'{name} ::= "\\"" ( {" | ".join(f"w{i}" for i in begin)} ) "\\"" space'


# An exponent ("x^2", "m/s^2", "x**3") is no number a call takes: offered the 2 of "exp(-x^2) from -2
# to 2", SmolLM2 took it for the lower limit. None of BFCL's public answers needs one (30 requests write one).
_EXPONENT = re.compile(r"(?:\^|\*\*)\s*\d+(?:\.\d+)?")


class Grounding:
    """The request's candidate values, and the GBNF rules that offer them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokens(text)
        self._stated = _EXPONENT.sub("^", text)  # the text with no exponent's number
        self.numbers = numbers(self._stated)
        self.rules: dict[str, str] = {}
        self._names: set[int] | None = None

    def span_rule(self, avoid: tuple[str, ...] = (), place: bool = False) -> str | None:
        """A JSON string holding any contiguous run of the request's tokens, as they are written.

        With `avoid`, no run that begins with one of those values (other parameters'): None when every
        run does. With `place`, only runs that begin as a name does (`_named_starts`), when the request
        writes one.
        """
        if "span" not in self.rules:
            toks = self.tokens
            if not toks:
                self.rules["span"] = 'span ::= "\\"" char{0,48} "\\"" space'
                return "span"
            ends = self._ends()
            for i, (tok, _start, end) in enumerate(toks):
                rule = f"w{i} ::= {_gbnf(tok)}"
                if i + 1 < len(toks) and ends[i + 1]:  # go on into the next token, across what separates them
                    gap = self.text[end : toks[i + 1][1]]
                    rule += f" ( {_gbnf(gap) if gap else ''} w{i + 1} )" + ("" if tok in FUNCTION_WORDS else "?")
                self.rules[f"w{i}"] = rule
            self.rules["span"] = _span("span", self._starts(()) or [0])
        names = self._named_starts() if place else set()
        if not self.tokens or not (avoid or names):
            return "span"
        begin = [i for i in self._starts(avoid) if not names or i in names]
        if not begin:
            return None
        name = f"span{len(self.rules)}"
        self.rules[name] = _span(name, begin)
        return name

    def _starts(self, avoid: tuple[str, ...]) -> list[int]:
        """The tokens a value may begin at. Never punctuation that ends a phrase ("What is 17*23? Use
        it." offers no "? Use it."; punctuation inside a word still may: "../../etc/x.txt"), nor where
        the text writes a value to avoid."""
        ends = self._ends()
        return [
            i
            for i, (tok, start, end) in enumerate(self.tokens)
            if not (_CLOSING.fullmatch(tok) and self.text[end : end + 1] in ("", " ", "\n", "\t"))
            and tok not in FUNCTION_WORDS
            and ends[i]
            and not any(self.text.startswith(value, start) for value in avoid)
        ]

    def _named_starts(self) -> set[int]:
        """Where a place's name may begin: a capitalised word other than "I", a house number before one
        ("123 Main Street"), or a symbol ("/srv/backups"); not a lower-case word nor a lone number. Empty
        when no capitalised word stands inside a sentence (only "Find ..." or "What ..."): then the
        request may write its place in lower case ("the downtown location")."""
        if self._names is None:
            toks = self.tokens
            capital = [tok[:1].isupper() and tok != "I" for tok, _, _ in toks]
            inside = any(c and i and toks[i - 1][0] not in '.?!"' for i, c in enumerate(capital))
            self._names = (
                {
                    i
                    for i, (tok, _, _) in enumerate(toks)
                    if capital[i]
                    or (tok[:1].isdigit() and i + 1 < len(toks) and capital[i + 1])
                    or not (tok[:1].isalnum() or tok == "I")
                }
                if inside
                else set()
            )
        return self._names

    def _ends(self) -> list[bool]:
        """Whether a value may run from each token to an end that is not a function word."""
        out = [False] * (len(self.tokens) + 1)
        for i in range(len(self.tokens) - 1, -1, -1):
            out[i] = self.tokens[i][0] not in FUNCTION_WORDS or out[i + 1]
        return out[:-1]

    def number_rule(self, values: list[float], integer: bool) -> str | None:
        literals = [lit for v in values if (lit := _number_literal(v, integer)) is not None]
        literals = list(dict.fromkeys(literals))
        if not literals:
            return None
        name = f"num{len(self.rules)}"
        alternatives = " | ".join('"' + x + '"' for x in literals)
        self.rules[name] = f"{name} ::= ( {alternatives} ) space"
        return name

    def value(
        self,
        schema: dict[str, Any],
        description_numbers: list[float],
        percent_whole: bool = False,
        avoid: tuple[Any, ...] = (),
        place: bool = False,
    ) -> str | None:
        """The rule for one parameter's value, or None to leave its plain type; never `avoid`. `place`:
        the parameter names a place (names_place)."""
        kind = schema.get("type")
        if "enum" in schema or "const" in schema:
            return None
        if kind in _STRING_KINDS:
            return self.span_rule(tuple(v for v in avoid if isinstance(v, str) and v), place)
        if kind in _NUMBER_KINDS:
            stated = numbers(self._stated, percent_whole) if percent_whole else self.numbers
            values = [v for v in stated + description_numbers if v not in avoid]
            return self.number_rule(values, kind == "integer")
        return None


def grounded_schema(
    params: dict[str, Any],
    grounding: Grounding,
    avoid: dict[str, tuple[Any, ...]] | None = None,
    keep: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The tool's parameters with values marked for grounding: (schema, marker -> rule name).

    `avoid`: values a parameter may not take (other parameters have them); None when the request
    offers that parameter no other value. `keep`: an earlier call's arguments, each offered again
    beside what the text has (the next of several calls changes some values and keeps the others).

    Optional parameters the request does not mention are left out. One it settles is made required:
    a value of its enum or description the request writes ("in Celsius"), values of a list's enum it
    writes ("a seafood restaurant": cuisine ["Seafood"], offered only those), a flag the request names
    ("include the owner's name" -> include_owner: true), a number it names and states. Left
    optional, a small model drops them.
    """
    props = params.get("properties") or {}
    required = [r for r in params.get("required") or [] if r in props]
    settled: list[str] = []
    out_props: dict[str, Any] = {}
    markers: dict[str, str] = {}
    text = grounding.text
    avoid, keep = avoid or {}, keep or {}
    for key, schema in props.items():
        if not isinstance(schema, dict):
            continue
        schema = dict(schema)
        if key in keep and key not in required:
            settled.append(key)
        elif key not in required:  # offered when the request names it or writes one of its values
            said = _said(text, schema.get("enum") or _quoted(str(schema.get("description") or "")))
            kind = schema.get("type", "string")
            members: dict[str, Any] = (
                schema["items"] if kind == "array" and isinstance(schema.get("items"), dict) else {}
            )
            written = _said(text, members.get("enum") or [])
            if said and kind == "string":
                schema = {k: v for k, v in schema.items() if k != "enum"} | {"enum": said}
                settled.append(key)
            elif written:  # "a seafood restaurant": cuisine ["Seafood"]
                schema = {**schema, "items": {**members, "enum": written}}
                settled.append(key)
            elif not _mentions(text, key):
                continue
            elif kind == "boolean":
                schema = {"const": True}
                settled.append(key)
            elif kind in _NUMBER_KINDS and grounding.numbers:
                settled.append(key)
        percent_whole = "percent" in f"{key} {schema.get('description') or ''}".lower()
        # "a rate of 5% would be 0.05": 5 is no value for a rate given as a decimal
        shown = r"-?\d+(?:\.\d+)?" if percent_whole else r"-?\d+(?:\.\d+)?(?![\d.]|\s?%)"
        desc_numbers = [float(x) for x in re.findall(shown, str(schema.get("description") or ""))]
        default = schema.get("default")
        if isinstance(default, int | float) and not isinstance(default, bool):
            desc_numbers.append(float(default))
        if key in required and schema.get("enum") and (named := _named(text, schema["enum"])):
            schema = {**schema, "enum": named}
        if key in required and schema.get("type") == "array":  # one of BFCL's 120 required lists is empty
            schema = {**schema, "minItems": max(1, int(schema.get("minItems") or 0))}
        items = schema.get("items")
        if schema.get("type") == "array" and isinstance(items, dict) and items.get("enum"):
            named = _named(text, items["enum"])
            if named:  # offered all, a small model lists them all
                items = {**items, "enum": named}
                schema = {**schema, "items": items}
        target: dict[str, Any] = items if schema.get("type") == "array" and isinstance(items, dict) else schema
        rule = grounding.value(target, desc_numbers, percent_whole, avoid.get(key, ()), names_place(key))
        if rule is None and key in avoid:
            return None
        if key in keep and key not in avoid and rule is not None:
            if target is not schema:  # the earlier list whole, or a list of the text's values
                listed = f"list{len(grounding.rules)}"
                grounding.rules[listed] = f'{listed} ::= "[" space ( {rule} ( "," space {rule} )* )? "]" space'
                rule, target = listed, schema
            kept = f"keep{len(grounding.rules)}"
            grounding.rules[kept] = f"{kept} ::= {_literal(keep[key])} space | {rule}"
            rule = kept
        if rule is not None:
            marker = f"@@ground{len(markers)}@@"
            markers[marker] = rule
            replaced = {"const": marker}
            if target is schema:
                schema = replaced
            else:
                schema = {**schema, "items": replaced}
        out_props[key] = schema
    return {**params, "type": "object", "properties": out_props, "required": required + settled}, markers


def covered(params: dict[str, Any], text: str) -> float:
    """The share of required numeric parameters the request has a number for (1.0 when none are)."""
    props = params.get("properties") or {}
    wanted = [k for k in params.get("required") or [] if (props.get(k) or {}).get("type") in _NUMBER_KINDS]
    if not wanted:
        return 1.0
    return min(1.0, len(numbers(text)) / len(wanted))


def grounded_grammar(
    tool: dict[str, Any],
    text: str,
    max_items: int = MAX_ITEMS,
    avoid: dict[str, tuple[Any, ...]] | None = None,
    keep: dict[str, Any] | None = None,
    max_string: int = MAX_STRING,
) -> str | None:
    """GBNF for one call's arguments and its closing, values grounded in `text` (see module doc).

    It starts where `call_prefix(name)` ends. With `avoid` (parameter -> values it may not take), None
    when the request has no other value for one of them. With `keep`, see grounded_schema. Free
    strings, objects and arrays are bounded by `max_string` and `max_items` (grammar.TIGHT when a call
    ran out of tokens).
    """
    from llama_cpp.llama_grammar import SchemaConverter

    from edgeagent_cli.core.agent.toolcall.grammar import CALL_END, _bound_free, _literal, bounded

    fn = tool.get("function", tool)
    grounding = Grounding(text)
    params = fn.get("parameters") or {}
    if params.get("type") != "object":
        params = {"type": "object", "properties": {}}
    marked = grounded_schema(params, grounding, avoid, keep)
    if marked is None:
        return None
    schema, markers = marked
    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    schema = conv.resolve_refs(bounded(schema, max_items), "tool")
    args = conv.visit(schema, "args")
    grammar = _bound_free(conv.format_grammar().rstrip("\n"), max_string, max_items)
    for marker, rule in markers.items():
        grammar = grammar.replace('"\\"' + marker + '\\""', rule)
    close = _literal(CALL_END)
    lines = [grammar, *grounding.rules.values(), f"root ::= {args} {close}"]
    if "space ::=" not in grammar:
        lines.append('space ::= " "?')
    return "\n".join(lines) + "\n"
