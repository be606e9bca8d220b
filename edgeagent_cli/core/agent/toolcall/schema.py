"""Arguments against a tool's JSON schema: bend plain intent to the type, then say what is wrong."""

from __future__ import annotations

import re
from typing import Any

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


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
