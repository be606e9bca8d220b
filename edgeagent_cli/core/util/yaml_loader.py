"""One loader for the YAML data files (profiles, catalog), shipped or the user's.

It keeps each value's line, so an error names file, line and field, e.g.
`profiles/edge.yaml:7: memory_headroom_mb: expected an integer, got 'lots'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeagent_cli.core.errors import EdgeError, ExitCode


@dataclass(frozen=True)
class Field:
    types: tuple[type, ...]
    required: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None


TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


class DataFileError(EdgeError):
    def __init__(self, path: Path | str, line: int | None, field: str | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(
            f"{where}: {field + ': ' if field else ''}{problem}",
            "fix the file and run the command again",
            ExitCode.USAGE,
        )
        self.line = line
        self.field = field


def _construct(node: Any, loader: Any, lines: dict[str, int], prefix: str) -> Any:
    import yaml

    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            out[key] = _construct(value_node, loader, lines, f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, loader, lines, f"{prefix}[{i}]") for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load(path: Path) -> tuple[Any, dict[str, int]]:
    """Parse YAML, returning the data and each dotted field path's line number."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise EdgeError(f"no such file: {path}", code=ExitCode.NOT_FOUND) from e
    except OSError as e:
        raise EdgeError(f"cannot read {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise DataFileError(path, None, None, f"not UTF-8 text (byte {e.start})") from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise DataFileError(path, mark.line + 1 if mark else None, None, f"invalid YAML: {problem}") from e
    lines: dict[str, int] = {}
    if node is None:
        return None, lines
    loader = yaml.SafeLoader("")
    try:
        return _construct(node, loader, lines, ""), lines
    except yaml.YAMLError as e:
        raise DataFileError(path, node.start_mark.line + 1, None, f"invalid YAML: {e}") from e


def check(data: Any, schema: dict[str, Field], path: Path, lines: dict[str, int], prefix: str = "") -> dict[str, Any]:
    """Validate one mapping against a flat schema; unknown fields are errors (typos never pass)."""
    if not isinstance(data, dict):
        raise DataFileError(path, lines.get(prefix, 1), prefix or None, "expected a mapping")
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        spec = schema.get(key)
        if spec is None:
            raise DataFileError(path, lines.get(dotted), dotted, f"unknown field (known: {', '.join(schema)})")
        ok = isinstance(value, spec.types) and not (isinstance(value, bool) and bool not in spec.types)
        if float in spec.types and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            wanted = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in spec.types)
            raise DataFileError(path, lines.get(dotted), dotted, f"expected {wanted}, got {value!r}")
        if spec.choices is not None and value not in spec.choices:
            choices = ", ".join(map(str, spec.choices))
            raise DataFileError(path, lines.get(dotted), dotted, f"expected one of {choices}, got {value!r}")
        if spec.minimum is not None and isinstance(value, int | float) and value < spec.minimum:
            raise DataFileError(path, lines.get(dotted), dotted, f"must be at least {spec.minimum}, got {value}")
    for key, spec in schema.items():
        if spec.required and key not in data:
            raise DataFileError(path, lines.get(prefix, 1), f"{prefix}.{key}" if prefix else key, "missing")
    return data
