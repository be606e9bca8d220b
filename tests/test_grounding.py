"""Calls grounded in the request: candidate values, the grammar that offers them, clauses and listed
items, the calibrated call decision, and the BFCL directory form of `eval tools`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeagent_cli.core.agent import eval as bfcl
from edgeagent_cli.core.agent.runtime import router
from edgeagent_cli.core.agent.toolcall.ground import (
    Grounding,
    apart,
    as_often,
    at_rest,
    commands,
    covered,
    dated,
    defined,
    grounded_grammar,
    grounded_schema,
    grouped,
    leftover,
    matched,
    measured,
    names_place,
    numbers,
    placed,
    ranged,
)
from edgeagent_cli.core.agent.toolcall.split import (
    clauses,
    conform,
    expand,
    follow_up,
    frames,
    has_values,
    refer,
    repeated,
    restates,
    same_as,
)

REPO = Path(__file__).resolve().parent.parent
BFCL = Path(__file__).resolve().parent / "data" / "bfcl"


@pytest.mark.parametrize(
    ("text", "whole", "want"),
    [
        ("a base of 10 units and height of 5.5", False, [10, 5.5]),
        ("revenues of $1M in 2019 and $1.2M in 2020", False, [1_000_000, 2019, 1_200_000, 2020]),
        ("an interest rate of 5% for 3 million", False, [0.05, 3_000_000]),
        ("increase sales by 10%", True, [10]),
        ("a car at 50 m/s over 5m", False, [50, 5]),  # metres, not millions
        ("the first five primes, 1,000 times", False, [1000, 1, 5]),  # digits, then number words
    ],
)
def test_numbers_are_read_as_the_request_means_them(text: str, whole: bool, want: list[float]) -> None:
    assert numbers(text, whole) == want


def test_the_grammar_offers_spans_and_stated_numbers_and_compiles() -> None:
    import llama_cpp

    tool = {
        "name": "area",
        "parameters": {
            "type": "object",
            "properties": {
                "base": {"type": "integer"},
                "city": {"type": "string"},
                "unit": {"type": "string", "description": "Default is 'cm'."},
                "precision": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["base", "city", "tags"],
        },
    }
    text = 'Area with a base of 10 "units" in New York.'
    grammar = grounded_grammar(tool, text)
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    assert "num" in grammar and '( "10" )' in grammar  # the integer the text states, and only it
    assert '"New" ( " " w' in grammar and '"\\\\\\""' in grammar  # a chain over the words; the quote JSON-escaped
    schema, markers = grounded_schema(tool["parameters"], Grounding(text))
    assert "precision" not in schema["properties"]  # optional and not mentioned: not offered
    assert "unit" in schema["properties"]  # "units" names it
    assert len(markers) == 4  # base, city, unit, tags' items


def test_optional_values_quoted_by_the_description_are_offered_when_said() -> None:
    params = {
        "type": "object",
        "properties": {
            "number": {"type": "integer"},
            "return_type": {"type": "string", "description": "Can be 'list' or 'dictionary'. Default is 'list'."},
        },
        "required": ["number"],
    }
    schema, _ = grounded_schema(params, Grounding("Factorize 60 and return a dictionary"))
    assert schema["properties"]["return_type"]["enum"] == ["dictionary"]
    schema, _ = grounded_schema(params, Grounding("Factorize 60"))
    assert "return_type" not in schema["properties"]


def test_an_optional_list_settles_on_the_enum_values_the_request_writes() -> None:
    """BFCL multiple_90: "a seafood restaurant in Seattle": cuisine ["Seafood"], offered only that."""
    cuisines = ["Seafood", "Italian", "Indian", "Chinese"]
    params = {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "cuisine": {"type": "array", "items": {"type": "string", "enum": cuisines}},
        },
        "required": ["location"],
    }
    schema, _ = grounded_schema(params, Grounding("I want a seafood restaurant in Seattle."))
    assert "cuisine" in schema["required"] and schema["properties"]["cuisine"]["items"]["enum"] == ["Seafood"]
    schema, _ = grounded_schema(params, Grounding("I want a restaurant in Seattle."))
    assert "cuisine" not in schema["properties"]


def test_coverage_counts_numbers_for_required_numeric_parameters() -> None:
    params = {"properties": {"a": {"type": "number"}, "b": {"type": "integer"}}, "required": ["a", "b"]}
    assert covered(params, "add 2 and 3") == 1.0
    assert covered(params, "add some numbers") == 0.0
    assert covered({"properties": {"s": {"type": "string"}}, "required": ["s"]}, "hi") == 1.0


def test_clauses_split_sentences_and_also() -> None:
    text = "Find the sum of multiples of 3 and 5 between 1 and 1000. Also find the product of the first five primes."
    assert clauses(text) == [
        "Find the sum of multiples of 3 and 5 between 1 and 1000.",
        "Also find the product of the first five primes.",
    ]
    assert clauses("What is 17*23?") == ["What is 17*23?"]
    # A question mark, then "and"/"or": a second question, even in lower case (BFCL parallel_59).
    assert clauses("How much is 15000 Euro in dollars? and how much if I convert 200 pounds?") == [
        "How much is 15000 Euro in dollars?",
        "and how much if I convert 200 pounds?",
    ]
    assert clauses("Translate Hello, how are you? from English to French.") == [
        "Translate Hello, how are you? from English to French."
    ]


@pytest.mark.parametrize(
    ("args", "text", "want"),
    [
        ({"n": 5}, "Find the factorial of 5,10 and 15.", [{"n": 5}, {"n": 10}, {"n": 15}]),
        (
            {"artist": "Taylor Swift", "minutes": 20},
            "Play Taylor Swift and Maroon 5, for 20 minutes and 15 minutes respectively.",
            [{"artist": "Taylor Swift", "minutes": 20}, {"artist": "Maroon 5", "minutes": 15}],
        ),
        ({"lo": 1, "hi": 1000}, "the sum between 1 and 1000", [{"lo": 1, "hi": 1000}]),  # a range, not items
        ({"city": "Boston"}, "Find restaurants in Boston and book a table", [{"city": "Boston"}]),
        ({"base": 10, "h": 5}, "a base of 10 units and height of 5 units", [{"base": 10, "h": 5}]),
        # capitalised names end where the capitals do, whatever word follows (BFCL parallel_44)
        (
            {"location": "Berlin", "genre": "classical"},
            "classical concerts near Berlin and Paris happening next Friday",
            [{"location": "Berlin", "genre": "classical"}, {"location": "Paris", "genre": "classical"}],
        ),
        ({"item": "milk"}, "buy milk and bread loaves", [{"item": "milk"}]),  # lower case: the phrase goes on
    ],
)
def test_listed_items_become_calls_of_their_own(args: dict, text: str, want: list[dict]) -> None:
    assert expand(args, text) == want


def test_a_follow_up_clause_changes_what_it_names() -> None:
    params = {
        "properties": {
            "sample_size": {"type": "integer", "description": "The size of the sample."},
            "sample_mean": {"type": "integer", "description": "The mean of the sample."},
            "criterion": {"type": "string", "enum": ["gini", "entropy"]},
        }
    }
    before = {"sample_size": 50, "sample_mean": 25, "criterion": "gini"}
    after = follow_up(before, "And the same for a sample size of 150, with entropy?", params)
    assert after == {"sample_size": 150, "sample_mean": 25, "criterion": "entropy"}
    assert follow_up(before, "Thanks!", params) is None


def test_the_call_decision_matches_its_calibration_file() -> None:
    """router.py's constants are what benchmarks/bfcl_calibrate.py fitted: one is not edited without the other."""
    fitted = json.loads((REPO / "benchmarks/results/bfcl_calibrate.json").read_text())["fitted"]
    assert fitted["weights"] == router.WEIGHTS and fitted["mean"] == router.MEAN and fitted["scale"] == router.SCALE
    assert fitted["threshold"] == router.CALL_PROBABILITY
    assert fitted["word_weights"] == router.WORD_WEIGHTS
    assert tuple(fitted["sure"].values()) == (router.SURE_CALL, router.SURE_OTHERS, router.SURE_NONE)
    tool = {"name": "calculate_triangle_area", "description": "Area of a triangle from base and height.",
            "parameters": {"properties": {"base": {"type": "integer"}, "height": {"type": "integer"}},
                           "required": ["base", "height"]}}  # fmt: skip
    near = router.features("Find the area of a triangle with base 10 and height 5", tool, pmi=25.0)
    far = router.features("Who won the world cup in 2010?", tool, pmi=1.0)
    assert near["name_overlap"] > far["name_overlap"] and near["coverage"] == 1.0 and far["coverage"] == 0.5
    assert router.probability(near) > router.CALL_PROBABILITY > router.probability(far)


@pytest.mark.parametrize(
    ("request_text", "want"),
    [
        ("Compute the derivative of the function '2x' at 1.", 0.0),  # a tool for integrals
        ("What is the freezing point of water at a pressure of 10 kPa?", 0.5),  # "point" of "boiling point"
        ("Calculate the definite integral of x^2 from 1 to 3.", 1.0),
        ("Calculate how many integrals are needed?", 1.0),  # what "how many" counts
        ("What was the Treaty of Paris about?", router.ASKED_UNKNOWN),  # a name it asks about
        ("Integrate x^2 from 1 to 3.", router.ASKED_UNKNOWN),  # opens in no form that says what it asks
    ],
)
def test_what_a_request_asks_for_is_compared_with_the_tools_words(request_text: str, want: float) -> None:
    """The feature asked_overlap: the words after "What is the", "Compute the", ... up to a preposition,
    against the tool's name and description (stems of five letters: integral/integrals)."""
    tool_words = router.word_stems("calculus.compute_definite_integral") | router.word_stems(
        "Boiling point of a substance."
    )
    assert router.asked_overlap(request_text, tool_words) == want


def test_the_words_decide_alone_only_when_they_are_sure() -> None:
    """A request that names its one tool and writes its numbers is a call, a question that shares no
    word with any tool is none, with no model pass; two tools the request both names leave it to the model."""
    area = {"name": "calculate_triangle_area", "description": "Area of a triangle from base and height.",
            "parameters": {"properties": {"base": {"type": "integer"}, "height": {"type": "integer"}},
                           "required": ["base", "height"]}}  # fmt: skip
    perimeter = {**area, "name": "calculate_triangle_perimeter", "description": "Perimeter of a triangle."}
    sure = router.by_words("Find the area of a triangle with base 10 and height 5", [area])
    assert sure is not None and sure["calculate_triangle_area"] >= router.SURE_CALL
    assert router.decide(sure, required=False)[0] == "calculate_triangle_area"
    none = router.by_words("Who painted the Mona Lisa?", [area, perimeter])
    assert none is not None and router.decide(none, required=False)[0] is None
    assert (
        router.by_words("Find the area and the perimeter of a triangle with base 10 and height 5", [area, perimeter])
        is None
    )
    assert router.by_words("anything", []) is None
    assert router.by_words("What is 17*23?", [area, perimeter]) is None  # no content word: no evidence


def test_a_bfcl_directory_finds_every_category_and_its_answers(tmp_path: Path) -> None:
    entries, truth = bfcl.load(BFCL, None, 2)
    cats = {bfcl.category(e["id"]) for e in entries}
    assert cats == {"simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"}
    assert len(entries) == 10 and "simple_python_0" in truth and "parallel_0" in truth
    entries, _ = bfcl.load(BFCL, None, 1, ["irrelevance", "multiple"])
    assert [bfcl.category(e["id"]) for e in entries] == ["irrelevance", "multiple"]
    entries, truth = bfcl.load(BFCL / "BFCL_v4_multiple.json", None, 1)  # answers found beside the file
    assert "multiple_0" in truth


def test_compare_reports_each_categorys_change(tmp_path: Path) -> None:
    row = {"category": "simple_python", "attempted": True, "valid": True, "seconds": 1.0}
    earlier = tmp_path / "before.json"
    earlier.write_text(json.dumps({"results": [{**row, "correct": False}, {**row, "correct": True}]}))
    now = bfcl.summarize([{**row, "correct": True}, {**row, "correct": True, "seconds": 0.5}])
    change = bfcl.compare(earlier, bfcl.load_earlier(earlier), now)["by_category"]["simple_python"]
    assert change["accuracy"] == {"before": 0.5, "now": 1.0, "change": 0.5}
    assert change["seconds_per_entry"]["change"] == -0.25


@pytest.mark.parametrize(
    ("args", "text", "want"),
    [
        (
            {"stage": 7, "mode": "easy"},
            "How to save game progress at stage 7 in easy mode and stage 3 in hard mode?",
            [{"stage": 7, "mode": "easy"}, {"stage": 3, "mode": "hard"}],
        ),
        (
            {"criterion": "gini", "max_depth": 5, "random_state": 1},
            "Build a tree with gini criterion, maximum depth of 5 and random state of 1, "
            "another with entropy criterion, maximum depth of 10 and random state of 1.",
            [
                {"criterion": "gini", "max_depth": 5, "random_state": 1},
                {"criterion": "entropy", "max_depth": 10, "random_state": 1},
            ],
        ),
        (  # said once: nothing repeats
            {"a": 3, "b": -11, "c": -4},
            "Find the roots of a quadratic equation given coefficients a = 3, b = -11, and c = -4.",
            [{"a": 3, "b": -11, "c": -4}],
        ),
        (  # a comma before a lower-case word cuts a piece; pieces that change the same value are calls
            {"number": 5},
            "What is the factorial of 5, the factorial of 7, and the factorial of 9?",
            [{"number": 5}, {"number": 7}, {"number": 9}],
        ),
        (  # the state follows the city; the amount takes the piece's number
            {"amount": 30.45, "city": "Chicago", "state": "Illinois"},
            "Sales tax on $30.45 in Chicago, Illinois, $52.33 in Sacramento, California and $11.23 in Portland, Oregon.",
            [
                {"amount": 30.45, "city": "Chicago", "state": "Illinois"},
                {"amount": 52.33, "city": "Sacramento", "state": "California"},
                {"amount": 11.23, "city": "Portland", "state": "Oregon"},
            ],
        ),
        (  # numbers alone, in the call's order
            {"num1": 45, "num2": 60},
            "The GCD of the pairs (45, 60) and (81, 27)?",
            [{"num1": 45, "num2": 60}, {"num1": 81, "num2": 27}],
        ),
        (  # a value said after the repeated part is the call's own, not a piece
            {"number": 4567, "return_type": "dictionary"},
            "Factorize the number 4567 and the number 7890, returned in a 'dictionary' format.",
            [{"number": 4567, "return_type": "dictionary"}, {"number": 7890, "return_type": "dictionary"}],
        ),
        (  # a lone trailing number is not a piece of numbers
            {"years": 5},
            "Compound interest for 5 years and 10%.",
            [{"years": 5}],
        ),
        (  # "the distance" is not "the fastest" said again
            {"start": "London", "method": "fastest"},
            "What is the fastest route from London? Also provide an estimate of the distance.",
            [{"start": "London", "method": "fastest"}],
        ),
    ],
)
def test_a_frame_said_again_with_other_values_is_another_call(args: dict, text: str, want: list[dict]) -> None:
    assert frames(args, text) == want


def _params(*names: str, required: tuple[str, ...] = (), kinds: dict[str, str] | None = None) -> dict:
    kinds = kinds or {}
    return {
        "type": "object",
        "properties": {n: {"type": kinds.get(n, "string"), "description": n} for n in names},
        "required": list(required),
    }


def test_a_request_that_says_its_frame_again_after_and_is_one_part_per_call() -> None:
    recipe = _params(
        "dish_name", "serving_size", required=("dish_name", "serving_size"), kinds={"serving_size": "integer"}
    )
    text = "Tell me a recipe for 'Lasagne Bolognese' for serving 4 people and another one for 'Caesar Salad' for serving 2 people"
    assert repeated(text, recipe) == [
        "Tell me a recipe for 'Lasagne Bolognese' for serving 4 people",
        "another one for 'Caesar Salad' for serving 2 people",
    ]
    hotel = _params("hotel_name", "location", "check_in_date", "check_out_date")
    text = "Check 'Queens Hotel' in Berlin from March 10 to March 20 and for 'Royal Hotel' in Paris from April 5 to April 15."
    assert len(repeated(text, hotel)) == 2


@pytest.mark.parametrize(
    ("text", "params"),
    [
        (  # another parameter of the same call, named after the "and"
            "the absolute pressure given atmospheric pressure of 1 atm and a gauge pressure of 2 atm.",
            _params("atm_pressure", "gauge_pressure", kinds={"atm_pressure": "integer", "gauge_pressure": "integer"}),
        ),
        (  # named by its exact name
            "a t-test between dataset_A with the values 12, 24, 36 and dataset_B with the values 15, 30, 45.",
            _params("dataset_A", "dataset_B"),
        ),
        (  # more values before the "and" than after: the right side completes a list
            "trait A contributing 40% and trait B 60%, if trait A has a value of 0.8 and trait B a value of 0.7.",
            _params("trait_values", "trait_contributions"),
        ),
        (  # the company is said once, for both periods: one call's words, not a frame again
            "retrieve the stock data for Microsoft for the past 60 days and then for the past 120 days",
            _params("company", "days", kinds={"days": "integer"}),
        ),
        (  # both moves are items of one required list
            "play chess where the 1st move is e4 and the 2nd move is e5.",
            {
                "type": "object",
                "properties": {"moves": {"type": "array", "items": {"type": "string"}}},
                "required": ["moves"],
            },
        ),
        (  # a name list, not a frame
            "Find two theatres near San Diego for Tenet at 5 pm and No Time To Die at 7:30 pm.",
            _params("location", "movie", "time"),
        ),
    ],
)
def test_more_words_of_one_call_after_and_are_not_split(text: str, params: dict) -> None:
    assert repeated(text, params) == [text]


def test_names_with_abbreviations_units_at_the_end_and_pairs_are_listed_items() -> None:
    text = "closing prices for Apple Inc., Google LLC., and Microsoft Corporation in the New York Stock Exchange"
    assert [c["symbol"] for c in expand({"symbol": "Apple Inc."}, text)] == [
        "Apple Inc.", "Google LLC.", "Microsoft Corporation"
    ]  # fmt: skip
    years = expand({"pv": 1000, "years": 10}, "an investment of $1000 for 1,5 and 10 years.")
    assert [c["years"] for c in years] == [1, 5, 10] and all(c["pv"] == 1000 for c in years)
    pairs = expand({"a": 3, "b": 4}, "two side lengths: 3 and 4, 5 and 12.")
    assert pairs == [{"a": 3, "b": 4}, {"a": 5, "b": 12}]
    assert expand({"lo": 1, "hi": 1000}, "a number between 1 and 1000") == [{"lo": 1, "hi": 1000}]
    assert expand({"city": "Seattle"}, "the weather in Seattle, Washington") == [{"city": "Seattle"}]


def test_numbers_in_scientific_notation_are_one_number() -> None:
    assert numbers("charged bodies of 1e-9 and 2e-9 at a distance of 0.05.") == [1e-9, 2e-9, 0.05]
    assert numbers("6.022e23 molecules, or 2E+3.") == [6.022e23, 2000.0]
    assert numbers("the 3e model") == [3.0]  # a name, not an exponent


def test_two_lists_of_their_own_are_every_pair_unless_respectively() -> None:
    calls = expand(
        {"team": "Lakers", "season": 2018}, "Winning percentage of Lakers and Bulls in seasons 2018 and 2020."
    )
    assert [(c["team"], c["season"]) for c in calls] == [
        ("Lakers", 2018), ("Lakers", 2020), ("Bulls", 2018), ("Bulls", 2020)
    ]  # fmt: skip
    zipped = expand({"team": "Lakers", "season": 2018}, "Lakers and Bulls in seasons 2018 and 2020 respectively.")
    assert [(c["team"], c["season"]) for c in zipped] == [("Lakers", 2018), ("Bulls", 2020)]


def test_a_clause_with_no_value_restates_or_refers() -> None:
    assert not has_values("I need to find the intersection points of these two functions.")
    assert not has_values("Could you help me with a two-step conversion?")
    assert not has_values("Also, what was his most famous discovery?")
    for text in ("I have another function '3x+9'.", "Find cases in New York", "rounded to 2 places", "f(x)=x^2"):
        assert has_values(text), text
    # a call whose values are all the other call's, or repeated from its own parameters, says nothing new
    assert restates({"v1": [1, 2], "v2": [3, 4]}, {"v1": [1, 2], "v2": [3, 4], "rounding": 2})
    assert restates({"q1": 5, "t1": 300, "q2": 5, "t2": 300}, {"q1": 5, "t1": 300, "q2": 3, "t2": 500})
    assert not restates({"q1": 5, "t1": 300, "q2": 3, "t2": 500}, {"q1": 5, "t1": 300, "q2": 4, "t2": 300})
    assert not restates({"flag": True, "other": True}, {"flag": False, "other": False})
    earlier = [{"criminal_name": "John Doe", "region": "New York"}]
    assert refer({"criminal_name": "the offenses he committed"}, earlier) == {"criminal_name": "John Doe"}
    assert refer({"company_name": "the company", "years": 3}, [{"company": "XYZ", "years": 3}])["company_name"] == "XYZ"
    assert refer({"city": "there"}, [{"count": 3}]) == {"city": "there"}  # nothing of that name: kept
    # "Also determine the mode for these points.": the list is the one the median was given
    assert refer({"data": [1, 2, 3, 4]}, [{"data": [3, 4, 5, 2, 8, 5]}]) == {"data": [3, 4, 5, 2, 8, 5]}
    # parallel_multiple_56: "... the time difference between two cities?" after two calls, the nearest first
    earlier = [{"location": "Tokyo"}, {"location": "Beijing"}]
    assert refer({"city_1": "two", "city_2": "two"}, earlier) == {"city_1": "Beijing", "city_2": "Tokyo"}
    assert refer({"city": "there"}, earlier) == {"city": "Tokyo"}  # a place is a place: the nearest
    assert refer({"num1": 1, "num2": 2}, [{"num1": 5, "num2": 6}]) == {"num1": 5, "num2": 6}  # by name


def test_the_same_thing_is_the_value_an_earlier_call_gave_it() -> None:
    """BFCL parallel_25, parallel_multiple_10: "against the same company", "for the same day"."""
    earlier = [{"company_name": "Dara Inc", "year": 2019}]
    clause = "list cases filed in the year 2018 against the same company."
    assert same_as({"company_name": "company.", "year": 2018}, clause, earlier) == {
        "company_name": "Dara Inc", "year": 2018
    }  # fmt: skip
    ticket = {"origin": "New York", "destination": "Chicago", "date": "New York"}
    got = same_as(ticket, "get me a train ticket from New York to Chicago for the same day.", [{"date": "2023-06-30"}])
    assert got == {**ticket, "date": "2023-06-30"}
    both = same_as(
        {"platform": "x", "region": "y"}, "on the same platform and region", [{"platform": "PS4", "region": "EU"}]
    )
    assert both == {"platform": "PS4", "region": "EU"}
    assert same_as({"company_name": "Acme"}, "for another company", earlier) == {"company_name": "Acme"}  # no "same"
    assert same_as({"year": "2018"}, "the same year", earlier) == {"year": "2018"}  # another type: kept


def test_a_percentage_shown_in_a_description_is_no_decimal_candidate() -> None:
    tool = {
        "name": "compound",
        "parameters": {
            "type": "object",
            "properties": {
                "rate": {"type": "number", "description": "As a decimal: a rate of 5% would be 0.05."},
            },
            "required": ["rate"],
        },
    }
    grammar = grounded_grammar(tool, "Compound $1000 at an annual rate of 3% for 10 years.")
    rule = next(line for line in grammar.splitlines() if line.startswith("num"))
    assert '"0.03"' in rule and '"5"' not in rule


def test_calls_the_rules_make_keep_to_the_schema() -> None:
    params = {
        "type": "object",
        "properties": {
            "company": {"type": "string"},
            "frequency": {"type": "string", "enum": ["quarterly", "annually"]},
        },
        "required": ["company"],
    }
    calls = [{"company": "Microsoft", "frequency": "annual"}, {"company": "Microsoft", "frequency": "weekly"}]
    assert conform(calls, params) == [{"company": "Microsoft", "frequency": "annually"}]


def test_a_value_to_avoid_is_no_candidate_for_that_parameter() -> None:
    import llama_cpp

    tool = {
        "name": "assess_growth",
        "parameters": {
            "type": "object",
            "properties": {"species": {"type": "string"}, "location": {"type": "string"}, "years": {"type": "integer"}},
            "required": ["species", "location", "years"],
        },
    }
    text = "Assess the growth of deer in Washington state over 10 years, every 10 or 5 years."
    grammar = grounded_grammar(tool, text, avoid={"location": ("deer",), "years": (10,)})
    assert grammar is not None
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    deer = next(i for i, (tok, _s, _e) in enumerate(Grounding(text).tokens) if tok == "deer")
    barred = [name for name in rules if name.startswith("span") and name != "span"]
    assert len(barred) == 1 and f"w{deer} " not in rules[barred[0]] and f"w{deer} " in rules["span"]
    assert any(name.startswith("num") and '"10"' not in r and '"5"' in r for name, r in rules.items())
    # a parameter the request offers nothing else: no grammar, and the caller keeps what it has
    assert grounded_grammar(tool, "Assess deer over 10 years", avoid={"years": (10,)}) is None


def test_a_value_written_twice_may_be_two_parameters_values() -> None:
    from edgeagent_cli.core.agent.toolcall.ground import stated_twice

    assert stated_twice("$10000 at 5% for 5 years", 5)  # a percentage and a number of years
    assert not stated_twice("$10000 at 5% for 6 years", 5)
    assert stated_twice("from Paris to Lyon, then Paris again", "Paris")
    assert not stated_twice("deer in Washington", "deer")


def test_the_next_call_finds_its_values_after_the_last_calls() -> None:
    from edgeagent_cli.core.agent.toolcall.split import reach, rest_after

    text = "Predict the price of a house of 3000 sq ft in New York and 4000 sq ft in Los Angeles."
    at = reach({"location": "New York", "size": 3000}, text)
    assert at == text.index(" and")
    assert rest_after(text, at) == "4000 sq ft in Los Angeles."
    assert rest_after("The population of Brazil is 213 million.", 0) is None  # no piece after
    assert reach({"population": 213_000_000}, "Brazil has 213 million people") == len("Brazil has 213 million")
    assert rest_after("Tell me about Paris and what it is known for", 0) is None  # a piece with no value


def test_a_kept_value_is_offered_beside_the_texts() -> None:
    import llama_cpp

    tool = {
        "name": "predict",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "rooms": {"type": "array", "items": {"type": "string"}}},
            "required": ["location"],
        },
    }
    grammar = grounded_grammar(tool, "4000 sq ft in Los Angeles", keep={"location": "New York", "rooms": ["den"]})
    assert grammar is not None
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    assert '"\\"New York\\"" space |' in grammar and '"[\\"den\\"]" space |' in grammar
    barred = grounded_grammar(
        tool, "4000 sq ft in Los Angeles", avoid={"location": ("New York",)}, keep={"location": "New York"}
    )
    assert barred is not None and "New York" not in barred  # a value to avoid is not kept


def test_list_items_come_no_more_often_than_the_request_writes_them() -> None:
    text = "Create a histogram for the data 85, 90, 91 and 5, 5 with trails"
    args = {"data": [85, 90, 91, 91, 91, 5, 5, 5], "tags": ["Biking Trails", "Biking Trails"], "bins": 5}
    assert as_often(args, text) == {"data": [85, 90, 91, 5, 5], "tags": ["Biking Trails"], "bins": 5}
    assert as_often({"x": [[1, 2], [1, 2]]}, text) == {"x": [[1, 2], [1, 2]]}  # lists of lists are left alone


def test_a_required_list_has_an_item() -> None:
    """BFCL parallel_multiple_0: "the sum of all the multiples of 3 and 5 between 1 and 1000" got
    "multiples": []; one of BFCL's 120 required lists is empty, so the grammar asks for an item."""
    from llama_cpp import LlamaGrammar

    params = {
        "type": "object",
        "properties": {"multiples": {"type": "array", "items": {"type": "integer"}}, "tags": {"type": "array"}},
        "required": ["multiples"],
    }
    schema, _ = grounded_schema(params, Grounding("the multiples of 3 and 5 between 1 and 1000, with tags"))
    assert schema["properties"]["multiples"]["minItems"] == 1
    assert "minItems" not in schema["properties"]["tags"]  # optional: may be empty
    grammar = grounded_grammar({"name": "f", "parameters": params}, "the multiples of 3 and 5")
    assert grammar is not None
    LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp parses it
    assert 'args-multiples ::= "[" space args-multiples-item (' in grammar  # the first item is not optional


def test_a_list_of_enum_values_offers_those_the_request_names() -> None:
    """Offered the whole enum, a small model lists it all; offered the values the request names a word
    of, it lists those (BFCL multiple_62)."""
    features = {"type": "array", "items": {"type": "string", "enum": ["Camping", "Scenic View", "Trails", "Picnic"]}}
    params = {"type": "object", "properties": {"features": features}, "required": ["features"]}
    text = "Find me a park that allows camping and has scenic views in Boston."
    schema, _ = grounded_schema(params, Grounding(text))
    assert schema["properties"]["features"]["items"]["enum"] == ["Camping", "Scenic View"]
    schema, _ = grounded_schema(params, Grounding("Find me a park in Boston."))  # none named: all offered
    assert schema["properties"]["features"]["items"]["enum"] == ["Camping", "Scenic View", "Trails", "Picnic"]


def test_a_required_enum_offers_the_values_the_request_names() -> None:
    """BFCL simple_python_66: "for the last six months" names six_months; left the whole enum, the model
    took "year"."""
    frame = {"type": "string", "enum": ["six_months", "year", "five_years"]}
    params = {"type": "object", "properties": {"time_frame": frame}, "required": ["time_frame"]}
    schema, _ = grounded_schema(params, Grounding("Average rain in the Amazon for the last six months."))
    assert schema["properties"]["time_frame"]["enum"] == ["six_months"]
    schema, _ = grounded_schema(params, Grounding("Average rain in the Amazon lately."))
    assert schema["properties"]["time_frame"]["enum"] == ["six_months", "year", "five_years"]


def test_a_function_parameter_takes_the_expression_not_its_name() -> None:
    params = {"properties": {"func": {"type": "string", "description": "The function to integrate."}}}
    text = "Find the integral of the function f(x) = 3x^2 from 1 to 2, and of y=2x+3."
    assert defined({"func": "f"}, params, text) == {"func": "3x^2"}
    assert defined({"func": "y=2x+3"}, params, text) == {"func": "2x+3"}
    assert defined({"func": "3x^2"}, params, text) == {"func": "3x^2"}
    assert defined({"func": "x"}, params, "for f(x)=x^2 from x=1 to x=5") == {"func": "x"}  # x=1 defines no function
    other = {"properties": {"name": {"type": "string", "description": "The curve's label."}}}
    assert defined({"name": "f"}, other, text) == {"name": "f"}
    # parallel_multiple_19: written applied, the function is that
    assert defined({"func": "sin"}, params, "the definite integral from 0 to 3.1416 of sin(x).") == {"func": "sin(x)"}


def test_a_range_gives_its_ends_in_order_and_an_exponent_is_no_value() -> None:
    """parallel_multiple_19: "exp(-x^2) from -2 to 2" got lower_limit 2: the 2 of x^2 was offered too."""
    text = "Perform Gaussian integral of the function exp(-x^2) from -2 to 2."
    assert Grounding(text).numbers == [-2.0, 2.0]
    assert Grounding("accelerates at 5 m/s^2 for 10 s, x**3").numbers == [5.0, 10.0]
    assert ranged({"function": "exp(-x^2)", "lower_limit": 2, "upper_limit": 2}, text)["lower_limit"] == -2
    heat = {"mass": 100, "initial_temperature": 100, "final_temperature": 25}
    got = ranged(heat, "heat 100 grams of water from 25 degrees Celsius to 100 degrees Celsius")
    assert got == {"mass": 100, "initial_temperature": 25, "final_temperature": 100}
    assert ranged({"min_price": 5.5, "max_price": 3}, "from 3 to 5.5 dollars") == {"min_price": 3, "max_price": 5.5}
    two = "from 1 to 2, then from 3 to 4"  # two ranges: which is the call's is not known here
    assert ranged({"start": 2, "end": 1}, two) == {"start": 2, "end": 1}
    assert ranged({"start": 7, "end": 1}, "from 1 to 2") == {"start": 7, "end": 1}  # not the range's numbers


def test_a_date_parameter_takes_the_whole_date_in_its_format() -> None:
    params = {
        "properties": {
            "date": {"type": "string", "description": "Format: yyyy-mm-dd."},
            "start_date": {"type": "string", "description": "Start of the range in the format of MM-DD-YYYY."},
            "note": {"type": "string", "description": "Anything."},
        }
    }
    assert dated({"date": "2022."}, params, "Amazon's price at closing March.11, 2022.") == {"date": "2022-03-11"}
    assert dated({"start_date": "2021"}, params, "filed after January 1, 2021") == {"start_date": "01-01-2021"}
    assert dated({"date": "May 18"}, params, "on 3 May 2022 and on May 18th 2022") == {"date": "2022-05-18"}
    assert dated({"date": "2022"}, params, "on 3 May 2022 and on May 18th 2022") == {"date": "2022"}  # which one?
    assert dated({"note": "2021"}, params, "filed after January 1, 2021") == {"note": "2021"}
    stay = {"properties": {k: {"type": "string", "description": ""} for k in ("check_in_date", "check_out_date")}}
    both = {"check_in_date": "2022", "check_out_date": "2022"}
    text = "'Queens Hotel' from March 10, 2022 to March 20, 2022"
    assert dated(both, stay, text) == {"check_in_date": "2022-03-10", "check_out_date": "2022-03-20"}
    assert dated(both, stay, "from March 10, 2022 to March 20, 2022 or March 30, 2022") == both  # which two?


@pytest.mark.parametrize(
    ("value", "text", "want"),
    [
        ("Berlin", "for 'Queens Hotel' in Berlin, Germany from March 10", "Berlin, Germany"),
        ("Boston", "the weather in Boston, MA.", "Boston, MA"),
        ("San Francisco", "in San Francisco, California and New York, New York?", "San Francisco, California"),
        ("San Francisco", "in San Francisco, California, and Chicago, Illinois.", "San Francisco, California"),
        ("Philadelphia", "stops at Philadelphia, Washington D.C., and Atlanta", "Philadelphia"),  # a list
        ("Berlin", "concerts in Berlin, Paris and Rome", "Berlin"),  # a list
        ("New York City", "in New York City, I want", "New York City"),  # no region
        ("tomorrow", "the weather tomorrow, June 1", "tomorrow"),  # no place
    ],
)
def test_a_location_is_read_back_with_the_region_the_request_writes_after_it(value: str, text: str, want: str) -> None:
    params = {
        "properties": {
            "location": {"type": "string", "description": "The location of the store."},
            "city": {"type": "string", "description": "The city."},
        }
    }
    assert placed({"location": value}, params, text) == {"location": want}
    assert placed({"city": value}, params, text) == {"city": value}  # a city is the city alone


def test_two_numbers_each_written_beside_the_other_parameters_words_are_swapped() -> None:
    params = {
        "properties": {
            "height": {"type": "number", "description": "The height of the person in feet."},
            "weight": {"type": "integer", "description": "The weight of the person in kilograms."},
        }
    }
    text = "the body mass index of a person who is 6 feet tall and weighs 80 kg"
    assert matched({"height": 80, "weight": 6}, params, text) == {"height": 6, "weight": 80}
    assert matched({"height": 6, "weight": 80}, params, text) == {"height": 6, "weight": 80}
    # a value the request does not write (5 of 5.5) stays, and so do numbers beside words of neither parameter
    assert matched({"height": 80, "weight": 5}, params, "who is 5.5 feet tall and weighs 80 kg") == {
        "height": 80,
        "weight": 5,
    }
    plain = {"properties": {k: {"type": "integer", "description": ""} for k in ("a", "b")}}
    assert matched({"a": 7, "b": 3}, plain, "add 3 and 7") == {"a": 7, "b": 3}
    # a number's words end at a comma: "final" is the next phrase's, not $2000's
    cagr = {
        "properties": {
            k: {"type": "integer", "description": f"The {k[:-6]} investment value."}
            for k in ("initial_value", "final_value")
        }
    }
    right = {"initial_value": 2000, "final_value": 3000}
    assert (
        matched(right, cagr, "the CAGR for an initial investment of $2000, final value of $3000 in 4 years.") == right
    )
    # "years" is the unit of the 5 before it, not a word of $500,000
    cost = {
        "properties": {
            "initial_cost": {"type": "number", "description": "The initial cost of the property."},
            "years": {"type": "integer", "description": "The number of years."},
        }
    }
    kept = {"initial_cost": 500000, "years": 5}
    assert matched(kept, cost, "You bought a property 5 years ago for $500,000.") == kept


def test_a_number_and_the_string_that_writes_it_are_one_value() -> None:
    """`"query": "5", "year": 5` writes the request's one "5" twice (BFCL parallel_multiple_29)."""
    from edgeagent_cli.core.agent.runtime.local import _shared_value

    text = "Find the top 5 cases of theft in New York in 2021"
    assert _shared_value({"location": "New York", "query": "5", "year": 5}, text) == ("query", "year")
    assert _shared_value({"query": "theft", "year": 2021}, text) is None
    assert _shared_value({"a": "5", "b": 5}, "5 apples for 5 days") is None  # written twice: may be both


def test_numbered_parameters_take_values_in_the_order_written() -> None:
    from edgeagent_cli.core.agent.toolcall.ground import in_order

    text = "the final temperature when 20 kg of water at 30 degree Celsius is mixed with 15 kg of water at 60 degree"
    got = in_order({"mass1": 20, "temperature1": 60, "mass2": 15, "temperature2": 30}, text)
    assert got == {"mass1": 20, "temperature1": 30, "mass2": 15, "temperature2": 60}
    assert in_order({"species_1": "chimp", "species_2": "human"}, "a human and a chimp") == {
        "species_1": "human",
        "species_2": "chimp",
    }
    assert in_order({"num1": 5, "num2": 5}, "5 and 5") == {"num1": 5, "num2": 5}  # written twice: left as is
    assert in_order({"num1": 12, "num2": 36}, "the GCD of 12 and 36") == {"num1": 12, "num2": 36}


def test_no_value_begins_or_ends_with_a_function_word() -> None:

    import llama_cpp

    params = {"type": "object", "properties": {"destination": {"type": "string"}}, "required": ["destination"]}
    text = "Plan a trip to Tokyo for the week of"
    grammar = grounded_grammar({"name": "trip", "parameters": params}, text)
    assert grammar is not None
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    toks = [tok for tok, _s, _e in Grounding(text).tokens]
    starts = {toks[int(i)] for i in re.findall(r"w(\d+)", rules["span"])}
    assert starts == {"Plan", "trip", "Tokyo", "week"}  # never "a", "to", "for", "the", "of"
    to, tokyo, of = toks.index("to"), toks.index("Tokyo"), toks.index("of")
    assert rules[f"w{to}"].endswith(f"w{tokyo} )")  # "to" only goes on ("to Tokyo"): never a value's end
    assert rules[f"w{tokyo}"].endswith(")?")  # "Tokyo" may end one
    assert f"w{of}" not in rules[f"w{of - 1}"]  # "week of" would end on "of": the run stops at "week"
    # written in capitals, it is a name: "product A", "The Hague"
    capital = grounded_grammar({"name": "trip", "parameters": params}, "Sales of product A in The Hague")
    assert capital is not None
    spans = dict(line.split(" ::= ", 1) for line in capital.splitlines() if " ::= " in line)["span"]
    capital_toks = [tok for tok, _s, _e in Grounding("Sales of product A in The Hague").tokens]
    assert {capital_toks[int(i)] for i in re.findall(r"w(\d+)", spans)} == {"Sales", "product", "A", "The", "Hague"}


def test_a_value_that_is_a_word_of_its_own_parameters_name_is_decoded_again() -> None:
    """ "team": "team", "propertyType": "property": no public BFCL answer is a word of its parameter's
    name, so `_distinct` bars it and decodes that parameter again."""
    from edgeagent_cli.core.agent.runtime.local import _echo
    from edgeagent_cli.core.agent.toolcall.ground import echoes_name, name_words

    assert name_words("propertyType") == ["property", "type"] and name_words("slope_type") == ["slope", "type"]
    assert echoes_name("team", "team") and echoes_name("propertyType", "property")
    assert not echoes_name("unit", "units") and not echoes_name("DNA_id", "DNA")  # a longer word, a name
    assert not echoes_name("detail_level", "detailed") and not echoes_name("count", 3)
    assert _echo({"game": "Rocket League", "team": "team", "region": "region"}, "Rocket League team") == ("team",)
    assert _echo({"game": "Rocket League", "team": "RocketLeague"}, "Rocket League team") is None


def test_a_settled_calls_system_prompt_is_the_tool_in_a_line_and_its_parameters() -> None:
    from edgeagent_cli.core.agent import toolcall

    tool = {
        "type": "function",
        "function": {
            "name": "get_metal_price",
            "description": "Retrieve the current price for a specified metal and measure.",
            "parameters": {
                "type": "object",
                "properties": {
                    "metal": {"type": "string", "description": "The metal whose price needs to be fetched."},
                    "measure": {"type": "string", "description": "The measure unit for price, like 'ounce' or 'kg'."},
                    "date": {"type": "string"},
                },
            },
        },
    }
    assert toolcall.call_system_prompt(tool).splitlines() == [
        "Tool get_metal_price(metal, measure, date): Retrieve the current price for a specified metal and measure.",
        "metal: The metal whose price needs to be fetched.",
        "measure: The measure unit for price, like 'ounce' or 'kg'.",  # examples a span choice needs
        "date: string",
    ]
    assert toolcall.call_system_prompt(tool, "Be brief.").startswith("Be brief.\n\nTool get_metal_price(")
    assert router.tool_prefix(tool).startswith(toolcall.tool_line(tool) + "\n")  # one rendering of a tool


def test_a_place_begins_as_a_name_when_the_request_writes_one() -> None:
    """BFCL multiple_7: "... their impact on woodland in Washington state over the past decade?" gave
    "location": "decade". A place parameter's value begins as a name does: a capitalised word (not
    "I"), a house number before one, or a symbol (a path); never a lower-case word or a lone number."""
    assert [k for k in ("location", "start_city", "countries", "address", "decimal_places") if names_place(k)] == [
        "location",
        "start_city",
        "countries",
    ]

    def starts(text: str, place: bool) -> set[str]:
        g = Grounding(text)
        rule = g.span_rule((), place)
        assert rule is not None
        toks = [tok for tok, _s, _e in g.tokens]
        return {toks[int(i)] for i in re.findall(r"w(\d+)", g.rules[rule])}

    text = "How to assess the population growth in deer and their impact on woodland in Washington state over the past decade?"
    assert starts(text, True) == {"How", "Washington"}
    assert "decade" in starts(text, False)  # other parameters keep every span
    assert starts("Pick me up at 123 Main Street in 2020, I said.", True) == {"Pick", "123", "Main", "Street"}
    # no capitalised word inside a sentence: the place may be written in lower case
    assert "downtown" in starts("Order a pizza from the downtown location.", True)
    assert "/" in starts("Copy it to /srv/backups on Monday", True)


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ({"hotel_name": "Marriott in Los Angeles", "location": "Los Angeles"}, "Marriott"),  # BFCL parallel_57
        ({"location": "London 2022/08/16", "date": "2022/08/16"}, "London"),  # simple_python_196
        ({"museum": "Natural History Museum in London", "city": "London"}, "Natural History Museum"),
        ({"city": "San Francisco", "state": "Francisco"}, "San Francisco"),  # one name: left to _distinct
        ({"return_date": "2022-12-31", "book_id": "31"}, "2022-12-31"),  # not a word of its own
        ({"substance": "100 grams of water", "mass": 100}, "water"),  # parallel_multiple_13: a quantity of it
        ({"substance": "100 grams of water", "mass": 50}, "100 grams of water"),  # not this call's quantity
    ],
)
def test_no_value_runs_on_into_another_parameters_value(args: dict, want: str) -> None:
    assert apart(args)[next(iter(args))] == want


def test_a_unit_left_out_is_the_word_after_the_number_it_measures() -> None:
    """BFCL simple_python_7: "a circle with a radius of 4 inches" left the optional unit out, and the
    answer wants "inches": the unit's description names the radius, and the word after 4 is the unit."""
    params = {
        "properties": {
            "radius": {"type": "integer"},
            "unit": {"type": "string", "description": "The unit of measurement for the radius. Default is 'cm'."},
        },
        "required": ["radius"],
    }
    text = "What is the circumference of a circle with a radius of 4 inches?"
    assert measured({"radius": 4}, params, text) == {"radius": 4, "unit": "inches"}
    assert measured({"radius": 5}, params, "a radius of 5cm") == {"radius": 5, "unit": "cm"}
    assert measured({"radius": 5}, params, "radii of 5 and 6") == {"radius": 5}  # no word after it
    assert measured({"radius": 4, "unit": "in"}, params, text)["unit"] == "in"  # the model's own stays
    unnamed = {**params, "properties": {**params["properties"], "unit": {"type": "string", "description": "A unit."}}}
    assert measured({"radius": 4}, unnamed, text) == {"radius": 4}  # not said to be the radius's unit
    # BFCL simple_python_101, simple_python_85: the unit a result is asked "in", as the description spells it
    speed = {"properties": {"distance": {"type": "integer"}, "to_unit": {"type": "string"}}, "required": ["distance"]}
    asked = "Calculate the speed of an object in km/h if it traveled 450 meters in 20 seconds."
    assert measured({"distance": 450}, speed, asked)["to_unit"] == "km/h"
    quoted = {
        **unnamed,
        "properties": {**unnamed["properties"], "unit": {"type": "string", "description": "('miles' or 'km')"}},
    }
    assert measured({"radius": 4}, quoted, "The distance from Boston in mile?")["unit"] == "miles"
    assert "to_unit" not in measured({"distance": 4}, speed, "in Boston, in miles or in km?")  # which?


def test_a_lone_call_takes_the_number_and_the_enum_value_it_left_out() -> None:
    """BFCL simple_python_131 writes n ("... per time period is 4") without a word of its name, so the
    grammar had no n; the one number no argument took is its value. simple_python_161 says "in detail"
    and the optional detail_level's enum has "detailed"."""
    params = {
        "properties": {
            "principal": {"type": "integer"},
            "rate": {"type": "float"},
            "time": {"type": "integer"},
            "n": {"type": "integer", "description": "The number of times interest is applied per period."},
            "level": {"type": "string", "enum": ["brief", "detailed"]},
        },
        "required": ["principal", "rate", "time"],
    }
    text = "Compound interest on $10000 at 5% when interest is applied 4 times a period, for 10 years."
    made = {"principal": 10000, "rate": 0.05, "time": 10}
    assert leftover(made, params, text) == {**made, "n": 4}
    assert leftover({**made, "rate": 5}, params, text)["n"] == 4  # 5% taken as 5 is taken too
    assert "n" not in leftover(made, params, text + " Use 2 or 3 decimals.")  # two numbers left: whose?
    assert "n" not in leftover(made, params, text.replace("4 times", "4.5 times"))  # n is an integer
    assert leftover(made, params, text + " Explain in detail.")["level"] == "detailed"
    assert "level" not in leftover(made, params, text + " Brief or in detail?")  # two values written
    derivative = {
        "properties": {"function": {"type": "string"}, "x_value": {"type": "float"}},
        "required": ["function"],
    }
    asked = "Calculate the derivative of the function 3x^2 + 2x - 1."
    assert leftover({"function": "3x^2 + 2x - 1"}, derivative, asked) == {"function": "3x^2 + 2x - 1"}


def test_what_starts_from_rest_has_an_initial_velocity_of_0() -> None:
    """BFCL simple_python_31: "started from rest, accelerated at a rate of 9.8 m/s^2 for 5 seconds" had
    initial_velocity 2 (a number the model saw); simple_python_32 "dropped from 100 m" had 100."""
    params = {
        "properties": {"initial_velocity": {"type": "integer"}, "acceleration": {"type": "float"}},
        "required": ["initial_velocity", "acceleration"],
    }
    text = "Calculate the final velocity of an object, knowing that it started from rest, accelerated at 9.8 m/s^2."
    assert at_rest({"initial_velocity": 2, "acceleration": 9.8}, params, text)["initial_velocity"] == 0
    dropped = {"properties": {"initial_speed": {"type": "float"}, "height": {"type": "integer"}}, "required": []}
    assert at_rest({"initial_speed": 100.0}, dropped, "An object dropped from 100 m.") == {"initial_speed": 0.0}
    given = "The first car starts from rest; the second has an initial velocity of 20 m/s."
    assert at_rest({"initial_velocity": 20, "acceleration": 1.0}, params, given)["initial_velocity"] == 20
    assert at_rest({"acceleration": 1.0}, dropped, "An object dropped from 100 m.") == {"acceleration": 1.0}


def test_the_verb_a_request_opens_with_is_no_value() -> None:
    """BFCL simple_python_183: "Search for current lawsuits filed against Apple" gave entity "Search"; the
    call is decoded again barred from it. A name that opens a request is not a command."""
    assert commands("Search", "Search for current lawsuits filed against Apple in Santa Clara County.")
    assert commands("Find", "'Find the area of a triangle'")  # after a quote
    assert not commands("Apple", "Apple's stock price today?")
    assert not commands("London", "London weather today please")
    assert not commands("Search", "Please search for Apple")  # not where the request opens


def test_a_list_of_numbers_ends_where_its_group_does() -> None:
    """BFCL simple_python_123 (brackets), simple_python_124 (the next list's name), multiple_5 (a date)."""
    pair = {"properties": {"group1": {"type": "array"}, "group2": {"type": "array"}}}
    text = "the mean of group1 (e.g., 12.4, 15.6, 11.2) and group2 (e.g., 10.5, 9.8)"
    made = {"group1": [12.4, 15.6, 11.2, 10.5], "group2": [10.5, 9.8, 11.2]}
    assert grouped(made, pair, text) == {"group1": [12.4, 15.6, 11.2], "group2": [10.5, 9.8]}
    named = {"properties": {"dataset_A": {"type": "array"}, "dataset_B": {"type": "array"}}}
    text = "dataset_A with the values 12, 24, 36 and dataset_B with the values 15, 30, 45."
    assert grouped({"dataset_A": [12, 24, 36, 15]}, named, text) == {"dataset_A": [12, 24, 36]}
    where = {"properties": {"coordinates": {"type": "array"}, "date": {"type": "string"}}}
    text = "the temperature at coordinates 46.603354,1.8883340 on December 13, 2019?"
    assert grouped({"coordinates": [46.603354, 1.888334, 2019]}, where, text)["coordinates"] == [46.603354, 1.888334]
    # "2" is written in "2D" before the brackets too: an item counts where any of its writings is
    text = "two points in a 2D space, Point A with coordinates [3, 2] and Point B with [7, 5]"
    assert grouped({"pointA": [3, 2]}, {"properties": {}}, text) == {"pointA": [3, 2]}
    assert grouped({"xs": [1, 2, 3]}, {"properties": {}}, "the sum of 1, 2 and 3") == {"xs": [1, 2, 3]}


def test_a_clause_that_names_another_likely_tool_gets_its_call_too() -> None:
    """BFCL parallel_multiple_20: "Determine the median and variance for the following data points"
    routed to statistics.median alone; statistics.variance's own name word is in the clause."""
    from edgeagent_cli.core.agent.runtime.local import Step, _named_too

    def tool(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}

    stats = [tool("statistics.median"), tool("statistics.variance"), tool("statistics.mode")]
    assert router.own_name_words(stats) == {"statistics.median": {"media"}, "statistics.variance": {"varia"},
                                            "statistics.mode": {"mode"}}  # fmt: skip
    first = "Determine the median and variance for the following data points 3,4,5,2,8,5."
    plan = [Step("statistics.median", first), Step("statistics.mode", "Also determine the mode for these points.")]
    assert [(s.tool, s.text) for s in _named_too(plan, stats)] == [
        ("statistics.median", first), ("statistics.variance", first), ("statistics.mode", plan[1].text)
    ]  # fmt: skip
    # no other tool's own word said: the plan as it was; a tool not likely is never added
    assert _named_too(plan[:1], [stats[0], stats[2]]) == plan[:1]
    assert _named_too([Step("statistics.median", "the median of 1, 2, 3")], stats) == [
        Step("statistics.median", "the median of 1, 2, 3")
    ]
