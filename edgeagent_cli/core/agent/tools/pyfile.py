"""User tools from a Python file: each public, typed function becomes a tool (as `llm --functions`).

The signature gives the JSON schema (str, int, float, bool, list[...], dict, Literal, Optional;
a default makes a parameter optional), the docstring's first paragraph the description and its
`Args:` section the parameter descriptions. A function may set `risk = "write"` (or "shell",
"network") as an attribute; functions from a file default to "write" so that they ask first,
unless they say `risk = "read"`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from edgeagent_cli.core.agent.tools import WRITE, Tool
from edgeagent_cli.core.errors import EdgeError, ExitCode

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


def json_type(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return json_type(rest[0]) if len(rest) == 1 else {"anyOf": [json_type(a) for a in rest]}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", **({"items": json_type(args[0])} if args else {})}
    if origin is dict:
        return {"type": "object"}
    if annotation is inspect.Parameter.empty:
        return {"type": "string"}  # unannotated: text, the one type a small model can always fill sensibly
    if annotation is Any:
        return {}
    raise TypeError(f"unsupported type {annotation!r}")


def _docs(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and `name: text` lines of a Google-style `Args:` section."""
    doc = inspect.cleandoc(doc or "")
    head = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if section:
        for m in re.finditer(r"^\s+(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$", section.group(1), re.MULTILINE):
            params[m.group(1)] = m.group(2).strip()
    return head, params


def tool_from_function(func: Any, source: str) -> Tool:
    hints = typing.get_type_hints(func)
    description, param_docs = _docs(func.__doc__ or "")
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        schema = json_type(hints.get(name, p.annotation))
        if name in param_docs:
            schema["description"] = param_docs[name]
        props[name] = schema
        if p.default is inspect.Parameter.empty:
            required.append(name)
    params = {"type": "object", "properties": props, "required": required}
    return Tool(
        func.__name__,
        description or func.__name__.replace("_", " "),
        params,
        func,
        risk=getattr(func, "risk", WRITE),
        source=source,
    )


def load_tools(path: Path) -> list[Tool]:
    if not path.is_file():
        raise EdgeError(f"no such tools file: {path}", code=ExitCode.NOT_FOUND)
    module_name = f"edgeagent_user_tools_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EdgeError(f"cannot load {path} as Python", code=ExitCode.USAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries our output (one JSON document)
            spec.loader.exec_module(module)
    except SystemExit as e:
        raise EdgeError(
            f"{path}: exit({e.code}) called while importing", "a tools file must not exit", ExitCode.USAGE
        ) from None
    except Exception as e:
        raise EdgeError(
            f"{path}: {type(e).__name__}: {e}", "fix the tools file; it is imported as Python", ExitCode.USAGE
        ) from e
    tools = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module_name:
            continue
        try:
            tools.append(tool_from_function(obj, f"{path.name}"))
        except (TypeError, ValueError, NameError) as e:
            raise EdgeError(
                f"{path}: function {name}: {e}", "annotate every parameter with a JSON-able type", ExitCode.USAGE
            ) from e
    if not tools:
        raise EdgeError(
            f"{path} defines no public functions", "a tool is a typed function with a docstring", ExitCode.USAGE
        )
    return tools
