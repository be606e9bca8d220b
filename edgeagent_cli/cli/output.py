"""One object decides human vs JSON output. Commands never print.

Data goes to stdout, diagnostics to stderr. Rich is imported only when stdout is a terminal,
so piped output is plain text and `--json` output is exactly one JSON document.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from edgeagent_cli.core.results import Result, Table


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()  # None: started with stdin closed (<&-)


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
    def emit(self, result: Result, human: Callable[[Output], None] | None = None, fmt: str | None = None) -> None:
        """The one place a result is rendered: JSON with --json, CSV or Markdown from its table, else `human`."""
        if self.json_mode:
            sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            sys.stdout.flush()
            return
        table = result.table() if fmt in ("csv", "md") else None
        if fmt == "csv" and table is not None:
            sys.stdout.write(to_csv(table))
        elif fmt == "md" and table is not None:
            sys.stdout.write(to_markdown(table))
        elif human is not None:
            human(self)

    def stream(self, piece: str) -> None:
        """A piece of a streamed answer, shown as it comes (never under --json)."""
        if not self.json_mode:
            sys.stdout.write(piece)
            sys.stdout.flush()

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

    @contextlib.contextmanager
    def progress_bar(self, description: str) -> Iterator[Callable[[int, int | None], None] | None]:
        """A Rich bar on stderr, fed with (done, total); None where there is no terminal to draw on."""
        if not self.progress_enabled():
            yield None
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

        bar = Progress(BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                       console=self.err_console, transient=True)  # fmt: skip
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            if not bar.live.is_started:  # drawn from the first byte on, not while the plan is printed
                bar.start()
            bar.update(task, completed=done, total=total)

        try:
            yield update
        finally:
            bar.stop()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def to_csv(table: Table) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([["" if v is None else v for v in row] for row in table.rows])
    return buf.getvalue()


def to_markdown(table: Table) -> str:
    numeric = [
        all(isinstance(r[i], int | float) for r in table.rows) and bool(table.rows) for i in range(len(table.columns))
    ]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def human_bytes(n: float | int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"
