"""Typed command results: each command's outcome is a dataclass here or in its domain, rendered in one
place (`cli.output.Output.emit`) as a table, JSON, CSV or Markdown.

`to_dict()` is the JSON document: `schema_version` first, then the fields in order (nested
dataclasses become mappings). `table()` gives the rows that CSV and Markdown print.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeagent_cli import SCHEMA_VERSION


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def plain(value: Any) -> Any:
    """Dataclasses (and Results) inside a result -> mappings, for JSON."""
    if isinstance(value, Result):
        return value.fields()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass
class Result:
    """The base of every command's outcome."""

    schema_version: ClassVar[int] = SCHEMA_VERSION

    def fields(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.repr}

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, **self.fields()}

    def table(self) -> Table | None:
        """Rows for --csv and --md; None where a command has no tabular form."""
        return None
