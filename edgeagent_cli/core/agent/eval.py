"""Berkeley Function Calling Leaderboard files, and answers checked the way BFCL's AST checker does.

The data (vendored in tests/data/bfcl, Apache-2.0) is JSON lines: questions with their functions, and possible
answers listing, for each parameter, every accepted value ("" meaning the parameter may be left
out). BFCL's parameter types are Python's: dict, float, tuple and any are mapped to JSON schema's
object, number, array and an unconstrained value; dotted names (math.factorial) are not valid
function names for most runtimes, so they are sent as math_factorial and mapped back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from edgeagent_cli.core.agent.toolcall import check_arguments, coerce
from edgeagent_cli.core.errors import EdgeError, ExitCode, Interrupted
from edgeagent_cli.core.results import Result, Table

_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
    "number": "number",
}


def load_jsonl(path: Path, required: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
    """JSON lines of objects, each with the `required` keys; errors name file:line."""
    if not path.is_file():
        raise EdgeError(f"no such file: {path}", code=ExitCode.NOT_FOUND)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise EdgeError(f"{path}: not UTF-8 text (byte {e.start})", "BFCL files are JSON lines", ExitCode.USAGE) from e
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise EdgeError(f"{path}:{n}: not JSON: {e.msg}", "BFCL files are JSON lines", ExitCode.USAGE) from e
        if not isinstance(entry, dict) or any(k not in entry for k in required):
            want = ", ".join(required)
            raise EdgeError(f"{path}:{n}: not a BFCL entry (an object with {want})", code=ExitCode.USAGE)
        entries.append(entry)
    return entries


def category(entry_id: str) -> str:
    """simple_python_12 -> simple_python; irrelevance_3 -> irrelevance."""
    return re.sub(r"_\d+$", "", entry_id)


def wire_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def to_json_schema(param: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = param.get("type")
    if kind == "any" or kind is None:
        pass
    else:
        out["type"] = _TYPES.get(kind, kind)
    for key in ("description", "enum", "default"):
        if key in param:
            out[key] = param[key]
    if isinstance(param.get("items"), dict):
        out["items"] = to_json_schema(param["items"])
    if isinstance(param.get("properties"), dict):
        out["properties"] = {k: to_json_schema(v) for k, v in param["properties"].items()}
        if "required" in param:
            out["required"] = list(param["required"])
    return out


def tools_for(entry: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """OpenAI tool schemas for an entry, and wire name -> BFCL name."""
    tools, names = [], {}
    for fn in entry.get("function") or []:
        params = to_json_schema(fn.get("parameters") or {"type": "dict", "properties": {}})
        params["type"] = "object"
        params.setdefault("properties", {})
        params.setdefault("required", list((fn.get("parameters") or {}).get("required") or []))
        wire = wire_name(fn["name"])
        names[wire] = fn["name"]
        tools.append(
            {
                "type": "function",
                "function": {"name": wire, "description": fn.get("description", ""), "parameters": params},
            }
        )
    return tools, names


def question_messages(entry: dict[str, Any]) -> list[dict[str, Any]]:
    turns = entry.get("question") or []
    first = turns[0] if turns and isinstance(turns[0], list) else turns
    return [{"role": m["role"], "content": m["content"]} for m in first]


# --- the checker ----------------------------------------------------------------------------------------
def standardize(s: str) -> str:
    """BFCL's string normalisation: drop spaces and , . / - _ * ^, lowercase, ' -> "."""
    return re.sub(r"[ ,./\-_*^]", "", s).lower().replace("'", '"')


def _type_ok(value: Any, kind: str | None) -> bool:
    if kind in (None, "any"):
        return True
    if kind == "float":  # BFCL accepts an int where a float is expected
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    checks = {"string": str, "boolean": bool, "array": list, "tuple": list, "dict": dict}
    return isinstance(value, checks.get(kind, object))


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return standardize(value)
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


def _value_ok(value: Any, accepted: list[Any]) -> bool:
    got = _normalize(value)
    for option in accepted:
        if option == "":
            continue
        if isinstance(option, dict) and isinstance(value, dict):
            if _dict_ok(value, option):
                return True
            continue
        if _dicts(option) and isinstance(value, list) and len(value) == len(option):
            if all(isinstance(v, dict) and _dict_ok(v, o) for v, o in zip(value, option, strict=True)):
                return True
            continue
        want = _normalize(option)
        if got == want:
            return True
        # 3 and 3.0 are the same answer for a float parameter
        if isinstance(got, int | float) and isinstance(want, int | float) and float(got) == float(want):
            return True
    return False


def _dicts(option: Any) -> bool:
    return isinstance(option, list) and bool(option) and all(isinstance(o, dict) for o in option)


def _dict_ok(value: dict[str, Any], option: dict[str, list[Any]]) -> bool:
    """BFCL's check of a dict argument: an answer lists accepted values per key ({"name": ["John Doe"]});
    every key given has one of them, and every key left out may be ("" among them)."""
    for key, v in value.items():
        if key not in option or not _value_ok(v, option[key]):
            return False
    return all(key in value or "" in accepted for key, accepted in option.items())


def check_call(call: dict[str, Any], function: dict[str, Any], answer: dict[str, list[Any]]) -> str | None:
    """Why a call does not match one ground-truth call; None when it matches."""
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    args = call["arguments"]
    for req in params.get("required") or []:
        if req not in args:
            return f"missing required parameter {req!r}"
    for key, value in args.items():
        if key not in props:
            return f"unexpected parameter {key!r}"
        if key not in answer:
            return f"parameter {key!r} is not in the possible answer"
        kind = props[key].get("type")
        # BFCL lets a string stand for a variable where another type is expected (x="data['sales']")
        # and then compares it with the accepted values as text.
        variable = isinstance(value, str) and kind not in (None, "any", "string")
        if not variable and not _type_ok(value, kind):
            return f"{key}: wrong type {type(value).__name__}, expected {props[key].get('type')}"
        if not _value_ok(value, answer[key]):
            return f"{key}: {value!r} is not one of {answer[key]!r}"
    for key, accepted in answer.items():
        if key not in args and "" not in accepted:
            return f"missing parameter {key!r}"
    return None


def check_entry(
    entry: dict[str, Any], calls: list[dict[str, Any]], truth: list[dict[str, Any]] | None
) -> tuple[bool, str | None]:
    """(correct, reason) for an entry's decoded calls, BFCL style: parallel calls match in any order."""
    if category(entry["id"]).startswith("irrelevance"):
        return (not calls, None if not calls else "a function was called for an irrelevant question")
    if truth is None:
        return False, "no possible answer for this entry"
    if len(calls) != len(truth):
        return False, f"expected {len(truth)} call(s), got {len(calls)}"
    functions = {f["name"]: f for f in entry.get("function") or []}
    unmatched = list(range(len(calls)))
    for expected in truth:
        ((name, answer),) = expected.items()
        reason = f"no call matches {name}"
        for i in unmatched:
            if calls[i]["name"] != name:
                reason = f"wrong function {calls[i]['name']!r}, expected {name!r}"
                continue
            why = check_call(calls[i], functions.get(name, {}), answer)
            if why is None:
                unmatched.remove(i)
                break
            reason = why
        else:
            return False, reason
    return True, None


# --- running ----------------------------------------------------------------------------------------------
def run_entry(
    runtime: Any, entry: dict[str, Any], truth: list[dict[str, Any]] | None, tool_choice: str
) -> dict[str, Any]:
    tools, names = tools_for(entry)
    reply = runtime.turn(question_messages(entry), tools, tool_choice)
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    calls, problems = [], []
    for c in reply.calls:
        schema = schemas.get(c.name)
        if schema is None:
            problems.append(f"unknown function {c.name!r}")
            calls.append({"name": c.name, "arguments": c.arguments})
            continue
        args = coerce(c.arguments, schema)
        problems += check_arguments(args, schema)
        calls.append({"name": names[c.name], "arguments": args})
    if reply.malformed is not None:
        problems.append(f"did not parse: {reply.malformed.strip()[:120]!r}")
    attempted = bool(reply.calls) or reply.malformed is not None
    correct, reason = check_entry(entry, calls, truth)
    return {
        "id": entry["id"],
        "category": category(entry["id"]),
        "calls": calls,
        "attempted": attempted,
        "valid": attempted and not problems,
        "correct": correct,
        "error": reason or ("; ".join(problems) or None),
        "answer": reply.content[:200] if not attempted else None,
        "route": reply.route,
        "seconds": round(reply.model_seconds, 3),
    }


@dataclass
class EvalResult(Result):
    """Accuracy overall and per category, the share of calls made and well formed, and every entry."""

    model: str
    settings: dict[str, Any]
    rows: list[dict[str, Any]] = field(repr=False)
    compared: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        extra = {"compare": self.compared} if self.compared else {}
        return {"model": self.model, "settings": self.settings, **summarize(self.rows), **extra, "results": self.rows}

    @property
    def accuracy(self) -> float | None:
        return summarize(self.rows)["accuracy"]

    def table(self) -> Table:
        by = summarize(self.rows)["by_category"]
        cols = ["category", "entries", "accuracy", "call_rate", "well_formed", "seconds_per_entry", "median_seconds"]
        return Table(cols, [[c] + [v[k] for k in cols[1:]] for c, v in by.items()])


def answers_for(questions: Path) -> Path | None:
    """BFCL keeps a question file's possible answers under the same name in possible_answer/."""
    candidate = questions.parent / "possible_answer" / questions.name
    return candidate if candidate.is_file() else None


def question_files(where: Path, categories: list[str] | None) -> list[Path]:
    """The question files to run: the file given, or in a directory every BFCL_v4_<category>.json
    (only the categories named, in the order named)."""
    if not where.exists():
        raise EdgeError(f"no such file or directory: {where}", code=ExitCode.NOT_FOUND)
    if where.is_file():
        if categories and category(where.stem.removeprefix("BFCL_v4_")) not in categories:
            raise EdgeError(f"{where.name} is not a file of --category {', '.join(categories)}", code=ExitCode.USAGE)
        return [where]
    found = {p.stem.removeprefix("BFCL_v4_"): p for p in sorted(where.glob("BFCL_*.json"))}
    if not found:
        raise EdgeError(f"{where} has no BFCL question files (BFCL_v4_<category>.json)", code=ExitCode.NOT_FOUND)
    if not categories:
        return list(found.values())
    unknown = [c for c in categories if c not in found]
    if unknown:
        raise EdgeError(
            f"{where} has no questions for --category {unknown[0]}", f"it has: {', '.join(found)}", ExitCode.USAGE
        )
    return [found[c] for c in categories]


def load(
    questions: Path, answers: Path | None, limit: int | None, categories: list[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The entries to run (the first `limit` of each file) and their possible answers; every entry
    but irrelevance needs one. Answers are found beside the questions (possible_answer/) unless given."""
    entries: list[dict[str, Any]] = []
    truth: dict[str, Any] = {}
    files = question_files(questions, categories)
    if answers is not None and len(files) > 1:
        raise EdgeError(
            "--answers goes with one question file", "a directory finds possible_answer/ itself", ExitCode.USAGE
        )
    for path in files:
        entries += load_jsonl(path, ("id", "question", "function"))[:limit]
        found = answers or answers_for(path)
        if found is not None:
            truth.update({a["id"]: a["ground_truth"] for a in load_jsonl(found, ("id", "ground_truth"))})
    missing = [e["id"] for e in entries if not category(e["id"]).startswith("irrelevance") and e["id"] not in truth]
    if missing:
        raise EdgeError(
            f"no possible answer for {missing[0]} ({len(missing)} entries)",
            "pass the matching --answers file, or keep possible_answer/ beside the questions",
            ExitCode.USAGE,
        )
    return entries, truth


def evaluate(
    runtime: Any,
    entries: list[dict[str, Any]],
    truth: dict[str, Any],
    tool_choice: str,
    settings: dict[str, Any],
    on_row: Callable[[int, dict[str, Any]], None] | None = None,
) -> EvalResult:
    """Run every entry; Ctrl-C raises Interrupted with the figures of the entries done."""
    result = EvalResult(runtime.name, settings, [])
    try:
        for n, entry in enumerate(entries, 1):
            row = run_entry(runtime, entry, truth.get(entry["id"]), tool_choice)
            result.rows.append(row)
            if on_row:
                on_row(n, row)
    except KeyboardInterrupt:
        raise Interrupted(result, f"interrupted after {len(result.rows)} entries: the figures cover those") from None
    return result


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def share(n: float, d: int) -> float | None:
        return round(n / d, 4) if d else None

    def figures(sub: list[dict[str, Any]]) -> dict[str, Any]:
        tried = [r for r in sub if r["attempted"]]
        seconds = [r["seconds"] for r in sub]
        return {
            "entries": len(sub),
            "correct": sum(r["correct"] for r in sub),
            "accuracy": share(sum(r["correct"] for r in sub), len(sub)),
            "call_rate": share(len(tried), len(sub)),
            "well_formed": share(sum(r["valid"] for r in tried), len(tried)),
            "seconds_per_entry": share(sum(seconds), len(sub)),
            "median_seconds": round(median(seconds), 3) if seconds else None,
        }

    by = {cat: figures([r for r in rows if r["category"] == cat]) for cat in sorted({r["category"] for r in rows})}
    overall = figures(rows)
    del overall["correct"]
    return {**overall, "by_category": by}


def load_earlier(earlier: Path) -> list[dict[str, Any]]:
    """The per-entry rows of an earlier `eval tools --json` document, checked before any model loads."""
    if not earlier.is_file():
        raise EdgeError(f"no such file: {earlier}", code=ExitCode.NOT_FOUND)
    try:
        doc = json.loads(earlier.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise EdgeError(f"{earlier}: not an `eval tools --json` document ({e})", code=ExitCode.USAGE) from e
    rows = doc.get("results") if isinstance(doc, dict) else None
    if rows is None and isinstance(doc, dict) and isinstance(doc.get("entries"), list):
        rows = doc["entries"]  # documents written before schema 1 kept the rows under "entries"
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"category", "correct"} <= r.keys() for r in rows):
        raise EdgeError(f"{earlier}: not an `eval tools --json` document (no per-entry results)", code=ExitCode.USAGE)
    for r in rows:
        r.setdefault("attempted", bool(r.get("calls")))
        r.setdefault("valid", r["attempted"])
        r.setdefault("seconds", 0.0)
    return rows


def compare(earlier: Path, rows: list[dict[str, Any]], now: dict[str, Any]) -> dict[str, Any]:
    """Each category's change against an earlier run's rows (before, now, change)."""
    before = summarize(rows)["by_category"]
    out = {}
    for cat, fig in now["by_category"].items():
        old = before.get(cat)
        keys = ("accuracy", "call_rate", "well_formed", "seconds_per_entry")
        out[cat] = {
            k: {
                "before": old.get(k) if old else None,
                "now": fig[k],
                "change": round(fig[k] - old[k], 4) if old and old.get(k) is not None and fig[k] is not None else None,
            }
            for k in keys
        }
    return {"file": str(earlier), "by_category": out}
