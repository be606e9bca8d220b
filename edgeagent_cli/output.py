"""One object decides human vs JSON output. Commands never print.

Data goes to stdout, diagnostics to stderr. Rich is imported only when stdout is a terminal,
so piped output is plain text and `--json` output is exactly one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from edgeagent_cli import SCHEMA_VERSION


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _plain_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [title] if title else []
    for n, row in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.rich = stdout_is_terminal() and not json_mode
        self._console: Any = None
        self._err_console: Any = None

    # --- stdout: data -------------------------------------------------------------------------
    def document(self, doc: dict[str, Any], human: Callable[[Output], None] | None = None) -> None:
        """Emit the command's result: the JSON document with --json, else the human rendering."""
        if self.json_mode:
            sys.stdout.write(json.dumps({"schema_version": SCHEMA_VERSION, **doc}, indent=2, default=str))
            sys.stdout.write("\n")
            sys.stdout.flush()
        elif human is not None:
            human(self)

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.json_mode:
            return
        if self.rich:
            self.console.print(text, style=style, highlight=False, markup=False)
        else:
            sys.stdout.write(text + "\n")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        if self.json_mode:
            return
        if self.rich:
            from rich.table import Table

            t = Table(title=title, title_justify="left", header_style="bold")
            for c in columns:
                t.add_column(c)
            for r in rows:
                t.add_row(*["" if v is None else str(v) for v in r])
            self.console.print(t)
        else:
            sys.stdout.write(_plain_table(title, columns, rows) + "\n")

    def pairs(self, items: Sequence[tuple[str, Any]], title: str | None = None) -> None:
        width = max((len(k) for k, _ in items), default=0)
        if title:
            self.line(title, style="bold")
        for k, v in items:
            self.line(f"  {k.ljust(width)}  {'' if v is None else v}")

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(no_color="NO_COLOR" in os.environ)
        return self._console

    # --- stderr: diagnostics -------------------------------------------------------------------
    def info(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text + "\n")

    def warn(self, text: str) -> None:
        sys.stderr.write(f"warning: {text}\n")

    @property
    def err_console(self) -> Any:
        """A Rich console on stderr for progress bars; only when stderr is a terminal."""
        if self._err_console is None:
            from rich.console import Console

            self._err_console = Console(stderr=True, no_color="NO_COLOR" in os.environ)
        return self._err_console

    def progress_enabled(self) -> bool:
        return sys.stderr.isatty() and not self.json_mode and not self.quiet


def human_bytes(n: float | int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"
